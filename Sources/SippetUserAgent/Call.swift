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
    let continuation: AsyncStream<Event>.Continuation
    let state: NIOLockedValueBox<State>

    struct State {
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
    func hangUp(_ reason: EndReason, headers: [(SIPHeaderName, String)] = []) async throws(CallFailure)
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
}
