import SIPSyntax
import SIPTransaction
import Testing

/// Seconds as a `Duration`, exact to the millisecond (the RFC's instants are all x.5 s or whole).
func s(_ seconds: Double) -> Duration { .milliseconds(Int64((seconds * 1000).rounded())) }

/// The RFC's timers (T1 = 500 ms, T2 = 4 s, T4 = 5 s).
let rfcTimers = TransactionTimers.default
/// The second configuration: T1 = 100 ms, T2 = 1 s (T4 and D keep their defaults).
let fastTimers = TransactionTimers(t1: .milliseconds(100), t2: .seconds(1))
/// Both configurations, for tests that derive every expected instant from T1 and T2.
let timerConfigurations = [rfcTimers, fastTimers]

/// The instants a message goes out when it is sent at `start` and retransmitted on a timer that
/// starts at T1 and doubles (capped at T2 when `capped`), up to (not including) `end`: RFC 3261
/// §17.1.1.2 (Timer A, uncapped), §17.1.2.2 (Timer E) and §17.2.1 (Timer G).
func retransmissionInstants(from start: Duration, t1: Duration, t2: Duration, capped: Bool, before end: Duration)
    -> [Duration]
{
    var out = [start]
    var t = start
    var interval = t1
    while t + interval < end {
        t += interval
        out.append(t)
        interval = capped ? min(interval * 2, t2) : interval * 2
    }
    return out
}

/// Drives one transaction machine on a virtual clock: events are applied at ``now``, timers fire
/// when ``run(until:)`` moves the clock past them, and everything the machine asks for is recorded
/// with its instant. No sleeps.
struct VirtualClock<Machine: TransactionStateMachine> {
    var machine: Machine
    var queue = TransactionTimerQueue<TimerHolder>()
    /// The machine's pending timers, as a driver keeps them with its transaction.
    let holder = TimerHolder()
    var sends: [(at: Duration, bytes: [UInt8])] = []
    var passed: [(at: Duration, message: SIPMessage)] = []
    var errors: [(at: Duration, error: TransactionError)] = []
    var terminatedAt: Duration?
    /// Every action in order, with its instant.
    var log: [(at: Duration, action: TransactionAction)] = []

    init(_ machine: Machine) { self.machine = machine }

    var now: Duration { queue.now }

    /// Applies the actions of one event at ``now``.
    mutating func apply(_ actions: TransactionActions) {
        queue.apply(actions, for: holder)
        for action in actions {
            log.append((now, action))
            switch action {
            case .send(let b): sends.append((now, b))
            case .passToTU(let m): passed.append((now, m))
            case .informTU(let e): errors.append((now, e))
            case .terminated:
                #expect(terminatedAt == nil, "terminated twice")
                terminatedAt = now
            case .startTimer, .cancelTimer: break
            }
        }
        if machine.isTerminated { #expect(queue.count == 0, "timers left after Terminated") }
    }

    /// Runs an event on the machine at ``now`` and applies its actions.
    @discardableResult
    mutating func event(_ body: (inout Machine) -> TransactionActions) -> TransactionActions {
        let actions = body(&machine)
        apply(actions)
        return actions
    }

    /// Moves the clock to `instant`, firing every timer due on the way, in order.
    mutating func run(until instant: Duration) {
        while let due = queue.popNext(notAfter: instant) {
            apply(machine.timerFired(due.timer))
        }
        queue.advance(to: instant)
    }

    /// The instants something was sent.
    var sendTimes: [Duration] { sends.map(\.at) }

    /// The start lines of what was sent, in order.
    var sentLines: [String] { sends.map { firstLine($0.bytes) } }

    /// The status codes (or methods) passed to the TU, in order.
    var passedSummary: [String] {
        passed.map { $0.message.status.map(String.init) ?? $0.message.method?.rawValue ?? "?" }
    }
}

/// A transaction's pending timers, as a driver keeps them with the transaction.
final class TimerHolder: TimerOwner, @unchecked Sendable {
    /// The transaction's key, for a driver of many (nil for one machine alone).
    let key: TransactionKey?
    var timerPlaces = TimerPlaces()
    init(_ key: TransactionKey? = nil) { self.key = key }
}

/// The start line of a serialized message.
func firstLine(_ bytes: [UInt8]) -> String {
    String(decoding: bytes.prefix { $0 != 13 && $0 != 10 }, as: UTF8.self)
}

/// Drives a ``TransactionTable`` on a virtual clock, the way the stack will.
struct TableClock {
    var table: TransactionTable<Int>
    var queue = TransactionTimerQueue<TimerHolder>()
    /// The pending timers of each transaction, kept with its key as the stack keeps them.
    var holders: [TransactionKey: TimerHolder] = [:]
    var sends: [(at: Duration, key: TransactionKey, bytes: [UInt8])] = []
    var passed: [(at: Duration, key: TransactionKey, message: SIPMessage)] = []
    var errors: [(at: Duration, key: TransactionKey, error: TransactionError)] = []
    var terminated: [(at: Duration, key: TransactionKey)] = []

    init(_ configuration: TransactionTableConfiguration = .init()) {
        table = TransactionTable(configuration: configuration)
    }

    var now: Duration { queue.now }

    mutating func apply(_ actions: TransactionActions, for key: TransactionKey) {
        let holder = holders[key] ?? TimerHolder(key)
        holders[key] = holder
        queue.apply(actions, for: holder)
        if actions.contains(where: { if case .terminated = $0 { return true } else { return false } }) {
            holders[key] = nil
        }
        for action in actions {
            switch action {
            case .send(let b): sends.append((now, key, b))
            case .passToTU(let m): passed.append((now, key, m))
            case .informTU(let e): errors.append((now, key, e))
            case .terminated: terminated.append((now, key))
            case .startTimer, .cancelTimer: break
            }
        }
    }

    /// A message from the transport; applies the actions and returns the outcome.
    @discardableResult
    mutating func receive(_ message: SIPMessage, reliability: TransportReliability = .unreliable)
        -> TransactionTable<Int>.Received
    {
        let r = table.receive(message, reliability: reliability)
        switch r {
        case .client(let k, let o): apply(o.actions, for: .client(k))
        case .server(let k, let o, _): apply(o.actions, for: .server(k))
        case .unmatched, .rejected: break
        }
        return r
    }

    mutating func send(request: SIPMessage, reliability: TransportReliability = .unreliable) throws
        -> ClientTransactionKey
    {
        let (k, a) = try table.send(request: request, reliability: reliability)
        apply(a, for: .client(k))
        return k
    }

    @discardableResult
    mutating func send(response: SIPMessage, on key: ServerTransactionKey) -> TransactionActions? {
        let a = table.send(response: response, on: key)?.actions
        if let a { apply(a, for: .server(key)) }
        return a
    }

    mutating func run(until instant: Duration) {
        while let due = queue.popNext(notAfter: instant), let key = due.owner.key {
            apply(table.timerFired(due.timer, for: key).actions, for: key)
        }
        queue.advance(to: instant)
    }
}

extension TransactionTable.Received {
    /// The server key and whether the transaction is new, for a request outcome.
    var server: (key: ServerTransactionKey, isNew: Bool)? {
        if case .server(let k, _, let n) = self { return (k, n) }
        return nil
    }
    /// The client key, for a response outcome.
    var client: ClientTransactionKey? {
        if case .client(let k, _) = self { return k }
        return nil
    }
    var isUnmatched: Bool { if case .unmatched = self { return true } else { return false } }
    var actions: TransactionActions {
        switch self {
        case .client(_, let o), .server(_, let o, _): return o.actions
        case .unmatched, .rejected: return []
        }
    }
}

/// The machines that take messages from the transport.
protocol ReceivesMessages: TransactionStateMachine {
    mutating func received(_ message: SIPMessage) -> TransactionActions
}

/// The server machines, to which the TU hands responses.
protocol SendsResponses: TransactionStateMachine {
    mutating func send(_ response: SIPMessage) -> TransactionActions
}

extension InviteClientTransaction: ReceivesMessages {}
extension NonInviteClientTransaction: ReceivesMessages {}
extension InviteServerTransaction: ReceivesMessages, SendsResponses {}
extension NonInviteServerTransaction: ReceivesMessages, SendsResponses {}

extension VirtualClock where Machine: ReceivesMessages {
    /// A message from the transport, now.
    @discardableResult
    mutating func receive(_ message: SIPMessage) -> TransactionActions { event { $0.received(message) } }
}

extension VirtualClock where Machine: SendsResponses {
    /// A response from the TU, now.
    @discardableResult
    mutating func respond(_ response: SIPMessage) -> TransactionActions { event { $0.send(response) } }
}
