import NIOCore
import SIPDialog
import SIPSyntax
import SIPTransaction
import Sippet

/// The dialogs of `sippet serve` once made (RFC 3261 §12.2.2): requests in them checked and
/// answered (re-INVITE, UPDATE, INFO, BYE), the ACK that stops the 2xx retransmissions, and
/// those retransmissions (§13.3.1.4).
extension EndpointCalls {
    /// RFC 4028 §9: the Session-Expires `negotiation` gave, in a 2xx, with `Require: timer` when
    /// the caller supports the extension.
    func addSessionTimer(_ negotiation: SessionTimer.Negotiation, to response: inout SIPMessage) {
        guard case .timer(let timer, let require) = negotiation else { return }
        response.headers.append(.sessionExpires, timer.headerValue)
        if require { response.headers.append(.require, "timer") }
    }

    /// §12.2.2: the dialog of a request sent in one, its CSeq checked: a request outside a known
    /// dialog gets 481, one with a CSeq below the last received 500 (and nil comes back).
    func dialogIndex(_ request: SIPMessage, _ key: ServerTransactionKey?, _ stack: SIPStack)
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
    func update(_ request: SIPMessage, key: ServerTransactionKey?, stack: SIPStack) {
        guard dialogIndex(request, key, stack) != nil else { return }
        var ok = request.makeResponse(status: 200)
        if !request.body.isEmpty {
            let local = contact.address(for: request, viaTransport: nil, stack: stack)
            ok.headers.append(.contact, "<\(local.contact)>")
            ok.headers.append(.contentType, "application/sdp")
            sessions &+= 1
            ok.body = SDPAnswer.answer(offer: request.body, host: local.host, session: sessions)[...]
        }
        addSessionTimer(SessionTimer.negotiate(request, minimum: options.minSE), to: &ok)
        send(ok, key, stack)
    }

    /// §12.2.2: a re-INVITE in a known dialog is answered with 200 and a new SDP answer (the
    /// session does not change); outside one it gets 481, below the dialog's CSeq 500.
    func reinvite(_ request: SIPMessage, key: ServerTransactionKey, stack: SIPStack) {
        guard let i = dialogIndex(request, key, stack), let id = Self.dialogID(of: request) else { return }
        let session = SessionTimer.negotiate(request, minimum: options.minSE)
        let ok = okResponse(to: request, tag: nil, viaTransport: nil, session: session, stack: stack)
        retransmits.advance(to: clock())
        let timer = retransmits.add(id, after: options.t1, fixed: true)
        dialogs.values[i].unacked = Unacked(response: ok, key: key, interval: options.t1, elapsed: .zero, timer: timer)
        arm(stack: stack)
        send(ok, key, stack)
    }

    /// §13.3.1.4, §17.2.3: the ACK for a 2xx stops its retransmissions.
    func acknowledged(_ ack: SIPMessage) {
        guard let id = Self.dialogID(of: ack), let i = dialogs.index(forKey: id) else { return }
        dialogs.values[i].unacked = nil
    }

    /// §15.1.2: a BYE ends its dialog (200); one that matches no dialog gets 481, one below the
    /// dialog's CSeq 500 (§12.2.2).
    func bye(_ request: SIPMessage, key: ServerTransactionKey?, stack: SIPStack) {
        guard let i = dialogIndex(request, key, stack) else { return }
        dialogs.remove(at: i)
        shared.releaseOne()
        shared.dialogs.subtract(1, ordering: .relaxed)
        send(request.makeResponse(status: 200), key, stack)
    }

    /// The dialog of a request sent by the remote side: Call-ID, To tag (ours), From tag (theirs),
    /// read from the parser's offsets.
    static func dialogID(of request: SIPMessage) -> DialogID? {
        guard let e = request.essentials, let callID = e.callID, let local = e.toTag, let remote = e.fromTag else {
            return nil
        }
        return DialogID(callID: callID, localTag: local, remoteTag: remote)
    }

    // MARK: - 2xx retransmissions (§13.3.1.4)

    /// §13.3.1.4: the 2xx goes out again at T1, 2·T1, 4·T1… (capped at T2) until the ACK; after
    /// 64·T1 the session is ended with a BYE.
    func retransmit(_ id: DialogID, stack: SIPStack) {
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
        let delay = min(u.interval, limit - u.elapsed)
        u.timer = retransmits.add(id, after: delay, fixed: delay == u.interval)
        dialogs.values[i].unacked = u
        send(u.response, u.key, stack)
    }
}
