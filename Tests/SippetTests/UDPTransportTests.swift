import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import SIPTransport
import Testing

@Suite("UDP transport")
struct UDPTransportTests {
    static let options = Array(
        "OPTIONS sip:b@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bK1\r\n\r\n".utf8)

    @Test("A datagram arrives whole, with its source address", arguments: ["127.0.0.1", "::1"])
    func datagramRoundTrip(host: String) async throws {
        let a = UDPTransport(host: host, port: 0)
        let b = UDPTransport(host: host, port: 0)
        let da = RecordingDelegate()
        let db = RecordingDelegate()
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

    /// With SO_REUSEADDR on UDP sockets the kernel hands out, for port 0, ports that other such
    /// sockets hold (it did so for about one bind in twenty here with a few hundred open): two
    /// stacks then share a port and datagrams meant for one reach the other. 500 transports at
    /// once would share a port in all but about 1% of runs if that came back.
    @Test("Port 0 gives every transport a port of its own, and a held port is refused")
    func portsAreNotShared() async throws {
        var transports: [UDPTransport] = []
        for _ in 0..<500 {
            let t = UDPTransport(host: "127.0.0.1", port: 0)
            try await t.start(delegate: RecordingDelegate())
            transports.append(t)
        }
        let ports = transports.compactMap { $0.localAddress?.port }
        #expect(ports.count == 500)
        #expect(Set(ports).count == 500)
        let rival = UDPTransport(host: "127.0.0.1", port: try #require(ports.first))
        await #expect(throws: (any Error).self) { try await rival.start(delegate: RecordingDelegate()) }
        for t in transports { await t.shutdown() }
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

    /// RFC 3261 §18.1.1 leaves UDP messages up to the datagram limit (65,535 bytes, 65,507 of payload
    /// over IPv4) to the implementation; a vector read must not cut any of them short, however many
    /// arrive in one read.
    @Test("Datagrams up to the UDP maximum arrive whole, sent back to back")
    func largeDatagrams() async throws {
        let a = UDPTransport(host: "127.0.0.1", port: 0)
        let b = UDPTransport(host: "127.0.0.1", port: 0)
        let db = RecordingDelegate()
        try await a.start(delegate: RecordingDelegate())
        try await b.start(delegate: db)
        let target = SIPTransportTarget(address: try #require(b.localAddress))
        let sizes = [2_049, 4_000, 20_000, 65_507, 1_500, 65_507]
        let sent = sizes.enumerated().map { i, n in (0..<n).map { UInt8(65 + ($0 + i) % 26) } }
        for datagram in sent { a.send(datagram, to: target, completion: nil) }
        let got = await db.waitForMessages(sent.count)
        #expect(got.map(\.bytes.count).sorted() == sizes.sorted())
        #expect(Set(got.map(\.bytes)) == Set(sent))
        await a.shutdown()
        await b.shutdown()
    }

    @Test("A message above the datagram limit is refused with messageTooLarge")
    func tooLarge() async throws {
        let a = UDPTransport(host: "127.0.0.1", port: 0)
        try await a.start(delegate: RecordingDelegate())
        let nowhere = try SocketAddress(ipAddress: "127.0.0.1", port: 9)
        let result = await withCheckedContinuation { (c: CheckedContinuation<Result<Void, SIPTransportError>, Never>) in
            a.send(
                [UInt8](repeating: 65, count: 70_000), to: SIPTransportTarget(address: nowhere),
                completion: { c.resume(returning: $0) })
        }
        #expect(throws: SIPTransportError.self) { try result.get() }
        if case .failure(let e) = result { #expect(e.kind == .messageTooLarge) }
        await a.shutdown()
    }

    /// A transport with one socket on each of two loops, started.
    static func socketPerLoopServer(delegate: any SIPTransportDelegate) async throws -> (
        MultiThreadedEventLoopGroup, UDPTransport
    ) {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        var configuration = UDPTransport.Configuration()
        configuration.socketPerLoop = true
        let server = UDPTransport(host: "127.0.0.1", port: 0, group: group, configuration: configuration)
        try await server.start(delegate: delegate)
        return (group, server)
    }

    @Test(
        "One socket per loop: datagrams from many sources all arrive, sends work from every loop, and a held port is still an error"
    )
    func socketPerLoop() async throws {
        let ds = RecordingDelegate()
        let (group, server) = try await Self.socketPerLoopServer(delegate: ds)
        let address = try #require(server.localAddress)
        // The same address again, by another transport: refused, as without SO_REUSEPORT.
        let rival = UDPTransport(
            host: "127.0.0.1", port: try #require(address.port), group: group,
            configuration: server.configuration)
        await #expect(throws: (any Error).self) { try await rival.start(delegate: RecordingDelegate()) }
        // Sixteen sources: the kernel spreads them over both sockets; every datagram arrives.
        var clients: [(UDPTransport, RecordingDelegate)] = []
        for _ in 0..<16 {
            let c = UDPTransport(host: "127.0.0.1", port: 0)
            let d = RecordingDelegate()
            try await c.start(delegate: d)
            c.send(Self.options, to: SIPTransportTarget(address: address), completion: nil)
            clients.append((c, d))
        }
        let got = await ds.waitForMessages(16)
        #expect(got.count == 16)
        #expect(Set(got.compactMap(\.source.port)) == Set(clients.compactMap { $0.0.localAddress?.port }))
        // A send from each loop leaves from the bound port.
        for loop in [group.next(), group.next()] {
            let target = try #require(got.first?.source)
            try await loop.submit {
                server.send(Self.options, to: SIPTransportTarget(address: target), completion: nil)
            }.get()
        }
        let first = try #require(clients.first { $0.0.localAddress?.port == got.first?.source.port })
        let back = await first.1.waitForMessages(2)
        #expect(back.count == 2)
        #expect(back.allSatisfy { $0.source.port == address.port })
        for (c, _) in clients { await c.shutdown() }
        await server.shutdown()
        try await group.shutdownGracefully()
    }

    /// Notes which event loop read each datagram.
    final class LoopRecorder: SIPTransportDelegate {
        private let loops = NIOLockedValueBox<[ObjectIdentifier]>([])
        func transport(_ transport: any SIPTransport, received message: SIPReceivedMessage) {
            guard let loop = MultiThreadedEventLoopGroup.currentEventLoop else { return }
            loops.withLockedValue { $0.append(ObjectIdentifier(loop as AnyObject)) }
        }
        func transport(_ transport: any SIPTransport, observed event: SIPTransportEvent) {}
        var readers: [ObjectIdentifier] { loops.withLockedValue { $0 } }
    }

    #if os(Linux)
        @Test(
            "One socket per loop: the datagrams of a single source are shared out over every loop (SO_ATTACH_REUSEPORT_CBPF)"
        )
        func singleSourceIsShared() async throws {
            let recorder = LoopRecorder()
            let (group, server) = try await Self.socketPerLoopServer(delegate: recorder)
            let client = UDPTransport(host: "127.0.0.1", port: 0)
            try await client.start(delegate: RecordingDelegate())
            let target = SIPTransportTarget(address: try #require(server.localAddress))
            // From one source port the kernel's own choice would put all 64 on one socket; at random,
            // all on one has the odds 2^-63.
            for _ in 0..<64 { client.send(Self.options, to: target, completion: nil) }
            let deadline = ContinuousClock.now + .seconds(5)
            while recorder.readers.count < 64, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(5))
            }
            #expect(recorder.readers.count == 64)
            #expect(Set(recorder.readers).count == 2)
            await client.shutdown()
            await server.shutdown()
            try await group.shutdownGracefully()
        }
    #endif
}
