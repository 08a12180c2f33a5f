import SIPSyntax

/// One thing a transaction state machine asks its driver to do (RFC 3261 §17: the machines "pass
/// to the transport", "start timer", "pass to the TU", "inform the TU", "move to Terminated").
///
/// The machines do no I/O and read no clock: each event returns the actions to apply, in order.
public enum TransactionAction: Sendable {
    /// RFC 3261 §17.1.1.2, §17.2.1: pass these bytes to the transport layer (§18), to the
    /// transaction's peer. Retransmissions are the same bytes again.
    case send([UInt8])
    /// Start `timer` to fire after the duration, replacing a pending timer of the same kind.
    case startTimer(TransactionTimer, Duration)
    /// Cancel `timer` if it is pending.
    case cancelTimer(TransactionTimer)
    /// RFC 3261 §17.1.1.2 "resp. to TU", §17.2.1 "pass INV to TU": deliver this message to the
    /// transaction user.
    case passToTU(SIPMessage)
    /// RFC 3261 §17.1.1.2, §17.1.4, §17.2.1, §17.2.4: inform the TU of a timeout or transport error.
    case informTU(TransactionError)
    /// RFC 3261 §17.1.1.2: the machine reached Terminated and "MUST be destroyed the instant it
    /// enters" it: drop the transaction and every timer it started.
    case terminated
}

extension TransactionAction: CustomStringConvertible {
    /// A short form for logs and test failures: `send(412 bytes)`, `start(Timer E, 0.5 seconds)`.
    public var description: String {
        switch self {
        case .send(let b):
            let line = b.prefix { $0 != 13 && $0 != 10 }
            return "send(\(String(decoding: line, as: UTF8.self)), \(b.count) bytes)"
        case .startTimer(let t, let d): return "start(\(t), \(d))"
        case .cancelTimer(let t): return "cancel(\(t))"
        case .passToTU(let m):
            if let s = m.status { return "passToTU(\(s))" }
            return "passToTU(\(m.method?.rawValue ?? "?"))"
        case .informTU(let e): return "informTU(\(e))"
        case .terminated: return "terminated"
        }
    }
}

/// The actions one event produced, in the order to apply them (RFC 3261 §17: the order the
/// figures' transitions list them in, e.g. "300-699 / ACK sent, resp. to TU").
///
/// A collection of ``TransactionAction``; the accessors pick out one kind.
public struct TransactionActions: Sendable, RandomAccessCollection, ExpressibleByArrayLiteral, CustomStringConvertible {
    // The first four in place, the rest (none with the RFC 3261 machines) in an array: an event
    // gives one to four actions, and a list of them made on every message and every timer was
    // an allocation each time, and a second one when it grew.
    private var a0: TransactionAction?
    private var a1: TransactionAction?
    private var a2: TransactionAction?
    private var a3: TransactionAction?
    private var more: [TransactionAction] = []
    /// The number of actions.
    public private(set) var count = 0

    /// No actions.
    public init() {}

    /// The given actions, in order.
    public init(arrayLiteral elements: TransactionAction...) {
        for e in elements { append(e) }
    }

    /// The given actions, in order.
    public init(_ actions: [TransactionAction]) {
        for e in actions { append(e) }
    }

    /// The position of the first action.
    public var startIndex: Int { 0 }
    /// The position after the last action.
    public var endIndex: Int { count }
    /// The action at `position`.
    public subscript(position: Int) -> TransactionAction {
        precondition(position >= 0 && position < count, "action index out of range")
        switch position {
        case 0: return a0.unsafelyUnwrapped
        case 1: return a1.unsafelyUnwrapped
        case 2: return a2.unsafelyUnwrapped
        case 3: return a3.unsafelyUnwrapped
        default: return more[position - 4]
        }
    }

    /// Adds an action at the end.
    public mutating func append(_ action: TransactionAction) {
        switch count {
        case 0: a0 = action
        case 1: a1 = action
        case 2: a2 = action
        case 3: a3 = action
        default: more.append(action)
        }
        count += 1
    }

    /// Adds actions at the end.
    public mutating func append(contentsOf actions: TransactionActions) {
        for a in actions { append(a) }
    }

    /// The bytes of every ``TransactionAction/send(_:)``, in order.
    public var sent: [[UInt8]] {
        compactMap { if case .send(let b) = $0 { return b } else { return nil } }
    }

    /// The messages of every ``TransactionAction/passToTU(_:)``, in order.
    public var passedToTU: [SIPMessage] {
        compactMap { if case .passToTU(let m) = $0 { return m } else { return nil } }
    }

    /// The errors of every ``TransactionAction/informTU(_:)``, in order.
    public var errors: [TransactionError] {
        compactMap { if case .informTU(let e) = $0 { return e } else { return nil } }
    }

    /// The timers started, with their durations.
    public var startedTimers: [(TransactionTimer, Duration)] {
        compactMap { if case .startTimer(let t, let d) = $0 { return (t, d) } else { return nil } }
    }

    /// The timers cancelled.
    public var cancelledTimers: [TransactionTimer] {
        compactMap { if case .cancelTimer(let t) = $0 { return t } else { return nil } }
    }

    /// Whether the machine reached Terminated (RFC 3261 §17.1.1.2: destroy it now).
    public var terminates: Bool {
        contains { if case .terminated = $0 { return true } else { return false } }
    }

    /// `[send(…), start(Timer A, 0.5 seconds), …]`.
    public var description: String { "[" + map(\.description).joined(separator: ", ") + "]" }
}

/// A transaction failure the TU is told of (RFC 3261 §17.1.1.2 Timer B, §17.1.2.2 Timer F,
/// §17.2.1 Timer H, §17.1.4 and §17.2.4 transport errors). It comes from the event the driver ran
/// on one transaction, which the driver names: a machine does not keep its own key (the table
/// holds it once).
public struct TransactionError: Error, Sendable, Hashable, CustomStringConvertible {
    /// Why the transaction failed.
    public enum Reason: Sendable, Hashable, CustomStringConvertible {
        /// RFC 3261 §17.1.1.2, §17.1.2.2, §17.2.1: Timer B, F or H fired: no response (client) or no
        /// ACK (INVITE server) came in time.
        case timeout(TransactionTimer)
        /// RFC 3261 §17.1.4, §17.2.4: the transport could not send a message; the text says why.
        case transportError(String)

        /// "timeout (Timer B)", "transport error: connection refused".
        public var description: String {
            switch self {
            case .timeout(let t): return "timeout (\(t))"
            case .transportError(let why): return why.isEmpty ? "transport error" : "transport error: \(why)"
            }
        }
    }

    /// Why.
    public let reason: Reason

    /// A failure for `reason`.
    public init(reason: Reason) {
        self.reason = reason
    }

    /// Whether the transaction timed out (Timer B, F or H).
    public var isTimeout: Bool { if case .timeout = reason { return true } else { return false } }

    /// "timeout (Timer B)".
    public var description: String { reason.description }
}

/// What the four machines of RFC 3261 §17 have in common: timers, transport errors, and a way to
/// end them at once. A machine does not hold its key: its driver finds it by the key (RFC 3261
/// §17.1.3, §17.2.3) and keeps that once.
public protocol TransactionStateMachine: Sendable {
    /// Whether the machine reached Terminated (RFC 3261 §17: it must then be destroyed).
    var isTerminated: Bool { get }
    /// A timer this machine started fired. Timers that do not apply to the current state (a late
    /// one, or one the driver failed to cancel) produce no action.
    mutating func timerFired(_ timer: TransactionTimer) -> TransactionActions
    /// RFC 3261 §17.1.4, §17.2.4: the transport failed to send a message of this transaction.
    mutating func transportError(_ reason: String) -> TransactionActions
    /// Ends the transaction now, whatever its state (the stack's `terminate`; a TU's Timer C, RFC 3261
    /// §16.8). Returns ``TransactionAction/terminated`` unless it had already ended.
    mutating func terminate() -> TransactionActions
}
