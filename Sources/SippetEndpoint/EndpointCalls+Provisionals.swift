import NIOCore
import SIPDialog
import SIPSyntax
import SIPTransaction
import Sippet

/// RFC 3262 on the UAS side of `sippet serve`: the 180 sent reliably to an INVITE that requires
/// or supports `100rel`, its retransmissions, its PRACK, and the give-up after 64·T1. The
/// schedule is ``SIPDialog/ReliableProvisionals``'; this part only sends and arms the timer.
extension EndpointCalls {
    /// Sends 180 Ringing to a pending INVITE (unless its final response or a CANCEL came first):
    /// reliably (RFC 3262 §3: RSeq, `Require: 100rel`, retransmitted until the PRACK) when the
    /// INVITE requires or supports `100rel`.
    func ring(_ key: ServerTransactionKey, stack: SIPStack) {
        guard var p = pending[key] else { return }
        var ringing = p.request.makeResponse(status: 180, toTag: p.tag)
        guard var reliable = p.reliable else {
            send(ringing, key, stack)
            return
        }
        // §3: a reliable provisional response makes an early dialog: Contact and Record-Route.
        let local = contact.address(for: p.request, viaTransport: p.request.essentials?.transport?.string, stack: stack)
        for value in p.request.headers.values(.recordRoute) { ringing.headers.append(.recordRoute, value) }
        ringing.headers.append(.contact, "<\(local.contact)>")
        let actions = reliable.send(ringing, now: clock())
        p.reliable = reliable
        pending[key] = p
        if let id = Self.earlyDialogID(p), earlyDialogs[id] == nil { earlyDialogs[id] = key }
        apply(actions, key: key, stack: stack)
    }

    /// The timer of `key`'s reliable provisional fired (``Timer/provisional(_:)``): the response
    /// again, or the give-up.
    func provisionalTimerFired(_ key: ServerTransactionKey, now: Duration, stack: SIPStack) {
        guard var p = pending[key], var reliable = p.reliable else { return }
        let actions = reliable.timerFired(now: now, invite: p.request)
        p.reliable = reliable
        pending[key] = p
        apply(actions, key: key, stack: stack)
    }

    /// Sends what the reliable provisionals of `key` asked for, and schedules their next timer.
    func apply(_ actions: [ReliableProvisionals.Action], key: ServerTransactionKey, stack: SIPStack) {
        for action in actions {
            switch action {
            case .send(let response): send(response, key, stack)
            case .giveUp(let failure):
                // §3: no PRACK within 64·T1: the INVITE is rejected with a 5xx.
                cancelTimers(of: key)
                if let p = pending.removeValue(forKey: key) {
                    forgetEarlyDialog(of: p)
                    shared.releaseOne()
                }
                send(failure, key, stack)
                return
            }
        }
        timers.cancel(.provisional(key))
        if let due = pending[key]?.reliable?.nextDeadline {
            start(.provisional(key), after: max(.zero, due - clock()), stack: stack)
        }
    }

    /// RFC 3262 §3: the PRACK of a reliable provisional response: 200 when its RAck matches the one
    /// outstanding (and the next queued one goes out), 481 otherwise.
    func prack(_ request: SIPMessage, key: ServerTransactionKey?, stack: SIPStack) {
        guard let id = Self.dialogID(of: request), let inviteKey = earlyDialogs[id], var p = pending[inviteKey],
            var reliable = p.reliable, let rack = (try? request.headers.first(.rack)) ?? nil,
            let cseq = p.request.cseq?.sequence
        else {
            send(request.makeResponse(status: 481), key, stack)
            return
        }
        switch reliable.receivePRACK(rack, inviteCSeq: cseq, now: clock()) {
        case .noMatch:
            send(request.makeResponse(status: 481), key, stack)
        case .acknowledged(let actions):
            p.reliable = reliable
            pending[inviteKey] = p
            send(request.makeResponse(status: 200), key, stack)
            apply(actions, key: inviteKey, stack: stack)
        }
    }

    /// The early dialog a reliable provisional response to `p` makes (§12.1.1).
    static func earlyDialogID(_ p: Pending) -> DialogID? {
        guard let callID = p.request.callID, let remote = p.request.fromTag else { return nil }
        return DialogID(callID: callID, localTag: p.tag, remoteTag: remote)
    }

    func forgetEarlyDialog(of p: Pending) {
        guard p.reliable != nil, let id = Self.earlyDialogID(p) else { return }
        earlyDialogs[id] = nil
    }
}
