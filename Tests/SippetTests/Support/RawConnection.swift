import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL

/// A bare TCP (or TLS) connection for tests that speak a protocol by hand: it records what it
/// reads and whether the peer closed, and lets a test wait for either.
final class RawConnection: Sendable {
    let channel: any Channel
    private let state: NIOLockedValueBox<RawReader.State>

    fileprivate init(channel: any Channel, state: NIOLockedValueBox<RawReader.State>) {
        self.channel = channel
        self.state = state
    }

    /// Connects to `address`, over TLS when `tls` is given.
    static func connect(to address: SocketAddress, tls: TLSConfiguration? = nil) async throws -> RawConnection {
        let state = NIOLockedValueBox(RawReader.State())
        let context = try tls.map { try NIOSSLContext(configuration: $0) }
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let context {
                        try channel.pipeline.syncOperations.addHandler(
                            NIOSSLClientHandler(
                                context: context,
                                serverHostname: nil))
                    }
                    try channel.pipeline.syncOperations.addHandler(RawReader(state: state))
                }
            }
            .connect(to: address).get()
        return RawConnection(channel: channel, state: state)
    }

    /// All bytes read so far.
    var received: [UInt8] { state.withLockedValue { $0.bytes } }
    /// Whether the peer closed the connection (or it failed).
    var isClosed: Bool { state.withLockedValue { $0.closed } }

    func send(_ bytes: [UInt8]) async throws {
        try await channel.writeAndFlush(ByteBuffer(bytes: bytes))
    }

    func send(_ text: String) async throws { try await send(Array(text.utf8)) }

    /// Waits until what was read satisfies `condition`, for at most `timeout`; returns what was read.
    @discardableResult
    func waitFor(timeout: Duration = .seconds(5), _ condition: ([UInt8]) -> Bool) async -> [UInt8] {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let bytes = received
            if condition(bytes) { return bytes }
            try? await Task.sleep(for: .milliseconds(5))
        }
        return received
    }

    /// Waits until the text read contains `text`.
    @discardableResult
    func waitFor(text: String, timeout: Duration = .seconds(5)) async -> String {
        let bytes = await waitFor(timeout: timeout) { String(decoding: $0, as: UTF8.self).contains(text) }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Waits until the peer closes; returns whether it did within `timeout`.
    func waitForClose(timeout: Duration = .seconds(5)) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if isClosed { return true }
            try? await Task.sleep(for: .milliseconds(5))
        }
        return isClosed
    }

    /// Forgets what was read so far.
    func clear() { state.withLockedValue { $0.bytes.removeAll() } }

    func close() async { try? await channel.close() }
}

/// A listening socket that records each connection it accepts as a ``RawConnection``.
final class RawServer: Sendable {
    private let listener: any Channel
    private let accepted: NIOLockedValueBox<[RawConnection]>

    private init(listener: any Channel, accepted: NIOLockedValueBox<[RawConnection]>) {
        self.listener = listener
        self.accepted = accepted
    }

    static func listen(host: String) async throws -> RawServer {
        let accepted = NIOLockedValueBox([RawConnection]())
        let listener = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let state = NIOLockedValueBox(RawReader.State())
                    try channel.pipeline.syncOperations.addHandler(RawReader(state: state))
                    let connection = RawConnection(channel: channel, state: state)
                    accepted.withLockedValue { $0.append(connection) }
                }
            }
            .bind(host: host, port: 0).get()
        return RawServer(listener: listener, accepted: accepted)
    }

    var localAddress: SocketAddress? { listener.localAddress }

    /// The first connection accepted, waiting for it for at most `timeout`.
    func firstConnection(timeout: Duration = .seconds(5)) async -> RawConnection? {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let c = accepted.withLockedValue({ $0.first }) { return c }
            try? await Task.sleep(for: .milliseconds(5))
        }
        return nil
    }

    func close() async {
        try? await listener.close()
        for c in accepted.withLockedValue({ $0 }) { await c.close() }
    }
}

private final class RawReader: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    struct State {
        var bytes: [UInt8] = []
        var closed = false
    }

    private let state: NIOLockedValueBox<State>

    init(state: NIOLockedValueBox<State>) { self.state = state }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        state.withLockedValue { $0.bytes.append(contentsOf: buffer.readableBytesView) }
    }

    func channelInactive(context: ChannelHandlerContext) {
        state.withLockedValue { $0.closed = true }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}

/// WebSocket frames written by hand (RFC 6455 §5.2), as a client sends them: masked, here with
/// the all-zero key, which leaves the payload as it is.
enum RawWebSocket {
    static let text: UInt8 = 0x1, binary: UInt8 = 0x2, continuation: UInt8 = 0x0
    static let close: UInt8 = 0x8, ping: UInt8 = 0x9, pong: UInt8 = 0xA

    /// The sample key of RFC 6455 §1.3 and the accept value it gets.
    static let sampleKey = "dGhlIHNhbXBsZSBub25jZQ=="
    static let sampleAccept = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

    /// A handshake request for `host`, offering `subprotocol` when given.
    static func handshake(host: String, subprotocol: String? = "sip") -> String {
        var text =
            "GET / HTTP/1.1\r\nHost: \(host)\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            + "Sec-WebSocket-Key: \(sampleKey)\r\nSec-WebSocket-Version: 13\r\n"
        if let subprotocol { text += "Sec-WebSocket-Protocol: \(subprotocol)\r\n" }
        return text + "\r\n"
    }

    /// A frame; `length` overrides the payload length written in the header.
    static func frame(
        _ opcode: UInt8, fin: Bool = true, _ payload: [UInt8], masked: Bool = true,
        length: Int? = nil
    ) -> [UInt8] {
        let count = length ?? payload.count
        var out: [UInt8] = [(fin ? 0x80 : 0) | opcode]
        let mask: UInt8 = masked ? 0x80 : 0
        if count < 126 {
            out.append(mask | UInt8(count))
        } else if count <= 0xFFFF {
            out += [mask | 126, UInt8(count >> 8), UInt8(count & 0xFF)]
        } else {
            out.append(mask | 127)
            out += (0..<8).reversed().map { UInt8((count >> ($0 * 8)) & 0xFF) }
        }
        if masked { out += [0, 0, 0, 0] }
        return out + payload
    }

    static func frame(_ opcode: UInt8, fin: Bool = true, _ text: String) -> [UInt8] {
        frame(opcode, fin: fin, Array(text.utf8))
    }

    /// The end of the HTTP response head in `bytes`, if it has arrived.
    static func headEnd(_ bytes: [UInt8]) -> Int? {
        guard bytes.count >= 4 else { return nil }
        for i in 0...(bytes.count - 4)
        where bytes[i] == 13 && bytes[i + 1] == 10 && bytes[i + 2] == 13
            && bytes[i + 3] == 10
        {
            return i + 4
        }
        return nil
    }
}
