import Logging
import NIOConcurrencyHelpers
import NIOCore
import SIPSyntax
import SIPTransaction
import SIPTransport
import Synchronization

/// What every part of a stack reads: its name, configuration, logger, metrics, transports and
/// resolver. Made once with the stack and never changed, so that the shards, the inbound and
/// the outbound processing hold their copy and never call back into ``SIPStack``.
struct StackEnvironment: Sendable {
    let name: String
    let configuration: SIPStack.Configuration
    let logger: Logger
    let metrics: StackMetrics
    /// The transports, in the order they were given.
    let transports: [any SIPTransport]
    /// The kinds of the transports, for routing.
    let kinds: Set<SIPTransportKind>
    let resolver: any SIPResolver
    /// What changes with the stack's life: whether it runs, and its sent-by values once bound.
    let state: StackRunState

    /// A transport of `kind` for a destination in `address`'s family, or of that kind at all.
    func transport(kind: SIPTransportKind, family address: SocketAddress) -> (any SIPTransport)? {
        var fallback: (any SIPTransport)?
        for t in transports where t.kind == kind {
            if let local = t.localAddress, local.protocol == address.protocol { return t }
            if fallback == nil { fallback = t }
        }
        return fallback
    }

    /// The sent-by the stack writes for `transport` (RFC 3261 §18.1.1).
    func sentBy(of transport: any SIPTransport) -> (host: String, port: Int) {
        let local = transport.localAddress
        return (transport.advertisedHost ?? local?.sipHost ?? "invalid", local?.port ?? transport.kind.defaultPort)
    }

    /// Sends a response with no transaction to `route` (a 503 when the table is full, a
    /// rejection of a message too broken to match, a core's stateless response, RFC 3261 §8.2.6).
    func sendStateless(_ response: SIPMessage, route: TransactionRoute) {
        route.transport.send(response.serialized(), to: route.target, completion: nil)
    }
}

/// A stack's life: whether it takes new requests, read on every message without a lock, and the
/// sent-by values of its transports (RFC 3261 §18.1.2), known once they are bound.
final class StackRunState: Sendable {
    /// Whether the stack is running (``SIPStack/start()`` done, ``SIPStack/shutdown()`` not begun).
    let running = Atomic<Bool>(false)
    private let local = NIOLockedValueBox<[(host: String, port: Int)]>([])

    var isRunning: Bool { running.load(ordering: .acquiring) }

    /// The sent-by values, lower-cased.
    var sentBy: [(host: String, port: Int)] {
        get { local.withLockedValue { $0 } }
        set { local.withLockedValue { $0 = newValue } }
    }

    /// Whether `host` (and `port`, when given) is one of the stack's own sent-by values.
    func isOurSentBy(host: String, port: Int?) -> Bool {
        let h = host.lowercased()
        return local.withLockedValue { s in s.contains { $0.host == h && (port == nil || port == $0.port) } }
    }
}
