import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL
import SIPSyntax

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// Settings every stream transport (TCP, TLS, WebSocket) shares: limits on connections and on
/// what one connection may buffer, and timeouts.
public struct SIPStreamSettings: Sendable {
    /// The most connections (accepted and made) the transport keeps open. At the limit, a new
    /// connection first evicts the oldest accepted connection that has not yet delivered a whole
    /// message (a slow or idle peer holding a half message); when there is none it is refused.
    public var maxConnections: Int = 10_000
    /// A connection with no traffic for this long is closed.
    public var idleTimeout: TimeAmount = .seconds(300)
    /// How long a new outbound connection may take.
    public var connectTimeout: TimeAmount = .seconds(5)
    /// Per-message limits, which bound what one connection buffers (RFC 3261 §18.3: a peer that
    /// sends a Content-Length above the body limit, or an endless header line, is disconnected).
    public var limits: SIPLimits = .default
    /// The host written in Via sent-by instead of the bound IP (RFC 3261 §18.1.1).
    public var advertisedHost: String?

    /// The defaults: 10,000 connections, a 300 s idle timeout, a 5 s connect timeout, the default
    /// `SIPLimits`, no advertised host.
    public init() {}
}

/// How one kind of stream transport sets up a connection's pipeline. The engine does the rest:
/// listening, connecting, reuse, limits, idle timeouts.
protocol StreamPipeline: Sendable {
    /// Adds the handlers of an accepted connection, ending with one that calls `deliver` for each
    /// SIP message and accepts whole serialized messages (`ByteBuffer`) as writes.
    func configureAccepted(_ channel: any Channel, deliver: @escaping MessageSink) throws
    /// The same for a connection the transport makes to `target`.
    func configureConnected(_ channel: any Channel, target: SIPTransportTarget, deliver: @escaping MessageSink) throws
    /// Completes when a connection made by the transport may carry messages (after a WebSocket
    /// handshake, say). The engine asks once the TCP connect has succeeded.
    func whenReady(_ channel: any Channel) -> EventLoopFuture<Void>
}

extension StreamPipeline {
    func whenReady(_ channel: any Channel) -> EventLoopFuture<Void> { channel.eventLoop.makeSucceededVoidFuture() }
}

/// What a stream pipeline's last handler reports: a message, a keep-alive, or a broken stream.
enum StreamInput {
    case message([UInt8])
    case keepAlive
    case broken(String)
}

typealias MessageSink = (any Channel, StreamInput) -> Void

/// The connection-keeping part of the stream transports (RFC 3261 §18: TCP and TLS; RFC 7118:
/// WebSocket).
///
/// It listens, accepts, and makes outbound connections; it reuses a connection by remote
/// address, and by the `alias` a peer offers (RFC 5923), so that requests to the same place share
/// one; it enforces the connection limit and closes idle connections. The pipeline does the
/// framing.
final class StreamEngine: Sendable {
    let kind: SIPTransportKind
    let settings: SIPStreamSettings
    private let group: any EventLoopGroup
    private let pipeline: any StreamPipeline
    private let host: String
    private let port: Int
    private let state = NIOLockedValueBox(State())

    struct Connection {
        let channel: any Channel
        let remote: SocketAddress
        let inbound: Bool
        let opened: NIODeadline
        /// Whether a whole message has arrived on it (a peer holding a half message has not).
        var deliveredMessage: Bool
        /// Addresses the connection is also found by (RFC 5923 alias).
        var aliases: [SocketAddress]
    }

    struct State {
        var listener: (any Channel)?
        var local: SocketAddress?
        var delegate: (any SIPTransportDelegate)?
        weak var owner: (any SIPTransport)?
        var connections: [ObjectIdentifier: Connection] = [:]
        var byAddress: [SocketAddress: ObjectIdentifier] = [:]
        var connecting: [SocketAddress: EventLoopFuture<any Channel>] = [:]
        var stopping = false
    }

    init(
        kind: SIPTransportKind, host: String, port: Int, group: any EventLoopGroup, settings: SIPStreamSettings,
        pipeline: any StreamPipeline
    ) {
        self.kind = kind
        self.host = host
        self.port = port
        self.group = group
        self.settings = settings
        self.pipeline = pipeline
    }

    var localAddress: SocketAddress? { state.withLockedValue { $0.local } }
    var connectionCount: Int { state.withLockedValue { $0.connections.count } }

    private var delegateAndOwner: (any SIPTransportDelegate, any SIPTransport)? {
        state.withLockedValue { s in
            guard let d = s.delegate, let o = s.owner else { return nil }
            return (d, o)
        }
    }

    private func observe(_ event: SIPTransportEvent) {
        guard let (d, o) = delegateAndOwner else { return }
        d.transport(o, observed: event)
    }

    // MARK: - Listening

    func start(owner: any SIPTransport, delegate: any SIPTransportDelegate) async throws {
        state.withLockedValue {
            $0.owner = owner
            $0.delegate = delegate
        }
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelOption(.backlog, value: 1024)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.autoRead, value: true)
            .childChannelInitializer { [weak self] channel in
                guard let self else { return channel.close() }
                return channel.eventLoop.makeCompletedFuture { try self.accept(channel) }
            }
        let listener = try await bootstrap.bind(host: host, port: port).get()
        state.withLockedValue {
            $0.listener = listener
            $0.local = listener.localAddress
        }
    }

    /// Admits an accepted connection (evicting a half-message holder at the limit) and sets it up.
    private func accept(_ channel: any Channel) throws {
        guard let remote = channel.remoteAddress else { throw ChannelError.ioOnClosedChannel }
        guard admit(channel, remote: remote, inbound: true) else {
            observe(.connectionLimitReached(remote: remote))
            throw SIPTransportError(.connectionLimit)
        }
        try addCommonHandlers(channel, remote: remote)
        try pipeline.configureAccepted(channel, deliver: { [weak self] ch, input in self?.input(input, on: ch) })
        observe(.connectionOpened(remote: remote))
    }

    private func addCommonHandlers(_ channel: any Channel, remote: SocketAddress) throws {
        let sync = channel.pipeline.syncOperations
        try sync.addHandler(IdleStateHandler(allTimeout: settings.idleTimeout))
        try sync.addHandler(IdleCloser { [weak self] in self?.observe(.idleConnectionClosed(remote: remote)) })
        channel.closeFuture.whenComplete { [weak self] _ in self?.closed(channel, remote: remote) }
    }

    /// Registers a connection; at the limit, evicts the oldest accepted connection that has
    /// delivered no whole message, or refuses.
    private func admit(_ channel: any Channel, remote: SocketAddress, inbound: Bool) -> Bool {
        let victim: (any Channel)? = state.withLockedValue { s in
            if s.stopping { return channel }
            var victim: (any Channel)?
            if s.connections.count >= settings.maxConnections {
                let idle = s.connections.values.filter { $0.inbound && !$0.deliveredMessage }
                guard let oldest = idle.min(by: { $0.opened < $1.opened }) else { return channel }
                s.connections[ObjectIdentifier(oldest.channel)] = nil
                if s.byAddress[oldest.remote] == ObjectIdentifier(oldest.channel) { s.byAddress[oldest.remote] = nil }
                victim = oldest.channel
            }
            let id = ObjectIdentifier(channel)
            s.connections[id] = Connection(
                channel: channel, remote: remote, inbound: inbound, opened: .now(),
                deliveredMessage: false, aliases: [])
            if s.byAddress[remote] == nil || !inbound { s.byAddress[remote] = id }
            return victim
        }
        if let victim {
            if victim === channel { return false }
            observe(.connectionLimitReached(remote: victim.remoteAddress ?? remote))
            victim.close(promise: nil)
        }
        return true
    }

    private func closed(_ channel: any Channel, remote: SocketAddress) {
        let known = state.withLockedValue { s -> Bool in
            let id = ObjectIdentifier(channel)
            guard let c = s.connections.removeValue(forKey: id) else { return false }
            if s.byAddress[c.remote] == id { s.byAddress[c.remote] = nil }
            for a in c.aliases where s.byAddress[a] == id { s.byAddress[a] = nil }
            return true
        }
        if known { observe(.connectionClosed(remote: remote)) }
    }

    /// What a connection's pipeline read.
    private func input(_ input: StreamInput, on channel: any Channel) {
        guard let (delegate, owner) = delegateAndOwner, let remote = channel.remoteAddress else { return }
        switch input {
        case .message(let bytes):
            markDelivered(channel)
            let handle = SIPConnectionHandle(object: channel, remoteAddress: remote)
            delegate.transport(
                owner,
                received: SIPReceivedMessage(
                    bytes: bytes, source: remote,
                    local: channel.localAddress, connection: handle))
        case .keepAlive:
            delegate.transport(owner, observed: .keepAlive(remote: remote))
        case .broken(let why):
            delegate.transport(owner, observed: .connectionDropped(remote: remote, reason: why))
            channel.close(promise: nil)
        }
    }

    private func markDelivered(_ channel: any Channel) {
        // Runs once per connection: later messages find the flag set without taking the lock
        // for long.
        state.withLockedValue { s in
            let id = ObjectIdentifier(channel)
            if s.connections[id]?.deliveredMessage == false { s.connections[id]?.deliveredMessage = true }
        }
    }

    /// RFC 5923 §5: a peer that puts `alias` in its Via offers its connection for requests to its
    /// sent-by; requests to `address` then go out on it.
    func addAlias(_ address: SocketAddress, for connection: SIPConnectionHandle) {
        guard let channel = connection.object as? any Channel else { return }
        state.withLockedValue { s in
            let id = ObjectIdentifier(channel)
            guard s.connections[id] != nil, s.byAddress[address] == nil else { return }
            s.byAddress[address] = id
            s.connections[id]?.aliases.append(address)
        }
    }

    // MARK: - Sending

    func send(_ bytes: [UInt8], to target: SIPTransportTarget, completion: SIPSendCompletion?) {
        // §18.2.2: the connection the request came on, while it is open.
        if let handle = target.connection, let channel = handle.object as? any Channel, channel.isActive {
            write(bytes, on: channel, completion: completion)
            return
        }
        let existing: (any Channel)? = state.withLockedValue { s in
            guard let id = s.byAddress[target.address], let c = s.connections[id] else { return nil }
            return c.channel
        }
        if let channel = existing, channel.isActive {
            write(bytes, on: channel, completion: completion)
            return
        }
        connect(to: target).whenComplete { result in
            switch result {
            case .success(let channel): self.write(bytes, on: channel, completion: completion)
            case .failure(let error): completion?(.failure(Self.transportError(error)))
            }
        }
    }

    private func write(_ bytes: [UInt8], on channel: any Channel, completion: SIPSendCompletion?) {
        var buffer = channel.allocator.buffer(capacity: bytes.count)
        buffer.writeBytes(bytes)
        guard let completion else {
            channel.writeAndFlush(buffer, promise: nil)
            return
        }
        channel.writeAndFlush(buffer).whenComplete { result in
            completion(result.mapError { Self.transportError($0) })
        }
    }

    /// A connection to `target`: one being made already, or a new one.
    private func connect(to target: SIPTransportTarget) -> EventLoopFuture<any Channel> {
        let loop = group.any()
        // The promise is made only for a new connection: one left uncompleted is a leak (NIO
        // traps on it in debug builds).
        typealias Claim = (pending: EventLoopFuture<any Channel>?, made: EventLoopPromise<any Channel>?)
        let (pending, made) = state.withLockedValue { s -> Claim in
            if s.stopping { return (loop.makeFailedFuture(SIPTransportError(.notRunning)), nil) }
            if let f = s.connecting[target.address] { return (f, nil) }
            let promise = loop.makePromise(of: (any Channel).self)
            s.connecting[target.address] = promise.futureResult
            return (nil, promise)
        }
        if let pending { return pending }
        guard let promise = made else { return loop.makeFailedFuture(SIPTransportError(.notRunning)) }
        let pipeline = self.pipeline
        let bootstrap = ClientBootstrap(group: loop)
            .connectTimeout(settings.connectTimeout)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { [weak self] channel in
                guard let self else { return channel.eventLoop.makeFailedFuture(SIPTransportError(.notRunning)) }
                return channel.eventLoop.makeCompletedFuture {
                    try self.addCommonHandlers(channel, remote: target.address)
                    try pipeline.configureConnected(
                        channel, target: target,
                        deliver: { [weak self] ch, input in self?.input(input, on: ch) })
                }
            }
        bootstrap.connect(to: target.address)
            .flatMap { channel in
                // A connection whose handshake failed is of no use: close it.
                pipeline.whenReady(channel).map { channel }.flatMapErrorThrowing { error in
                    channel.close(promise: nil)
                    throw error
                }
            }
            .flatMapThrowing { channel -> any Channel in
                guard self.admit(channel, remote: target.address, inbound: false) else {
                    channel.close(promise: nil)
                    throw SIPTransportError(.connectionLimit)
                }
                self.observe(.connectionOpened(remote: target.address))
                return channel
            }
            .whenComplete { result in
                _ = self.state.withLockedValue { $0.connecting.removeValue(forKey: target.address) }
                promise.completeWith(result)
            }
        return promise.futureResult
    }

    static func transportError(_ error: any Error) -> SIPTransportError {
        if let e = error as? SIPTransportError { return e }
        if let e = error as? NIOConnectionError {
            let refused = e.connectionErrors.contains { ($0.error as? IOError)?.errnoCode == ECONNREFUSED }
            return SIPTransportError(refused ? .connectionRefused : .connectFailed, "\(e)")
        }
        if let e = error as? IOError, e.errnoCode == ECONNREFUSED {
            return SIPTransportError(.connectionRefused, "\(e)")
        }
        if let e = error as? ChannelError {
            // NIO's own connect timeout (ClientBootstrap.connectTimeout) is a failed connect.
            if case .connectTimeout = e { return SIPTransportError(.connectFailed, "\(e)") }
            return SIPTransportError(.connectionClosed, "\(error)")
        }
        // A handshake that failed (an untrusted certificate, a name mismatch) or a TLS alert.
        if error is NIOSSLError || error is BoringSSLError || error is NIOSSLExtraError {
            return SIPTransportError(.tlsFailure, "\(error)")
        }
        return SIPTransportError(.ioError, "\(error)")
    }

    // MARK: - Shutdown

    func shutdown() async {
        let (listener, channels) = state.withLockedValue { s -> ((any Channel)?, [any Channel]) in
            s.stopping = true
            defer { s.listener = nil }
            return (s.listener, s.connections.values.map(\.channel))
        }
        try? await listener?.close()
        for c in channels { try? await c.close() }
    }
}

/// Closes a connection when IdleStateHandler reports it idle.
private final class IdleCloser: ChannelInboundHandler {
    typealias InboundIn = NIOAny
    private let onIdle: () -> Void
    init(onIdle: @escaping () -> Void) { self.onIdle = onIdle }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let e = event as? IdleStateHandler.IdleStateEvent, e == .all {
            onIdle()
            context.close(promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }
}

/// Frames a byte stream into SIP messages (RFC 3261 §18.3) and answers keep-alive pings (RFC
/// 5626 §3.5.1: CRLFCRLF gets CRLF).
final class SIPFramingHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private var framer: SIPStreamFramer
    private let deliver: MessageSink

    init(limits: SIPLimits, deliver: @escaping MessageSink) {
        framer = SIPStreamFramer(limits: limits)
        self.deliver = deliver
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        framer.append(buffer.readableBytesView)
        do {
            while let frame = try framer.next() {
                switch frame {
                case .message(let bytes): deliver(context.channel, .message(bytes))
                case .ping:
                    var pong = context.channel.allocator.buffer(capacity: 2)
                    pong.writeBytes([13, 10])
                    context.writeAndFlush(wrapOutboundOut(pong), promise: nil)
                    deliver(context.channel, .keepAlive)
                case .pong: break
                }
            }
        } catch {
            deliver(context.channel, .broken("\(error)"))
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
