import SIPSyntax

/// The non-INVITE client transaction (RFC 3261 §17.1.2, Figure 6).
///
/// ```
///  start() ──► Trying ──1xx──► Proceeding ──200-699──► Completed ──Timer K──► Terminated
///                ╰──200-699────────────────────────────╯
///  Trying, Proceeding ──Timer F / transport error──► Terminated
/// ```
///
/// On unreliable transports the request is retransmitted on Timer E: T1, then doubling up to T2
/// while Trying, and every T2 once Proceeding (§17.1.2.2). It keeps the request's bytes until a
/// final response, then nothing.
public struct NonInviteClientTransaction: TransactionStateMachine {
    /// The states of Figure 6.
    public enum State: Sendable, Hashable, CustomStringConvertible {
        /// RFC 3261 §17.1.2.2: the request was sent; no response yet.
        case trying
        /// RFC 3261 §17.1.2.2: a provisional response arrived.
        case proceeding
        /// RFC 3261 §17.1.2.2: a final response arrived; retransmissions of it are absorbed.
        case completed
        /// RFC 3261 §17.1.2.2: over.
        case terminated

        /// The RFC's name of the state.
        public var description: String {
            switch self {
            case .trying: return "Trying"
            case .proceeding: return "Proceeding"
            case .completed: return "Completed"
            case .terminated: return "Terminated"
            }
        }
    }

    private enum Machine: Sendable {
        case idle(request: [UInt8])
        /// `timerE` is the interval Timer E was last started with.
        case trying(request: [UInt8], timerE: Duration)
        case proceeding(request: [UInt8])
        case completed
        case terminated
    }

    /// Whether the request goes over a reliable transport (then Timer E is not started and K is zero).
    public let reliability: TransportReliability
    /// The timer values (RFC 3261 §17.1.1.1).
    public let timers: TransactionTimers
    /// What the TU gets when Timer F fires.
    public let timeoutReport: ClientTimeoutReport
    private var machine: Machine

    /// A transaction for `request`, not yet started. Nil for an INVITE or an ACK (RFC 3261 §17.1:
    /// an ACK has no client transaction), or a request with no top Via branch (§8.1.1.7).
    public init?(
        request: SIPMessage, reliability: TransportReliability, timers: TransactionTimers = .default,
        timeoutReport: ClientTimeoutReport = .error
    ) {
        guard let m = request.method, m != .invite, m != .ack, ClientTransactionKey.canKey(request) else {
            return nil
        }
        self.init(
            bytes: OwnMessages.bytes(of: request), reliability: reliability, timers: timers,
            timeoutReport: timeoutReport)
    }

    /// A transaction for a request already written out as `bytes`, whose key its driver made: the
    /// request is not written or read again.
    @usableFromInline
    init(
        bytes: [UInt8], reliability: TransportReliability, timers: TransactionTimers, timeoutReport: ClientTimeoutReport
    ) {
        self.reliability = reliability
        self.timers = timers
        self.timeoutReport = timeoutReport
        self.machine = .idle(request: OwnMessages.kept(bytes))
    }

    /// The current state (``State/trying`` before ``start()`` too).
    public var state: State {
        switch machine {
        case .idle, .trying: return .trying
        case .proceeding: return .proceeding
        case .completed: return .completed
        case .terminated: return .terminated
        }
    }

    /// Whether the machine reached Terminated.
    public var isTerminated: Bool { if case .terminated = machine { return true } else { return false } }

    /// The bytes the transaction holds for retransmission: the request until a final response.
    public var storedByteCount: Int {
        switch machine {
        case .idle(let b), .trying(let b, _), .proceeding(let b): return b.count
        case .completed, .terminated: return 0
        }
    }

    /// RFC 3261 §17.1.2.2, "Request from TU": send the request, start Timer E with T1 (unreliable
    /// transports only) and Timer F with 64·T1, enter Trying. Only the first call does anything.
    public mutating func start() -> TransactionActions {
        guard case .idle(let request) = machine else { return [] }
        var out: TransactionActions = [.send(request)]
        if let e = timers.initialValue(of: .e, on: reliability) { out.append(.startTimer(.e, e)) }
        out.append(.startTimer(.f, timers.f))
        machine = .trying(request: request, timerE: timers.e)
        return out
    }

    /// A response matched this transaction (RFC 3261 §17.1.2.2).
    public mutating func received(_ response: SIPMessage) -> TransactionActions {
        guard let status = response.status, (100...699).contains(status) else { return [] }
        switch machine {
        case .idle, .completed, .terminated:
            // §17.1.2.2: Completed buffers response retransmissions: they are absorbed.
            return []
        case .trying(let request, _):
            if status < 200 {
                // §17.1.2.2: → Proceeding; Timer E keeps running and is reset to T2 when it fires.
                machine = .proceeding(request: request)
                return [.passToTU(response)]
            }
            return final(response)
        case .proceeding:
            if status < 200 { return [.passToTU(response)] }
            return final(response)
        }
    }

    /// §17.1.2.2: a final response in Trying or Proceeding: → Completed, response to the TU, Timer K.
    private mutating func final(_ response: SIPMessage) -> TransactionActions {
        var out: TransactionActions = []
        if !reliability.isReliable { out.append(.cancelTimer(.e)) }
        out.append(.cancelTimer(.f))
        out.append(.passToTU(response))
        let k = timers.k(reliability)
        if k == .zero {
            machine = .terminated
            out.append(.terminated)
        } else {
            machine = .completed
            out.append(.startTimer(.k, k))
        }
        return out
    }

    /// Timer E, F or K fired (RFC 3261 §17.1.2.2).
    public mutating func timerFired(_ timer: TransactionTimer) -> TransactionActions {
        switch (machine, timer) {
        case (.trying(let request, let interval), .e):
            // §17.1.2.2: retransmit; reset E to MIN(2·E, T2).
            let next = timers.doubled(interval, capped: true)
            machine = .trying(request: request, timerE: next)
            return [.send(request), .startTimer(.e, next)]
        case (.proceeding(let request), .e):
            // §17.1.2.2: in Proceeding, retransmit and reset E to T2.
            return [.send(request), .startTimer(.e, timers.t2)]
        case (.trying(let request, _), .f), (.proceeding(let request), .f):
            machine = .terminated
            var out: TransactionActions = []
            if !reliability.isReliable { out.append(.cancelTimer(.e)) }
            out.append(timeout(request))
            out.append(.terminated)
            return out
        case (.completed, .k):
            machine = .terminated
            return [.terminated]
        default:
            return []
        }
    }

    private func timeout(_ request: [UInt8]) -> TransactionAction {
        if timeoutReport == .response408, let r = OwnMessages.parse(request) {
            return .passToTU(r.makeResponse(status: 408))
        }
        return .informTU(TransactionError(reason: .timeout(.f)))
    }

    /// RFC 3261 §17.1.4: the transport could not send the request. In Trying and Proceeding the TU
    /// is informed and the transaction ends (Figure 6). In Completed, where this transaction sends
    /// nothing, the TU is informed and the state kept.
    public mutating func transportError(_ reason: String) -> TransactionActions {
        let error = TransactionAction.informTU(TransactionError(reason: .transportError(reason)))
        switch machine {
        case .trying, .proceeding:
            machine = .terminated
            return [error, .terminated]
        case .completed:
            return [error]
        case .idle, .terminated:
            return []
        }
    }

    /// Ends the transaction now, whatever its state.
    public mutating func terminate() -> TransactionActions {
        if case .terminated = machine { return [] }
        machine = .terminated
        return [.terminated]
    }
}
