import NIOCore
import SIPSyntax
import SIPTransport
import Sippet
import SippetDNS
import Testing

/// The zone the RFC 3263 tests resolve in, in dnsmasq's option syntax.
let sipZone: [String] = [
    // example.test: NAPTR for TCP, then UDP, then TLS; two rules the client must skip (a service
    // it does not know, and a rule that is not terminal).
    "--naptr-record=example.test,10,50,s,SIP+D2T,,_sip._tcp.example.test",
    "--naptr-record=example.test,20,50,s,SIP+D2U,,_sip._udp.example.test",
    "--naptr-record=example.test,30,50,s,SIPS+D2T,,_sips._tcp.example.test",
    "--naptr-record=example.test,5,50,s,E2U+sip,,_sip._foo.example.test",
    "--naptr-record=example.test,6,50,a,SIP+D2U,,_sip._udp.example.test",
    "--srv-host=_sip._tcp.example.test,a.example.test,5080,0,10",
    "--srv-host=_sip._tcp.example.test,b.example.test,5082,1,10",
    "--srv-host=_sip._udp.example.test,b.example.test,5090,0,10",
    "--srv-host=_sips._tcp.example.test,a.example.test,5061,0,10",
    "--host-record=a.example.test,127.0.0.2",
    "--host-record=b.example.test,127.0.0.3",
    // nonaptr.example.test: SRV only.
    "--srv-host=_sip._udp.nonaptr.example.test,c.example.test,5070,0,10",
    "--srv-host=_sip._tcp.nonaptr.example.test,c.example.test,5071,0,10",
    "--host-record=c.example.test,127.0.0.5",
    // plain.example.test: an address only.
    "--host-record=plain.example.test,127.0.0.4,::1",
    "--cname=alias.example.test,a.example.test",
    // weights.example.test: three targets of priority 0 weighted 60/30/10, one of priority 1.
    "--srv-host=_sip._udp.weights.example.test,w1.example.test,5060,0,60",
    "--srv-host=_sip._udp.weights.example.test,w2.example.test,5060,0,30",
    "--srv-host=_sip._udp.weights.example.test,w3.example.test,5060,0,10",
    "--srv-host=_sip._udp.weights.example.test,w4.example.test,5060,1,100",
    "--host-record=w1.example.test,127.0.1.1", "--host-record=w2.example.test,127.0.1.2",
    "--host-record=w3.example.test,127.0.1.3", "--host-record=w4.example.test,127.0.1.4",
    // A service declared absent (RFC 2782: target ".").
    "--srv-host=_sip._udp.absent.example.test",
]

@Suite("RFC 3263 against a real DNS server (dnsmasq)")
struct DNSResolverTests {
    static let all: Set<SIPTransportKind> = [.udp, .tcp, .tls]

    static func locate(_ uri: String, _ resolver: DNSResolver, available: Set<SIPTransportKind> = all) async throws
        -> [String]
    {
        guard let sip = try URI(uri).sipURI else { throw SIPStackError.invalidMessage(uri) }
        return try await resolver.locate(sip, available: available, messageSize: 500).map(\.description)
    }

    @Test("§4.1 NAPTR → SRV → A: rules by order, unknown services and non-terminal rules skipped, SRV by priority")
    func naptrChain() async throws {
        let server = try await TestDNSServer.start(sipZone)
        defer { server.stop() }
        let resolver = DNSResolver(client: server.client())
        let found = try await resolver.locate(
            try #require(try URI("sip:example.test").sipURI), available: Self.all, messageSize: 500)
        #expect(
            found.map(\.description) == [
                "tcp 127.0.0.2:5080", "tcp 127.0.0.3:5082", "udp 127.0.0.3:5090", "tls 127.0.0.2:5061",
            ])
        #expect(found[0].records.first?.hasPrefix(#"example.test 5 NAPTR 10 50 "s" "SIP+D2T""#) == true)
        #expect(found[0].records.dropFirst().first == "_sip._tcp.example.test 5 SRV 0 10 5080 a.example.test")
        #expect(found[0].records.last == "a.example.test 5 A 127.0.0.2")
        #expect(found[0].hostName == "example.test", "TLS verifies the URI's domain (RFC 5922)")
        // Only the transports the stack has.
        #expect(try await Self.locate("sip:example.test", resolver, available: [.udp]) == ["udp 127.0.0.3:5090"])
    }

    @Test("§4.1: sips: uses SIPS+D2T only (TLS); sip: with transport=tcp asks no NAPTR")
    func secureAndExplicit() async throws {
        let server = try await TestDNSServer.start(sipZone)
        defer { server.stop() }
        let client = server.client()
        let resolver = DNSResolver(client: client)
        #expect(try await Self.locate("sips:example.test", resolver) == ["tls 127.0.0.2:5061"])
        let fresh = server.client()
        #expect(
            try await Self.locate("sip:example.test;transport=tcp", DNSResolver(client: fresh)) == [
                "tcp 127.0.0.2:5080", "tcp 127.0.0.3:5082",
            ])
        #expect(await fresh.counters().udpQueries == 5, "SRV, then A and AAAA of each target: no NAPTR")
    }

    @Test("§4.1: no NAPTR → SRV per transport; no SRV → A and AAAA on the default port; target \".\" → nothing")
    func fallbacks() async throws {
        let server = try await TestDNSServer.start(sipZone)
        defer { server.stop() }
        let resolver = DNSResolver(client: server.client())
        #expect(
            try await Self.locate("sip:nonaptr.example.test", resolver) == ["udp 127.0.0.5:5070", "tcp 127.0.0.5:5071"])
        #expect(try await Self.locate("sip:plain.example.test", resolver) == ["udp 127.0.0.4:5060", "udp [::1]:5060"])
        #expect(try await Self.locate("sips:plain.example.test", resolver) == ["tls 127.0.0.4:5061", "tls [::1]:5061"])
        #expect(try await Self.locate("sip:alias.example.test:5099", resolver) == ["udp 127.0.0.2:5099"])
        #expect(try await Self.locate("sip:absent.example.test;transport=udp", resolver).isEmpty)
        #expect(try await Self.locate("sip:nowhere.example.test", resolver).isEmpty)
    }

    @Test("§4.1: a numeric host or an explicit port asks no NAPTR and no SRV")
    func numericAndPort() async throws {
        let server = try await TestDNSServer.start(sipZone)
        defer { server.stop() }
        let client = server.client()
        let resolver = DNSResolver(client: client)
        #expect(try await Self.locate("sip:127.0.0.9", resolver) == ["udp 127.0.0.9:5060"])
        #expect(try await Self.locate("sip:[::1]:5070;transport=tcp", resolver) == ["tcp [::1]:5070"])
        #expect(await client.counters().udpQueries == 0)
        #expect(
            try await Self.locate("sip:plain.example.test:5099", resolver) == ["udp 127.0.0.4:5099", "udp [::1]:5099"])
        #expect(await client.counters().udpQueries == 2, "A and AAAA only")
    }

    /// RFC 2782: within a priority, a target is first with probability weight / sum. The records
    /// come from the server; over 20,000 orderings of them (a seeded draw, the same on every run)
    /// each target's share of first places is within 1.5 points of 60 %, 30 % and 10 %, and the
    /// priority-1 target is always last.
    @Test("§4.2: SRV weights — the share of each target first over 20,000 picks is within 1.5 points of its weight")
    func weights() async throws {
        let server = try await TestDNSServer.start(sipZone)
        defer { server.stop() }
        let random = SeededRandom(seed: 3263)
        let resolver = DNSResolver(client: server.client(), random: { random.next($0) })
        for _ in 0..<20 {
            let order = try await Self.locate("sip:weights.example.test;transport=udp", resolver)
            #expect(order.count == 4 && order.last == "udp 127.0.1.4:5060")
        }
        let records = try await resolver.client.query("_sip._udp.weights.example.test", .srv).records
        #expect(records.count == 4)
        var first: [String: Int] = [:]
        let picks = 20_000
        for _ in 0..<picks {
            let order = DNSResolver.order(records, random: { random.next($0) })
            guard case .srv(_, _, _, let target) = order[0].data, case .srv(let last, _, _, _) = order[3].data else {
                Issue.record("not SRV records")
                return
            }
            #expect(last == 1)
            first[target, default: 0] += 1
        }
        let share = { (target: String) in Double(first[target] ?? 0) / Double(picks) }
        #expect(abs(share("w1.example.test") - 0.6) < 0.015)
        #expect(abs(share("w2.example.test") - 0.3) < 0.015)
        #expect(abs(share("w3.example.test") - 0.1) < 0.015)
    }

    @Test(
        "The cache keeps an answer for its TTL and a negative answer for the SOA minimum (RFC 2308), on a virtual clock"
    )
    func ttlAndNegativeCaching() async throws {
        let server = try await TestDNSServer.start(sipZone, ttl: 5)
        defer { server.stop() }
        let clock = VirtualClock()
        let client = server.client(now: clock.now)
        let a = try await client.query("a.example.test", .a)
        #expect(a.records.map(\.ttl) == [5])
        let missing = try await client.query("nope.example.test", .a)
        #expect(!missing.nameExists && missing.records.isEmpty)
        #expect(await client.counters().udpQueries == 2)
        clock.advance(by: .milliseconds(4999))
        _ = try await client.query("a.example.test", .a)
        _ = try await client.query("nope.example.test", .a)
        #expect(await client.counters().udpQueries == 2, "both still cached at 4.999 s")
        #expect(await client.counters().cacheHits == 2)
        clock.advance(by: .milliseconds(1))
        _ = try await client.query("a.example.test", .a)
        _ = try await client.query("nope.example.test", .a)
        #expect(await client.counters().udpQueries == 4, "both asked again at 5 s")
    }

    @Test("A truncated answer (30 SRV records, over 512 bytes) is asked again over TCP and read whole")
    func truncationAndTCP() async throws {
        let big = (1...30).map { "--srv-host=_sip._udp.big.example.test,target-number-\($0).example.test,5060,0,10" }
        let server = try await TestDNSServer.start(big)
        defer { server.stop() }
        let client = server.client()
        let answer = try await client.query("_sip._udp.big.example.test", .srv)
        #expect(answer.records.count == 30)
        let counters = await client.counters()
        #expect(counters.udpQueries == 1 && counters.tcpQueries == 1)
    }

    @Test("Concurrent lookups of one name share one query; a dead server is passed over after its timeout")
    func sharingAndServers() async throws {
        let server = try await TestDNSServer.start(sipZone)
        defer { server.stop() }
        let deadPort = try HeldPort(.udp)
        defer { withExtendedLifetime(deadPort) {} }
        let dead = try SocketAddress(ipAddress: "127.0.0.1", port: deadPort.port)
        var c = DNSConfiguration(servers: [dead, server.address])
        c.timeout = .milliseconds(500)
        let client = DNSClient(configuration: c)
        let answers = try await withThrowingTaskGroup(of: DNSAnswer.self) { group in
            for _ in 0..<10 { group.addTask { try await client.query("b.example.test", .a) } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(answers.count == 10 && answers.allSatisfy { $0.records.first?.addressText == "127.0.0.3" })
        let counters = await client.counters()
        // One query, shared: the dead server first, then the live one (again each round, should
        // a loaded machine keep the live one's answer past the timeout).
        #expect(
            counters.udpQueries >= 2 && counters.udpQueries % 2 == 0,
            "the dead server is asked first, then the live one")
        #expect(counters.sharedLookups + counters.cacheHits == 9)
        await client.shutdown()
    }

    @Test("§4.3: a candidate that failed is tried last while remembered")
    func failureMemory() async throws {
        let server = try await TestDNSServer.start(sipZone)
        defer { server.stop() }
        let resolver = DNSResolver(client: server.client(), failureMemory: .seconds(60))
        let uri = try #require(try URI("sip:example.test;transport=tcp").sipURI)
        let first = try await resolver.locate(uri, available: Self.all, messageSize: 500)
        resolver.failed(first[0])
        let again = try await resolver.locate(uri, available: Self.all, messageSize: 500)
        #expect(again.map(\.description) == ["tcp 127.0.0.3:5082", "tcp 127.0.0.2:5080"])
    }

    @Test("Limit: an alias chain longer than 8 is a bad answer, one of 8 is followed")
    func aliasChainLimit() async throws {
        // c0 → c1 → … → c9 → a.example.test
        var records = (0..<9).map { "--cname=c\($0).example.test,c\($0 + 1).example.test" }
        records += ["--cname=c9.example.test,a.example.test", "--host-record=a.example.test,127.0.0.2"]
        let server = try await TestDNSServer.start(records)
        defer { server.stop() }
        let client = server.client()
        let eight = try await client.query("c2.example.test", .a)
        #expect(eight.aliases.count == 8 && eight.records.first?.addressText == "127.0.0.2")
        await #expect(throws: DNSError.self) { try await client.query("c0.example.test", .a) }
    }

    @Test("Limit: one SRV answer gives at most maxTargetsPerService targets")
    func targetLimit() async throws {
        var records = (1...30).map { "--srv-host=_sip._udp.many.example.test,t\($0).example.test,5060,0,10" }
        records += (1...30).map { "--host-record=t\($0).example.test,127.0.2.\($0)" }
        let server = try await TestDNSServer.start(records)
        defer { server.stop() }
        let found = try await Self.locate("sip:many.example.test;transport=udp", DNSResolver(client: server.client()))
        #expect(found.count == DNSResolver.maxTargetsPerService)
    }

    @Test("Limit: at most maxRememberedFailures candidates are remembered; past it the memory starts again")
    func failureMemoryLimit() async throws {
        let server = try await TestDNSServer.start(sipZone)
        defer { server.stop() }
        let resolver = DNSResolver(client: server.client(), failureMemory: .seconds(60))
        let uri = try #require(try URI("sip:example.test;transport=tcp").sipURI)
        let first = try await resolver.locate(uri, available: Self.all, messageSize: 500)
        resolver.failed(first[0])
        // Fill the table: the first failure is still remembered while there is room.
        for i in 1..<DNSResolver.maxRememberedFailures {
            let address = try SocketAddress(ipAddress: "10.\(i >> 16 & 255).\(i >> 8 & 255).\(i & 255)", port: 5060)
            resolver.failed(SIPServerCandidate(kind: .udp, address: address))
        }
        #expect(try await resolver.locate(uri, available: Self.all, messageSize: 500).first == first[1])
        // One more, none expired: the table is emptied, and the first failure is forgotten.
        resolver.failed(SIPServerCandidate(kind: .udp, address: try SocketAddress(ipAddress: "10.255.0.1", port: 5060)))
        #expect(try await resolver.locate(uri, available: Self.all, messageSize: 500).first == first[0])
    }
}
