import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// SIP over UDP (RFC 3261 §18), IPv4 or IPv6, on one bound socket, or one per event loop.
///
/// Reads use vector reads (`datagramVectorReadMessageCount`): one `recvmmsg` takes up to
/// ``Configuration/vectorReadCount`` datagrams, each into a slot of 64 KiB, so that the largest
/// datagram UDP carries (65,507 bytes over IPv4) arrives whole however many come in one read. A datagram
/// is handed to the stack as is; one holding only CRLFs (an RFC 5626 §3.5.1 keep-alive sent over
/// UDP) is counted and discarded. A send made on the socket's own loop is flushed with the others
/// of the same turn of the loop (one `sendmmsg` for the answers to a burst of reads).
public final class UDPTransport: SIPTransport {
    /// How the socket is set up.
    public struct Configuration: Sendable {
        /// Datagrams read per system call (`recvmmsg`).
        public var vectorReadCount: Int = 32
        /// `SO_RCVBUF` in bytes: room for bursts while the loop is busy.
        public var receiveBufferSize: Int = 4 << 20
        /// `SO_SNDBUF` in bytes.
        public var sendBufferSize: Int = 4 << 20
        /// Binds one socket per event loop of the group, all on the same address with
        /// `SO_REUSEPORT`, so that every loop reads, and a send goes out on the socket of the
        /// loop it is made on instead of hopping to another loop. On Linux a classic BPF program
        /// on the group (`SO_ATTACH_REUSEPORT_CBPF`) deals each datagram to a socket at random,
        /// so that the loops share the work even when it all comes from one peer (a proxy, say);
        /// where the kernel refuses the program, it spreads the datagrams by source address.
        /// Before binding, the address is bound once without `SO_REUSEPORT`, so that an address
        /// another socket holds is still an error. (Linux only lets sockets of the same user join
        /// the group.) Off: one socket on one loop.
        public var socketPerLoop: Bool = false
        /// The host written in Via sent-by instead of the bound IP (RFC 3261 §18.1.1).
        public var advertisedHost: String?

        /// The defaults: 32 datagrams per read, 4 MiB receive and send buffers, one socket, no advertised host.
        public init() {}
    }

    /// The largest datagram a UDP socket reads or sends: 65,535 − 8 (UDP) − 20 (IPv4).
    public static let maximumDatagramSize = 65_507

    /// ``SIPTransportKind/udp``.
    public let kind: SIPTransportKind = .udp
    /// The host written in Via sent-by instead of the bound IP: ``Configuration/advertisedHost``.
    public let advertisedHost: String?

    private let host: String
    private let port: Int
    private let group: any EventLoopGroup
    /// How the socket is set up.
    public let configuration: Configuration
    private let state = NIOLockedValueBox<(channels: [Socket], local: SocketAddress?)>(([], nil))

    /// A bound socket, and whether a flush is already queued on its loop.
    private struct Socket {
        var channel: any Channel
        var flush: PendingFlush
    }

    /// Datagrams written on a socket's own loop are flushed together once the loop has run what
    /// it is running (one `sendmmsg` for the responses to a burst of reads), not one by one.
    // @unchecked: `queued` is read and written on the socket's loop only.
    private final class PendingFlush: @unchecked Sendable {
        var queued = false
    }

    /// A UDP transport that binds `host`:`port` (port 0 picks a free one) on a loop of `group`.
    public init(
        host: String, port: Int, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        configuration: Configuration = Configuration()
    ) {
        self.host = host
        self.port = port
        self.group = group
        self.configuration = configuration
        self.advertisedHost = configuration.advertisedHost
    }

    /// The bound address once started (with the port picked when 0 was asked); nil before.
    public var localAddress: SocketAddress? { state.withLockedValue { $0.local } }

    /// Room for one datagram in a vector read: the largest UDP payload (65,507 bytes over IPv4,
    /// 65,527 over IPv6) fits.
    static let slotSize = 65_536

    /// Binds the socket (one per event loop with ``Configuration/socketPerLoop``) and hands `delegate` each
    /// datagram read, on the loop that read it; a datagram of CRLFs only is reported as a `keepAlive` event
    /// instead. Throws when the address cannot be bound.
    public func start(delegate: any SIPTransportDelegate) async throws {
        let c = configuration
        func bootstrap(_ group: any EventLoopGroup, reusePort: Bool) -> DatagramBootstrap {
            // No SO_REUSEADDR: for UDP it lets a second socket bind an address another socket
            // holds, and lets the kernel hand out such an address for port 0. Two transports
            // then share a port and one of them silently stops receiving. (UDP has no
            // TIME_WAIT, so a restarted server needs it for nothing.)
            DatagramBootstrap(group: group)
                .channelOption(.socketOption(NIOBSDSocket.Option(rawValue: SO_REUSEPORT)), value: reusePort ? 1 : 0)
                .channelOption(.datagramVectorReadMessageCount, value: c.vectorReadCount)
                // The read manager cuts the buffer into one slot per datagram of the vector:
                // 64 KiB each, or a datagram longer than its slot would arrive cut short.
                .channelOption(
                    .recvAllocator,
                    value: FixedSizeRecvByteBufferAllocator(capacity: Self.slotSize * max(1, c.vectorReadCount))
                )
                // One vector read per readiness event: epoll reports the socket again while
                // datagrams remain, and a second read would only find it empty at light load.
                .channelOption(.maxMessagesPerRead, value: 1)
                .channelOption(.socketOption(.so_rcvbuf), value: SocketOptionValue(c.receiveBufferSize))
                .channelOption(.socketOption(.so_sndbuf), value: SocketOptionValue(c.sendBufferSize))
                // `self` held, not weakly: the initializer lives only until the bind, and a weak
                // reference would give the transport a side table, making every retain of it
                // (one per request, in the transaction's route) take the runtime's slow path.
                .channelInitializer { [self] channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(
                            UDPReadHandler(transport: self, delegate: delegate))
                    }
                }
        }
        var loops: [any EventLoop] = []
        if c.socketPerLoop {
            var iterator = group.makeIterator()
            while let loop = iterator.next() { loops.append(loop) }
        }
        guard loops.count > 1 else {
            let channel = try await bootstrap(group, reusePort: false).bind(host: host, port: port).get()
            state.withLockedValue { $0 = ([Socket(channel: channel, flush: PendingFlush())], channel.localAddress) }
            return
        }
        // A port another socket holds must fail here, as it does without SO_REUSEPORT. For port 0
        // the probe picks a free port, which is free again between its close and the group's
        // bind: another socket may take it in that window, and the group's bind then fails with
        // EADDRINUSE. A new probe then picks another port (8 tries); a port given explicitly is
        // never retried.
        var channels: [any Channel] = []
        for attempt in 1...8 {
            let probe = try await DatagramBootstrap(group: loops[0]).bind(host: host, port: port).get()
            let bound = probe.localAddress?.port ?? port
            try await probe.close()
            do {
                for loop in loops {
                    channels.append(try await bootstrap(loop, reusePort: true).bind(host: host, port: bound).get())
                }
                break
            } catch let error as IOError where error.errnoCode == EADDRINUSE && port == 0 && attempt < 8 {
                for channel in channels { try? await channel.close() }
                channels = []
            } catch {
                for channel in channels { try? await channel.close() }
                throw error
            }
        }
        await ReusePortSteering.spreadAtRandom(channels)
        let all = channels.map { Socket(channel: $0, flush: PendingFlush()) }
        state.withLockedValue { $0 = (all, channels[0].localAddress) }
    }

    /// Sends `bytes` in one datagram to `target`'s address. It fails with `messageTooLarge` above
    /// ``maximumDatagramSize`` bytes, and with `notRunning` before ``start(delegate:)`` or after ``shutdown()``.
    public func send(_ bytes: [UInt8], to target: SIPTransportTarget, completion: SIPSendCompletion?) {
        guard
            let socket = state.withLockedValue({ s -> Socket? in
                s.channels.count == 1
                    ? s.channels[0] : s.channels.first { $0.channel.eventLoop.inEventLoop } ?? s.channels.first
            })
        else {
            completion?(.failure(SIPTransportError(.notRunning)))
            return
        }
        guard bytes.count <= Self.maximumDatagramSize else {
            completion?(.failure(SIPTransportError(.messageTooLarge, "\(bytes.count) bytes")))
            return
        }
        let channel = socket.channel
        var buffer = channel.allocator.buffer(capacity: bytes.count)
        buffer.writeBytes(bytes)
        let envelope = AddressedEnvelope(remoteAddress: target.address, data: buffer)
        let promise = completion.map { completion in
            let p = channel.eventLoop.makePromise(of: Void.self)
            p.futureResult.whenComplete { result in completion(result.mapError { SIPTransportError(.ioError, "\($0)") })
            }
            return p
        }
        guard channel.eventLoop.inEventLoop else {
            channel.writeAndFlush(envelope, promise: promise)
            return
        }
        channel.write(envelope, promise: promise)
        let flush = socket.flush
        if !flush.queued {
            flush.queued = true
            channel.eventLoop.execute {
                flush.queued = false
                channel.flush()
            }
        }
    }

    /// Closes the socket, or every socket; later sends fail with `notRunning`.
    public func shutdown() async {
        let channels = state.withLockedValue { s -> [any Channel] in
            defer { s.channels = [] }
            return s.channels.map(\.channel)
        }
        for channel in channels { try? await channel.close() }
    }
}

/// Hands each datagram to the delegate, on the loop that read it.
private final class UDPReadHandler: ChannelInboundHandler {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>

    private unowned let transport: UDPTransport
    private let delegate: any SIPTransportDelegate
    private var local: SocketAddress?
    /// The source of the last datagram. A datagram from the same source gets this value rather
    /// than its own copy: NIO makes a new boxed address for every datagram, and each server
    /// transaction keeps its source as its response route for 32 s (Timer J, L). Traffic from one
    /// peer (a trunk, a proxy upstream, a load generator) then keeps one box for all of them.
    private var lastSource: SocketAddress?

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
        var source = envelope.remoteAddress
        if let last = lastSource, last == source { source = last } else { lastSource = source }
        let message = SIPReceivedMessage(bytes: Array(view), source: source, local: local)
        delegate.transport(transport, received: message)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // A UDP socket reports ICMP errors and the like here; it stays usable.
        delegate.transport(transport, observed: .error("\(error)"))
    }
}

/// The classic BPF program a reuseport group may run to pick the socket of each datagram
/// (Linux `SO_ATTACH_REUSEPORT_CBPF`, since 4.5): here a random number modulo the number of
/// sockets, so that datagrams from a single source are shared out too.
enum ReusePortSteering {
    /// `struct sock_filter` (linux/filter.h).
    struct Instruction {
        var code: UInt16
        var jt: UInt8 = 0
        var jf: UInt8 = 0
        var k: UInt32
    }

    /// `struct sock_fprog`: the length and the address of the instructions.
    struct Program: @unchecked Sendable {
        var length: UInt16
        var instructions: UnsafeMutablePointer<Instruction>
    }

    static let ldAbsWord: UInt16 = 0x20  // BPF_LD | BPF_W | BPF_ABS
    static let modConstant: UInt16 = 0x94  // BPF_ALU | BPF_MOD | BPF_K
    static let returnA: UInt16 = 0x16  // BPF_RET | BPF_A
    /// SKF_AD_OFF + SKF_AD_RANDOM: the ancillary load of a random 32-bit number.
    static let randomNumber = UInt32(bitPattern: -0x1000 + 56)

    /// `A = random; A %= sockets; return A`.
    static func instructions(sockets: Int) -> [Instruction] {
        [
            Instruction(code: ldAbsWord, k: randomNumber),
            Instruction(code: modConstant, k: UInt32(sockets)),
            Instruction(code: returnA, k: 0),
        ]
    }

    /// Attaches the program to the group of `channels` (all bound to one address with
    /// `SO_REUSEPORT`). A kernel that refuses it keeps its own choice by source address.
    static func spreadAtRandom(_ channels: [any Channel]) async {
        #if os(Linux)
            guard channels.count > 1, let provider = channels[0] as? any SocketOptionProvider else { return }
            let code = instructions(sockets: channels.count)
            let buffer = UnsafeMutablePointer<Instruction>.allocate(capacity: code.count)
            buffer.initialize(from: code, count: code.count)
            defer { buffer.deallocate() }
            let program = Program(length: UInt16(code.count), instructions: buffer)
            try? await provider.unsafeSetSocketOption(
                level: NIOBSDSocket.OptionLevel(rawValue: SOL_SOCKET),
                name: NIOBSDSocket.Option(rawValue: SO_ATTACH_REUSEPORT_CBPF),
                value: program
            ).get()
        #endif
    }
}
