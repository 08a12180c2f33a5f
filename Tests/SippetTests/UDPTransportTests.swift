import NIOCore
import SIPTransport
import Testing

@Suite("UDP transport")
struct UDPTransportTests {
    static let options = Array("OPTIONS sip:b@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bK1\r\n\r\n".utf8)

    @Test("A datagram arrives whole, with its source address", arguments: ["127.0.0.1", "::1"])
    func datagramRoundTrip(host: String) async throws {
        let a = UDPTransport(host: host, port: 0)
        let b = UDPTransport(host: host, port: 0)
        let da = RecordingDelegate(), db = RecordingDelegate()
        try await a.start(delegate: da)
        try await b.start(delegate: db)
        let bAddress = try #require(b.localAddress)
        a.send(Self.options, to: SIPTransportTarget(address: bAddress), completion: nil)
        let got = await db.waitForMessages(1)
        #expect(got.count == 1)
        #expect(got.first?.bytes == Self.options)
        #expect(got.first?.source.port == a.localAddress?.port)
        #expect(got.first?.connection == nil)
        await a.shutdown()
        await b.shutdown()
    }

    @Test("A datagram of CRLFs is a keep-alive, not a message")
    func keepAlive() async throws {
        let a = UDPTransport(host: "127.0.0.1", port: 0)
        let b = UDPTransport(host: "127.0.0.1", port: 0)
        let db = RecordingDelegate()
        try await a.start(delegate: RecordingDelegate())
        try await b.start(delegate: db)
        a.send(Array("\r\n\r\n".utf8), to: SIPTransportTarget(address: try #require(b.localAddress)), completion: nil)
        a.send(Self.options, to: SIPTransportTarget(address: try #require(b.localAddress)), completion: nil)
        let got = await db.waitForMessages(1)
        #expect(got.map(\.bytes) == [Self.options])
        #expect(db.events.contains { if case .keepAlive = $0 { return true } else { return false } })
        await a.shutdown()
        await b.shutdown()
    }

    @Test("A message above the datagram limit is refused with messageTooLarge")
    func tooLarge() async throws {
        let a = UDPTransport(host: "127.0.0.1", port: 0)
        try await a.start(delegate: RecordingDelegate())
        let nowhere = try SocketAddress(ipAddress: "127.0.0.1", port: 9)
        let result = await withCheckedContinuation { (c: CheckedContinuation<Result<Void, SIPTransportError>, Never>) in
            a.send([UInt8](repeating: 65, count: 70_000), to: SIPTransportTarget(address: nowhere),
                   completion: { c.resume(returning: $0) })
        }
        #expect(throws: SIPTransportError.self) { try result.get() }
        if case .failure(let e) = result { #expect(e.kind == .messageTooLarge) }
        await a.shutdown()
    }
}
