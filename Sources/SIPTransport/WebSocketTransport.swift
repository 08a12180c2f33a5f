import NIOCore
import NIOHTTP1
import NIOPosix
import NIOWebSocket
import SIPSyntax

/// SIP over WebSocket (RFC 7118), or over secure WebSocket when given a ``SIPTLSConfiguration``.
///
/// A connection starts as HTTP/1.1 and is upgraded to WebSocket with the `sip` subprotocol (RFC
/// 7118 §4): the server accepts only a handshake that offers `sip` and answers with it; a client
/// offers it and gives up on a server that does not agree. Then each SIP message is one WebSocket
/// message, in a text or a binary frame, or fragmented over several (§5.1), with or without a
/// Content-Length; what this side sends goes in one text frame.
///
/// Connections are kept, reused, limited and closed when idle as for TCP (see
/// ``SIPStreamSettings``); a message or frame above the message size limit, or a peer that breaks
/// the WebSocket protocol, gets a Close frame and is disconnected, the event counted.
public final class WebSocketTransport: SIPTransport {
    /// ``SIPTransportKind/ws``, or ``SIPTransportKind/wss`` when the transport was made with a TLS configuration.
    public let kind: SIPTransportKind
    /// The host written in Via sent-by instead of the bound IP: ``SIPStreamSettings/advertisedHost``.
    public var advertisedHost: String? { engine.settings.advertisedHost }
    /// The request path of the handshakes this transport makes ("/" unless given). The server side
    /// accepts a handshake on any path.
    public let path: String
    private let engine: StreamEngine

    /// A WebSocket transport listening on `host`:`port` (port 0 picks a free one), secure WebSocket
    /// when `tls` is set; connections it makes ask for `path`.
    public init(
        host: String, port: Int, tls: SIPTLSConfiguration? = nil,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        settings: SIPStreamSettings = SIPStreamSettings(), path: String = "/"
    ) throws {
        let contexts = try tls.map(TLSContexts.init)
        kind = tls == nil ? .ws : .wss
        self.path = path.hasPrefix("/") ? path : "/" + path
        engine = StreamEngine(
            kind: kind, host: host, port: port, group: group, settings: settings,
            pipeline: WebSocketPipeline(
                kind: kind, tls: contexts, limits: settings.limits,
                handshakeTimeout: settings.connectTimeout, path: self.path))
    }

    /// The listening address once started (with the port picked when 0 was asked); nil before.
    public var localAddress: SocketAddress? { engine.localAddress }
    /// The number of open connections (upgraded, or being upgraded).
    public var connectionCount: Int { engine.connectionCount }

    /// Listens on the address given at init, upgrades the connections whose handshake offers `sip` (RFC 7118
    /// §4.2), and hands `delegate` each SIP message received on a connection, accepted or made.
    public func start(delegate: any SIPTransportDelegate) async throws {
        try await engine.start(owner: self, delegate: delegate)
    }

    /// Sends `bytes` in one text frame on `target`'s connection while it is open (RFC 3261 §18.2.2), else on an
    /// open connection to its address, else on a new one once its handshakes (TLS for WSS, then WebSocket) are
    /// done. A failure goes to `completion`.
    public func send(_ bytes: [UInt8], to target: SIPTransportTarget, completion: SIPSendCompletion?) {
        engine.send(bytes, to: target, completion: completion)
    }

    /// RFC 5923: requests to `address` may go out on `connection`, which the peer offered.
    public func addAlias(_ address: SocketAddress, for connection: SIPConnectionHandle) {
        engine.addAlias(address, for: connection)
    }

    /// Stops listening and closes every connection; a send that needs a new connection then fails.
    public func shutdown() async { await engine.shutdown() }
}

/// The WebSocket subprotocol of RFC 7118 §4.
enum SIPSubprotocol {
    static let name = "sip"
    static let header = "Sec-WebSocket-Protocol"

    /// RFC 7118 §4.1: whether a client's handshake lists `sip` among the subprotocols it offers.
    static func isOffered(in headers: HTTPHeaders) -> Bool {
        headers[canonicalForm: header].contains { $0 == name }
    }

    /// RFC 7118 §4.2: whether a server's answer chose `sip`, and only it.
    static func isChosen(in headers: HTTPHeaders) -> Bool {
        headers[canonicalForm: header] == [Substring(name)]
    }
}

/// How a WebSocket connection is set up: TLS first for WSS, then HTTP/1.1 with an upgrade to
/// WebSocket, then the SIP message handler in place of the HTTP handlers.
private struct WebSocketPipeline: StreamPipeline {
    let kind: SIPTransportKind
    let tls: TLSContexts?
    let limits: SIPLimits
    let handshakeTimeout: TimeAmount
    let path: String
    let readiness = ConnectionReadiness()

    /// No frame may be larger than a whole message (the decoder checks the length in a frame's
    /// header, before reading its payload).
    private var maxFrameSize: Int { min(max(limits.maxMessageSize, 125), Int(UInt32.max)) }

    func configureAccepted(_ channel: any Channel, deliver: @escaping MessageSink) throws {
        if let tls { try tls.addServerHandler(to: channel) }
        let sink = NIOLoopBound(deliver, eventLoop: channel.eventLoop)
        let maxMessageSize = limits.maxMessageSize
        let upgrader = NIOWebSocketServerUpgrader(
            maxFrameSize: maxFrameSize, automaticErrorHandling: false,
            shouldUpgrade: { channel, request in
                // RFC 7118 §4.2: answer with `sip`, or refuse a handshake that does not offer it.
                let accepted = SIPSubprotocol.isOffered(in: request.headers)
                return channel.eventLoop.makeSucceededFuture(
                    accepted ? HTTPHeaders([(SIPSubprotocol.header, SIPSubprotocol.name)]) : nil)
            },
            upgradePipelineHandler: { channel, _ in
                channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    let gate = try sync.handler(type: WebSocketServerGate.self)
                    sync.removeHandler(gate, promise: nil)
                    try sync.addHandler(
                        SIPWebSocketHandler(
                            role: .server, maxMessageSize: maxMessageSize,
                            deliver: sink.value))
                }
            })
        let sync = channel.pipeline.syncOperations
        try sync.configureHTTPServerPipeline(
            withPipeliningAssistance: false,
            withServerUpgrade: (upgraders: [upgrader], completionHandler: { _ in }),
            withErrorHandling: true)
        try sync.addHandler(WebSocketServerGate(deliver: deliver))
    }

    func configureConnected(_ channel: any Channel, target: SIPTransportTarget, deliver: @escaping MessageSink) throws {
        if let tls { try tls.addClientHandler(to: channel, target: target) }
        let ready = readiness.register(channel, timeout: handshakeTimeout)
        let sink = NIOLoopBound(deliver, eventLoop: channel.eventLoop)
        let maxMessageSize = limits.maxMessageSize
        let upgrader = SIPWebSocketClientUpgrader(maxFrameSize: maxFrameSize) { channel, _ in
            channel.eventLoop.makeCompletedFuture {
                let sync = channel.pipeline.syncOperations
                let gate = try sync.handler(type: WebSocketClientGate.self)
                sync.removeHandler(gate, promise: nil)
                try sync.addHandler(
                    SIPWebSocketHandler(
                        role: .client, maxMessageSize: maxMessageSize,
                        deliver: sink.value))
                ready.succeed()
            }.flatMapErrorThrowing { error in
                ready.fail(error)
                channel.close(promise: nil)
                throw error
            }
        }
        let request = HTTPRequestHead(
            version: .http1_1, method: .GET, uri: path,
            headers: HTTPHeaders([("Host", Self.hostHeader(target, kind: kind))]))
        let sync = channel.pipeline.syncOperations
        // Bytes after the 101 response (a first frame in the same read) go on to the frame decoder.
        try sync.addHTTPClientHandlers(
            leftOverBytesStrategy: .forwardBytes,
            withClientUpgrade: (upgraders: [upgrader], completionHandler: { _ in }))
        try sync.addHandler(WebSocketClientGate(request: request, ready: ready))
    }

    func whenReady(_ channel: any Channel) -> EventLoopFuture<Void> { readiness.future(for: channel) }

    /// The Host header of a handshake (RFC 7230 §5.4): the target's host name, or its address;
    /// with the port unless it is the default one.
    static func hostHeader(_ target: SIPTransportTarget, kind: SIPTransportKind) -> String {
        var host = target.hostName ?? target.address.sipHost ?? "localhost"
        if host.contains(":"), !host.hasPrefix("[") { host = "[" + host + "]" }
        guard let port = target.address.port, port != kind.defaultPort else { return host }
        return host + ":" + String(port)
    }
}

/// NIO's WebSocket client upgrader, offering the `sip` subprotocol and accepting only a server that
/// chose it (RFC 7118 §4.1, §4.2).
private final class SIPWebSocketClientUpgrader: NIOHTTPClientProtocolUpgrader, Sendable {
    private let upgrader: NIOWebSocketClientUpgrader

    init(
        maxFrameSize: Int,
        upgradePipelineHandler: @escaping @Sendable (any Channel, HTTPResponseHead) -> EventLoopFuture<Void>
    ) {
        upgrader = NIOWebSocketClientUpgrader(
            maxFrameSize: maxFrameSize, automaticErrorHandling: false,
            upgradePipelineHandler: upgradePipelineHandler)
    }

    var supportedProtocol: String { upgrader.supportedProtocol }
    var requiredUpgradeHeaders: [String] { upgrader.requiredUpgradeHeaders }

    func addCustom(upgradeRequestHeaders: inout HTTPHeaders) {
        upgrader.addCustom(upgradeRequestHeaders: &upgradeRequestHeaders)
        upgradeRequestHeaders.add(name: SIPSubprotocol.header, value: SIPSubprotocol.name)
    }

    func shouldAllowUpgrade(upgradeResponse: HTTPResponseHead) -> Bool {
        upgrader.shouldAllowUpgrade(upgradeResponse: upgradeResponse)
            && SIPSubprotocol.isChosen(in: upgradeResponse.headers)
    }

    func upgrade(context: ChannelHandlerContext, upgradeResponse: HTTPResponseHead) -> EventLoopFuture<Void> {
        upgrader.upgrade(context: context, upgradeResponse: upgradeResponse)
    }
}

/// The end of a client connection's pipeline until the upgrade: it sends the handshake request
/// when the connection opens, and fails the connection's readiness when the server answers with
/// anything but an upgrade to `sip`. The upgrade replaces it with a ``SIPWebSocketHandler``.
private final class WebSocketClientGate: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = HTTPClientRequestPart

    private let request: HTTPRequestHead
    private let ready: EventLoopPromise<Void>
    private var sent = false

    init(request: HTTPRequestHead, ready: EventLoopPromise<Void>) {
        self.request = request
        self.ready = ready
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { sendRequest(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        sendRequest(context)
        context.fireChannelActive()
    }

    private func sendRequest(_ context: ChannelHandlerContext) {
        guard !sent else { return }
        sent = true
        context.write(wrapOutboundOut(.head(request)), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
    }

    /// The upgrade handler passes on a response that is not an upgrade it accepted.
    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .head(let response) = unwrapInboundIn(data) else { return }
        fail(
            context,
            SIPTransportError(
                .connectFailed,
                "WebSocket handshake refused: \(response.status.code) "
                    + response.status.reasonPhrase))
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if error as? NIOHTTPClientUpgradeError == .upgraderDeniedUpgrade {
            fail(context, SIPTransportError(.connectFailed, "the server did not choose the sip WebSocket subprotocol"))
        } else if error is NIOHTTPClientUpgradeError {
            fail(context, SIPTransportError(.connectFailed, "the server did not upgrade to WebSocket"))
        } else {
            fail(context, error)
        }
    }

    /// Nothing is written before the upgrade (the engine waits for it); refuse rather than corrupt
    /// the handshake.
    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        promise?.fail(SIPTransportError(.connectionClosed, "WebSocket handshake not complete"))
    }

    private func fail(_ context: ChannelHandlerContext, _ error: any Error) {
        ready.fail(error)
        context.close(promise: nil)
    }
}

/// The end of an accepted connection's pipeline until the upgrade. The upgrade handler hands it
/// a request it did not upgrade: a plain HTTP request (426), or a WebSocket handshake that does
/// not offer `sip` (400). It answers, then has the connection dropped. The upgrade replaces it
/// with a ``SIPWebSocketHandler``.
private final class WebSocketServerGate: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = HTTPServerResponsePart

    private let deliver: MessageSink
    private var answered = false

    init(deliver: @escaping MessageSink) { self.deliver = deliver }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .head(let request) = unwrapInboundIn(data), !answered else { return }
        answered = true
        let isUpgrade = !request.headers[canonicalForm: "upgrade"].isEmpty
        var headers = HTTPHeaders([("Connection", "close"), ("Content-Length", "0")])
        let status: HTTPResponseStatus
        let reason: String
        if isUpgrade {
            status = .badRequest
            reason = "WebSocket handshake without the sip subprotocol"
        } else {
            status = .upgradeRequired
            reason = "HTTP request without a WebSocket upgrade"
            headers.add(name: "Upgrade", value: "websocket")
            headers.add(name: SIPSubprotocol.header, value: SIPSubprotocol.name)
        }
        context.write(
            wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))),
            promise: nil)
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { _ in
            self.deliver(channel, .broken(reason))
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // The upgrade handler reports a refused handshake, then passes the request on: answered
        // above. A malformed request got its 400 from NIO's HTTP error handler; anything else
        // (I/O, TLS) leaves nothing to answer.
        if error is NIOWebSocketUpgradeError { return }
        if error is HTTPParserError {
            deliver(context.channel, .broken("malformed HTTP request: \(error)"))
            return
        }
        context.close(promise: nil)
    }

    /// A send by address may find this connection before its upgrade: refuse it.
    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        promise?.fail(SIPTransportError(.connectionClosed, "WebSocket handshake not complete"))
    }
}

/// SIP messages as WebSocket messages (RFC 7118 §5.1, RFC 6455 §5), after the upgrade: the last
/// handler of the pipeline.
///
/// Reads text or binary messages, whole or in fragments, up to the message size limit; writes each
/// `ByteBuffer` as one text frame, masked by a client. Answers Ping with Pong and Close with Close;
/// a message of CRLFCRLF is an RFC 5626 keep-alive and gets CRLF. A peer that breaks the protocol
/// or the limit gets a Close frame with the matching status code and is dropped.
final class SIPWebSocketHandler: ChannelDuplexHandler {
    typealias InboundIn = WebSocketFrame
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = WebSocketFrame

    enum Role { case client, server }

    private let role: Role
    private let maxMessageSize: Int
    private let deliver: MessageSink
    /// The fragments of a message read so far (RFC 6455 §5.4).
    private var partial: ByteBuffer?
    private var closeSent = false
    private var failed = false

    init(role: Role, maxMessageSize: Int, deliver: @escaping MessageSink) {
        self.role = role
        self.maxMessageSize = maxMessageSize
        self.deliver = deliver
    }

    /// RFC 6455 §5.3: a client masks every frame it sends, with a fresh random key; a server never.
    private var maskKey: WebSocketMaskingKey? { role == .client ? .random() : nil }

    // MARK: Reading

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !failed else { return }
        let frame = unwrapInboundIn(data)
        // RFC 6455 §5.1: a server closes on an unmasked frame, a client on a masked one.
        guard (frame.maskKey != nil) == (role == .server) else {
            return fail(
                context, .protocolError,
                role == .server
                    ? "unmasked WebSocket frame from a client"
                    : "masked WebSocket frame from a server")
        }
        // §5.2: no extension was negotiated, so no reserved bit may be set.
        guard !frame.rsv1, !frame.rsv2, !frame.rsv3 else {
            return fail(context, .protocolError, "WebSocket frame with a reserved bit set")
        }
        switch frame.opcode {
        case .text, .binary:
            guard partial == nil else {
                return fail(context, .protocolError, "WebSocket message started inside a fragmented one")
            }
            if frame.fin { received(context, frame.unmaskedData) } else { partial = frame.unmaskedData }
        case .continuation:
            guard var message = partial else {
                return fail(context, .protocolError, "WebSocket continuation frame outside a message")
            }
            partial = nil
            var fragment = frame.unmaskedData
            guard message.readableBytes + fragment.readableBytes <= maxMessageSize else {
                return fail(context, .messageTooLarge, "WebSocket message above \(maxMessageSize) bytes")
            }
            message.writeBuffer(&fragment)
            if frame.fin { received(context, message) } else { partial = message }
        case .ping:
            if !closeSent {
                let pong = WebSocketFrame(fin: true, opcode: .pong, maskKey: maskKey, data: frame.unmaskedData)
                context.writeAndFlush(wrapOutboundOut(pong), promise: nil)
            }
            deliver(context.channel, .keepAlive)
        case .pong:
            break
        case .connectionClose:
            // §5.5.1: answer a Close with a Close (echoing its status code), then close.
            guard !closeSent else {
                context.close(promise: nil)
                return
            }
            closeSent = true
            var payload = frame.unmaskedData
            let code = payload.readSlice(length: 2) ?? context.channel.allocator.buffer(capacity: 0)
            let reply = WebSocketFrame(fin: true, opcode: .connectionClose, maskKey: maskKey, data: code)
            context.writeAndFlush(wrapOutboundOut(reply)).assumeIsolated().whenComplete { _ in
                context.close(promise: nil)
            }
        default:
            fail(context, .protocolError, "WebSocket frame with unknown opcode \(frame.opcode)")
        }
    }

    /// One whole WebSocket message: a SIP message, or a keep-alive.
    private func received(_ context: ChannelHandlerContext, _ message: ByteBuffer) {
        let view = message.readableBytesView
        // RFC 5626 §3.5.1, as WebSocket clients use it: CRLFCRLF is a ping, answered with CRLF; a
        // lone CRLF (a pong) or an empty message carries nothing.
        if view.elementsEqual([13, 10, 13, 10]) {
            var pong = context.channel.allocator.buffer(capacity: 2)
            pong.writeBytes([13, 10])
            let frame = WebSocketFrame(fin: true, opcode: .text, maskKey: maskKey, data: pong)
            context.writeAndFlush(wrapOutboundOut(frame), promise: nil)
            deliver(context.channel, .keepAlive)
            return
        }
        if view.allSatisfy({ $0 == 13 || $0 == 10 }) { return }
        deliver(context.channel, .message(Array(view)))
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard let e = error as? NIOWebSocketError else {
            context.close(promise: nil)
            return
        }
        if case .invalidFrameLength = e {
            fail(context, .messageTooLarge, "WebSocket frame above \(maxMessageSize) bytes")
        } else {
            fail(context, .protocolError, "malformed WebSocket control frame: \(e)")
        }
    }

    /// Sends a Close frame with `code` and has the engine drop the connection.
    private func fail(_ context: ChannelHandlerContext, _ code: WebSocketErrorCode, _ why: String) {
        guard !failed else { return }
        failed = true
        partial = nil
        sendClose(context, code)
        deliver(context.channel, .broken(why))
    }

    private func sendClose(_ context: ChannelHandlerContext, _ code: WebSocketErrorCode) {
        guard !closeSent, context.channel.isActive else { return }
        closeSent = true
        var data = context.channel.allocator.buffer(capacity: 2)
        data.write(webSocketErrorCode: code)
        let frame = WebSocketFrame(fin: true, opcode: .connectionClose, maskKey: maskKey, data: data)
        context.writeAndFlush(wrapOutboundOut(frame), promise: nil)
    }

    // MARK: Writing

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        guard !closeSent else {
            promise?.fail(SIPTransportError(.connectionClosed, "WebSocket connection closing"))
            return
        }
        let frame = WebSocketFrame(fin: true, opcode: .text, maskKey: maskKey, data: unwrapOutboundIn(data))
        context.write(wrapOutboundOut(frame), promise: promise)
    }

    /// Closing this side (idle, shutdown, a dropped peer) says so with a Close frame first.
    func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        if mode == .all { sendClose(context, .goingAway) }
        context.close(mode: mode, promise: promise)
    }
}
