import NIOConcurrencyHelpers
import SIPDialog
import SIPSyntax
import SIPTransaction
import Sippet

/// The requests the other side sends in a call (RFC 3261 §12.2.2), and the application's answers.
extension Call {
    // MARK: - Requests the other side sends

    func receive(_ request: SIPMessage, key: ServerTransactionKey?) {
        guard let method = request.method else { return }
        let body = SIPBody(of: request)
        if method == .ack {
            let (task, answered) = state.withLockedValue { s -> (Task<Void, Never>?, Bool) in
                guard let cseq = request.cseq?.sequence, s.awaitingAck.remove(cseq) != nil else { return (nil, false) }
                let answers = body != nil && s.exchanges.offer == .localOffer
                _ = s.exchanges.receive(request, hasOffer: body != nil)
                if let body { s.remoteBody = body }
                return (s.retransmissions.removeValue(forKey: cseq), answers)
            }
            task?.cancel()
            if answered, let body { continuation.yield(.acknowledged(body)) }
            return
        }
        guard let key else { return }
        if method == .cancel {
            // §9.2: 200 to the CANCEL (the stack passed it on: it matched a transaction); 487 to
            // the re-INVITE it cancels if the application has not answered it.
            _ = try? agent.stack.send(request.makeResponse(status: 200), for: key)
            let pending = state.withLockedValue { s in request.cseq.flatMap { s.unanswered[$0.sequence] } }
            if let (invite, inviteKey) = pending {
                respond(to: invite, key: inviteKey, status: 487, reason: nil, body: nil, headers: [])
            }
            return
        }
        let minimum = agent.configuration.minSessionExpires
        let rejection = state.withLockedValue { s -> SIPMessage? in
            if case .reject(let status) = s.dialog.receive(request: request) {
                return request.makeResponse(status: status)
            }
            guard method == .invite || method == .update else { return nil }
            if case .tooSmall(let floor) = SessionTimer.negotiate(request, minimum: minimum) {
                var r = request.makeResponse(status: 422)
                r.headers.append(.minSE, String(floor))
                return r
            }
            if case .reject(let status, let retryAfter) = s.exchanges.receive(request, hasOffer: body != nil) {
                var r = request.makeResponse(status: status)
                if let retryAfter { r.headers.append(.retryAfter, String(retryAfter)) }
                return r
            }
            if let body { s.remoteBody = body }
            return nil
        }
        if let rejection {
            _ = try? agent.stack.send(rejection, for: key)
            return
        }
        if method == .bye {
            _ = try? agent.stack.send(request.makeResponse(status: 200), for: key)
            end(.remoteBye)
            return
        }
        if method == .invite, let cseq = request.cseq?.sequence {
            state.withLockedValue { $0.unanswered[cseq] = (request, key) }
        }
        continuation.yield(.request(InDialogRequest(call: self, message: request, key: key)))
    }

    /// Sends the application's answer to a request of the other side.
    func respond(
        to request: SIPMessage, key: ServerTransactionKey, status: Int, reason: String?, body: SIPBody?,
        headers: [(SIPHeaderName, String)]
    ) {
        var r = request.makeResponse(status: status, reason: reason)
        let method = request.method
        let refreshes = (200...299).contains(status) && (method == .invite || method == .update)
        if refreshes {
            r.headers.append(.contact, "<\(agent.contact(answering: request))>")
            r.headers.append(.supported, SIPUserAgent.supportedAsServer)
            if case .timer(let t, let require) = SessionTimer.negotiate(
                request, minimum: agent.configuration.minSessionExpires)
            {
                r.headers.append(.sessionExpires, t.headerValue)
                if require { r.headers.append(.require, "timer") }
            }
        }
        for (n, v) in headers { r.headers.append(n, v) }
        r.setBody(body)
        let response = r
        // A re-INVITE is answered once: after a CANCEL took it (487), the application's answer is
        // not sent.
        let first = state.withLockedValue { s -> Bool in
            if method == .invite, let cseq = request.cseq?.sequence, s.unanswered.removeValue(forKey: cseq) == nil {
                return false
            }
            s.exchanges.sent(response, hasBody: body != nil)
            guard refreshes else { return true }
            if let body { s.localBody = body }
            if case .timer(let t, _) = SessionTimer.negotiate(request, minimum: 0) {
                s.timer = (t, t.isRefresher(.uas))
            } else {
                s.timer = nil
            }
            if method == .invite, let cseq = request.cseq?.sequence { s.awaitingAck.insert(cseq) }
            return true
        }
        guard first else { return }
        _ = try? agent.stack.send(response, for: key)
        if refreshes {
            if method == .invite { answerSent(response) } else { armSessionTimer() }
        }
    }
}

/// A request the other side sent in a call, for the application to answer.
public struct InDialogRequest: Sendable {
    /// The call it came in.
    public let call: Call
    /// The request.
    public let message: SIPMessage
    let key: ServerTransactionKey

    /// Its session description, if any (an offer in a re-INVITE or UPDATE, RFC 3264 §8).
    public var body: SIPBody? { SIPBody(of: message) }

    /// Answers it. A 2xx to a re-INVITE or UPDATE carries this side's Contact and, when the
    /// request set a session timer, its Session-Expires (RFC 4028 §9); a 2xx to a re-INVITE is
    /// sent again until its ACK (RFC 3261 §13.3.1.4).
    public func respond(
        _ status: Int, reason: String? = nil, body: SIPBody? = nil, headers: [(SIPHeaderName, String)] = []
    ) {
        call.respond(to: message, key: key, status: status, reason: reason, body: body, headers: headers)
    }
}
