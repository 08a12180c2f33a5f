import Logging
import NIOCore
import NIOPosix

/// Why a lookup gave no answer.
public enum DNSError: Error, Hashable, Sendable, CustomStringConvertible {
    /// No server answered within the configured timeouts and attempts.
    case timeout(name: String, type: DNSRecordType)
    /// Every server answered with an error (SERVFAIL, REFUSED…), the last one's code given.
    case serverError(name: String, type: DNSRecordType, code: UInt8)
    /// The name cannot be asked (a label longer than 63 octets, say).
    case invalidName(String)
    /// The answer did not parse, or an alias chain was longer than 8 or a loop.
    case badAnswer(String)
    /// The client was shut down.
    case shutDown

    /// What went wrong, for a log line.
    public var description: String {
        switch self {
        case .timeout(let n, let t): "no answer for \(n) \(t)"
        case .serverError(let n, let t, let c): "\(n) \(t): server error \(c)"
        case .invalidName(let n): "invalid name \(n)"
        case .badAnswer(let why): "bad answer: \(why)"
        case .shutDown: "the DNS client is shut down"
        }
    }
}

/// A stub resolver on SwiftNIO (RFC 1035 §7, RFC 1123 §6.1.3): queries over UDP, each from a
/// socket of its own with a random source port and identifier (RFC 5452), asked again over TCP when the answer is truncated
/// (RFC 1035 §4.2.2, RFC 7766), the servers tried in turn with a timeout, answers cached for
/// their TTL and negative answers for their SOA minimum (RFC 2308), concurrent lookups of one
/// name and type sharing one query.
///
/// Everything runs on one event loop: no thread per lookup and no lock. A response is taken
/// only from the server asked, with the identifier and question asked (RFC 5452 §9.1).
///
/// Written on SwiftNIO rather than taken from a package: the Swift DNS clients do not read NAPTR
/// records, or wrap a C library with a polling loop (see the architecture document).
// @unchecked: the mutable state is confined to `loop`; every method that touches it runs there.
public final class DNSClient: @unchecked Sendable {
    /// The settings.
    public let configuration: DNSConfiguration
    /// The loop the client lives on.
    public let loop: any EventLoop
    private let logger: Logger
    private let now: @Sendable () -> NIODeadline

    private var cache: DNSCache
    private var shared: [DNSCacheKey: EventLoopPromise<DNSAnswer>] = [:]
    private var outstanding: [UInt16: Outstanding] = [:]
    private var closed = false
    private var counters = Counters()

    /// What the client has done, for tests and metrics.
    public struct Counters: Sendable, Hashable {
        /// Queries sent over UDP (each try counts).
        public var udpQueries = 0
        /// Queries sent again over TCP after a truncated answer.
        public var tcpQueries = 0
        /// Lookups answered from the cache.
        public var cacheHits = 0
        /// Lookups that joined a query already under way.
        public var sharedLookups = 0
    }

    /// A query sent and waiting for its answer, on a socket of its own.
    private struct Outstanding {
        var key: DNSCacheKey
        var name: String
        var server: SocketAddress
        var timeout: Scheduled<Void>
        var promise: EventLoopPromise<DNSMessage>
        /// Its socket, once bound.
        var channel: (any Channel)?
    }

    /// A client with `configuration`, on `loop`. `now` is the clock of the cache (a test gives a
    /// virtual one).
    public init(
        configuration: DNSConfiguration, loop: any EventLoop = MultiThreadedEventLoopGroup.singleton.any(),
        logger: Logger = Logger(label: "sippet.dns"), now: @escaping @Sendable () -> NIODeadline = { .now() }
    ) {
        self.configuration = configuration
        self.loop = loop
        self.logger = logger
        self.now = now
        self.cache = DNSCache(capacity: configuration.cacheSize)
    }

    /// What the client has done so far.
    public func counters() async -> Counters {
        (try? await loop.submit { self.counters }.get()) ?? Counters()
    }

    /// Stops: lookups under way fail with ``DNSError/shutDown`` and their sockets close.
    public func shutdown() async {
        try? await loop.submit {
            self.closed = true
            for id in Array(self.outstanding.keys) { self.finish(id, .failure(DNSError.shutDown)) }
        }.get()
    }

    // MARK: - Lookups

    /// The answer for `name` and `type`, the search list applied (resolv.conf(5)): the first
    /// candidate name that exists gives the answer; when none does, the last one's NXDOMAIN.
    public func lookup(_ name: String, _ type: DNSRecordType) async throws -> DNSAnswer {
        let names = configuration.candidateNames(for: name)
        var last: DNSAnswer?
        for candidate in names {
            let answer = try await query(candidate, type)
            if answer.nameExists { return answer }
            last = answer
        }
        return last ?? DNSAnswer(name: name, type: type, records: [], nameExists: false)
    }

    /// The answer for exactly `name` and `type` (no search list), from the cache or the servers.
    public func query(_ name: String, _ type: DNSRecordType) async throws -> DNSAnswer {
        try await query(name, type).get()
    }

    /// ``query(_:_:)`` as a future, completed on ``loop``.
    public func query(_ name: String, _ type: DNSRecordType) -> EventLoopFuture<DNSAnswer> {
        let bare = name.hasSuffix(".") ? String(name.dropLast()) : name
        return loop.flatSubmit { self.resolve(bare, type, depth: 0) }
    }

    private func resolve(_ name: String, _ type: DNSRecordType, depth: Int) -> EventLoopFuture<DNSAnswer> {
        let key = DNSCacheKey(name, type)
        if let hit = cache.answer(for: key, now: now()) {
            counters.cacheHits += 1
            return loop.makeSucceededFuture(hit)
        }
        if let promise = shared[key] {
            counters.sharedLookups += 1
            return promise.futureResult
        }
        guard !closed else { return loop.makeFailedFuture(DNSError.shutDown) }
        let promise = loop.makePromise(of: DNSAnswer.self)
        shared[key] = promise
        ask(name, type, try: 0, lastCode: nil).flatMap { message -> EventLoopFuture<DNSAnswer> in
            self.answer(from: message, name: name, type: type, depth: depth)
        }.whenComplete { result in
            self.shared[key] = nil
            promise.completeWith(result)
        }
        return promise.futureResult
    }

    /// Reads the answer for `name` out of `message`: the records of `type` at the end of the
    /// alias chain (RFC 1034 §3.6.2); when the chain ends at a name the message has no records
    /// for, that name is asked in turn (at most 8 aliases in all). Caches what it read.
    private func answer(from message: DNSMessage, name: String, type: DNSRecordType, depth: Int)
        -> EventLoopFuture<DNSAnswer>
    {
        var current = name
        var aliases: [String] = []
        var ttl = UInt32.max
        while true {
            let records = message.answers.filter { $0.type == type && $0.name.lowercased() == current.lowercased() }
            if !records.isEmpty {
                for r in records { ttl = min(ttl, r.ttl) }
                let answer = DNSAnswer(
                    name: name, type: type, records: records, additional: message.additional, aliases: aliases)
                store(answer, ttl: ttl)
                return loop.makeSucceededFuture(answer)
            }
            guard
                type != .cname,
                let alias = message.answers.first(where: {
                    $0.type == .cname && $0.name.lowercased() == current.lowercased()
                }),
                case .cname(let target) = alias.data
            else { break }
            ttl = min(ttl, alias.ttl)
            aliases.append(target)
            guard aliases.count + depth <= 8, target.lowercased() != name.lowercased() else {
                return loop.makeFailedFuture(DNSError.badAnswer("alias chain from \(name) too long or a loop"))
            }
            current = target
        }
        if let target = aliases.last, message.responseCode == DNSResponseCode.noError.rawValue {
            let followed = aliases
            // The chain ends at a name this server gave nothing more for: ask for it.
            return resolve(target, type, depth: depth + aliases.count).map { found in
                var a = found
                a.name = name
                a.aliases = followed + found.aliases
                return a
            }
        }
        // Negative (RFC 2308): cached only with the zone's SOA, for min(its TTL, its minimum).
        let exists = message.responseCode != DNSResponseCode.nameError.rawValue
        let answer = DNSAnswer(name: name, type: type, records: [], nameExists: exists, aliases: aliases)
        for r in message.authority {
            if case .soa(_, _, _, _, _, _, let minimum) = r.data { store(answer, ttl: min(ttl, r.ttl, minimum)) }
        }
        return loop.makeSucceededFuture(answer)
    }

    private func store(_ answer: DNSAnswer, ttl: UInt32) {
        let lifetime = min(Duration.seconds(Int64(ttl)), configuration.maxTTL)
        guard lifetime > .zero else { return }
        cache.store(
            answer, for: DNSCacheKey(answer.name, answer.type),
            expires: now() + Self.timeAmount(lifetime))
    }

    private static func timeAmount(_ d: Duration) -> TimeAmount {
        .nanoseconds(d.components.seconds * 1_000_000_000 + d.components.attoseconds / 1_000_000_000)
    }

    // MARK: - The wire

    /// Try `n` of the question: server `n % servers` in round `n / servers` (RFC 1035 §7.2: the
    /// servers in turn, each round again up to `attempts`). A response with an error other than
    /// NXDOMAIN moves to the next server; a truncated one is asked again over TCP.
    private func ask(_ name: String, _ type: DNSRecordType, try n: Int, lastCode: UInt8?) -> EventLoopFuture<DNSMessage>
    {
        let servers = configuration.servers
        guard !servers.isEmpty, n < servers.count * configuration.attempts else {
            if let lastCode {
                return loop.makeFailedFuture(DNSError.serverError(name: name, type: type, code: lastCode))
            }
            return loop.makeFailedFuture(DNSError.timeout(name: name, type: type))
        }
        let server = servers[n % servers.count]
        return sendUDP(name, type, to: server).flatMap { message -> EventLoopFuture<DNSMessage> in
            if message.isTruncated { return self.sendTCP(name, type, to: server) }
            return self.loop.makeSucceededFuture(message)
        }.flatMap { message -> EventLoopFuture<DNSMessage> in
            let code = message.responseCode
            if code == DNSResponseCode.noError.rawValue || code == DNSResponseCode.nameError.rawValue {
                return self.loop.makeSucceededFuture(message)
            }
            return self.ask(name, type, try: n + 1, lastCode: code)
        }.flatMapError { error -> EventLoopFuture<DNSMessage> in
            if let e = error as? DNSError, e == .shutDown || e == .invalidName(name) {
                return self.loop.makeFailedFuture(e)
            }
            self.logger.debug(
                "DNS query failed", metadata: ["dns.name": "\(name)", "dns.server": "\(server)", "dns.why": "\(error)"])
            return self.ask(name, type, try: n + 1, lastCode: lastCode)
        }
    }

    /// Sends the question from a socket of its own, bound to a port the kernel picks at random,
    /// with a random identifier (RFC 5452 §9.2: both unpredictable for each query), and waits
    /// for the answer for the configured timeout.
    private func sendUDP(_ name: String, _ type: DNSRecordType, to server: SocketAddress) -> EventLoopFuture<DNSMessage>
    {
        var fresh = UInt16.random(in: 0...UInt16.max)
        while outstanding[fresh] != nil { fresh = UInt16.random(in: 0...UInt16.max) }
        let id = fresh
        let query: [UInt8]
        do { query = try DNSMessage.query(id: id, name: name, type: type) } catch {
            return loop.makeFailedFuture(DNSError.invalidName(name))
        }
        let promise = loop.makePromise(of: DNSMessage.self)
        let timeout = loop.scheduleTask(in: Self.timeAmount(configuration.timeout)) {
            self.finish(id, .failure(DNSError.timeout(name: name, type: type)))
        }
        outstanding[id] = Outstanding(
            key: DNSCacheKey(name, type), name: name, server: server, timeout: timeout, promise: promise)
        counters.udpQueries += 1
        DatagramBootstrap(group: loop)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(DatagramHandler(client: self))
                }
            }
            .bind(host: server.protocol == .inet6 ? "::" : "0.0.0.0", port: 0)
            .whenComplete { result in
                switch result {
                case .success(let channel):
                    guard self.outstanding[id] != nil else {
                        // Answered or given up while the socket was being bound.
                        channel.close(promise: nil)
                        return
                    }
                    self.outstanding[id]?.channel = channel
                    let envelope = AddressedEnvelope(
                        remoteAddress: server, data: channel.allocator.buffer(bytes: query))
                    channel.writeAndFlush(envelope).whenFailure { self.finish(id, .failure($0)) }
                case .failure(let error):
                    self.finish(id, .failure(error))
                }
            }
        return promise.futureResult
    }

    /// Ends the query `id`: its timer cancelled, its socket closed, its promise completed.
    private func finish(_ id: UInt16, _ result: Result<DNSMessage, any Error>) {
        guard let o = outstanding.removeValue(forKey: id) else { return }
        o.timeout.cancel()
        o.channel?.close(promise: nil)
        o.promise.completeWith(result)
    }

    /// A datagram arrived on a query's socket: its answer if it comes from the server asked with
    /// its identifier and question; anything else is dropped.
    fileprivate func received(_ bytes: [UInt8], from source: SocketAddress) {
        guard bytes.count >= 12 else { return }
        let id = UInt16(bytes[0]) << 8 | UInt16(bytes[1])
        guard let o = outstanding[id], o.server == source else { return }
        guard let message = try? DNSMessage(parsing: bytes), message.isResponse,
            message.questions.count == 1, DNSCacheKey(message.questions[0].name, message.questions[0].type) == o.key
        else { return }
        finish(id, .success(message))
    }

    /// RFC 7766 §6.2.2: the question again over TCP, the message framed by its two-byte length.
    private func sendTCP(_ name: String, _ type: DNSRecordType, to server: SocketAddress) -> EventLoopFuture<DNSMessage>
    {
        let id = UInt16.random(in: 0...UInt16.max)
        let question: [UInt8]
        do { question = try DNSMessage.query(id: id, name: name, type: type) } catch {
            return loop.makeFailedFuture(DNSError.invalidName(name))
        }
        let query = [UInt8(question.count >> 8), UInt8(question.count & 0xff)] + question
        counters.tcpQueries += 1
        let promise = loop.makePromise(of: DNSMessage.self)
        let wait = Self.timeAmount(configuration.timeout)
        let timeout = loop.scheduleTask(in: wait) { promise.fail(DNSError.timeout(name: name, type: type)) }
        let handler = StreamHandler(promise: promise)
        ClientBootstrap(group: loop)
            .connectTimeout(wait)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(handler) }
            }
            .connect(to: server)
            .flatMap { channel in
                channel.writeAndFlush(channel.allocator.buffer(bytes: query)).map { channel }
            }
            .whenComplete { result in
                switch result {
                case .success(let channel):
                    promise.futureResult.whenComplete { _ in channel.close(promise: nil) }
                case .failure(let error):
                    promise.fail(error)
                }
            }
        return promise.futureResult.flatMapThrowing { message in
            timeout.cancel()
            guard message.id == id, message.questions.count == 1,
                DNSCacheKey(message.questions[0].name, message.questions[0].type) == DNSCacheKey(name, type)
            else { throw DNSError.badAnswer("a TCP answer to another question") }
            return message
        }.flatMapErrorThrowing { error in
            timeout.cancel()
            throw error
        }
    }
}

/// Hands the client's datagrams to it.
private final class DatagramHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>
    let client: DNSClient

    init(client: DNSClient) { self.client = client }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let envelope = unwrapInboundIn(data)
        client.received(Array(envelope.data.readableBytesView), from: envelope.remoteAddress)
    }
}

/// Reads one length-framed DNS message from a TCP connection (RFC 1035 §4.2.2), at most 65,535
/// bytes.
private final class StreamHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    let promise: EventLoopPromise<DNSMessage>
    private var buffer: [UInt8] = []

    init(promise: EventLoopPromise<DNSMessage>) { self.promise = promise }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        buffer += unwrapInboundIn(data).readableBytesView
        guard buffer.count >= 2 else { return }
        let length = Int(buffer[0]) << 8 | Int(buffer[1])
        guard buffer.count >= 2 + length else { return }
        do {
            promise.succeed(try DNSMessage(parsing: Array(buffer[2..<(2 + length)])))
        } catch {
            promise.fail(DNSError.badAnswer("\(error)"))
        }
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        promise.fail(DNSError.badAnswer("the server closed the connection"))
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        promise.fail(error)
        context.close(promise: nil)
    }
}
