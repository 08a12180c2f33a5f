import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import SIPSyntax
import SIPTransaction
import SIPTransport
import ServiceLifecycle
import Synchronization

/// A SIP stack: transports, the transaction layer and a core, wired together (RFC 3261 §5).
/// Sippet's `Sippet` process, started with `start_link(name:)`.
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
/// transport hands a message to the stack on the loop that read it; the stack parses it, finds
/// the loop its transaction lives on (by hashing the branch) and calls the core there. It is a
/// ServiceLifecycle `Service`: ``run()`` starts it and shuts it down gracefully.
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

        public init() {}
    }

    /// The stack's name, in every log line (`sip.stack`) and metric (`stack`).
    public let name: String
    public let configuration: Configuration
    /// The stack's logger; its metadata carries the stack's name.
    public let logger: Logger
    /// The transports, in the order they were given.
    public let transports: [any SIPTransport]
    let resolver: any SIPResolver
    let metrics: StackMetrics
    /// The kinds of the transports, for routing.
    private let kinds: Set<SIPTransportKind>
    private let shards: [TransactionShard]
    /// Each shard loop's requests for the other shards' loops (see ``HandOvers``), and which box
    /// is whose.
    private let handOvers: [HandOvers]
    private let handOverIndex: [ObjectIdentifier: Int]
    private let state = NIOLockedValueBox(RunState())
    /// Whether the stack is running, read on every message without a lock.
    private let running = Atomic<Bool>(false)

    private struct RunState {
        var phase: Phase = .idle
        /// The sent-by values of our transports (§18.1.2), once they are bound.
        var sentBy: [(host: String, port: Int)] = []
    }

    private enum Phase { case idle, starting, running, stopping, stopped }

    /// A stack named `name` over `transports`, its transactions on the loops of `group`.
    public init(
        name: String, configuration: Configuration = Configuration(), transports: [any SIPTransport],
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        resolver: any SIPResolver = SystemResolver(), logger: Logger? = nil
    ) {
        self.name = name
        self.configuration = configuration
        self.transports = transports
        self.resolver = resolver
        self.kinds = Set(transports.map(\.kind))
        var logger = logger ?? Logger(label: "sippet")
        logger[metadataKey: "sip.stack"] = "\(name)"
        self.logger = logger
        let metrics = StackMetrics(stack: name)
        self.metrics = metrics
        var loops: [any EventLoop] = []
        for loop in group.makeIterator() { loops.append(loop) }
        if let n = configuration.transactionLoops, n > 0, n < loops.count { loops = Array(loops.prefix(n)) }
        if loops.isEmpty { loops = [group.next()] }
        let tableConfiguration = TransactionTable.Configuration(
            timers: configuration.timers, maxTransactions: configuration.maxTransactionsPerLoop)
        self.shards = loops.map { TransactionShard(loop: $0, configuration: tableConfiguration, metrics: metrics) }
        self.handOvers = loops.map { HandOvers(loop: $0, shards: loops.count) }
        var handOverIndex: [ObjectIdentifier: Int] = [:]
        for (i, loop) in loops.enumerated() { handOverIndex[ObjectIdentifier(loop)] = i }
        self.handOverIndex = handOverIndex
        for shard in shards { shard.stack = self }
    }

    // MARK: - Core

    /// Sippet's `register_core`: `core` receives every request, response and error from now on
    /// (replacing the core registered before).
    public func register(core: any SIPCore) {
        for shard in shards { shard.run { shard.core = core } }
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
        let go = state.withLockedValue { s -> Bool in
            guard s.phase == .idle else { return false }
            s.phase = .starting
            return true
        }
        guard go else { return }
        var started: [any SIPTransport] = []
        do {
            for t in transports {
                try await t.start(delegate: self)
                started.append(t)
                logger.info(
                    "listening",
                    metadata: ["sip.transport": "\(t.kind)", "sip.address": "\(t.localAddress.map { "\($0)" } ?? "?")"])
            }
        } catch {
            for t in started { await t.shutdown() }
            state.withLockedValue { $0.phase = .stopped }
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
        state.withLockedValue {
            $0.sentBy = sentBy
            $0.phase = .running
        }
        // Each loop keeps its copy, so that checking a response's Via (§18.1.2) takes no lock.
        for shard in shards {
            try? await shard.loop.submit { shard.sentBy = sentBy }.get()
        }
        running.store(true, ordering: .releasing)
    }

    /// Graceful shutdown: stops taking new requests (they get 503), waits up to
    /// ``Configuration/shutdownGracePeriod`` for live transactions to end, then closes the
    /// transports.
    public func shutdown() async {
        let go = state.withLockedValue { s -> Bool in
            guard s.phase == .running || s.phase == .starting else { return false }
            s.phase = .stopping
            return true
        }
        guard go else { return }
        running.store(false, ordering: .releasing)
        let deadline = ContinuousClock.now + configuration.shutdownGracePeriod
        while ContinuousClock.now < deadline, await liveTransactionCount() > 0 {
            try? await Task.sleep(for: .milliseconds(50))
        }
        for t in transports { await t.shutdown() }
        state.withLockedValue { $0.phase = .stopped }
        logger.info("stopped")
    }

    /// The number of live transactions on all loops.
    public func liveTransactionCount() async -> Int {
        var total = 0
        for shard in shards {
            total += (try? await shard.loop.submit { shard.count }.get()) ?? 0
        }
        return total
    }

    var isRunning: Bool { running.load(ordering: .acquiring) }
    private var isAcceptingRequests: Bool { running.load(ordering: .acquiring) }

    // MARK: - Sending

    /// Sippet's `send`: sends a request or a response.
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
    /// does not resolve, a refused connection, a timeout) reach the core's ``SIPCore/receiveError(_:key:stack:)``.
    @discardableResult
    public func send(_ message: SIPMessage) throws(SIPStackError) -> TransactionKey? {
        guard isRunning else { throw .notRunning }
        if message.isResponse {
            guard let key = ServerTransactionKey(response: message) else {
                throw .invalidMessage("a response needs a top Via with an RFC 3261 branch and sent-by, and a CSeq")
            }
            let shard = shard(for: .server(key))
            shard.run { shard.send(response: message, key: key) }
            return .server(key)
        }
        return try send(request: message)
    }

    /// Sends `response` on the server transaction `key`: the key the core received the request
    /// with (RFC 3261 §17.2). The same as ``send(_:)`` for a response, without working the key out
    /// of the response's Via and CSeq again — the fast path for a core that keeps the key.
    @discardableResult
    public func send(_ response: SIPMessage, for key: ServerTransactionKey) throws(SIPStackError) -> TransactionKey {
        guard isRunning else { throw .notRunning }
        guard response.isResponse else { throw .invalidMessage("send(_:for:) takes a response") }
        let shard = shard(for: .server(key))
        shard.run { shard.send(response: response, key: key) }
        return .server(key)
    }

    private func send(request message: SIPMessage) throws(SIPStackError) -> TransactionKey? {
        guard let method = message.method else { throw .invalidMessage("not a request") }
        var request = message
        let uri = try Routing.targetURI(of: request)
        var topVia: Via?
        do { topVia = try request.headers.first(.via) } catch { throw .invalidMessage("Via: \(error)") }
        let branch = topVia?.branch ?? SIPIdentifiers.branch()
        if topVia != nil, topVia?.branch == nil {
            topVia?.branch = branch
            if let via = topVia { replaceTopVia(&request, with: via) }
        }
        if !request.headers.contains(.maxForwards) { request.headers.append(.maxForwards, "70") }
        // The bytes as they stand; dispatch writes them again only if it changes the Via. A Via
        // the stack adds is about 100 bytes.
        let wire = request.serialized()
        let hop = try Routing.nextHop(for: uri, messageSize: wire.count + (topVia == nil ? 100 : 0), available: kinds)
        let key = method == .ack ? nil : ClientTransactionKey(branch: branch, method: method)
        let ready = OutgoingRequest(message: request, topVia: topVia, wire: wire)
        if let address = hop.address {
            try dispatch(ready, key: key, hop: hop, address: address, branch: branch)
        } else {
            Task {
                do {
                    let addresses = try await resolver.resolve(host: hop.host, port: hop.port, kind: hop.kind)
                    guard let address = addresses.first else {
                        throw SIPStackError.unresolvable(host: hop.host, detail: "no address")
                    }
                    try dispatch(ready, key: key, hop: hop, address: address, branch: branch)
                } catch {
                    let e = error as? SIPStackError ?? .unresolvable(host: hop.host, detail: "\(error)")
                    logger.debug("cannot send request", metadata: ["sip.why": "\(e)"])
                    if let key {
                        let shard = shard(for: .client(key))
                        shard.run { shard.report(e, key: .client(key)) }
                    }
                }
            }
        }
        return key.map { .client($0) }
    }

    /// A request on its way out: the message, its top Via as parsed, and its bytes.
    private struct OutgoingRequest: Sendable {
        var message: SIPMessage
        var topVia: Via?
        var wire: [UInt8]
    }

    /// Puts the transport's Via in place and hands the request to its transaction (or, for an
    /// ACK, to the transport).
    private func dispatch(
        _ outgoing: OutgoingRequest, key: ClientTransactionKey?, hop: NextHop, address: SocketAddress,
        branch: String
    ) throws(SIPStackError) {
        guard let transport = transport(kind: hop.kind, family: address) else {
            throw .noTransport("no \(hop.kind) transport for \(address)")
        }
        var request = outgoing.message
        var wire = outgoing.wire
        let (host, port) = sentBy(of: transport)
        if var via = outgoing.topVia {
            // RFC 3261 §18.1.1: when the transport changes, the top Via says so; our own sent-by
            // follows the transport.
            if via.transport.uppercased() != hop.kind.viaName {
                if isOurSentBy(host: via.host.text, port: via.port) {
                    via.host = SIPHost(host)
                    via.port = port
                }
                via.transport = hop.kind.viaName
                replaceTopVia(&request, with: via)
                wire = request.serialized()
            }
        } else {
            // RFC 3261 §18.1.1, §8.1.1.7: the stack's Via, with a new branch; RFC 3581 §3: rport.
            var via = Via(transport: hop.kind.viaName, host: SIPHost(host), port: port, branch: branch)
            via.parameters.append("rport")
            request.headers.prepend(.via, via)
            wire = request.serialized()
        }
        let target = SIPTransportTarget(address: address, hostName: hop.address == nil ? hop.host : nil)
        guard let key else {
            transport.send(wire, to: target, completion: nil)
            return
        }
        let shard = shard(for: .client(key))
        let route = TransactionRoute(transport: transport, target: target)
        // Parse the final bytes once: matching and the transaction then read the hot headers from
        // the parse instead of writing and reading the message again for each.
        let ready = (try? SIPMessage(parsing: wire, limits: .default)) ?? request
        shard.run { shard.start(request: ready, key: key, route: route) }
    }

    /// Sends a response with no transaction to `route` (a 503 when the table is full, a
    /// rejection of a message too broken to match).
    func sendStateless(_ response: SIPMessage, route: TransactionRoute) {
        route.transport.send(response.serialized(), to: route.target, completion: nil)
    }

    /// RFC 3261 §9.1: cancels the INVITE sent with the client transaction `key`. The CANCEL goes
    /// where the INVITE went, as soon as a provisional response has arrived (§9.1 forbids sending
    /// it earlier); its responses reach the core with the returned key. After a final response it
    /// does nothing.
    @discardableResult
    public func cancel(_ key: ClientTransactionKey) throws(SIPStackError) -> ClientTransactionKey {
        guard key.method == .invite else { throw .invalidMessage("only an INVITE can be cancelled") }
        guard isRunning else { throw .notRunning }
        let shard = shard(for: .client(key))
        shard.run { shard.cancel(key) }
        return ClientTransactionKey(branch: key.branch, method: .cancel)
    }

    /// Whether the transaction `key` is alive.
    public func isAlive(_ key: TransactionKey) async -> Bool {
        let shard = shard(for: key)
        return (try? await shard.loop.submit { shard.contains(key) }.get()) ?? false
    }

    /// Sippet's `terminate`: ends the transaction `key` at once, whatever its state.
    public func terminate(_ key: TransactionKey) {
        let shard = shard(for: key)
        shard.run { shard.terminate(key) }
    }

    /// Sippet's `reliable?`: whether `message` travels over a reliable transport, read from its top
    /// Via (RFC 3261 §18: TCP, TLS, SCTP, WS and WSS are; UDP is not). A request the stack has not
    /// yet given a Via is judged by the transport its target would use.
    public func isReliable(_ message: SIPMessage) -> Bool {
        if let t = message.essentials?.transport?.string {
            return SIPTransportKind(name: t)?.isReliable ?? (t.uppercased() != "UDP")
        }
        guard message.isRequest, let uri = try? Routing.targetURI(of: message),
            let hop = try? Routing.nextHop(
                for: uri, messageSize: message.serialized().count,
                available: kinds)
        else { return false }
        return hop.kind.isReliable
    }

    // MARK: - Helpers

    /// The loop of a transaction: by its branch (and for a server transaction its sent-by: the
    /// CANCEL and the ACK of an INVITE share both, so all three land on the same loop), or for an
    /// RFC 2543 request by its Call-ID (``ServerTransactionKey/routingHash``).
    private func shard(for key: TransactionKey) -> TransactionShard { shards[shardIndex(for: key)] }

    private func shardIndex(for key: TransactionKey) -> Int {
        if shards.count == 1 { return 0 }
        let h: Int
        switch key {
        case .client(let k): h = k.branch.hashValue
        case .server(let k): h = k.routingHash
        }
        return Int(UInt(bitPattern: h) % UInt(shards.count))
    }

    /// The hand-over box of the loop the caller runs on, when it is one of the shards' loops.
    private func currentHandOvers() -> HandOvers? {
        guard handOvers.count > 1, let loop = MultiThreadedEventLoopGroup.currentEventLoop,
            let i = handOverIndex[ObjectIdentifier(loop)]
        else { return nil }
        return handOvers[i]
    }

    /// Sends on the requests `box` holds, one task per loop they go to (see ``HandOvers``).
    private func flush(_ box: HandOvers) {
        box.queued = false
        for t in box.pending.indices where !box.pending[t].isEmpty {
            let batch = box.pending[t]
            box.pending[t] = []
            let shard = shards[t]
            shard.loop.execute {
                for r in batch {
                    shard.received(
                        request: r.request, key: r.key, route: r.route, validate: r.validate, refuseNew: r.refuseNew)
                }
            }
        }
    }

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
    private func sentBy(of transport: any SIPTransport) -> (String, Int) {
        let local = transport.localAddress
        return (transport.advertisedHost ?? local?.sipHost ?? "invalid", local?.port ?? transport.kind.defaultPort)
    }

    private func isOurSentBy(host: String, port: Int?) -> Bool {
        let h = host.lowercased()
        return state.withLockedValue { s in s.sentBy.contains { $0.host == h && (port == nil || port == $0.port) } }
    }

    private func replaceTopVia(_ message: inout SIPMessage, with via: Via) {
        try? message.headers.removeFirst(.via)
        message.headers.prepend(.via, via)
    }
}

// MARK: - Receiving

extension SIPStack: SIPTransportDelegate {
    public func transport(_ transport: any SIPTransport, received m: SIPReceivedMessage) {
        let message: SIPMessage
        do {
            message = try SIPMessage(parsing: m.bytes, limits: configuration.limits)
        } catch {
            unparseable(m, error: error, transport: transport)
            return
        }
        if message.isRequest {
            received(request: message, m, transport: transport)
        } else {
            received(response: message, m)
        }
    }

    public func transport(_ transport: any SIPTransport, observed event: SIPTransportEvent) {
        switch event {
        case .connectionDropped, .connectionLimitReached, .error:
            metrics.transportErrors.increment()
            logger.notice("transport event", metadata: ["sip.transport": "\(transport.kind)", "sip.event": "\(event)"])
        case .discarded:
            metrics.dropped.increment()
            logger.debug("transport event", metadata: ["sip.transport": "\(transport.kind)", "sip.event": "\(event)"])
        default:
            logger.trace("transport event", metadata: ["sip.transport": "\(transport.kind)", "sip.event": "\(event)"])
        }
    }

    /// RFC 3261 §18.2.1, RFC 3581 §4, RFC 5923: a request's top Via gets `received` when its
    /// sent-by host is not the source address, and `rport` its value when asked; then the
    /// request goes to its transaction's loop.
    private func received(request message: consuming SIPMessage, _ m: SIPReceivedMessage, transport: any SIPTransport) {
        var request = message
        guard let e = request.essentials, let sentByHost = e.sentByHost else {
            metrics.dropped.increment()
            return
        }
        // The source address as text only when the numeric reading cannot tell, or received is written.
        let numeric = Self.isIPv4(sentByHost, of: m.source)
        let sourceText = numeric == nil ? m.source.ipAddress ?? "" : nil
        let sameHost = numeric ?? Self.sameHost(sentByHost, sourceText ?? "")
        var via = ViaSummary(host: "", port: e.sentByPort, hasRport: e.hasRport, maddr: nil)
        var reparsed = false
        if !sameHost || e.hasRport || transport.kind.isConnectionOriented, var top = request.topVia {
            let sourceIP = sourceText ?? m.source.ipAddress ?? ""
            var changed = false
            if !sameHost || e.hasRport, top.received != sourceIP {
                // RFC 3581 §4: with rport, received is added even when it equals sent-by.
                top.received = sourceIP
                changed = true
            }
            if case .some(.none) = top.rport, let port = m.source.port {
                top.rport = .some(port)
                changed = true
            }
            if let connection = m.connection, top.parameters.contains("alias"),
                let a = try? SocketAddress(ipAddress: sourceIP, port: top.port ?? transport.kind.defaultPort)
            {
                transport.addAlias(a, for: connection)
            }
            via.maddr = top.maddr
            if changed {
                replaceTopVia(&request, with: top)
                // Parse the changed message once, so that matching reads it without writing it again.
                if let again = try? SIPMessage(parsing: request.serialized(), limits: configuration.limits) {
                    request = again
                }
                reparsed = true
            }
        }
        guard
            let key = reparsed
                ? ServerTransactionKey(request: request) : ServerTransactionKey(request: request, essentials: e)
        else {
            metrics.dropped.increment()
            return
        }
        let target = Routing.responseTarget(
            topVia: via, source: m.source, connection: m.connection, kind: transport.kind)
        let route = TransactionRoute(transport: transport, target: target)
        let index = shardIndex(for: .server(key))
        let shard = shards[index]
        // Shutting down: no new transactions (503); retransmissions still find theirs.
        let refuseNew = !isAcceptingRequests && request.method != .ack
        let validate = configuration.validatesRequests
        if shard.loop.inEventLoop {
            // On the transaction's own loop: no closure to allocate and no copy of the message.
            shard.received(request: request, key: key, route: route, validate: validate, refuseNew: refuseNew)
            return
        }
        let incoming = consume request
        if let box = currentHandOvers() {
            // Read on another shard's loop: held until this loop has read what it is reading.
            box.pending[index].append(
                HandOver(
                    request: incoming, key: key, route: route, validate: validate,
                    refuseNew: refuseNew))
            if !box.queued {
                box.queued = true
                box.loop.execute { [self] in flush(box) }
            }
            return
        }
        shard.loop.execute {
            shard.received(request: incoming, key: key, route: route, validate: validate, refuseNew: refuseNew)
        }
    }

    /// RFC 3261 §18.1.2: a response whose top Via sent-by is not ours is discarded; the others go
    /// to their transaction's loop.
    private func received(response: SIPMessage, _ m: SIPReceivedMessage) {
        guard let e = response.essentials, let host = e.sentByHost, let branch = e.branch else {
            metrics.dropped.increment()
            return
        }
        let shard = shard(for: .client(ClientTransactionKey(branch: branch.string, method: .invite)))
        let port = e.sentByPort
        shard.run { [self] in
            guard shard.sentBy.contains(where: { Self.sameHost(host, $0.host) && (port == nil || port == $0.port) })
            else {
                metrics.dropped.increment()
                logger.debug("dropping a response whose top Via is not ours", metadata: ["sip.sent-by": "\(host)"])
                return
            }
            shard.received(response: response)
        }
    }

    /// A message that does not parse: a request that can still be answered gets the response RFC
    /// 3261 prescribes (400, 505, …) with a Warning saying why; the rest is dropped and counted.
    private func unparseable(_ m: SIPReceivedMessage, error: SIPParseError, transport: any SIPTransport) {
        metrics.parseErrors.increment()
        guard
            let response = SIPValidator.rejectionResponse(for: m.bytes, error: error, policy: configuration.validation),
            let via = response.topVia
        else {
            logger.debug("dropping an unparseable message", metadata: ["sip.why": "\(error)"])
            return
        }
        let summary = ViaSummary(host: via.host.text, port: via.port, hasRport: via.rport != nil, maddr: via.maddr)
        let target = Routing.responseTarget(
            topVia: summary, source: m.source, connection: m.connection, kind: transport.kind)
        logger.debug(
            "answering an unparseable request",
            metadata: ["sip.status": "\(response.status ?? 0)", "sip.why": "\(error)"])
        metrics.rejected.increment()
        transport.send(response.serialized(), to: target, completion: nil)
    }

    /// Whether a sent-by host, written as a dotted-quad IPv4 address, is `source`'s address, read
    /// without formatting the address (the usual case of RFC 3261 §18.2.1). Nil when this cannot
    /// tell: another family, a name, or an unusual spelling (leading zeros).
    static func isIPv4(_ sentBy: ByteView, of source: SocketAddress) -> Bool? {
        guard case .v4(let a) = source else { return nil }
        var value: UInt32 = 0
        var octet: UInt32 = 0
        var digits = 0
        var dots = 0
        for b in sentBy {
            switch b {
            case UInt8(ascii: "0")...UInt8(ascii: "9"):
                if digits > 0, octet == 0 { return nil }
                octet = octet * 10 + UInt32(b - UInt8(ascii: "0"))
                digits += 1
                if octet > 255 { return nil }
            case UInt8(ascii: "."):
                guard digits > 0, dots < 3 else { return nil }
                value = value << 8 | octet
                octet = 0
                digits = 0
                dots += 1
            default:
                return nil
            }
        }
        guard dots == 3, digits > 0 else { return nil }
        return (value << 8 | octet) == UInt32(bigEndian: a.address.sin_addr.s_addr)
    }

    /// Whether a sent-by host names the address `ip` (IPv6 in brackets or not, any case).
    static func sameHost(_ sentBy: ByteView, _ ip: String) -> Bool {
        if sentBy == ip { return true }
        var s = sentBy.string.lowercased()
        if s.hasPrefix("["), s.hasSuffix("]") { s = String(s.dropFirst().dropLast()) }
        var i = ip.lowercased()
        if i.hasPrefix("["), i.hasSuffix("]") { i = String(i.dropFirst().dropLast()) }
        if s == i { return true }
        // Different spellings of one IPv6 address.
        guard s.contains(":"), let a = try? SocketAddress(ipAddress: s, port: 0),
            let b = try? SocketAddress(ipAddress: i, port: 0)
        else { return false }
        return a.ipAddress == b.ipAddress
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

/// A request read on one loop whose transaction lives on another (by its key's hash).
struct HandOver: Sendable {
    var request: SIPMessage
    var key: ServerTransactionKey
    var route: TransactionRoute
    var validate: Bool
    var refuseNew: Bool
}

/// The requests one loop has read for the other loops' transactions, held until the loop has
/// read what it is reading (one recvmmsg of datagrams, say), then handed over in one task per
/// loop: queueing a task on another loop takes its lock and may wake it with a write to its
/// eventfd, and this pays that once per burst rather than once per request. Order is kept: a
/// loop's requests for another loop go over in the order they were read.
// @unchecked: read and written only on its own loop.
final class HandOvers: @unchecked Sendable {
    /// The loop that reads them.
    let loop: any EventLoop
    /// By the index of the shard they go to.
    var pending: [[HandOver]]
    /// Whether the task that hands them over is queued.
    var queued = false

    init(loop: any EventLoop, shards: Int) {
        self.loop = loop
        pending = Array(repeating: [], count: shards)
    }
}
