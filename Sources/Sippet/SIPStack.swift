import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import SIPSyntax
import SIPTransaction
import SIPTransport
import ServiceLifecycle

/// A SIP stack: transports, the transaction layer and a core, wired together (RFC 3261 §5).
///
/// Several stacks live side by side in one process, each with its name, configuration and
/// transports. Register a ``SIPCore`` to receive requests, responses and errors, and call
/// ``send(_:)`` from anywhere to send.
///
/// ```swift
/// let stack = try SIPStack(name: "uas", transports: [UDPTransport(host: "127.0.0.1", port: 5060)])
/// stack.register(core: MyCore())
/// try await stack.start()
/// ```
///
/// The hot path runs on the event loops with no task, actor hop or global lock per message: a
/// transport hands a message to the stack's inbound processing on the loop that read it, which
/// finds the loop its transaction lives on (by hashing the Call-ID) and calls the core there;
/// ``send(_:)`` is the outbound processing. This class is the thin façade over the two and the
/// shards. It is a ServiceLifecycle `Service`: ``run()`` starts it and shuts it down gracefully.
public final class SIPStack: Sendable {
    /// A stack's settings.
    public struct Configuration: Sendable {
        /// Timer values (RFC 3261 §17.1.1.1: T1, T2, T4).
        public var timers: TransactionTimers = .default
        /// Limits on incoming messages (size, header count, Via count, …).
        public var limits: SIPLimits = .default
        /// What incoming requests are checked against (RFC 3261 §8.2, or §16.3 for a proxy), and the
        /// methods and extensions the core supports.
        public var validation: SIPValidationPolicy = .userAgent
        /// Whether the stack answers invalid requests itself (RFC 3261 §8.2: 400, 405, 415, 416,
        /// 420, 483, 505…). Off, every request that parses goes to the core.
        public var validatesRequests = true
        /// The most live transactions per event loop; above it a new request gets 503.
        public var maxTransactionsPerLoop: Int = 1_000_000
        /// The agent named in the Warning of the stack's own error responses (RFC 3261 §20.43).
        public var userAgent: String = "sippet"
        /// Hosts other than the transports' own that this stack writes in Via sent-by, so that
        /// responses to them are accepted (RFC 3261 §18.1.2).
        public var extraSentByHosts: [String] = []
        /// How long a graceful shutdown waits for live transactions to finish.
        public var shutdownGracePeriod: Duration = .seconds(32)
        /// How many event loops of the group carry transactions; nil: all of them.
        public var transactionLoops: Int?
        /// RFC 3261 §16.11, for a stateless proxy in front of others: requests make no server
        /// transaction. Each request, retransmissions included, reaches the core with no key
        /// (after the validation answers, sent statelessly), and the core's responses go out by
        /// their Via (§18.2.2). Client transactions are the core's choice (`forward(_:branch:to:stateless:)`).
        public var statelessRequests = false
        /// An outbound proxy (RFC 3261 §8.1.2): every request this stack sends (not those it
        /// forwards) goes to it, whatever its Route and Request-URI say; RFC 3263 §4 applies to
        /// it, failover included. ``SIPStack/send(_:to:)`` overrides it for one request.
        public var outboundProxy: SIPURI?

        /// The defaults: the RFC's timers, default limits, a user agent's validation.
        public init() {}
    }

    private let environment: StackEnvironment
    private let shards: TransactionShards
    private let inbound: InboundProcessor
    private let outbound: OutboundProcessor
    private let phase = NIOLockedValueBox(Phase.idle)
    /// The resolver the stack made for itself (none was given), closed with the stack.
    private let ownResolver: DNSResolver?

    private enum Phase { case idle, starting, running, stopping, stopped }

    /// The stack's name, in every log line (`sip.stack`) and metric (`stack`).
    public var name: String { environment.name }
    /// The stack's settings, as given.
    public var configuration: Configuration { environment.configuration }
    /// The stack's logger; its metadata carries the stack's name.
    public var logger: Logger { environment.logger }
    /// The transports, in the order they were given.
    public var transports: [any SIPTransport] { environment.transports }

    /// A stack named `name` over `transports`, its transactions on the loops of `group`. Names
    /// are resolved by `resolver`; by default a ``DNSResolver`` with the system's settings
    /// (RFC 3263 over `/etc/resolv.conf`, and `/etc/hosts`).
    public init(
        name: String, configuration: Configuration = Configuration(), transports: [any SIPTransport],
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        resolver: (any SIPResolver)? = nil, logger: Logger? = nil
    ) {
        var logger = logger ?? Logger(label: "sippet")
        logger[metadataKey: "sip.stack"] = "\(name)"
        let chosen: any SIPResolver
        if let resolver {
            chosen = resolver
            ownResolver = nil
        } else {
            let own = DNSResolver()
            chosen = own
            ownResolver = own
        }
        environment = StackEnvironment(
            name: name, configuration: configuration, logger: logger, metrics: StackMetrics(stack: name),
            transports: transports, kinds: Set(transports.map(\.kind)), resolver: chosen,
            state: StackRunState())
        shards = TransactionShards(group: group, limit: configuration.transactionLoops, environment: environment)
        inbound = InboundProcessor(environment: environment, shards: shards)
        outbound = OutboundProcessor(environment: environment, shards: shards)
    }

    // MARK: - Core

    /// `core` receives every request, response and error from now on (replacing the core
    /// registered before).
    public func register(core: any SIPCore) {
        let binding = CoreBinding(core: core, stack: self)
        for shard in shards.all { shard.run { shard.binding = binding } }
    }

    /// The stack's events as an async sequence, for a core written with tasks. Registers a core
    /// that feeds the sequence (replacing the one registered before).
    public func events(bufferingPolicy: AsyncStream<SIPStackEvent>.Continuation.BufferingPolicy = .unbounded)
        -> AsyncStream<SIPStackEvent>
    {
        let (stream, continuation) = AsyncStream.makeStream(of: SIPStackEvent.self, bufferingPolicy: bufferingPolicy)
        register(core: StreamingCore(continuation))
        return stream
    }

    // MARK: - Life cycle

    /// Starts every transport. Throws when one cannot start (its address is in use, say); the
    /// others are stopped again.
    public func start() async throws {
        let go = phase.withLockedValue { p -> Bool in
            guard p == .idle else { return false }
            p = .starting
            return true
        }
        guard go else { return }
        var started: [any SIPTransport] = []
        do {
            for t in transports {
                try await t.start(delegate: inbound)
                started.append(t)
                logger.info(
                    "listening",
                    metadata: [
                        "sip.transport": "\(t.kind)", "sip.address": "\(t.localAddress.map { "\($0)" } ?? "?")",
                    ])
            }
        } catch {
            for t in started { await t.shutdown() }
            phase.withLockedValue { $0 = .stopped }
            throw error
        }
        let sentBy =
            transports.compactMap { t -> (String, Int)? in
                guard let a = t.localAddress, let port = a.port else { return nil }
                return ((t.advertisedHost ?? a.sipHost ?? "").lowercased(), port)
            }
            + configuration.extraSentByHosts.flatMap { h in
                transports.compactMap { t in t.localAddress?.port.map { (h.lowercased(), $0) } }
            }
        environment.state.sentBy = sentBy
        // Each loop keeps its copy, so that checking a response's Via (§18.1.2) takes no lock.
        for shard in shards.all {
            try? await shard.loop.submit { shard.sentBy = sentBy }.get()
        }
        phase.withLockedValue { $0 = .running }
        environment.state.running.store(true, ordering: .releasing)
    }

    /// Graceful shutdown: stops taking new requests (they get 503), waits up to
    /// ``Configuration/shutdownGracePeriod`` for live transactions to end, then closes the
    /// transports and lets the core go.
    public func shutdown() async {
        let go = phase.withLockedValue { p -> Bool in
            guard p == .running || p == .starting else { return false }
            p = .stopping
            return true
        }
        guard go else { return }
        environment.state.running.store(false, ordering: .releasing)
        let deadline = ContinuousClock.now + configuration.shutdownGracePeriod
        while ContinuousClock.now < deadline, await liveTransactionCount() > 0 {
            try? await Task.sleep(for: .milliseconds(50))
        }
        for t in transports { await t.shutdown() }
        await ownResolver?.client.shutdown()
        // The shards held the core and this stack (``CoreBinding``): both may go now.
        for shard in shards.all { try? await shard.loop.submit { shard.binding = nil }.get() }
        phase.withLockedValue { $0 = .stopped }
        logger.info("stopped")
    }

    /// The number of live transactions on all loops.
    public func liveTransactionCount() async -> Int {
        var total = 0
        for shard in shards.all {
            total += (try? await shard.loop.submit { shard.count }.get()) ?? 0
        }
        return total
    }

    private var isRunning: Bool { environment.state.isRunning }

    // MARK: - Sending

    /// Sends a request or a response.
    ///
    /// - A request other than ACK starts a client transaction (RFC 3261 §17.1); the returned key
    ///   names it, and its responses and errors reach the core with that key. An ACK goes straight
    ///   to the transport (§17.1.1.3: the ACK for a 2xx is the core's own).
    /// - A response goes out on its server transaction (§17.2), or statelessly when there is none
    ///   (§8.2.6, §16.11); the returned key is the server transaction's.
    ///
    /// Where a request goes follows RFC 3261 §18.1.1 and RFC 3263 §4 (see ``SIPResolver``). A
    /// request without a Via gets one, with the chosen transport, this stack's sent-by, a new
    /// branch and `rport` (RFC 3581); one without Max-Forwards gets 70 (§8.1.1.6).
    ///
    /// Callable from any thread or task. Errors found at once are thrown; later ones (a name that
    /// does not resolve, a refused connection, a timeout) reach the core's
    /// ``SIPCore/receiveError(_:key:stack:)``.
    @discardableResult
    public func send(_ message: SIPMessage) throws(SIPStackError) -> TransactionKey? {
        guard isRunning else { throw .notRunning }
        if message.isResponse {
            guard let key = ServerTransactionKey(response: message) else {
                throw .invalidMessage("a response needs a top Via with an RFC 3261 branch and sent-by, and a CSeq")
            }
            let shard = shards.shard(forLoopHash: key.loopHash)
            shard.run { shard.send(response: message, key: key) }
            return .server(key)
        }
        return try outbound.send(request: message)
    }

    /// Sends the request `message` to `destination` instead of where its Route or Request-URI
    /// says (and instead of the ``Configuration/outboundProxy``), the request itself unchanged:
    /// RFC 3263 §4 applies to `destination`. Otherwise as ``send(_:)``.
    @discardableResult
    public func send(_ message: SIPMessage, to destination: SIPURI) throws(SIPStackError) -> TransactionKey? {
        guard isRunning else { throw .notRunning }
        guard message.isRequest else { throw .invalidMessage("only a request has a destination of its own") }
        return try outbound.send(request: message, destination: destination)
    }

    /// Whether `host` (and `port`, when given) is one of this stack's own sent-by addresses (RFC
    /// 3261 §16.4: a Route or Request-URI naming this element).
    public func isLocal(host: String, port: Int?) -> Bool {
        environment.state.isOurSentBy(host: host, port: port)
    }

    /// This stack's own URI over a transport of `kind` — its sent-by host and port, with the
    /// `transport` parameter unless UDP — for Record-Route and Path (RFC 3261 §16.6 item 4); nil
    /// when it has no such transport.
    public func localURI(for kind: SIPTransportKind) -> SIPURI? {
        guard let t = environment.transports.first(where: { $0.kind == kind }) else { return nil }
        let (host, port) = environment.sentBy(of: t)
        var uri = SIPURI(host: SIPHost(host), port: port)
        if kind != .udp { uri.parameters.set("transport", kind.uriParameter) }
        return uri
    }

    /// Forwards a request as a proxy does (RFC 3261 §16.6 items 8 to 10): the stack's Via goes on
    /// top of the Vias the request has, with `branch` (RFC 3261 magic cookie and all; a new one
    /// when nil), and a client transaction starts for it (none for an ACK, which is forwarded
    /// statelessly, §16.11). It goes to `destination` when given — a registered contact's flow
    /// (`sip:192.0.2.4:49152;transport=tcp`, RFC 5626), an outbound proxy — else where its first
    /// Route or its Request-URI says (§16.6 item 10). The core edits the rest before: the
    /// Request-URI, Max-Forwards, Record-Route, Route.
    @discardableResult
    ///
    /// With `stateless` (§16.11) no client transaction starts either: the request goes straight
    /// to the transport, its responses reach the core with no key, and retransmitting it is the
    /// sender's affair (the core forwards each retransmission it receives, with the same branch).
    public func forward(
        _ request: SIPMessage, branch: String? = nil, to destination: SIPURI? = nil, stateless: Bool = false
    ) throws(SIPStackError) -> TransactionKey? {
        guard isRunning else { throw .notRunning }
        guard request.isRequest else { throw .invalidMessage("forward(_:branch:to:stateless:) takes a request") }
        return try outbound.send(
            request: request, forwarding: true, destination: destination, branch: branch, stateless: stateless)
    }

    /// Sends `response` on the server transaction `key`: the key the core received the request
    /// with (RFC 3261 §17.2). The same as ``send(_:)`` for a response, without working the key out
    /// of the response's Via and CSeq again — the fast path for a core that keeps the key.
    @discardableResult
    public func send(_ response: SIPMessage, for key: ServerTransactionKey) throws(SIPStackError) -> TransactionKey {
        guard isRunning else { throw .notRunning }
        guard response.isResponse else { throw .invalidMessage("send(_:for:) takes a response") }
        // A key read back from its text form does not say where its transaction is; the
        // response's Call-ID, its request's, does.
        let shard = shards.shard(forLoopHash: key.loopHash != 0 ? key.loopHash : CallIDHash.of(response))
        // On the shard's loop (a core answering inline): no closure to allocate.
        if shard.loop.inEventLoop {
            shard.send(response: response, key: key)
        } else {
            shard.loop.execute { shard.send(response: response, key: key) }
        }
        return .server(key)
    }

    /// RFC 3261 §9.1: cancels the INVITE sent with the client transaction `key`. The CANCEL goes
    /// where the INVITE went, as soon as a provisional response has arrived (§9.1 forbids sending
    /// it earlier); its responses reach the core with the returned key. After a final response it
    /// does nothing.
    @discardableResult
    public func cancel(_ key: ClientTransactionKey) throws(SIPStackError) -> ClientTransactionKey {
        guard key.method == .invite else { throw .invalidMessage("only an INVITE can be cancelled") }
        guard isRunning else { throw .notRunning }
        for shard in shards.shards(for: .client(key)) { shard.run { shard.cancel(key) } }
        return ClientTransactionKey(branch: key.branch, method: .cancel, loopHash: key.loopHash)
    }

    /// Whether the transaction `key` is alive.
    public func isAlive(_ key: TransactionKey) async -> Bool {
        for shard in shards.shards(for: key) where (try? await shard.loop.submit { shard.contains(key) }.get()) == true
        {
            return true
        }
        return false
    }

    /// Ends the transaction `key` at once, whatever its state.
    public func terminate(_ key: TransactionKey) {
        for shard in shards.shards(for: key) { shard.run { shard.terminate(key) } }
    }

    /// Whether `message` travels over a reliable transport, read from its top Via (RFC 3261 §18:
    /// TCP, TLS, SCTP, WS and WSS are; UDP is not). A request the stack has not yet given a Via is
    /// judged by the transport its target would use.
    public func isReliable(_ message: SIPMessage) -> Bool {
        if let t = message.essentials?.transport?.string {
            return SIPTransportKind(name: t)?.isReliable ?? (t.uppercased() != "UDP")
        }
        guard message.isRequest, let uri = try? Routing.targetURI(of: message),
            let hop = try? Routing.nextHop(
                for: uri, messageSize: message.serialized().count, available: environment.kinds)
        else { return false }
        return hop.kind.isReliable
    }
}

extension SIPStack: Service {
    /// Runs the stack as a ServiceLifecycle service: starts it, and on graceful shutdown (or
    /// cancellation) shuts it down (``shutdown()``).
    public func run() async throws {
        try await start()
        try? await gracefulShutdown()
        await shutdown()
    }
}
