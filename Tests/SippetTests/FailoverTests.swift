import NIOConcurrencyHelpers
import NIOCore
import SIPSyntax
import SIPTransaction
import SIPTransport
import Sippet
import SippetDNS
import Testing

/// A core that answers every request but ACK with `status`, and counts them.
final class StatusCore: SIPCore {
    let status: Int
    private let received = NIOLockedValueBox<[SIPMessage]>([])

    init(status: Int) { self.status = status }

    var requests: [SIPMessage] { received.withLockedValue { $0 } }

    func receiveRequest(_ request: SIPMessage, key: ServerTransactionKey?, stack: SIPStack) {
        received.withLockedValue { $0.append(request) }
        if request.method != .ack { _ = try? stack.send(request.makeResponse(status: status)) }
    }
    func receiveResponse(_ response: SIPMessage, key: ClientTransactionKey?, stack: SIPStack) {}
    func receiveError(_ error: SIPStackError, key: TransactionKey, stack: SIPStack) {}
}

@Suite("RFC 3263 §4.3 failover, end to end over loopback")
struct FailoverTests {
    /// A server stack on UDP and TCP 127.0.0.1 answering `status`.
    static func server(_ status: Int) async throws -> (SIPStack, StatusCore) {
        let stack = SIPStack(
            name: "target-\(status)", configuration: testConfiguration(),
            transports: [UDPTransport(host: "127.0.0.1", port: 0), try TCPTransport(host: "127.0.0.1", port: 0)])
        let core = StatusCore(status: status)
        stack.register(core: core)
        try await stack.start()
        return (stack, core)
    }

    static func port(_ stack: SIPStack, _ kind: SIPTransportKind) -> Int {
        stack.transports.first { $0.kind == kind }?.localAddress?.port ?? 0
    }

    /// Sends OPTIONS to `sip:fo.example.test` over `kind`, whose SRV records are `first` (priority
    /// 0) and `second` (priority 1) on a.example.test and b.example.test; returns the statuses
    /// the core saw under the key it was given, and its errors.
    static func options(
        _ kind: SIPTransportKind, first: Int, second: Int
    ) async throws -> (statuses: [Int], errors: [SIPStackError], resolver: DNSResolver) {
        let service = kind == .udp ? "_sip._udp" : "_sip._tcp"
        let dns = try await TestDNSServer.start([
            "--srv-host=\(service).fo.example.test,a.example.test,\(first),0,10",
            "--srv-host=\(service).fo.example.test,b.example.test,\(second),1,10",
            "--host-record=a.example.test,127.0.0.1", "--host-record=b.example.test,127.0.0.1",
        ])
        defer { dns.stop() }
        let resolver = DNSResolver(client: dns.client())
        let client = SIPStack(
            name: "client", configuration: testConfiguration(),
            transports: [UDPTransport(host: "127.0.0.1", port: 0), try TCPTransport(host: "127.0.0.1", port: 0)],
            resolver: resolver)
        let log = EventLog(client)
        try await client.start()
        defer { Task { await client.shutdown() } }
        let uri = "sip:fo.example.test;transport=\(kind.uriParameter)"
        let options = try Dialer(to: uri).request(.options, uri)
        let key = try client.send(options)
        let statuses = await log.finalStatuses(key)
        return (statuses, log.errors(key), resolver)
    }

    @Test("A refused TCP connection moves the request to the next SRV target")
    func refusedConnection() async throws {
        let (good, core) = try await Self.server(200)
        defer { Task { await good.shutdown() } }
        let closed = try HeldPort(.tcp)
        let result = try await Self.options(.tcp, first: closed.port, second: Self.port(good, .tcp))
        withExtendedLifetime(closed) {}
        #expect(result.statuses == [200])
        #expect(result.errors.isEmpty)
        #expect(core.requests.count == 1)
    }

    @Test(
        "A 503 moves the request to the next target, as a new transaction with a new branch; the core sees only the 200"
    )
    func serviceUnavailable() async throws {
        let (busy, busyCore) = try await Self.server(503)
        let (good, goodCore) = try await Self.server(200)
        defer {
            Task {
                await busy.shutdown()
                await good.shutdown()
            }
        }
        let result = try await Self.options(.tcp, first: Self.port(busy, .tcp), second: Self.port(good, .tcp))
        #expect(result.statuses == [200])
        #expect(busyCore.requests.count == 1 && goodCore.requests.count == 1)
        let first = try #require(busyCore.requests.first?.topVia?.branch)
        let second = try #require(goodCore.requests.first?.topVia?.branch)
        #expect(first != second && second.hasPrefix("z9hG4bK"))
        #expect(busyCore.requests[0].callID == goodCore.requests[0].callID, "the same request")
        #expect(busyCore.requests[0].cseq == goodCore.requests[0].cseq)
    }

    @Test("A UDP target that never answers is left after Timer F (64·T1 = 3.2 s here) for the next one")
    func silentUDP() async throws {
        let (good, core) = try await Self.server(200)
        defer { Task { await good.shutdown() } }
        let silent = try HeldPort(.udp)
        let result = try await Self.options(.udp, first: silent.port, second: Self.port(good, .udp))
        withExtendedLifetime(silent) {}
        #expect(result.statuses == [200])
        #expect(core.requests.count == 1)
    }

    @Test("When every candidate fails, the core hears the last failure under its own key")
    func allFail() async throws {
        let (busy, _) = try await Self.server(503)
        defer { Task { await busy.shutdown() } }
        let closed = try HeldPort(.tcp)
        let result = try await Self.options(.tcp, first: closed.port, second: Self.port(busy, .tcp))
        withExtendedLifetime(closed) {}
        #expect(result.statuses == [503])
    }
}

@Suite("RFC 3263: CANCEL after failover, §5 responses, destinations, the cache bound")
struct LocationDetailsTests {
    @Test("§4.3: a CANCEL follows its INVITE to the candidate it failed over to, and reports under the core's keys")
    func cancelAfterFailover() async throws {
        let uas = SIPStack(
            name: "ringing", configuration: testConfiguration(),
            transports: [try TCPTransport(host: "127.0.0.1", port: 0)])
        let core = TestUAS(TestUAS.Options(holdInvites: true))
        uas.register(core: core)
        try await uas.start()
        defer { Task { await uas.shutdown() } }
        let closed = try HeldPort(.tcp)
        defer { withExtendedLifetime(closed) {} }
        let dns = try await TestDNSServer.start([
            "--srv-host=_sip._tcp.fo.example.test,a.example.test,\(closed.port),0,10",
            "--srv-host=_sip._tcp.fo.example.test,b.example.test,\(FailoverTests.port(uas, .tcp)),1,10",
            "--host-record=a.example.test,127.0.0.1", "--host-record=b.example.test,127.0.0.1",
        ])
        defer { dns.stop() }
        let client = SIPStack(
            name: "caller", configuration: testConfiguration(),
            transports: [try TCPTransport(host: "127.0.0.1", port: 0)], resolver: DNSResolver(client: dns.client()))
        let log = EventLog(client)
        try await client.start()
        defer { Task { await client.shutdown() } }
        let uri = "sip:fo.example.test;transport=tcp"
        let invite = try Dialer(to: uri).request(.invite, uri)
        let key = try #require(try client.send(invite)?.client)
        #expect(await log.wait { $0.statuses(.client(key)).contains(180) })
        let cancelKey = try client.cancel(key)
        #expect(await log.finalStatuses(.client(key)) == [180, 487])
        #expect(await log.finalStatuses(.client(cancelKey)) == [200])
        #expect(core.count(.invite) == 1 && core.count(.cancel) == 1)
    }

    @Test("§5: a response sent statelessly to a Via whose sent-by is a name without a port goes where its SRV says")
    func responseToName() async throws {
        let receiver = UDPTransport(host: "127.0.0.1", port: 0)
        let recorder = RecordingDelegate()
        try await receiver.start(delegate: recorder)
        defer { Task { await receiver.shutdown() } }
        let port = try #require(receiver.localAddress?.port)
        let dns = try await TestDNSServer.start([
            "--srv-host=_sip._udp.uac.example.test,host.example.test,\(port),0,10",
            "--host-record=host.example.test,127.0.0.1",
        ])
        defer { dns.stop() }
        let stack = SIPStack(
            name: "responder", configuration: testConfiguration(),
            transports: [UDPTransport(host: "127.0.0.1", port: 0)], resolver: DNSResolver(client: dns.client()))
        try await stack.start()
        defer { Task { await stack.shutdown() } }
        let response = SIPMessage.response(
            status: 200,
            headers: [
                (.via, "SIP/2.0/UDP uac.example.test;branch=z9hG4bK-nameonly"), (.from, "<sip:a@x>;tag=1"),
                (.to, "<sip:b@y>;tag=2"), (.callID, "stateless-to-name"), (.cseq, "1 OPTIONS"),
            ])
        try stack.send(response)
        let got = await recorder.waitForMessages(1)
        #expect(got.first.flatMap { try? SIPMessage(parsing: $0.bytes) }?.callID == "stateless-to-name")
    }

    @Test("send(_:to:) sends a request where the caller says, its Request-URI unchanged")
    func destinationOverride() async throws {
        let (target, core) = try await FailoverTests.server(200)
        defer { Task { await target.shutdown() } }
        let client = SIPStack(
            name: "client", configuration: testConfiguration(), transports: [UDPTransport(host: "127.0.0.1", port: 0)])
        let log = EventLog(client)
        try await client.start()
        defer { Task { await client.shutdown() } }
        let options = try Dialer(to: "sip:bob@nowhere.invalid").request(.options, "sip:bob@nowhere.invalid")
        let key = try client.send(
            options, to: try #require(try URI("sip:127.0.0.1:\(FailoverTests.port(target, .udp))").sipURI))
        #expect(await log.finalStatuses(key) == [200])
        #expect(core.requests.first?.requestURI?.description == "sip:bob@nowhere.invalid")
    }

    @Test("The cache holds at most cacheSize answers: the oldest goes first")
    func cacheBound() async throws {
        let dns = try await TestDNSServer.start(sipZone)
        defer { dns.stop() }
        var c = DNSConfiguration(servers: [dns.address])
        c.cacheSize = 2
        let client = DNSClient(configuration: c)
        defer { Task { await client.shutdown() } }
        for name in ["a.example.test", "b.example.test", "c.example.test"] { _ = try await client.query(name, .a) }
        #expect(await client.counters().udpQueries == 3)
        _ = try await client.query("c.example.test", .a)
        _ = try await client.query("b.example.test", .a)
        #expect(await client.counters().udpQueries == 3, "the two newest are held")
        _ = try await client.query("a.example.test", .a)
        #expect(await client.counters().udpQueries == 4, "the oldest was pushed out")
    }
}
