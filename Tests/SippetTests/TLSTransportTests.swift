import NIOCore
import NIOSSL
import SIPSyntax
import SIPTransport
import Testing

@Suite("TLS transport")
struct TLSTransportTests {
    @Test(
        "TLS: a request arrives whole with its connection; the response comes back on it",
        arguments: ["127.0.0.1", "::1"])
    func roundTrip(host: String) async throws {
        let pki = try TestPKI.shared
        let server = try TCPTransport(host: host, port: 0, tls: try pki.serverTLS())
        let client = try TCPTransport(host: host, port: 0, tls: pki.clientTLS())
        #expect(server.kind == .tls)
        let serverDelegate = RecordingDelegate()
        let clientDelegate = RecordingDelegate()
        try await server.start(delegate: serverDelegate)
        try await client.start(delegate: clientDelegate)
        try await RoundTrip.run(
            client: client, server: server, clientDelegate: clientDelegate,
            serverDelegate: serverDelegate,
            connectionCounts: { (client.connectionCount, server.connectionCount) })
        await client.shutdown()
        await server.shutdown()
    }

    @Test("TLS: a target named by host name is reached with that name (SNI and the certificate's DNS name)")
    func hostName() async throws {
        let pki = try TestPKI.shared
        let server = try TCPTransport(host: "127.0.0.1", port: 0, tls: try pki.serverTLS())
        let client = try TCPTransport(host: "127.0.0.1", port: 0, tls: pki.clientTLS())
        let serverDelegate = RecordingDelegate()
        try await server.start(delegate: serverDelegate)
        try await client.start(delegate: RecordingDelegate())
        let target = SIPTransportTarget(address: try #require(server.localAddress), hostName: "localhost")
        let result = await RoundTrip.send(RoundTrip.request(.tls), from: client, to: target)
        #expect(throws: Never.self) { try result.get() }
        #expect(await serverDelegate.waitForMessages(1).count == 1)
        await client.shutdown()
        await server.shutdown()
    }

    @Test(
        "A client trusting only the system's roots fails to send, with a TLS failure",
        arguments: [SIPTransportKind.tls, .wss])
    func untrustedServer(kind: SIPTransportKind) async throws {
        let pki = try TestPKI.shared
        let serverDelegate = RecordingDelegate()
        let server: any SIPTransport
        let client: any SIPTransport
        if kind == .tls {
            server = try TCPTransport(host: "127.0.0.1", port: 0, tls: try pki.serverTLS())
            client = try TCPTransport(host: "127.0.0.1", port: 0, tls: pki.systemTrustClientTLS())
        } else {
            server = try WebSocketTransport(host: "127.0.0.1", port: 0, tls: try pki.serverTLS())
            client = try WebSocketTransport(host: "127.0.0.1", port: 0, tls: pki.systemTrustClientTLS())
        }
        try await server.start(delegate: serverDelegate)
        try await client.start(delegate: RecordingDelegate())
        let target = SIPTransportTarget(address: try #require(server.localAddress))
        let result = await RoundTrip.send(RoundTrip.request(kind), from: client, to: target)
        #expect(throws: SIPTransportError.self) { try result.get() }
        if case .failure(let e) = result { #expect(e.kind == .tlsFailure, "\(e)") }
        #expect(serverDelegate.messages.isEmpty)
        await client.shutdown()
        await server.shutdown()
    }

    @Test(
        "TCP and TLS: a Content-Length no message may have closes the connection (RFC 3261 §18.3)",
        arguments: [false, true])
    func hugeContentLength(tls: Bool) async throws {
        let pki = try TestPKI.shared
        let server = try TCPTransport(host: "127.0.0.1", port: 0, tls: tls ? try pki.serverTLS() : nil)
        let delegate = RecordingDelegate()
        try await server.start(delegate: delegate)
        var clientTLS = TLSConfiguration.makeClientConfiguration()
        clientTLS.trustRoots = .file(pki.caPath)
        let raw = try await RawConnection.connect(to: try #require(server.localAddress), tls: tls ? clientTLS : nil)
        try await raw.send(
            "INVITE sip:b@example.com SIP/2.0\r\nVia: SIP/2.0/TCP client.invalid;branch=z9hG4bK1\r\n"
                + "Call-ID: huge\r\nCSeq: 1 INVITE\r\nContent-Length: 1000000000\r\n\r\nv=0\r\n")
        #expect(await raw.waitForClose())
        #expect(await delegate.waitForDrop() != nil)
        #expect(delegate.messages.isEmpty)
        await server.shutdown()
    }
}
