import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// SIP over UDP (RFC 3261 §18), IPv4 or IPv6, on one bound socket.
///
/// Reads use vector reads (`datagramVectorReadMessageCount`), with a receive buffer that holds
/// a datagram of 64 KiB, so that one read system call takes many messages under load. A datagram
/// is handed to the stack as is; one holding only CRLFs (an RFC 5626 §3.5.1 keep-alive sent over
/// UDP) is counted and discarded.
public final class UDPTransport: SIPTransport {
    /// How the socket is set up.
    public struct Configuration: Sendable {
        /// Datagrams read per system call (`recvmmsg`).
        public var vectorReadCount: Int = 32
        /// `SO_RCVBUF` in bytes: room for bursts while the loop is busy.
        public var receiveBufferSize: Int = 4 << 20
        /// `SO_SNDBUF` in bytes.
        public var sendBufferSize: Int = 4 << 20
        /// The host written in Via sent-by instead of the bound IP (RFC 3261 §18.1.1).
        public var advertisedHost: String?

        public init() {}
    }

    /// The largest datagram a UDP socket reads or sends: 65,535 − 8 (UDP) − 20 (IPv4).
    public static let maximumDatagramSize = 65_507

    public let kind: SIPTransportKind = .udp
    public let advertisedHost: String?

    private let host: String
    private let port: Int
    private let group: any EventLoopGroup
    private let configuration: Configuration
    private let state = NIOLockedValueBox<(channel: (any Channel)?, local: SocketAddress?)>((nil, nil))

    /// A UDP transport that binds `host`:`port` (port 0 picks a free one) on a loop of `group`.
    public init(host: String, port: Int, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
                configuration: Configuration = Configuration()) {
        self.host = host
        self.port = port
        self.group = group
        self.configuration = configuration
        self.advertisedHost = configuration.advertisedHost
    }

    public var localAddress: SocketAddress? { state.withLockedValue { $0.local } }

    public func start(delegate: any SIPTransportDelegate) async throws {
        let c = configuration
        let bootstrap = DatagramBootstrap(group: group)
            .channelOption(.socketOption(.so_reuseaddr), value: 1)
            .channelOption(.datagramVectorReadMessageCount, value: c.vectorReadCount)
            .channelOption(.recvAllocator, value: FixedSizeRecvByteBufferAllocator(capacity: 65_536))
            .channelOption(.socketOption(.so_rcvbuf), value: SocketOptionValue(c.receiveBufferSize))
            .channelOption(.socketOption(.so_sndbuf), value: SocketOptionValue(c.sendBufferSize))
            .channelInitializer { [weak self] channel in
                guard let self else { return channel.eventLoop.makeSucceededVoidFuture() }
                return channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(UDPReadHandler(transport: self, delegate: delegate))
                }
            }
        let channel = try await bootstrap.bind(host: host, port: port).get()
        state.withLockedValue { $0 = (channel, channel.localAddress) }
    }

    public func send(_ bytes: [UInt8], to target: SIPTransportTarget, completion: SIPSendCompletion?) {
        guard let channel = state.withLockedValue({ $0.channel }) else {
            completion?(.failure(SIPTransportError(.notRunning)))
            return
        }
        guard bytes.count <= Self.maximumDatagramSize else {
            completion?(.failure(SIPTransportError(.messageTooLarge, "\(bytes.count) bytes")))
            return
        }
        var buffer = channel.allocator.buffer(capacity: bytes.count)
        buffer.writeBytes(bytes)
        let envelope = AddressedEnvelope(remoteAddress: target.address, data: buffer)
        guard let completion else {
            channel.writeAndFlush(envelope, promise: nil)
            return
        }
        channel.writeAndFlush(envelope).whenComplete { result in
            completion(result.mapError { SIPTransportError(.ioError, "\($0)") })
        }
    }

    public func shutdown() async {
        let channel = state.withLockedValue { s -> (any Channel)? in
            defer { s.channel = nil }
            return s.channel
        }
        try? await channel?.close()
    }
}

/// Hands each datagram to the delegate, on the loop that read it.
private final class UDPReadHandler: ChannelInboundHandler {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>

    private unowned let transport: UDPTransport
    private let delegate: any SIPTransportDelegate
    private var local: SocketAddress?

    init(transport: UDPTransport, delegate: any SIPTransportDelegate) {
        self.transport = transport
        self.delegate = delegate
    }

    func channelActive(context: ChannelHandlerContext) {
        local = context.channel.localAddress
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let envelope = unwrapInboundIn(data)
        let view = envelope.data.readableBytesView
        // RFC 5626 §3.5.1: CRLF keep-alives belong to streams; over UDP the STUN keep-alive is
        // used. A datagram of blank lines carries no message: count it and go on.
        if view.allSatisfy({ $0 == 13 || $0 == 10 }) {
            delegate.transport(transport, observed: .keepAlive(remote: envelope.remoteAddress))
            return
        }
        let message = SIPReceivedMessage(bytes: Array(view), source: envelope.remoteAddress, local: local)
        delegate.transport(transport, received: message)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // A UDP socket reports ICMP errors and the like here; it stays usable.
        delegate.transport(transport, observed: .error("\(error)"))
    }
}
