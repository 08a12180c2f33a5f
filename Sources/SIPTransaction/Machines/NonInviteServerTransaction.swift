import SIPSyntax

/// The non-INVITE server transaction (RFC 3261 §17.2.2, Figure 8).
///
/// ```
///  start() ──► Trying ──1xx from TU──► Proceeding ──200-699 from TU──► Completed ──Timer J──► Terminated
///                ╰──200-699 from TU───────────────────────────────────╯
///  Proceeding, Completed ──transport error──► Terminated
/// ```
///
/// It passes the request to the TU, absorbs retransmissions while Trying, answers them with the
/// latest provisional response in Proceeding and with the final response in Completed, which it
/// keeps for Timer J (64·T1 unreliable, zero reliable). The final response's bytes are all it holds
/// there.
public struct NonInviteServerTransaction: TransactionStateMachine {
    /// The states of Figure 8.
    public enum State: Sendable, Hashable, CustomStringConvertible {
        /// RFC 3261 §17.2.2: the request is with the TU; retransmissions are absorbed.
        case trying
        /// RFC 3261 §17.2.2: a provisional response went out.
        case proceeding
        /// RFC 3261 §17.2.2: the final response went out; retransmissions of the request get it again.
        case completed
        /// RFC 3261 §17.2.2: over.
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
        /// Not boxed: a message is one reference to its storage (a box was an allocation per
        /// transaction).
        case idle(request: SIPMessage)
        case trying
        case proceeding(provisional: [UInt8])
        case completed(response: [UInt8])
        case terminated
    }

    // Laid out widest first, Timer J in whole nanoseconds: 24 bytes where a `Duration` and the
    // padding after the reliability took 32, in every transaction a server keeps for 32 s.
    private let timerJNanoseconds: Int64
    private var machine: Machine
    /// Whether responses go over a reliable transport (then Timer J is zero).
    public let reliability: TransportReliability

    /// Timer J's value on this transport (RFC 3261 §17.2.2); the only timer this machine uses.
    public var timerJ: Duration { .nanoseconds(timerJNanoseconds) }

    /// A transaction for a received request, not yet started. Nil for an INVITE or an ACK, or a
    /// request that lacks what its key needs (RFC 3261 §17.2.3).
    public init?(request: SIPMessage, reliability: TransportReliability, timers: TransactionTimers = .default) {
        guard let m = request.method, m != .invite, m != .ack, ServerTransactionKey(request: request) != nil else {
            return nil
        }
        self.init(validated: request, reliability: reliability, timers: timers)
    }

    /// A transaction for a received request whose key was already checked.
    @usableFromInline
    init(validated request: SIPMessage, reliability: TransportReliability, timers: TransactionTimers) {
        self.reliability = reliability
        self.timerJNanoseconds = timers.j(reliability).wholeNanoseconds
        self.machine = .idle(request: request)
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

    /// The bytes the transaction holds to re-send: the latest provisional, or the final response.
    public var storedByteCount: Int {
        switch machine {
        case .proceeding(let b), .completed(let b): return b.count
        case .idle, .trying, .terminated: return 0
        }
    }

    /// RFC 3261 §17.2.2: enter Trying and pass the request to the TU. Only the first call does anything.
    public mutating func start() -> TransactionActions {
        guard case .idle(let request) = machine else { return [] }
        machine = .trying
        return [.passToTU(request)]
    }

    /// A retransmission of the request arrived (RFC 3261 §17.2.2).
    public mutating func received(_ request: SIPMessage) -> TransactionActions {
        switch machine {
        case .idle, .trying, .terminated:
            // §17.2.2: in Trying, retransmissions are discarded.
            return []
        case .proceeding(let b), .completed(let b):
            // §17.2.2: the latest provisional response, or the final one, goes out again.
            return [.send(b)]
        }
    }

    /// The TU sends a response on this transaction (RFC 3261 §17.2.2). Responses after the final
    /// one send nothing.
    public mutating func send(_ response: SIPMessage) -> TransactionActions {
        guard let status = response.status, (100...699).contains(status) else { return [] }
        switch machine {
        case .idle, .completed, .terminated:
            return []
        case .trying, .proceeding:
            let bytes = OwnMessages.bytes(of: response)
            if status < 200 {
                machine = .proceeding(provisional: bytes)
                return [.send(bytes)]
            }
            // §17.2.2: → Completed, Timer J (64·T1 unreliable; zero reliable: Terminated at once).
            if timerJ == .zero {
                machine = .terminated
                return [.send(bytes), .terminated]
            }
            machine = .completed(response: bytes)
            return [.send(bytes), .startTimer(.j, timerJ)]
        }
    }

    /// Timer J fired (RFC 3261 §17.2.2).
    public mutating func timerFired(_ timer: TransactionTimer) -> TransactionActions {
        guard case .completed = machine, timer == .j else { return [] }
        machine = .terminated
        return [.terminated]
    }

    /// RFC 3261 §17.2.4: the transport could not send a response: in Proceeding and Completed the TU
    /// is informed and the transaction ends (Figure 8). In Trying nothing was sent; the TU is
    /// informed and the state kept.
    public mutating func transportError(_ reason: String) -> TransactionActions {
        let error = TransactionAction.informTU(TransactionError(reason: .transportError(reason)))
        switch machine {
        case .proceeding, .completed:
            machine = .terminated
            return [error, .terminated]
        case .trying:
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
