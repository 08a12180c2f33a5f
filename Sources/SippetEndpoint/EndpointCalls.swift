import Logging
import NIOCore
import SIPDialog
import SIPSyntax
import SIPTransaction
import Sippet
import Synchronization

/// The calls of one event loop of an ``EndpointCore``: the INVITEs not yet answered, the dialogs
/// (RFC 3261 §12.1.1), and their timers, for the Call-IDs that hash to this loop.
///
/// Every request of a call comes here by its Call-ID (an ACK for a 2xx carries a new branch, so the
/// branch cannot choose; a CANCEL carries its INVITE's Call-ID, §9.1, an ACK or BYE its dialog's,
/// §12.2.1.1), so a call's state is read and written on this loop only: no lock. Its timers (the
/// 180 and final response of a pending INVITE, the 2xx retransmissions of §13.3.1.4) run on this
/// loop too, from one scheduled task for the earliest.
///
/// A dialog here is the lean record `sippet serve` needs on its hot path (the INVITE, the last
/// remote CSeq, the unacknowledged 2xx); the rules and the requests it sends come from
/// `SIPDialog`. The requests in a dialog are in `EndpointCalls+Dialogs.swift`, reliable
/// provisional responses (RFC 3262) in `EndpointCalls+Provisionals.swift`.
// @unchecked: the mutable state is confined to `loop`; the entry points run there.
final class EndpointCalls: @unchecked Sendable {
    /// A dialog this UAS is in, with what it needs to end it (§12.1.1, §15.1.1).
    struct Dialog {
        /// The INVITE that made the dialog (§12.1.1): its Contact is the remote target, its
        /// Record-Route values the route set, its From the remote URI. They are read only when
        /// the UAS itself sends a request in the dialog (the BYE of §13.3.1.4).
        var invite: SIPMessage
        /// The CSeq number of the last request received in the dialog (§12.2.2).
        var remoteCSeq: UInt32
        /// The 2xx while it is not yet acknowledged, and its retransmission timer.
        var unacked: Unacked?
    }

    /// A 2xx waiting for its ACK (§13.3.1.4).
    struct Unacked {
        var response: SIPMessage
        /// The INVITE server transaction: in RFC 6026's Accepted state it passes the 2xx
        /// retransmissions on (and after it ends they go statelessly, §18.2.2).
        var key: ServerTransactionKey
        var interval: Duration
        var elapsed: Duration
        /// The sequence number of its retransmission timer in ``retransmits``: the timer is live
        /// while the dialog's 2xx holds it.
        var timer: UInt64
    }

    /// An INVITE not yet answered with a final response.
    struct Pending {
        var request: SIPMessage
        var tag: String
        /// RFC 3262 §3: its reliable provisional responses, when the INVITE requires or supports
        /// `100rel`; nil otherwise.
        var reliable: ReliableProvisionals?
        /// RFC 4028 §9: the session timer its 2xx carries, negotiated once when it arrived.
        var session: SessionTimer.Negotiation = .none
    }

    /// What a pending INVITE waits for (with ``EndpointCore/Options/ringAfter`` or
    /// ``EndpointCore/Options/answerAfter``).
    enum Timer: Hashable, Sendable {
        /// Send 180 Ringing to the pending INVITE.
        case ring(ServerTransactionKey)
        /// Send the final response to the pending INVITE.
        case answer(ServerTransactionKey)
        /// RFC 3262 §3: retransmit the reliable provisional response, or give up on its PRACK.
        case provisional(ServerTransactionKey)
    }

    let loop: any EventLoop
    let options: EndpointCore.Options
    let shared: EndpointCore.Shared
    var pending: [ServerTransactionKey: Pending] = [:]
    var dialogs: [DialogID: Dialog] = [:]
    /// The INVITEs waiting for a PRACK (RFC 3262), by their early dialog.
    var earlyDialogs: [DialogID: ServerTransactionKey] = [:]
    var timers = DeadlineQueue<Timer>()
    /// The 2xx retransmission timers of the dialogs (§13.3.1.4): every interval but the last is
    /// one of a few (T1, 2·T1 … T2), each with its ring. An ACK cancels its 2xx's timer by
    /// forgetting it (``Unacked/timer``); the entry is dropped when it reaches the front.
    var retransmits = Deadlines<DialogID>()
    var wakeUp: (deadline: NIODeadline, task: Scheduled<Void>)?
    let origin = NIODeadline.now()
    var contact: LocalContact
    /// RFC 8866 §5.2: session ids unique to the endpoint: this loop's index in the high bits.
    var sessions: UInt64

    init(loop: any EventLoop, index: Int, options: EndpointCore.Options, shared: EndpointCore.Shared) {
        self.loop = loop
        self.options = options
        self.shared = shared
        self.contact = LocalContact(user: options.contactUser)
        self.sessions = UInt64(index) << 48
    }

    /// A request of a call: INVITE, ACK, CANCEL, BYE, UPDATE or INFO, on this loop.
    func handle(_ request: SIPMessage, key: ServerTransactionKey?, stack: SIPStack) {
        assert(loop.inEventLoop)
        switch request.method {
        case .ack?: acknowledged(request)
        case .invite?: invite(request, key: key, stack: stack)
        case .cancel?: cancel(request, key: key, stack: stack)
        case .bye?: bye(request, key: key, stack: stack)
        case .update?: update(request, key: key, stack: stack)
        case .prack?: prack(request, key: key, stack: stack)
        case .info?:
            // RFC 6086 §4.2.2: INFO in a dialog gets 200 (its content is this UAS's to ignore).
            if dialogIndex(request, key, stack) != nil { send(request.makeResponse(status: 200), key, stack) }
        default: break
        }
    }

    // MARK: - INVITE

    func invite(_ request: SIPMessage, key: ServerTransactionKey?, stack: SIPStack) {
        guard let key else { return }
        if request.essentials?.toTag != nil {
            reinvite(request, key: key, stack: stack)
            return
        }
        // RFC 4028 §9: a session interval below the minimum gets 422 with Min-SE.
        let session = SessionTimer.negotiate(request, minimum: options.minSE)
        if case .tooSmall(let minimum) = session {
            var r = request.makeResponse(status: 422)
            r.headers.append(.minSE, String(minimum))
            send(r, key, stack)
            return
        }
        let tag = SIPIdentifiers.tag()
        if options.answerAfter <= .zero, options.ringAfter.map({ $0 <= .zero }) ?? true {
            // Answered at once: nothing waits, so the INVITE is never pending.
            // (An INVITE that requires reliable provisionals gets no unreliable 180 before its 2xx.)
            if options.ringAfter != nil, !request.hasOption("100rel", in: .require) {
                send(request.makeResponse(status: 180, toTag: tag), key, stack)
            }
            answer(Pending(request: request, tag: tag, session: session), key: key, admit: true, stack: stack)
            return
        }
        guard shared.admitOne() else {
            refuseDialog(request, key, stack)
            return
        }
        let reliable =
            request.hasOption("100rel", in: .require) || request.hasOption("100rel", in: .supported)
            ? ReliableProvisionals(t1: options.t1) : nil
        pending[key] = Pending(request: request, tag: tag, reliable: reliable, session: session)
        if let ring = options.ringAfter {
            if ring <= .zero {
                self.ring(key, stack: stack)
            } else {
                start(.ring(key), after: ring, stack: stack)
            }
        }
        if options.answerAfter <= .zero {
            answer(key, stack: stack)
        } else {
            start(.answer(key), after: options.answerAfter, stack: stack)
        }
    }

    /// Sends the final response to a pending INVITE (unless a CANCEL took it first).
    func answer(_ key: ServerTransactionKey, stack: SIPStack) {
        cancelTimers(of: key)
        guard let p = pending.removeValue(forKey: key) else { return }
        // RFC 3262 §3: the final response ends the provisional phase.
        forgetEarlyDialog(of: p)
        answer(p, key: key, admit: false, stack: stack)
    }

    /// Sends the final response to `p`; a 2xx makes a dialog. With `admit`, the INVITE was not
    /// counted as pending, and a dialog beyond ``EndpointCore/Options/maxDialogs`` gets 503 instead.
    func answer(_ p: Pending, key: ServerTransactionKey, admit: Bool, stack: SIPStack) {
        let status = options.answer
        guard (200..<300).contains(status) else {
            // A non-2xx final response: the INVITE server transaction retransmits it until the
            // ACK (§17.2.1).
            if !admit { shared.releaseOne() }
            send(p.request.makeResponse(status: status, toTag: p.tag), key, stack)
            return
        }
        let e = p.request.essentials
        let callID = e?.callID?.string
        let remoteTag = e?.fromTag?.string
        let makesDialog = callID != nil && remoteTag != nil
        // Refused before the 2xx and its SDP answer are built.
        if makesDialog, admit, !shared.admitOne() {
            refuseDialog(p.request, key, stack)
            return
        }
        let ok = okResponse(
            to: p.request, tag: p.tag, viaTransport: e?.transport?.string, session: p.session, stack: stack)
        guard let callID, let remoteTag else {
            // No dialog without a Call-ID and a From tag (§12.1.1).
            if !admit { shared.releaseOne() }
            send(ok, key, stack)
            return
        }
        // §12.1.1: the dialog, from the INVITE and the 2xx.
        let id = DialogID(callID: callID, localTag: p.tag, remoteTag: remoteTag)
        var dialog = Dialog(invite: p.request, remoteCSeq: p.request.cseq?.sequence ?? 0)
        retransmits.advance(to: clock())
        let timer = retransmits.add(id, after: options.t1, fixed: true)
        dialog.unacked = Unacked(response: ok, key: key, interval: options.t1, elapsed: .zero, timer: timer)
        if dialogs.updateValue(dialog, forKey: id) != nil {
            shared.releaseOne()
        } else {
            shared.dialogs.add(1, ordering: .relaxed)
        }
        arm(stack: stack)
        send(ok, key, stack)
    }

    /// The 2xx to an INVITE: our Contact, Allow, the session timer negotiated, and an SDP answer
    /// to its offer. `tag` is the To tag of a new dialog; a re-INVITE's 2xx (nil) keeps the
    /// dialog's.
    func okResponse(
        to request: SIPMessage, tag: String?, viaTransport: String?, session: SessionTimer.Negotiation,
        stack: SIPStack
    ) -> SIPMessage {
        var ok =
            tag.map { request.makeResponse(status: options.answer, toTag: $0) } ?? request.makeResponse(status: 200)
        let local = contact.address(for: request, viaTransport: viaTransport, stack: stack)
        // §12.1.1: the 2xx that makes the dialog carries the INVITE's Record-Route.
        if tag != nil, request.headers.contains(.recordRoute) {
            for value in request.headers.values(.recordRoute) { ok.headers.append(.recordRoute, value) }
        }
        ok.headers.append(.contact, "<\(local.contact)>")
        ok.headers.append(.allow, EndpointCore.allowHeader)
        addSessionTimer(session, to: &ok)
        ok.headers.append(.contentType, "application/sdp")
        sessions &+= 1
        ok.body = SDPAnswer.answer(offer: request.body, host: local.host, session: sessions)[...]
        return ok
    }

    /// RFC 3261 §21.5.4: 503 with a Retry-After (§20.33) for an INVITE beyond
    /// ``EndpointCore/Options/maxDialogs``.
    func refuseDialog(_ request: SIPMessage, _ key: ServerTransactionKey, _ stack: SIPStack) {
        let retry = SIPHeaderField(name: .retryAfter, value: "5")
        send(SIPRejection(status: 503, detail: "too many dialogs", headers: [retry]).response(to: request), key, stack)
    }

    /// Stops the 180 and final-response timers of a pending INVITE: those the options start at all.
    func cancelTimers(of key: ServerTransactionKey) {
        if let ring = options.ringAfter, ring > .zero { timers.cancel(.ring(key)) }
        if options.answerAfter > .zero { timers.cancel(.answer(key)) }
        if pending[key]?.reliable != nil { timers.cancel(.provisional(key)) }
    }

    // MARK: - CANCEL

    /// §9.2: 200 to the CANCEL; if the INVITE has no final response yet, 487 to it.
    func cancel(_ request: SIPMessage, key: ServerTransactionKey?, stack: SIPStack) {
        send(request.makeResponse(status: 200), key, stack)
        guard let invite = key?.cancelledInvite else { return }
        cancelTimers(of: invite)
        guard let p = pending.removeValue(forKey: invite) else { return }
        forgetEarlyDialog(of: p)
        shared.releaseOne()
        send(p.request.makeResponse(status: 487, toTag: p.tag), invite, stack)
    }

    // MARK: - Timers

    /// The timers' clock: the time since `origin`.
    func clock() -> Duration { .nanoseconds((NIODeadline.now() - origin).nanoseconds) }

    /// Whether a 2xx retransmission timer is still its dialog's: the 2xx is not acknowledged and
    /// holds its number.
    func isLive(_ e: Deadlines<DialogID>.Entry) -> Bool {
        // Read in place: `dialogs[key]` would copy the dialog out, and retain what it holds.
        guard let i = dialogs.index(forKey: e.key) else { return false }
        return dialogs.values[i].unacked?.timer == e.sequence
    }

    /// Starts `timer` (replacing a pending one of the same kind).
    func start(_ timer: Timer, after delay: Duration, stack: SIPStack) {
        timers.advance(to: clock())
        timers.start(timer, after: delay)
        arm(stack: stack)
    }

    /// Keeps one scheduled task, for the earliest pending timer.
    func arm(stack: SIPStack) {
        var earliest = timers.nextDeadline()
        if let r = retransmits.nextDeadline(isLive: isLive), earliest.map({ r < $0 }) ?? true { earliest = r }
        guard let next = earliest else { return }
        let deadline = origin + TimeAmount(next)
        if let w = wakeUp, w.deadline <= deadline { return }
        wakeUp?.task.cancel()
        wakeUp = (deadline, loop.scheduleTask(deadline: deadline) { [self] in fire(stack: stack) })
    }

    /// Runs every timer that is due, then re-arms the wake-up task.
    func fire(stack: SIPStack) {
        wakeUp = nil
        let now = clock()
        retransmits.advance(to: now)
        while let next = retransmits.popFirst(notAfter: now, isLive: isLive) { retransmit(next.key, stack: stack) }
        while let next = timers.popNext(notAfter: now) {
            switch next.key {
            case .ring(let key): ring(key, stack: stack)
            case .answer(let key): answer(key, stack: stack)
            case .provisional(let key): provisionalTimerFired(key, now: now, stack: stack)
            }
        }
        arm(stack: stack)
    }

    /// Sends a response on the request's server transaction (statelessly when `key` is nil).
    func send(_ response: SIPMessage, _ key: ServerTransactionKey?, _ stack: SIPStack) {
        EndpointCore.send(response, key, stack, logger: shared.logger)
    }
}
