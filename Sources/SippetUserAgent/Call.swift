import NIOConcurrencyHelpers
import SIPDialog
import SIPSyntax
import SIPTransaction
import Sippet

/// An established call: a confirmed dialog (RFC 3261 §12) and its session.
///
/// Send requests in it with ``bye(headers:)``, ``reinvite(offer:headers:)``,
/// ``update(offer:headers:)``, ``info(_:headers:)`` or ``request(_:body:headers:)``; each returns
/// the final response. Read ``events`` for the requests the other side sends (answer each with
/// ``InDialogRequest/respond(_:reason:body:headers:)``) and for the end of the call.
public final class Call: Sendable {
    /// What happens in the call.
    public enum Event: Sendable {
        /// The other side acknowledged this side's 2xx with an answer (RFC 3264 §4: the request
        /// that this 2xx answered had no offer, so the 2xx carried this side's).
        case acknowledged(SIPBody)
        /// The other side sent a request that the application answers: INFO (RFC 6086), a
        /// re-INVITE or UPDATE (an offer to answer, RFC 3264 §8; a session refresh, RFC 4028),
        /// or another method. The agent has checked it against the dialog (§12.2.2) and the
        /// session (§14.2) already.
        case request(InDialogRequest)
        /// The call has ended; the stream ends after this.
        case ended(EndReason)
    }

    /// Why a call ended.
    public enum EndReason: Sendable, Hashable {
        /// This side sent BYE.
        case localBye
        /// The other side sent BYE (answered 200, §15.1.2).
        case remoteBye
        /// No ACK came for this side's 2xx within 64·T1: BYE sent (§13.3.1.4).
        case noAck
        /// The session timer ran out without a refresh: BYE sent (RFC 4028 §10).
        case sessionExpired
        /// A request in the dialog got this status (481 or 408: the dialog is gone, §12.2.1.2),
        /// or the call could not be set up.
        case failed(status: Int)
    }

    /// The agent the call belongs to.
    public let agent: SIPUserAgent
    /// The dialog's ID.
    public let id: Dialog.ID
    /// The requests of the other side, and the end.
    public let events: AsyncStream<Event>
    private let continuation: AsyncStream<Event>.Continuation
    private let state: NIOLockedValueBox<State>

    private struct State {
        var dialog: Dialog
        var exchanges = SessionExchanges()
        var ended = false
        /// INVITEs (by CSeq) whose 2xx this side sent and that have no ACK yet.
        var awaitingAck: Set<UInt32> = []
        var retransmissions: [UInt32: Task<Void, Never>] = [:]
        /// The ACK this side sent for the last 2xx to its own INVITE, sent again for each copy.
        var lastAck: SIPMessage?
        /// The ACK of a 2xx that carried an offer, waiting for the application's answer.
        var pendingAck: SIPMessage?
        /// re-INVITEs of the other side given to the application and not answered yet, by CSeq:
        /// a CANCEL of one gets it answered 487 (§9.2).
        var unanswered: [UInt32: (SIPMessage, ServerTransactionKey)] = [:]
        var localBody: SIPBody?
        var remoteBody: SIPBody?
        var timer: (SessionTimer, refresher: Bool)?
        var timerTask: Task<Void, Never>?
        var remoteAllowsUpdate = false
    }

    init(agent: SIPUserAgent, dialog: Dialog) {
        self.agent = agent
        id = dialog.id
        state = NIOLockedValueBox(State(dialog: dialog))
        (events, continuation) = AsyncStream.makeStream(of: Event.self)
    }

    /// The UAC's call, from its INVITE, the 2xx and its ACK: sent, or (`awaitingAnswer`, the 2xx
    /// carried an offer) held for the application's answer.
    convenience init(
        agent: SIPUserAgent, dialog: Dialog, answered: SIPMessage, invite: SIPMessage, ack: SIPMessage,
        awaitingAnswer: Bool
    ) {
        self.init(agent: agent, dialog: dialog)
        state.withLockedValue { s in
            s.exchanges.sent(invite, hasOffer: !invite.body.isEmpty)
            s.exchanges.received(answered, hasBody: !answered.body.isEmpty)
            if awaitingAnswer { s.pendingAck = ack } else { s.lastAck = ack }
            s.localBody = SIPBody(of: invite)
            s.remoteBody = SIPBody(of: answered)
            s.remoteAllowsUpdate = answered.headers.values(.allow).joined(separator: ",").uppercased().contains(
                "UPDATE")
            s.timer = SessionTimer.fromResponse(answered).map { ($0, $0.isRefresher(.uac)) }
        }
    }

    /// The dialog as it stands: save it (it is `Codable`) to rebuild the call after a restart
    /// (``SIPUserAgent/restore(_:)``).
    public var dialog: Dialog { state.withLockedValue { $0.dialog } }
    /// The last session description the other side sent (its offer or answer).
    public var remoteBody: SIPBody? { state.withLockedValue { $0.remoteBody } }
    /// Whether the call has ended.
    public var isEnded: Bool { state.withLockedValue { $0.ended } }

    // MARK: - Requests this side sends

    /// Whether this side owes the ACK of a 2xx that carried an offer: send it with
    /// ``acknowledge(answer:)``.
    public var needsAnswer: Bool { state.withLockedValue { $0.pendingAck != nil } }

    /// Sends the ACK of a 2xx that carried an offer, with `answer` (RFC 3264 §4, RFC 3261
    /// §13.2.2.4): the INVITE (or re-INVITE) had no offer. Until it is sent, the other side
    /// retransmits its 2xx, and ends the call with BYE after 64·T1.
    public func acknowledge(answer: SIPBody) throws(CallFailure) {
        let ack = state.withLockedValue { s -> SIPMessage? in
            guard var ack = s.pendingAck, !s.ended else { return nil }
            ack.setBody(answer)
            s.pendingAck = nil
            s.lastAck = ack
            s.localBody = answer
            s.exchanges.sent(ack, hasOffer: true)
            return ack
        }
        guard let ack else { throw .ended }
        _ = try? agent.stack.send(ack)
    }

    /// Ends the call (§15.1.1): BYE, and the call is over whatever the answer.
    @discardableResult
    public func bye(headers: [(SIPHeaderName, String)] = []) async throws(CallFailure) -> SIPMessage {
        try await hangUp(.localBye, headers: headers)
    }

    /// Sends a re-INVITE with `offer` (RFC 3261 §14.1, RFC 3264 §8) and returns its final
    /// response, ACKed when a 2xx. A 491 (glare) is retried after the §14.1 wait, twice at most.
    @discardableResult
    public func reinvite(offer: SIPBody, headers: [(SIPHeaderName, String)] = []) async throws(CallFailure)
        -> SIPMessage
    {
        try await request(.invite, body: offer, headers: headers)
    }

    /// Sends an UPDATE (RFC 3311), with an offer or without (a session refresh, RFC 4028).
    @discardableResult
    public func update(offer: SIPBody? = nil, headers: [(SIPHeaderName, String)] = []) async throws(CallFailure)
        -> SIPMessage
    {
        try await request(.update, body: offer, headers: headers)
    }

    /// Sends an INFO (RFC 6086) with `body`.
    @discardableResult
    public func info(_ body: SIPBody, headers: [(SIPHeaderName, String)] = []) async throws(CallFailure) -> SIPMessage {
        try await request(.info, body: body, headers: headers)
    }

    /// Sends a request of `method` in the call (§12.2.1.1: remote target, route set, next CSeq)
    /// and returns its final response. An INVITE's 2xx is ACKed (§13.2.2.4); a 491 to an INVITE
    /// or UPDATE is retried after the §14.1 wait, twice at most; a 481 or 408 ends the call
    /// (§12.2.1.2). Not for ACK, CANCEL or BYE (``bye(headers:)``).
    @discardableResult
    public func request(_ method: SIPMethod, body: SIPBody? = nil, headers: [(SIPHeaderName, String)] = [])
        async throws(CallFailure) -> SIPMessage
    {
        guard ![.ack, .cancel, .bye].contains(method) else {
            throw .stack(.invalidMessage("\(method) is not sent with request(_:body:headers:)"))
        }
        for attempt in 0..<3 {
            let first = try build(method, body: body, headers: headers)
            let result = await agent.exchange(first) { previous in
                self.state.withLockedValue { $0.exchanges.failed(previous) }
                return try? self.build(method, body: body, headers: headers)
            }
            let final: SIPMessage
            switch result {
            case .failure(let e):
                state.withLockedValue { $0.exchanges.failed(first) }
                // §12.2.1.2: no response at all ends the dialog, as a 408 does.
                if case .stack(let error) = e, error.isTimeout { end(.failed(status: 408)) }
                throw e
            case .success(let r): final = r
            }
            let status = final.status ?? 0
            let ack = state.withLockedValue { s -> SIPMessage? in
                s.exchanges.received(final, hasBody: !final.body.isEmpty)
                s.dialog.receive(response: final, to: method)
                guard (200...299).contains(status) else { return nil }
                if let b = SIPBody(of: final) { s.remoteBody = b }
                if let body { s.localBody = body }
                if method == .invite || method == .update {
                    s.timer = SessionTimer.fromResponse(final).map { ($0, $0.isRefresher(.uac)) }
                }
                guard method == .invite, let cseq = final.cseq?.sequence else { return nil }
                let ack = s.dialog.makeAck(cseq: cseq)
                if body == nil, !final.body.isEmpty {
                    // The 2xx carries an offer: the ACK waits for the answer.
                    s.pendingAck = ack
                    return nil
                }
                s.lastAck = ack
                return ack
            }
            if let ack { _ = try? agent.stack.send(ack) }
            if status == 481 || status == 408 {
                end(.failed(status: status))
            } else if (200...299).contains(status), method == .invite || method == .update {
                armSessionTimer()
            }
            if status == 491, attempt < 2, method == .invite || method == .update {
                let owner = dialog.role == .uac
                try? await Task.sleep(for: GlareRetry.delay(ownsCallID: owner))
                continue
            }
            return final
        }
        throw .exchangeInProgress
    }

    /// Builds the next request of the dialog and records it in the session.
    private func build(_ method: SIPMethod, body: SIPBody?, headers: [(SIPHeaderName, String)]) throws(CallFailure)
        -> SIPMessage
    {
        let contact = Dialog.isTargetRefresh(method) ? agent.contact(toward: dialog.remoteTarget) : nil
        let result = state.withLockedValue { s -> Result<SIPMessage, CallFailure> in
            guard !s.ended, s.dialog.state != .terminated else { return .failure(.ended) }
            let offers = method == .invite || (method == .update && body != nil)
            if offers, !s.exchanges.canSendOffer { return .failure(.exchangeInProgress) }
            var fields = headers
            if method == .invite || method == .update { fields.append((.supported, SIPUserAgent.supported)) }
            guard var request = try? s.dialog.makeRequest(method, contact: contact, headers: fields) else {
                return .failure(.ended)
            }
            request.setBody(body)
            s.exchanges.sent(request, hasOffer: body != nil)
            return .success(request)
        }
        return try result.get()
    }

    /// Sends BYE (unless the call has ended) and ends the call for `reason`.
    private func hangUp(_ reason: EndReason, headers: [(SIPHeaderName, String)] = []) async throws(CallFailure)
        -> SIPMessage
    {
        let bye = state.withLockedValue { s -> SIPMessage? in
            guard !s.ended, let bye = try? s.dialog.makeRequest(.bye, headers: headers) else { return nil }
            return bye
        }
        guard let bye else { throw .ended }
        end(reason)
        return try await agent.exchange(bye).get()
    }

    /// Ends the call: no more requests in it, its timers stopped, ``Event/ended(_:)`` given.
    func end(_ reason: EndReason) {
        let tasks = state.withLockedValue { s -> [Task<Void, Never>]? in
            guard !s.ended else { return nil }
            s.ended = true
            s.dialog.terminate()
            var tasks = Array(s.retransmissions.values)
            if let t = s.timerTask { tasks.append(t) }
            s.retransmissions = [:]
            s.timerTask = nil
            return tasks
        }
        guard let tasks else { return }
        for t in tasks { t.cancel() }
        agent.ended(self)
        continuation.yield(.ended(reason))
        continuation.finish()
    }

    // MARK: - The UAS's 2xx (§13.3.1.4)

    /// The INVITE this side accepts with `response`, before the response is sent.
    func acceptedInvite(_ invite: SIPMessage, response: SIPMessage, timer: (SessionTimer, refresher: Bool)?) {
        state.withLockedValue { s in
            _ = s.exchanges.receive(invite, hasOffer: !invite.body.isEmpty)
            s.exchanges.sent(response, hasBody: !response.body.isEmpty)
            s.remoteBody = SIPBody(of: invite)
            s.localBody = SIPBody(of: response)
            s.remoteAllowsUpdate = invite.headers.values(.allow).joined(separator: ",").uppercased().contains("UPDATE")
            s.timer = timer
            if let cseq = invite.cseq?.sequence { s.awaitingAck.insert(cseq) }
        }
    }

    /// The 2xx to an INVITE was sent: retransmit it until its ACK, from T1 doubling to T2; with
    /// no ACK after 64·T1, BYE (§13.3.1.4).
    func answerSent(_ response: SIPMessage) {
        guard let cseq = response.cseq?.sequence else { return }
        if response.cseq?.method == .invite {
            let timers = agent.stack.configuration.timers
            let origin = ContinuousClock.now
            let task = Task { [self] in
                var schedule = AnswerRetransmission(sentAt: .zero, t1: timers.t1, t2: timers.t2)
                while let due = schedule.nextDeadline {
                    try? await Task.sleep(until: origin + due, clock: .continuous)
                    if Task.isCancelled { return }
                    switch schedule.timerFired(now: origin.duration(to: .now)) {
                    case .retransmit?: _ = try? agent.stack.send(response)
                    case .giveUp?:
                        _ = try? await hangUp(.noAck)
                        return
                    case nil: continue
                    }
                }
            }
            let kept = state.withLockedValue { s -> Bool in
                guard s.awaitingAck.contains(cseq), !s.ended else { return false }
                s.retransmissions[cseq] = task
                return true
            }
            if !kept { task.cancel() }
        }
        armSessionTimer()
    }

    /// A 2xx to this side's INVITE came again: the ACK again (§13.2.2.4).
    func acknowledgeAgain(_ response: SIPMessage) {
        let ack = state.withLockedValue { s in
            s.lastAck.flatMap { $0.cseq?.sequence == response.cseq?.sequence ? $0 : nil }
        }
        if let ack { _ = try? agent.stack.send(ack) }
    }

    /// Arms the session timer (RFC 4028 §10): the refresher refreshes at half the interval; the
    /// other side sends BYE at the interval less min(32 s, a third) without a refresh.
    func armSessionTimer() {
        guard let (timer, refresher) = state.withLockedValue({ $0.timer }) else {
            state.withLockedValue { s in
                s.timerTask?.cancel()
                s.timerTask = nil
            }
            return
        }
        let task = Task { [self] in
            let wait = refresher ? timer.refreshDue(after: .zero) : timer.expiryDue(after: .zero)
            try? await Task.sleep(for: wait)
            if Task.isCancelled { return }
            if refresher { await refresh(timer) } else { _ = try? await hangUp(.sessionExpired) }
        }
        let kept = state.withLockedValue { s -> Bool in
            guard !s.ended else { return false }
            s.timerTask?.cancel()
            s.timerTask = task
            return true
        }
        if !kept { task.cancel() }
    }

    /// RFC 4028 §10: the refresh, by UPDATE when the other side allows it, else by re-INVITE with
    /// the last session description; this side stays the refresher.
    private func refresh(_ timer: SessionTimer) async {
        let (update, body) = state.withLockedValue { ($0.remoteAllowsUpdate, $0.localBody) }
        let fields: [(SIPHeaderName, String)] = [
            (.sessionExpires, SessionTimer(interval: timer.interval, refresher: .uac).headerValue)
        ]
        let status: Int
        do {
            status =
                try await request(update ? .update : .invite, body: update ? nil : body, headers: fields).status ?? 0
        } catch .ended {
            return
        } catch {
            status = 408
        }
        if (200...299).contains(status) { return }  // re-armed by the 2xx
        // RFC 4028 §10: a refresh that times out or gets 408 or 481 ends the session. Another
        // failure leaves the session as it was: it ends at its expiry unless refreshed.
        if status == 408 || status == 481 {
            _ = try? await hangUp(.sessionExpired)
        } else {
            state.withLockedValue { s in s.timer = s.timer.map { ($0.0, false) } }
            armSessionTimer()
        }
    }

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
