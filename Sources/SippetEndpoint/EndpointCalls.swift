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
/// This is where the dialog layer will plug in: today a dialog is what `sippet serve` needs to
/// answer, retransmit its 2xx and end the call.
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
        /// Its retransmission timer, in ``retransmits``.
        var timer: FixedDelayTimers<DialogID>.Handle
    }

    /// An INVITE not yet answered with a final response.
    struct Pending {
        var request: SIPMessage
        var tag: String
        /// RFC 3262 §3: its reliable provisional responses, when the INVITE requires or supports
        /// `100rel`; nil otherwise.
        var reliable: ReliableProvisionals?
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
    private let options: EndpointCore.Options
    private let shared: EndpointCore.Shared
    private var pending: [ServerTransactionKey: Pending] = [:]
    private var dialogs: [DialogID: Dialog] = [:]
    /// The INVITEs waiting for a PRACK (RFC 3262), by their early dialog.
    private var earlyDialogs: [DialogID: ServerTransactionKey] = [:]
    private var timers = DeadlineQueue<Timer>()
    /// The 2xx retransmission timers of the dialogs (§13.3.1.4), each cancelled by its ACK.
    private var retransmits = FixedDelayTimers<DialogID>()
    private var wakeUp: (deadline: NIODeadline, task: Scheduled<Void>)?
    private let origin = NIODeadline.now()
    private var contact: LocalContact
    /// RFC 8866 §5.2: session ids unique to the endpoint: this loop's index in the high bits.
    private var sessions: UInt64

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

    private func invite(_ request: SIPMessage, key: ServerTransactionKey?, stack: SIPStack) {
        guard let key else { return }
        if request.essentials?.toTag != nil {
            reinvite(request, key: key, stack: stack)
            return
        }
        // RFC 4028 §9: a session interval below the minimum gets 422 with Min-SE.
        if request.headers.contains(.sessionExpires),
            case .tooSmall(let minimum) = SessionTimer.negotiate(request, minimum: options.minSE)
        {
            var r = request.makeResponse(status: 422)
            r.headers.append(.minSE, String(minimum))
            send(r, key, stack)
            return
        }
        let tag = SIPIdentifiers.tag()
        if options.answerAfter <= .zero, options.ringAfter.map({ $0 <= .zero }) ?? true {
            // Answered at once: nothing waits, so the INVITE is never pending.
            // (An INVITE that requires reliable provisionals gets no unreliable 180 before its 2xx.)
            if options.ringAfter != nil, !Self.lists(request, .require, "100rel") {
                send(request.makeResponse(status: 180, toTag: tag), key, stack)
            }
            answer(Pending(request: request, tag: tag), key: key, admit: true, stack: stack)
            return
        }
        guard shared.admitOne() else {
            refuseDialog(request, key, stack)
            return
        }
        let reliable =
            Self.lists(request, .require, "100rel") || Self.lists(request, .supported, "100rel")
            ? ReliableProvisionals(t1: options.t1) : nil
        pending[key] = Pending(request: request, tag: tag, reliable: reliable)
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

    /// Sends 180 Ringing to a pending INVITE (unless its final response or a CANCEL came first):
    /// reliably (RFC 3262 §3: RSeq, `Require: 100rel`, retransmitted until the PRACK) when the
    /// INVITE requires or supports `100rel`.
    private func ring(_ key: ServerTransactionKey, stack: SIPStack) {
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

    /// Sends what the reliable provisionals of `key` asked for, and schedules their next timer.
    private func apply(_ actions: [ReliableProvisionals.Action], key: ServerTransactionKey, stack: SIPStack) {
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
    private func prack(_ request: SIPMessage, key: ServerTransactionKey?, stack: SIPStack) {
        guard let id = Self.dialogID(of: request), let inviteKey = earlyDialogs[id], var p = pending[inviteKey],
            var reliable = p.reliable, let rack = request.headers[.rack].flatMap(RAck.init),
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
    private static func earlyDialogID(_ p: Pending) -> DialogID? {
        guard let callID = p.request.callID, let remote = p.request.fromTag else { return nil }
        return DialogID(callID: callID, localTag: p.tag, remoteTag: remote)
    }

    private func forgetEarlyDialog(of p: Pending) {
        guard p.reliable != nil, let id = Self.earlyDialogID(p) else { return }
        earlyDialogs[id] = nil
    }

    /// Whether `request`'s `header` (Require, Supported) lists `option`.
    static func lists(_ request: SIPMessage, _ header: SIPHeaderName, _ option: String) -> Bool {
        request.headers.values(header).contains { value in
            value.split(separator: ",").contains { $0.filter { $0 != " " && $0 != "\t" }.lowercased() == option }
        }
    }

    /// Sends the final response to a pending INVITE (unless a CANCEL took it first).
    private func answer(_ key: ServerTransactionKey, stack: SIPStack) {
        cancelTimers(of: key)
        guard let p = pending.removeValue(forKey: key) else { return }
        // RFC 3262 §3: the final response ends the provisional phase.
        forgetEarlyDialog(of: p)
        answer(p, key: key, admit: false, stack: stack)
    }

    /// Sends the final response to `p`; a 2xx makes a dialog. With `admit`, the INVITE was not
    /// counted as pending, and a dialog beyond ``EndpointCore/Options/maxDialogs`` gets 503 instead.
    private func answer(_ p: Pending, key: ServerTransactionKey, admit: Bool, stack: SIPStack) {
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
        let ok = okResponse(to: p.request, tag: p.tag, viaTransport: e?.transport?.string, stack: stack)
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
        let timer = retransmits.start(id, after: options.t1)
        dialog.unacked = Unacked(response: ok, key: key, interval: options.t1, elapsed: .zero, timer: timer)
        if let old = dialogs.updateValue(dialog, forKey: id) {
            if let t = old.unacked?.timer { retransmits.cancel(t) }
            shared.releaseOne()
        } else {
            shared.dialogs.add(1, ordering: .relaxed)
        }
        arm(stack: stack)
        send(ok, key, stack)
    }

    /// The 2xx to an INVITE: our Contact, Allow, and an SDP answer to its offer. `tag` is the To
    /// tag of a new dialog; a re-INVITE's 2xx (nil) keeps the dialog's.
    private func okResponse(to request: SIPMessage, tag: String?, viaTransport: String?, stack: SIPStack)
        -> SIPMessage
    {
        var ok =
            tag.map { request.makeResponse(status: options.answer, toTag: $0) } ?? request.makeResponse(status: 200)
        let local = contact.address(for: request, viaTransport: viaTransport, stack: stack)
        // §12.1.1: the 2xx that makes the dialog carries the INVITE's Record-Route.
        if tag != nil, request.headers.contains(.recordRoute) {
            for value in request.headers.values(.recordRoute) { ok.headers.append(.recordRoute, value) }
        }
        ok.headers.append(.contact, "<\(local.contact)>")
        ok.headers.append(.allow, EndpointCore.allowHeader)
        addSessionTimer(for: request, to: &ok)
        ok.headers.append(.contentType, "application/sdp")
        sessions &+= 1
        ok.body = SDPAnswer.answer(offer: request.body, host: local.host, session: sessions)[...]
        return ok
    }

    /// RFC 3261 §21.5.4: 503 with a Retry-After (§20.33) for an INVITE beyond
    /// ``EndpointCore/Options/maxDialogs``.
    private func refuseDialog(_ request: SIPMessage, _ key: ServerTransactionKey, _ stack: SIPStack) {
        let retry = SIPHeaderField(name: .retryAfter, value: "5")
        send(SIPRejection(status: 503, detail: "too many dialogs", headers: [retry]).response(to: request), key, stack)
    }

    /// Stops the 180 and final-response timers of a pending INVITE: those the options start at all.
    private func cancelTimers(of key: ServerTransactionKey) {
        if let ring = options.ringAfter, ring > .zero { timers.cancel(.ring(key)) }
        if options.answerAfter > .zero { timers.cancel(.answer(key)) }
        if pending[key]?.reliable != nil { timers.cancel(.provisional(key)) }
    }

    /// RFC 4028 §9: the Session-Expires negotiated for `request` (an INVITE or UPDATE) in its
    /// 2xx, with `Require: timer` when the caller supports the extension.
    private func addSessionTimer(for request: SIPMessage, to response: inout SIPMessage) {
        guard request.headers.contains(.sessionExpires),
            case .timer(let timer, let require) = SessionTimer.negotiate(request, minimum: options.minSE)
        else { return }
        response.headers.append(.sessionExpires, timer.headerValue)
        if require { response.headers.append(.require, "timer") }
    }

    /// §12.2.2: the dialog of a request sent in one, its CSeq checked: a request outside a known
    /// dialog gets 481, one with a CSeq below the last received 500 (and nil comes back).
    private func dialogIndex(_ request: SIPMessage, _ key: ServerTransactionKey?, _ stack: SIPStack)
        -> Dictionary<DialogID, Dialog>.Index?
    {
        guard let id = Self.dialogID(of: request), let i = dialogs.index(forKey: id) else {
            send(request.makeResponse(status: 481), key, stack)
            return nil
        }
        if let cseq = request.cseq?.sequence {
            guard cseq >= dialogs.values[i].remoteCSeq else {
                send(request.makeResponse(status: 500), key, stack)
                return nil
            }
            dialogs.values[i].remoteCSeq = cseq
        }
        return i
    }

    /// RFC 3311 §5.2: an UPDATE in a dialog gets 200, with an SDP answer when it carries an offer
    /// and the session interval when it refreshes one (RFC 4028 §9).
    private func update(_ request: SIPMessage, key: ServerTransactionKey?, stack: SIPStack) {
        guard dialogIndex(request, key, stack) != nil else { return }
        var ok = request.makeResponse(status: 200)
        if !request.body.isEmpty {
            let local = contact.address(for: request, viaTransport: nil, stack: stack)
            ok.headers.append(.contact, "<\(local.contact)>")
            ok.headers.append(.contentType, "application/sdp")
            sessions &+= 1
            ok.body = SDPAnswer.answer(offer: request.body, host: local.host, session: sessions)[...]
        }
        addSessionTimer(for: request, to: &ok)
        send(ok, key, stack)
    }

    /// §12.2.2: a re-INVITE in a known dialog is answered with 200 and a new SDP answer (the
    /// session does not change); outside one it gets 481, below the dialog's CSeq 500.
    private func reinvite(_ request: SIPMessage, key: ServerTransactionKey, stack: SIPStack) {
        guard let i = dialogIndex(request, key, stack), let id = Self.dialogID(of: request) else { return }
        let ok = okResponse(to: request, tag: nil, viaTransport: nil, stack: stack)
        if let t = dialogs.values[i].unacked?.timer { retransmits.cancel(t) }
        retransmits.advance(to: clock())
        let timer = retransmits.start(id, after: options.t1)
        dialogs.values[i].unacked = Unacked(response: ok, key: key, interval: options.t1, elapsed: .zero, timer: timer)
        arm(stack: stack)
        send(ok, key, stack)
    }

    // MARK: - ACK, CANCEL, BYE

    /// §13.3.1.4, §17.2.3: the ACK for a 2xx stops its retransmissions.
    private func acknowledged(_ ack: SIPMessage) {
        guard let id = Self.dialogID(of: ack), let i = dialogs.index(forKey: id),
            let timer = dialogs.values[i].unacked?.timer
        else { return }
        dialogs.values[i].unacked = nil
        retransmits.cancel(timer)
    }

    /// §9.2: 200 to the CANCEL; if the INVITE has no final response yet, 487 to it.
    private func cancel(_ request: SIPMessage, key: ServerTransactionKey?, stack: SIPStack) {
        send(request.makeResponse(status: 200), key, stack)
        guard let invite = key?.cancelledInvite else { return }
        cancelTimers(of: invite)
        guard let p = pending.removeValue(forKey: invite) else { return }
        forgetEarlyDialog(of: p)
        shared.releaseOne()
        send(p.request.makeResponse(status: 487, toTag: p.tag), invite, stack)
    }

    /// §15.1.2: a BYE ends its dialog (200); one that matches no dialog gets 481, one below the
    /// dialog's CSeq 500 (§12.2.2).
    private func bye(_ request: SIPMessage, key: ServerTransactionKey?, stack: SIPStack) {
        guard let i = dialogIndex(request, key, stack) else { return }
        let d = dialogs.remove(at: i).value
        if let t = d.unacked?.timer { retransmits.cancel(t) }
        shared.releaseOne()
        shared.dialogs.subtract(1, ordering: .relaxed)
        send(request.makeResponse(status: 200), key, stack)
    }

    /// The dialog of a request sent by the remote side: Call-ID, To tag (ours), From tag (theirs),
    /// read from the parser's offsets.
    private static func dialogID(of request: SIPMessage) -> DialogID? {
        guard let e = request.essentials, let callID = e.callID, let local = e.toTag, let remote = e.fromTag else {
            return nil
        }
        return DialogID(callID: callID, localTag: local, remoteTag: remote)
    }

    // MARK: - 2xx retransmissions

    /// §13.3.1.4: the 2xx goes out again at T1, 2·T1, 4·T1… (capped at T2) until the ACK; after
    /// 64·T1 the session is ended with a BYE.
    private func retransmit(_ id: DialogID, stack: SIPStack) {
        let limit = options.t1 * 64
        guard let i = dialogs.index(forKey: id), var u = dialogs.values[i].unacked else { return }
        u.elapsed += u.interval
        guard u.elapsed < limit else {
            let d = dialogs.remove(at: i).value
            shared.releaseOne()
            shared.dialogs.subtract(1, ordering: .relaxed)
            shared.logger.info(
                "no ACK for the 2xx within 64*T1; ending the dialog with BYE", metadata: ["sip.call-id": "\(id.callID)"]
            )
            // §15.1.1: the BYE, built by the dialog layer from the INVITE and the 2xx (§12.1.1, §12.2.1.1).
            if var dialog = try? SIPDialog.Dialog.uas(request: d.invite, response: u.response),
                let bye = try? dialog.makeRequest(.bye)
            {
                _ = try? stack.send(bye)
            }
            return
        }
        u.interval = min(u.interval * 2, options.t2)
        u.timer = retransmits.start(id, after: min(u.interval, limit - u.elapsed))
        dialogs.values[i].unacked = u
        send(u.response, u.key, stack)
    }

    // MARK: - Timers

    /// The timers' clock: the time since `origin`.
    private func clock() -> Duration { .nanoseconds((NIODeadline.now() - origin).nanoseconds) }

    /// Starts `timer` (replacing a pending one of the same kind).
    private func start(_ timer: Timer, after delay: Duration, stack: SIPStack) {
        timers.advance(to: clock())
        timers.start(timer, after: delay)
        arm(stack: stack)
    }

    /// Keeps one scheduled task, for the earliest pending timer.
    private func arm(stack: SIPStack) {
        var earliest = timers.nextDeadline()
        if let r = retransmits.nextDeadline(), earliest.map({ r < $0 }) ?? true { earliest = r }
        guard let next = earliest else { return }
        let deadline = origin + TimeAmount(next)
        if let w = wakeUp, w.deadline <= deadline { return }
        wakeUp?.task.cancel()
        wakeUp = (deadline, loop.scheduleTask(deadline: deadline) { [self] in fire(stack: stack) })
    }

    /// Runs every timer that is due, then re-arms the wake-up task.
    private func fire(stack: SIPStack) {
        wakeUp = nil
        let now = clock()
        retransmits.advance(to: now)
        while let next = retransmits.popNext(notAfter: now) { retransmit(next.key, stack: stack) }
        while let next = timers.popNext(notAfter: now) {
            switch next.key {
            case .ring(let key): ring(key, stack: stack)
            case .answer(let key): answer(key, stack: stack)
            case .provisional(let key):
                guard var p = pending[key], var reliable = p.reliable else { continue }
                let actions = reliable.timerFired(now: now, invite: p.request)
                p.reliable = reliable
                pending[key] = p
                apply(actions, key: key, stack: stack)
            }
        }
        arm(stack: stack)
    }

    /// Sends a response on the request's server transaction (statelessly when `key` is nil).
    private func send(_ response: SIPMessage, _ key: ServerTransactionKey?, _ stack: SIPStack) {
        EndpointCore.send(response, key, stack, logger: shared.logger)
    }
}
