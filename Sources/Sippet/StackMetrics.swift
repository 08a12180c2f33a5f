import Metrics
import SIPSyntax

/// The stack's swift-metrics instruments, each with the dimension `stack` = its name.
///
/// - `sippet_messages_in` / `sippet_messages_out`: requests by `method`, responses by `status`.
/// - `sippet_retransmissions`: messages sent again by a transaction's timer or for a
///   retransmitted request.
/// - `sippet_transactions_live` (a meter): transactions alive now.
/// - `sippet_transaction_timeouts`, `sippet_parse_errors`, `sippet_transport_errors`,
///   `sippet_requests_rejected` (answered by the stack per §8.2), `sippet_messages_dropped`.
/// - `sippet_response_time` (a timer): from a client transaction's start to its final response.
final class StackMetrics: Sendable {
    let stack: String
    let retransmissions: Counter
    let liveTransactions: Meter
    let timeouts: Counter
    let parseErrors: Counter
    let transportErrors: Counter
    let rejected: Counter
    let dropped: Counter
    let responseTime: Metrics.Timer

    init(stack: String) {
        self.stack = stack
        let d = [("stack", stack)]
        retransmissions = Counter(label: "sippet_retransmissions", dimensions: d)
        liveTransactions = Meter(label: "sippet_transactions_live", dimensions: d)
        timeouts = Counter(label: "sippet_transaction_timeouts", dimensions: d)
        parseErrors = Counter(label: "sippet_parse_errors", dimensions: d)
        transportErrors = Counter(label: "sippet_transport_errors", dimensions: d)
        rejected = Counter(label: "sippet_requests_rejected", dimensions: d)
        dropped = Counter(label: "sippet_messages_dropped", dimensions: d)
        responseTime = Metrics.Timer(label: "sippet_response_time", dimensions: d)
    }

    /// The in/out counters of requests of `method` or responses with `status`.
    func makeCounters(_ key: MessageCounterKey) -> (in: Counter, out: Counter) {
        let d: [(String, String)]
        switch key {
        case .status(let s): d = [("stack", stack), ("status", String(s))]
        case .method(let m): d = [("stack", stack), ("method", m)]
        }
        return (
            Counter(label: "sippet_messages_in", dimensions: d), Counter(label: "sippet_messages_out", dimensions: d)
        )
    }

    private static let knownMethods: Set<String> = [
        "INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "REGISTER", "PRACK", "SUBSCRIBE", "NOTIFY", "PUBLISH",
        "INFO", "REFER", "MESSAGE", "UPDATE",
    ]

    /// What a message is counted by: its status, or its method (methods the stack does not know
    /// fold into "other", so that the set of counters stays bounded).
    static func key(of message: SIPMessage) -> MessageCounterKey {
        if let status = message.status { return .status(status) }
        let m = message.method?.rawValue ?? "other"
        return .method(knownMethods.contains(m) ? m : "other")
    }
}

enum MessageCounterKey: Hashable {
    case status(Int)
    case method(String)
}

/// The message counters one event loop has used, made once each and kept; confined to its loop,
/// so counting takes no lock.
struct MessageCounters {
    let metrics: StackMetrics
    private var cache: [MessageCounterKey: (in: Counter, out: Counter)] = [:]

    init(metrics: StackMetrics) { self.metrics = metrics }

    private mutating func counters(_ message: SIPMessage) -> (in: Counter, out: Counter) {
        let key = StackMetrics.key(of: message)
        if let c = cache[key] { return c }
        let c = metrics.makeCounters(key)
        cache[key] = c
        return c
    }

    mutating func countIn(_ message: SIPMessage) { counters(message).in.increment() }
    mutating func countOut(_ message: SIPMessage) { counters(message).out.increment() }
}
