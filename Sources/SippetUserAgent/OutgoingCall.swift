import NIOConcurrencyHelpers
import SIPDialog
import SIPSyntax
import SIPTransaction
import Sippet

/// A call this side places (RFC 3261 §13.2): its INVITE, sent, and what comes back.
///
/// Read ``events`` for the provisional responses and the outcome, or `await` ``answer()`` for the
/// outcome alone (both may be used). ``cancel()`` cancels it while it rings (§9.1).
public final class OutgoingCall: Sendable {
    /// What comes back, in order; the stream ends after the final response.
    public enum Event: Sendable {
        /// A provisional response (100-199), reliable ones already PRACKed (RFC 3262 §4).
        case provisional(SIPMessage)
        /// A 2xx: the call, ACKed (§13.2.2.4), and the 2xx itself (the answer in its body).
        case answered(Call, SIPMessage)
        /// A final failure (3xx-6xx; 487 after ``OutgoingCall/cancel()``).
        case rejected(SIPMessage)
        /// No final response came (Timer B) or the INVITE could not be sent.
        case failed(SIPStackError)
    }

    /// The agent that placed it.
    public let agent: SIPUserAgent
    /// The provisional responses and the outcome.
    public let events: AsyncStream<Event>
    private let continuation: AsyncStream<Event>.Continuation
    private let state: NIOLockedValueBox<State>

    private struct State {
        var dialogs: DialogSet
        var pracks = PRACKSender()
        var key: TransactionKey?
        var outcome: Result<Call, CallFailure>?
        var waiting: [CheckedContinuation<Result<Call, CallFailure>, Never>] = []
        var cancelRequested = false
        var retries = 0
    }

    init(agent: SIPUserAgent, invite: SIPMessage) {
        self.agent = agent
        state = NIOLockedValueBox(State(dialogs: DialogSet(invite: invite)))
        (events, continuation) = AsyncStream.makeStream(of: Event.self)
    }

    /// The INVITE as last sent (a retry after 401, 407 or 422 has a higher CSeq).
    public var invite: SIPMessage { state.withLockedValue { $0.dialogs.invite } }

    var key: TransactionKey? { state.withLockedValue { $0.key } }

    /// Waits for the outcome: the call when answered; the final failure or the stack's error
    /// otherwise.
    public func answer() async throws(CallFailure) -> Call {
        let result = await withCheckedContinuation { c in
            let done = state.withLockedValue { s -> Result<Call, CallFailure>? in
                if s.outcome == nil { s.waiting.append(c) }
                return s.outcome
            }
            if let done { c.resume(returning: done) }
        }
        return try result.get()
    }

    /// Cancels the call (RFC 3261 §9.1): the CANCEL goes once a provisional response has come;
    /// after a final response it does nothing. The outcome is then 487, or the 2xx that crossed
    /// the CANCEL (end that call with ``Call/bye(headers:)``).
    public func cancel() {
        let key = state.withLockedValue { s -> ClientTransactionKey? in
            guard s.outcome == nil else { return nil }
            s.cancelRequested = true
            if case .client(let k)? = s.key { return k }
            return nil
        }
        guard let key else { return }
        _ = try? agent.stack.cancel(key)
        // §9.1: a UAS that answers the CANCEL but never the INVITE leaves the call hanging; after
        // 64·T1 the INVITE's transaction ends and the call fails as if timed out (Timer B).
        let wait = agent.stack.configuration.timers.t1 * 64
        Task { [self] in
            try? await Task.sleep(for: wait)
            guard state.withLockedValue({ $0.outcome == nil }) else { return }
            agent.stack.terminate(.client(key))
            failed(.timeout(.b))
        }
    }

    func send(_ invite: SIPMessage) throws(CallFailure) {
        guard let id = invite.callID else { throw .stack(.invalidMessage("no Call-ID")) }
        agent.state.withLockedValue { $0.outgoing[id] = self }
        let key: TransactionKey?
        do {
            key = try agent.stack.send(invite)
        } catch {
            agent.state.withLockedValue { _ = $0.outgoing.removeValue(forKey: id) }
            throw .stack(error)
        }
        let cancel = state.withLockedValue { s -> Bool in
            s.key = key
            return s.cancelRequested
        }
        if let key, let early = agent.takeOrphanError(key) {
            failed(early)
            return
        }
        if cancel { self.cancel() }
    }

    // MARK: - Responses

    func receive(_ response: SIPMessage) {
        guard let status = response.status, let cseq = response.cseq?.sequence else { return }
        if status >= 300, let retry = retry(after: response) {
            do { try send(retry) } catch { finish(.failure(error), event: .failed(.invalidMessage("\(error)"))) }
            return
        }
        var out: [SIPMessage] = []
        var answered: Call?
        var repeated = false
        let event = state.withLockedValue { s -> DialogSet.Event in
            let event = s.dialogs.receive(response)
            // §13.2.2.4: the ACK carries the INVITE's credentials.
            let credentials = [SIPHeaderName.authorization, .proxyAuthorization].flatMap { name in
                s.dialogs.invite.headers.values(name).map { (name, $0) }
            }
            switch event {
            case .early:
                if let rack = s.pracks.rack(for: response), let tag = response.toTag,
                    let prack = try? s.dialogs.makeRequest(in: tag, .prack, headers: [(.rack, rack.description)])
                {
                    out.append(prack)
                } else if response.hasOption("100rel", in: .require), response.headers.contains(.rseq) {
                    // RFC 3262 §4: a reliable provisional seen before is discarded.
                    repeated = true
                }
            case .confirmed(let d):
                let ack = d.makeAck(cseq: cseq, headers: credentials)
                // RFC 3264 §4: a 2xx with an offer (the INVITE had none) is ACKed with the answer,
                // which the application gives (``Call/acknowledge(answer:)``).
                let lateOffer = s.dialogs.invite.body.isEmpty && !response.body.isEmpty
                if !lateOffer { out.append(ack) }
                answered = Call(
                    agent: agent, dialog: d, answered: response, invite: s.dialogs.invite, ack: ack,
                    awaitingAnswer: lateOffer)
            case .retransmission:
                break
            case .otherFork(let d):
                // §13.2.2.4: a second fork's 2xx is ACKed, then that dialog ended.
                out.append(d.makeAck(cseq: cseq, headers: credentials))
                if d.state != .terminated, let bye = try? s.dialogs.makeRequest(in: d.id.remoteTag, .bye) {
                    s.dialogs.terminate(d.id.remoteTag)
                    out.append(bye)
                }
            case .provisional, .failed, .ignored:
                break
            }
            return event
        }
        for m in out { _ = try? agent.stack.send(m) }
        switch event {
        case .early, .provisional:
            if !repeated, state.withLockedValue({ $0.outcome == nil }) { continuation.yield(.provisional(response)) }
        case .confirmed:
            guard let answered else { return }
            agent.add(answered)
            answered.armSessionTimer()
            finish(.success(answered), event: .answered(answered, response))
        case .failed:
            finish(.failure(.rejected(response)), event: .rejected(response))
            if let id = response.callID { agent.state.withLockedValue { _ = $0.outgoing.removeValue(forKey: id) } }
        case .retransmission:
            // The ACK again (§13.2.2.4), by the call that holds it.
            if case .success(let call)? = state.withLockedValue({ $0.outcome }) { call.acknowledgeAgain(response) }
        case .otherFork, .ignored:
            break
        }
    }

    /// The INVITE to send again after `response`: with credentials after a 401 or 407 (RFC 3261
    /// §22.2, twice at most), or with Session-Expires raised to the Min-SE after a 422 (RFC 4028
    /// §7.2, once). Nil when there is none.
    private func retry(after response: SIPMessage) -> SIPMessage? {
        state.withLockedValue { s -> SIPMessage? in
            guard s.retries < 2, !s.cancelRequested else { return nil }
            var next: SIPMessage?
            if response.status == 422, s.retries == 0, let minimum = try? response.headers.first(.minSE),
                let seconds = minimum.deltaSeconds
            {
                var m = s.dialogs.invite
                m.headers.set(.sessionExpires, String(seconds))
                m.headers.set(.minSE, String(seconds))
                if let cseq = m.cseq { m.headers.set(.cseq, "\(cseq.sequence &+ 1) INVITE") }
                _ = m.headers.remove(.via)
                next = m
            } else if let digest = agent.configuration.credentials,
                var m = digest.retry(s.dialogs.invite, after: response)
            {
                _ = m.headers.remove(.via)
                next = m
            }
            guard let next else { return nil }
            s.retries += 1
            s.dialogs = DialogSet(invite: next)
            s.pracks = PRACKSender()
            return next
        }
    }

    func failed(_ error: SIPStackError) {
        finish(.failure(.stack(error)), event: .failed(error))
        if let id = invite.callID { agent.state.withLockedValue { _ = $0.outgoing.removeValue(forKey: id) } }
    }

    private func finish(_ outcome: Result<Call, CallFailure>, event: Event) {
        let waiting = state.withLockedValue { s -> [CheckedContinuation<Result<Call, CallFailure>, Never>]? in
            guard s.outcome == nil else { return nil }
            s.outcome = outcome
            defer { s.waiting = [] }
            return s.waiting
        }
        guard let waiting else { return }
        continuation.yield(event)
        continuation.finish()
        for w in waiting { w.resume(returning: outcome) }
    }
}
