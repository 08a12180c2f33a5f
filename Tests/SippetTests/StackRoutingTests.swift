import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import SIPSyntax
import SIPTransaction
import SIPTransport
import Sippet
import Testing

/// Where responses go (RFC 3261 §18.2.2, RFC 3581), what the stack answers by itself (§8.2), and
/// what it drops (§18.1.2), seen from raw sockets next to a stack.
@Suite("Stack routing and validation")
struct StackRoutingTests {
    /// A UAS stack on UDP 127.0.0.1 and a raw UDP socket to talk to it.
    struct Rig {
        let stack: SIPStack
        let core: TestUAS
        let raw: UDPTransport
        let rawLog: RecordingDelegate
        let address: SocketAddress

        static func start(
            configuration: SIPStack.Configuration = testConfiguration(),
            core options: TestUAS.Options = TestUAS.Options()
        ) async throws -> Rig {
            let stack = SIPStack(
                name: "uas", configuration: configuration,
                transports: [UDPTransport(host: "127.0.0.1", port: 0)])
            let core = TestUAS(options)
            stack.register(core: core)
            try await stack.start()
            let raw = UDPTransport(host: "127.0.0.1", port: 0)
            let log = RecordingDelegate()
            try await raw.start(delegate: log)
            return Rig(
                stack: stack, core: core, raw: raw, rawLog: log, address: try #require(stack.transports[0].localAddress)
            )
        }

        func send(_ text: String) {
            raw.send(Array(text.utf8), to: SIPTransportTarget(address: address), completion: nil)
        }

        func stop() async {
            await stack.shutdown()
            await raw.shutdown()
        }
    }

    static func request(
        _ method: String = "OPTIONS", via: String, extra: String = "", version: String = "SIP/2.0",
        cseqMethod: String? = nil, uri: String = "sip:bob@127.0.0.1"
    ) -> String {
        "\(method) \(uri) \(version)\r\n"
            + "Via: \(via)\r\n"
            + "Max-Forwards: 70\r\nFrom: <sip:a@example.com>;tag=1\r\nTo: <sip:bob@example.com>\r\n"
            + "Call-ID: \(SIPIdentifiers.callID())\r\nCSeq: 1 \(cseqMethod ?? method)\r\n\(extra)Content-Length: 0\r\n\r\n"
    }

    static func branch() -> String { SIPIdentifiers.branch() }

    @Test("RFC 3581: a request asking for rport is answered to its source address, with received and rport")
    func rport() async throws {
        let rig = try await Rig.start()
        rig.send(Self.request(via: "SIP/2.0/UDP 192.0.2.7:5099;branch=\(Self.branch());rport"))
        let got = await rig.rawLog.waitForMessages(1)
        let response = try SIPMessage(parsing: try #require(got.first).bytes)
        #expect(response.status == 200)
        let via = try #require(response.topVia)
        #expect(via.received == "127.0.0.1")
        #expect(via.rport == .some(rig.raw.localAddress?.port))
        await rig.stop()
    }

    @Test("RFC 3261 §18.2.2: without rport, the response goes to the source IP (received) and the sent-by port")
    func receivedAndSentByPort() async throws {
        let rig = try await Rig.start()
        // The listener named in sent-by, on the same IP as the sender but another port.
        let listener = UDPTransport(host: "127.0.0.1", port: 0)
        let listenerLog = RecordingDelegate()
        try await listener.start(delegate: listenerLog)
        let port = try #require(listener.localAddress?.port)
        rig.send(Self.request(via: "SIP/2.0/UDP uac.invalid:\(port);branch=\(Self.branch())"))
        let got = await listenerLog.waitForMessages(1)
        let response = try SIPMessage(parsing: try #require(got.first).bytes)
        #expect(response.status == 200)
        #expect(response.topVia?.received == "127.0.0.1")
        #expect(rig.rawLog.messages.isEmpty, "nothing goes to the source port without rport")
        await listener.shutdown()
        await rig.stop()
    }

    @Test(
        "The stack answers invalid requests itself, as RFC 3261 prescribes, and the core never sees them",
        arguments: [
            ("Require", 420), ("version", 505), ("cseq", 400), ("method", 501), ("scheme", 416),
        ])
    func validation(kind: String, status: Int) async throws {
        let rig = try await Rig.start()
        let via = "SIP/2.0/UDP 127.0.0.1:\(rig.raw.localAddress?.port ?? 0);branch=\(Self.branch())"
        let text: String
        switch kind {
        case "Require": text = Self.request(via: via, extra: "Require: 100rel-foo\r\n")
        case "version": text = Self.request(via: via, version: "SIP/7.0")
        case "cseq": text = Self.request(via: via, cseqMethod: "INVITE")
        case "method": text = Self.request("FOOBAR", via: via)
        default: text = Self.request(via: via, uri: "mailto:bob@example.com")
        }
        rig.send(text)
        let got = await rig.rawLog.waitForMessages(1)
        let response = try SIPMessage(parsing: try #require(got.first).bytes)
        #expect(response.status == status)
        #expect(response.headers.contains(.warning), "a Warning says why (RFC 3261 §20.43)")
        if status == 420 { #expect(response.headers[.unsupported] == "100rel-foo") }
        #expect(rig.core.requests.isEmpty)
        await rig.stop()
    }

    @Test("A retransmitted invalid request gets the same answer from the transaction, once per copy")
    func rejectionIsRetransmitted() async throws {
        let rig = try await Rig.start()
        let via = "SIP/2.0/UDP 127.0.0.1:\(rig.raw.localAddress?.port ?? 0);branch=\(Self.branch())"
        let text = Self.request(via: via, extra: "Require: nonesuch\r\n")
        rig.send(text)
        _ = await rig.rawLog.waitForMessages(1)
        rig.send(text)
        let got = await rig.rawLog.waitForMessages(2)
        #expect(got.count == 2)
        #expect(got.map(\.bytes).allSatisfy { $0 == got[0].bytes })
        await rig.stop()
    }

    @Test("Garbage is dropped, counted, and answered with nothing")
    func garbage() async throws {
        let rig = try await Rig.start()
        rig.send("\u{1}\u{2}not SIP at all\r\n\r\n")
        rig.send(Self.request(via: "SIP/2.0/UDP 127.0.0.1:\(rig.raw.localAddress?.port ?? 0);branch=\(Self.branch())"))
        let got = await rig.rawLog.waitForMessages(1)
        try? await Task.sleep(for: .milliseconds(100))
        #expect(rig.rawLog.messages.count == 1)
        #expect(try SIPMessage(parsing: try #require(got.first).bytes).status == 200)
        await rig.stop()
    }

    @Test(
        "RFC 3261 §18.1.2: a response whose top Via is not ours is dropped; one that matches no transaction reaches the core without a key"
    )
    func foreignResponses() async throws {
        let rig = try await Rig.start()
        let uac = SIPStack(
            name: "uac", configuration: testConfiguration(), transports: [UDPTransport(host: "127.0.0.1", port: 0)])
        let log = EventLog(uac)
        try await uac.start()
        let a = try #require(uac.transports[0].localAddress)
        func response(sentBy: String) -> String {
            "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP \(sentBy);branch=\(Self.branch())\r\nFrom: <sip:a@x>;tag=1\r\n"
                + "To: <sip:b@x>;tag=2\r\nCall-ID: c\(sentBy)\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
        }
        rig.raw.send(
            Array(response(sentBy: "198.51.100.1:5060").utf8), to: SIPTransportTarget(address: a), completion: nil)
        rig.raw.send(
            Array(response(sentBy: "127.0.0.1:\(a.port ?? 0)").utf8), to: SIPTransportTarget(address: a),
            completion: nil)
        #expect(await log.wait { !$0.events.isEmpty })
        try? await Task.sleep(for: .milliseconds(100))
        let responses = log.events.compactMap { e -> (SIPMessage, ClientTransactionKey?)? in
            if case .response(let r, let k) = e { return (r, k) } else { return nil }
        }
        #expect(responses.count == 1)
        #expect(responses.first?.0.topVia?.host.text == "127.0.0.1")
        #expect(responses.first?.1 == nil)
        await uac.shutdown()
        await rig.stop()
    }

    @Test("Over TCP the response goes back on the request's connection: one connection on each side")
    func sameConnection() async throws {
        let pair = try await StackPair.start(.tcp, host: "127.0.0.1")
        for _ in 0..<3 {
            let key = try pair.uac.send(try Dialer(to: pair.target).request(.options, pair.target))
            #expect(await pair.log.finalStatuses(key) == [200])
        }
        let uacTCP = try #require(pair.uac.transports[0] as? TCPTransport)
        let uasTCP = try #require(pair.uas.transports[0] as? TCPTransport)
        #expect(uacTCP.connectionCount == 1)
        #expect(uasTCP.connectionCount == 1)
        await pair.shutdown()
    }

    /// Records the loop each request reached the core on.
    final class LoopCore: SIPCore {
        let seen = NIOLockedValueBox<[(callID: String, loop: ObjectIdentifier)]>([])
        func receiveRequest(_ request: SIPMessage, key: ServerTransactionKey?, stack: SIPStack) {
            guard let loop = MultiThreadedEventLoopGroup.currentEventLoop, let callID = request.callID else { return }
            seen.withLockedValue { $0.append((callID, ObjectIdentifier(loop))) }
        }
        func receiveResponse(_ response: SIPMessage, key: ClientTransactionKey?, stack: SIPStack) {}
        func receiveError(_ error: SIPStackError, key: TransactionKey, stack: SIPStack) {}
    }

    @Test(
        "Every request of a call reaches the core on one loop, its Call-ID's: the INVITE, and the ACK and BYE with their new branches"
    )
    func callOnOneLoop() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        var udp = UDPTransport.Configuration()
        udp.socketPerLoop = true
        let stack = SIPStack(
            name: "uas", configuration: testConfiguration(),
            transports: [UDPTransport(host: "127.0.0.1", port: 0, group: group, configuration: udp)], group: group)
        let core = LoopCore()
        stack.register(core: core)
        try await stack.start()
        let raw = UDPTransport(host: "127.0.0.1", port: 0)
        try await raw.start(delegate: RecordingDelegate())
        let address = try #require(stack.transports[0].localAddress)
        let port = raw.localAddress?.port ?? 0
        for call in 0..<32 {
            let callID = "call-\(call)-\(SIPIdentifiers.callID())"
            for (method, cseq) in [("INVITE", 1), ("ACK", 1), ("BYE", 2)] {
                let text =
                    "\(method) sip:bob@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:\(port);branch=\(Self.branch())\r\n"
                    + "Max-Forwards: 70\r\nFrom: <sip:a@example.com>;tag=1\r\nTo: <sip:bob@example.com>;tag=2\r\n"
                    + "Call-ID: \(callID)\r\nCSeq: \(cseq) \(method)\r\nContent-Length: 0\r\n\r\n"
                raw.send(Array(text.utf8), to: SIPTransportTarget(address: address), completion: nil)
            }
        }
        #expect(await waitUntil(timeout: .seconds(10)) { core.seen.withLockedValue { $0.count } == 96 })
        let seen = core.seen.withLockedValue { $0 }
        let byCall = Dictionary(grouping: seen, by: \.callID)
        #expect(byCall.count == 32)
        #expect(byCall.values.allSatisfy { Set($0.map(\.loop)).count == 1 }, "one loop per call")
        // Spread over both loops (32 random Call-IDs on one loop: one chance in 2^31).
        #expect(Set(seen.map(\.loop)).count == 2)
        await stack.shutdown()
        await raw.shutdown()
        try await group.shutdownGracefully()
    }
}
