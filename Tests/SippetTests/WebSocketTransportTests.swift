import Foundation
import NIOCore
import SIPSyntax
import SIPTransport
import Testing

@Suite("WebSocket transport")
struct WebSocketTransportTests {
    static let hosts = ["127.0.0.1", "::1"]

    /// A server and a client transport, started, with their delegates.
    struct Pair {
        let server: WebSocketTransport, client: WebSocketTransport
        let serverDelegate = RecordingDelegate(), clientDelegate = RecordingDelegate()

        init(
            host: String, serverTLS: SIPTLSConfiguration? = nil, clientTLS: SIPTLSConfiguration? = nil,
            settings: SIPStreamSettings = SIPStreamSettings()
        ) async throws {
            server = try WebSocketTransport(host: host, port: 0, tls: serverTLS, settings: settings)
            client = try WebSocketTransport(host: host, port: 0, tls: clientTLS, settings: settings)
            try await server.start(delegate: serverDelegate)
            try await client.start(delegate: clientDelegate)
        }

        func roundTrip(sourceLocation: SourceLocation = #_sourceLocation) async throws {
            try await RoundTrip.run(
                client: client, server: server, clientDelegate: clientDelegate,
                serverDelegate: serverDelegate,
                connectionCounts: { (client.connectionCount, server.connectionCount) },
                sourceLocation: sourceLocation)
        }

        func shutdown() async {
            await client.shutdown()
            await server.shutdown()
        }
    }

    /// A raw connection to `server` that completed the handshake, offering `sip`.
    static func upgradedConnection(to server: WebSocketTransport) async throws -> RawConnection {
        let address = try #require(server.localAddress)
        let raw = try await RawConnection.connect(to: address)
        try await raw.send(RawWebSocket.handshake(host: "\(address.sipHost ?? ""):\(address.port ?? 0)"))
        let head = await raw.waitFor { RawWebSocket.headEnd($0) != nil }
        let end = try #require(RawWebSocket.headEnd(head))
        #expect(String(decoding: head[..<end], as: UTF8.self).hasPrefix("HTTP/1.1 101"))
        return raw
    }

    @Test("WS: a request arrives whole with its connection; the response comes back on it", arguments: hosts)
    func roundTrip(host: String) async throws {
        let pair = try await Pair(host: host)
        #expect(pair.server.kind == .ws)
        try await pair.roundTrip()
        await pair.shutdown()
    }

    @Test("WSS: a request arrives whole with its connection; the response comes back on it", arguments: hosts)
    func secureRoundTrip(host: String) async throws {
        let pki = try TestPKI.shared
        let pair = try await Pair(host: host, serverTLS: try pki.serverTLS(), clientTLS: pki.clientTLS())
        #expect(pair.server.kind == .wss)
        #expect(pair.client.kind.isSecure)
        try await pair.roundTrip()
        await pair.shutdown()
    }

    @Test("WS: messages sent before the upgrade completes all arrive, in order, on one connection")
    func messagesDuringHandshake() async throws {
        let pair = try await Pair(host: "127.0.0.1")
        let target = SIPTransportTarget(address: try #require(pair.server.localAddress))
        let messages = (1...5).map { n in
            Array("OPTIONS sip:b@example.com SIP/2.0\r\nCSeq: \(n) OPTIONS\r\nContent-Length: 0\r\n\r\n".utf8)
        }
        for m in messages { pair.client.send(m, to: target, completion: nil) }
        let got = await pair.serverDelegate.waitForMessages(messages.count)
        #expect(got.map(\.bytes) == messages)
        #expect(Set(got.compactMap(\.connection)).count == 1)
        #expect(pair.client.connectionCount == 1)
        await pair.shutdown()
    }

    @Test("The handshake answer chooses sip and carries the RFC 6455 accept value")
    func handshakeAnswer() async throws {
        let server = try WebSocketTransport(host: "127.0.0.1", port: 0)
        try await server.start(delegate: RecordingDelegate())
        let raw = try await Self.upgradedConnection(to: server)
        let head = String(decoding: raw.received, as: UTF8.self).lowercased()
        #expect(head.contains("sec-websocket-protocol: sip\r\n"))
        #expect(head.contains("sec-websocket-accept: \(RawWebSocket.sampleAccept.lowercased())\r\n"))
        #expect(head.contains("upgrade: websocket\r\n"))
        await raw.close()
        await server.shutdown()
    }

    @Test(
        "A handshake that does not offer sip gets 400 and the connection closes",
        arguments: [nil, "chat", "sip-foo, xmpp"] as [String?])
    func refusesOtherSubprotocols(subprotocol: String?) async throws {
        let server = try WebSocketTransport(host: "127.0.0.1", port: 0)
        let delegate = RecordingDelegate()
        try await server.start(delegate: delegate)
        let address = try #require(server.localAddress)
        let raw = try await RawConnection.connect(to: address)
        try await raw.send(RawWebSocket.handshake(host: "127.0.0.1:\(address.port ?? 0)", subprotocol: subprotocol))
        let answer = await raw.waitFor(text: "\r\n\r\n")
        #expect(answer.hasPrefix("HTTP/1.1 400"))
        #expect(await raw.waitForClose())
        #expect(await delegate.waitForDrop() != nil)
        #expect(delegate.messages.isEmpty)
        await server.shutdown()
    }

    @Test("A handshake offering sip among others is accepted")
    func acceptsSIPAmongOthers() async throws {
        let server = try WebSocketTransport(host: "127.0.0.1", port: 0)
        try await server.start(delegate: RecordingDelegate())
        let address = try #require(server.localAddress)
        let raw = try await RawConnection.connect(to: address)
        try await raw.send(RawWebSocket.handshake(host: "127.0.0.1", subprotocol: "chat, sip"))
        let answer = await raw.waitFor(text: "\r\n\r\n")
        #expect(answer.hasPrefix("HTTP/1.1 101"))
        #expect(answer.lowercased().contains("sec-websocket-protocol: sip\r\n"))
        await raw.close()
        await server.shutdown()
    }

    @Test("A plain HTTP request gets 426 Upgrade Required and the connection closes")
    func refusesPlainHTTP() async throws {
        let server = try WebSocketTransport(host: "127.0.0.1", port: 0)
        let delegate = RecordingDelegate()
        try await server.start(delegate: delegate)
        let raw = try await RawConnection.connect(to: try #require(server.localAddress))
        try await raw.send("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        let answer = await raw.waitFor(text: "\r\n\r\n")
        #expect(answer.hasPrefix("HTTP/1.1 426"))
        #expect(await raw.waitForClose())
        #expect(await delegate.waitForDrop() != nil)
        await server.shutdown()
    }

    @Test("A message in fragments, text or binary, arrives whole; one of CRLFCRLF is a keep-alive")
    func fragmentsAndKeepAlive() async throws {
        let server = try WebSocketTransport(host: "127.0.0.1", port: 0)
        let delegate = RecordingDelegate()
        try await server.start(delegate: delegate)
        let raw = try await Self.upgradedConnection(to: server)
        raw.clear()
        let first = RoundTrip.request(.ws)
        let second = RoundTrip.response(.ws)
        // No Content-Length: a WebSocket message ends where the message ends (RFC 7118 §5.1).
        let third = Array("MESSAGE sip:b@example.com SIP/2.0\r\nCSeq: 1 MESSAGE\r\n\r\nhello".utf8)
        let cut = first.count / 2
        try await raw.send(
            RawWebSocket.frame(RawWebSocket.text, fin: false, Array(first[..<cut]))
                + RawWebSocket.frame(RawWebSocket.ping, Array("hi".utf8))
                + RawWebSocket.frame(RawWebSocket.continuation, fin: false, Array(first[cut..<(cut + 3)]))
                + RawWebSocket.frame(RawWebSocket.continuation, Array(first[(cut + 3)...]))
                + RawWebSocket.frame(RawWebSocket.binary, second)
                + RawWebSocket.frame(RawWebSocket.text, "\r\n\r\n")
                + RawWebSocket.frame(RawWebSocket.text, third))
        let got = await delegate.waitForMessages(3)
        #expect(got.map(\.bytes) == [first, second, third])
        // The Pong echoes the Ping; the keep-alive gets CRLF; server frames are not masked.
        let pong: [UInt8] = [0x8A, 2] + Array("hi".utf8)
        let crlf: [UInt8] = [0x81, 2, 13, 10]
        let answers = await raw.waitFor { $0.count >= pong.count + crlf.count }
        #expect(answers == pong + crlf)
        let keepAlives = delegate.events.filter { if case .keepAlive = $0 { return true } else { return false } }
        #expect(keepAlives.count == 2)
        await raw.close()
        await server.shutdown()
    }

    @Test("A Close frame is answered with a Close frame and the connection closes")
    func closeHandshake() async throws {
        let server = try WebSocketTransport(host: "127.0.0.1", port: 0)
        let delegate = RecordingDelegate()
        try await server.start(delegate: delegate)
        let raw = try await Self.upgradedConnection(to: server)
        raw.clear()
        try await raw.send(RawWebSocket.frame(RawWebSocket.close, [0x03, 0xE8]))
        #expect(await raw.waitForClose())
        #expect(raw.received == [0x88, 2, 0x03, 0xE8])
        #expect(await delegate.waitForEvent { if case .connectionClosed = $0 { true } else { false } } != nil)
        #expect(await delegate.waitForDrop(timeout: .milliseconds(100)) == nil)
        await server.shutdown()
    }

    @Test("Shutting down closes each connection with a Close frame (1001, going away)")
    func shutdownSaysGoodbye() async throws {
        let server = try WebSocketTransport(host: "127.0.0.1", port: 0)
        try await server.start(delegate: RecordingDelegate())
        let raw = try await Self.upgradedConnection(to: server)
        raw.clear()
        await server.shutdown()
        #expect(await raw.waitForClose())
        #expect(raw.received == [0x88, 2, 0x03, 0xE9])
    }

    @Test("A server that never answers the handshake fails the send after the connect timeout")
    func handshakeTimeout() async throws {
        let silent = try await RawServer.listen(host: "127.0.0.1")
        var settings = SIPStreamSettings()
        settings.connectTimeout = .milliseconds(300)
        let client = try WebSocketTransport(host: "127.0.0.1", port: 0, settings: settings)
        try await client.start(delegate: RecordingDelegate())
        let target = SIPTransportTarget(address: try #require(silent.localAddress))
        let started = ContinuousClock.now
        let result = await RoundTrip.send(RoundTrip.request(.ws), from: client, to: target)
        if case .failure(let e) = result { #expect(e.kind == .connectFailed) } else { Issue.record("sent") }
        #expect(ContinuousClock.now - started < .seconds(3))
        let peer = try #require(await silent.firstConnection())
        #expect(await peer.waitForClose())
        await client.shutdown()
        await silent.close()
    }

    @Test(
        "A frame or a fragmented message above the size limit gets Close 1009 and the connection is dropped",
        arguments: [false, true])
    func aboveLimit(fragmented: Bool) async throws {
        var settings = SIPStreamSettings()
        settings.limits = SIPLimits(maxMessageSize: 1_000)
        let server = try WebSocketTransport(host: "127.0.0.1", port: 0, settings: settings)
        let delegate = RecordingDelegate()
        try await server.start(delegate: delegate)
        let raw = try await Self.upgradedConnection(to: server)
        raw.clear()
        if fragmented {
            let part = [UInt8](repeating: 65, count: 600)
            try await raw.send(
                RawWebSocket.frame(RawWebSocket.text, fin: false, part)
                    + RawWebSocket.frame(RawWebSocket.continuation, part))
        } else {
            // Only the header: the length alone is enough to refuse it.
            try await raw.send(RawWebSocket.frame(RawWebSocket.text, [], length: 1_000_000))
        }
        #expect(await raw.waitForClose())
        #expect(raw.received == [0x88, 2, 0x03, 0xF1])
        #expect(await delegate.waitForDrop() != nil)
        #expect(delegate.messages.isEmpty)
        await server.shutdown()
    }

    @Test("An unmasked frame from a client breaks RFC 6455 and the connection is dropped")
    func unmaskedFrame() async throws {
        let server = try WebSocketTransport(host: "127.0.0.1", port: 0)
        let delegate = RecordingDelegate()
        try await server.start(delegate: delegate)
        let raw = try await Self.upgradedConnection(to: server)
        try await raw.send(RawWebSocket.frame(RawWebSocket.text, RoundTrip.request(.ws), masked: false))
        #expect(await raw.waitForClose())
        #expect(await delegate.waitForDrop() != nil)
        #expect(delegate.messages.isEmpty)
        await server.shutdown()
    }

    @Test("A client gives up on a server that does not upgrade to sip", arguments: ["no subprotocol", "refused"])
    func serverWithoutSIP(answer: String) async throws {
        let fake = try await RawServer.listen(host: "127.0.0.1")
        let client = try WebSocketTransport(host: "127.0.0.1", port: 0)
        try await client.start(delegate: RecordingDelegate())
        let target = SIPTransportTarget(address: try #require(fake.localAddress))
        async let sent = RoundTrip.send(RoundTrip.request(.ws), from: client, to: target)

        let peer = try #require(await fake.firstConnection())
        let request = String(decoding: await peer.waitFor { RawWebSocket.headEnd($0) != nil }, as: UTF8.self)
        #expect(request.hasPrefix("GET / HTTP/1.1\r\n"))
        #expect(request.lowercased().contains("sec-websocket-protocol: sip\r\n"))
        #expect(request.lowercased().contains("host: 127.0.0.1:\(target.address.port ?? 0)\r\n"))
        if answer == "refused" {
            try await peer.send("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
        } else {
            // A correct upgrade to WebSocket, but without choosing sip.
            let key = try #require(
                request.split(separator: "\r\n").first {
                    $0.lowercased().hasPrefix("sec-websocket-key:")
                }?.split(separator: ":", maxSplits: 1).last?.trimmingCharacters(in: .whitespaces))
            let digest = try TestPKI.openssl(
                ["dgst", "-sha1", "-binary"],
                input: Array((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").utf8))
            let accept = try TestPKI.openssl(["base64", "-A"], input: digest)
            try await peer.send(
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: upgrade\r\n"
                    + "Sec-WebSocket-Accept: \(String(decoding: accept, as: UTF8.self))\r\n\r\n")
        }
        let result = await sent
        #expect(throws: SIPTransportError.self) { try result.get() }
        if case .failure(let e) = result { #expect(e.kind == .connectFailed) }
        #expect(await peer.waitForClose())
        #expect(client.connectionCount == 0)
        await client.shutdown()
        await fake.close()
    }

    @Test("The Host header names the target's host name, with the port unless it is the default")
    func hostHeader() async throws {
        let fake = try await RawServer.listen(host: "127.0.0.1")
        let client = try WebSocketTransport(host: "127.0.0.1", port: 0, path: "sip")
        try await client.start(delegate: RecordingDelegate())
        let address = try #require(fake.localAddress)
        client.send(
            RoundTrip.request(.ws), to: SIPTransportTarget(address: address, hostName: "proxy.example.com"),
            completion: nil)
        let peer = try #require(await fake.firstConnection())
        let request = String(decoding: await peer.waitFor { RawWebSocket.headEnd($0) != nil }, as: UTF8.self)
        #expect(request.hasPrefix("GET /sip HTTP/1.1\r\n"))
        #expect(request.lowercased().contains("host: proxy.example.com:\(address.port ?? 0)\r\n"))
        await client.shutdown()
        await fake.close()
    }
}
