import NIOCore
import NIOPosix
import SIPSyntax
import SIPTransaction
import SIPTransport
import Sippet
import SippetTesting
import Testing

@Suite("Loss and hostile peers")
struct LossAndHostileTests {
    @Test("With 10% of datagrams lost, 200 INVITE and OPTIONS transactions all complete through retransmission")
    func lossyNetwork() async throws {
        let network = InMemoryNetwork(lossRate: 0.10, seed: 42)
        let group = MultiThreadedEventLoopGroup.singleton
        let uasAddress = try SocketAddress(ipAddress: "10.0.0.2", port: 5060)
        let uas = SIPStack(
            name: "uas", configuration: testConfiguration(),
            transports: [
                InMemoryTransport(network: network, address: uasAddress, loop: group.next())
            ])
        let core = TestUAS()
        uas.register(core: core)
        try await uas.start()
        let uac = SIPStack(
            name: "uac", configuration: testConfiguration(),
            transports: [
                InMemoryTransport(
                    network: network, address: try SocketAddress(ipAddress: "10.0.0.1", port: 5060), loop: group.next())
            ])
        let log = EventLog(uac)
        try await uac.start()

        let target = "sip:bob@10.0.0.2:5060"
        var keys: [TransactionKey] = []
        for i in 0..<200 {
            let method: SIPMethod = i.isMultiple(of: 2) ? .invite : .options
            let request = try Dialer(to: target).request(method, target)
            let key = try #require(try uac.send(request))
            if method == .invite { log.sentInvite(request, key: key) }
            keys.append(key)
        }
        let all = keys
        let done = await log.wait(timeout: .seconds(30)) { log in all.allSatisfy { log.statuses($0).contains(200) } }
        #expect(done)
        let failed = keys.filter { !log.statuses($0).contains(200) }
        #expect(
            failed.isEmpty,
            "no 200 for \(failed.count) of 200: \(failed.prefix(3)) errors: \(failed.prefix(3).map { log.errors($0) })")
        #expect(keys.allSatisfy { log.errors($0).isEmpty })
        let (delivered, lost) = network.statistics
        #expect(lost > 20, "the network lost \(lost) of \(delivered + lost) datagrams")
        // Every INVITE was acknowledged: the UAS stops retransmitting its 2xx (§13.3.1.4).
        #expect(
            await log.wait(timeout: .seconds(10)) { _ in
                Set(core.requests.filter { $0.method == .ack }.compactMap(\.callID)).count == 100
            })
        await uac.shutdown()
        await uas.shutdown()
    }

    /// Opens a raw TCP connection to `address`.
    static func connect(
        _ address: SocketAddress,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async throws -> any Channel {
        try await ClientBootstrap(group: group)
            .channelInitializer { $0.eventLoop.makeSucceededVoidFuture() }
            .connect(to: address).get()
    }

    static func write(_ text: String, to channel: any Channel) async throws {
        var b = channel.allocator.buffer(capacity: text.utf8.count)
        b.writeString(text)
        try await channel.writeAndFlush(b)
    }

    static let head = "OPTIONS sip:bob@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:9;branch=z9hG4bKhostile\r\n"

    @Test(
        "Hostile streams (Content-Length 10^9, an endless header line, 10,000 connections holding half messages) leave the stack serving others"
    )
    func hostileStreams() async throws {
        var settings = SIPStreamSettings()
        settings.maxConnections = 500
        // Loops of its own: the 10,000 connections must not hold up the other suites' loops.
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        let uasTCP = try TCPTransport(host: "127.0.0.1", port: 0, group: group, settings: settings)
        let uas = SIPStack(name: "uas", configuration: testConfiguration(), transports: [uasTCP], group: group)
        let core = TestUAS()
        uas.register(core: core)
        try await uas.start()
        let address = try #require(uasTCP.localAddress)

        // RFC 3261 §18.3: a Content-Length far above the limit: the connection is closed at once.
        let huge = try await Self.connect(address, group: group)
        try await Self.write(Self.head + "Content-Length: 1000000000\r\n\r\nxyz", to: huge)
        #expect(await waitUntil(timeout: .seconds(5)) { !huge.isActive })

        // An endless header line: closed once it passes the message-size limit (64 KiB). Twice
        // that is sent (the kernel's buffers take it whether or not the stack reads), then the
        // line stays unfinished: only the limit can close the connection.
        let endless = try await Self.connect(address, group: group)
        try await Self.write(Self.head + "X-Endless: ", to: endless)
        var sent = 0
        while endless.isActive, sent < 2 * SIPLimits.default.maxMessageSize {
            try? await Self.write(String(repeating: "a", count: 4096), to: endless)
            sent += 4096
        }
        #expect(await waitUntil(timeout: .seconds(5)) { !endless.isActive }, "still open after \(sent) bytes")

        // 10,000 connections each holding half a message, in waves: the stack never keeps more
        // than its limit, evicting the oldest holders of half messages.
        var opened = 0
        while opened < 10_000 {
            var wave: [any Channel] = []
            for _ in 0..<250 {
                guard let c = try? await Self.connect(address, group: group) else { continue }
                try? await Self.write(Self.head + "Call-ID: half", to: c)
                wave.append(c)
            }
            opened += 250
            #expect(uasTCP.connectionCount <= settings.maxConnections)
            if opened % 2_500 == 0 {
                // Someone else is still served, over a connection of its own.
                let uac = SIPStack(
                    name: "uac", configuration: testConfiguration(),
                    transports: [try TCPTransport(host: "127.0.0.1", port: 0, group: group)], group: group)
                let log = EventLog(uac)
                try await uac.start()
                let target = "sip:bob@127.0.0.1:\(address.port ?? 0);transport=tcp"
                let key = try uac.send(try Dialer(to: target).request(.options, target))
                #expect(await log.finalStatuses(key, timeout: .seconds(5)) == [200])
                await uac.shutdown()
            }
        }
        #expect(uasTCP.connectionCount <= settings.maxConnections)
        #expect(core.requests.allSatisfy { $0.callID != "half" })
        await uas.shutdown()
        try await group.shutdownGracefully()
    }
}
