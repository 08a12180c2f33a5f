import SIPSyntax
import SIPTransaction
import SIPTransport

/// The user's code on top of a stack (RFC 3261 §5's "transaction user" or "core"): a UAS, a UAC,
/// a registrar, a proxy.
///
/// The stack calls these methods on the event loop that owns the transaction, synchronously and
/// one at a time per loop: the fast path. Return quickly; hand slow work (a database, a DNS
/// look-up) to a task and call ``SIPStack/send(_:)`` from there when it is done. A core that prefers
/// tasks to callbacks reads ``SIPStack/events(bufferingPolicy:)`` instead.
public protocol SIPCore: AnyObject, Sendable {
    /// A request arrived (RFC 3261 §17.2.1 "pass INV to TU", §17.2.2 "pass to TU"). `key` names
    /// its server transaction; it is nil for an ACK to a 2xx, which belongs to no transaction
    /// (§17.2.3, §13.3.1.4). Answer with ``SIPStack/send(_:)``.
    func receiveRequest(_ request: SIPMessage, key: ServerTransactionKey?, stack: SIPStack)
    /// A response arrived for the client transaction `key` (RFC 3261 §17.1.1.2 "resp. to TU"); `key`
    /// is nil for a response that matches no transaction (a 2xx retransmission after the INVITE
    /// client transaction ended, or a response a proxy forwards statelessly, RFC 6026 §7.2).
    func receiveResponse(_ response: SIPMessage, key: ClientTransactionKey?, stack: SIPStack)
    /// A transaction failed (RFC 3261 §17.1.1.2 Timer B, §17.1.2.2 Timer F, §17.2.1 Timer H) or its
    /// message could not be sent (§17.1.4, §17.2.4, §18.4).
    func receiveError(_ error: SIPStackError, key: TransactionKey, stack: SIPStack)
}

/// Why a transaction failed or a message could not be sent, as the core is told.
public enum SIPStackError: Error, Sendable, Hashable, CustomStringConvertible {
    /// RFC 3261 §17: a transaction timer ran out (B or F: no final response; H: no ACK).
    case timeout(TransactionTimer)
    /// RFC 3261 §18.4: the transport failed (connection refused, TLS failure, …).
    case transport(SIPTransportError)
    /// The target's host name did not resolve (RFC 3263 §4.2).
    case unresolvable(host: String, detail: String)
    /// No transport of the stack can reach the target (a `sips:` URI and no TLS transport, an IPv6
    /// target and only IPv4 transports, …).
    case noTransport(String)
    /// The message cannot be sent as it is; the text says why.
    case invalidMessage(String)
    /// The transaction layer refused it (a duplicate key, too many transactions).
    case transaction(TransactionTableError)
    /// The stack is not running.
    case notRunning

    /// "timeout (Timer B)", "transport error: connection refused: …".
    public var description: String {
        switch self {
        case .timeout(let t): return "timeout (\(t))"
        case .transport(let e): return "transport error: \(e)"
        case .unresolvable(let host, let detail): return "cannot resolve \(host): \(detail)"
        case .noTransport(let why): return "no transport: \(why)"
        case .invalidMessage(let why): return "invalid message: \(why)"
        case .transaction(let e): return "transaction refused: \(e)"
        case .notRunning: return "the stack is not running"
        }
    }

    /// Whether this is a transaction timeout.
    public var isTimeout: Bool { if case .timeout = self { return true } else { return false } }
}

/// One thing the stack delivers to its core, for cores that read them as an async sequence.
public enum SIPStackEvent: Sendable {
    /// ``SIPCore/receiveRequest(_:key:stack:)``.
    case request(SIPMessage, ServerTransactionKey?)
    /// ``SIPCore/receiveResponse(_:key:stack:)``.
    case response(SIPMessage, ClientTransactionKey?)
    /// ``SIPCore/receiveError(_:key:stack:)``.
    case error(SIPStackError, TransactionKey)
}

/// A core that turns every callback into an event of an `AsyncStream`.
final class StreamingCore: SIPCore {
    let continuation: AsyncStream<SIPStackEvent>.Continuation

    init(_ continuation: AsyncStream<SIPStackEvent>.Continuation) { self.continuation = continuation }

    func receiveRequest(_ request: SIPMessage, key: ServerTransactionKey?, stack: SIPStack) {
        continuation.yield(.request(request, key))
    }
    func receiveResponse(_ response: SIPMessage, key: ClientTransactionKey?, stack: SIPStack) {
        continuation.yield(.response(response, key))
    }
    func receiveError(_ error: SIPStackError, key: TransactionKey, stack: SIPStack) {
        continuation.yield(.error(error, key))
    }
}
