import SIPSyntax
import SIPTransport
import Testing

@testable import Sippet

/// RFC 3261 §18.1.1 and RFC 3263 §4 (without SRV and NAPTR), rule by rule.
@Suite("Routing rules")
struct RoutingRuleTests {
    static let all: Set<SIPTransportKind> = [.udp, .tcp, .tls, .ws, .wss]

    static func hop(_ uri: String, size: Int = 500, available: Set<SIPTransportKind> = all) throws -> NextHop {
        try Routing.nextHop(for: try SIPURI(uri), messageSize: size, available: available)
    }

    @Test(
        "RFC 3263 §4.1: the transport parameter, else UDP for sip: and TLS for sips:; default ports 5060, 5061, 80, 443",
        arguments: [
            ("sip:a@192.0.2.1", SIPTransportKind.udp, 5060),
            ("sip:a@192.0.2.1;transport=tcp", .tcp, 5060),
            ("sip:a@192.0.2.1;transport=TLS", .tls, 5061),
            ("sips:a@192.0.2.1", .tls, 5061),
            ("sips:a@192.0.2.1;transport=tcp", .tls, 5061),
            ("sip:a@192.0.2.1;transport=ws", .ws, 80),
            ("sips:a@192.0.2.1;transport=ws", .wss, 443),
            ("sip:a@192.0.2.1:5099", .udp, 5099),
        ])
    func transportAndPort(uri: String, kind: SIPTransportKind, port: Int) throws {
        let h = try Self.hop(uri)
        #expect(h.kind == kind)
        #expect(h.port == port)
    }

    @Test("RFC 3261 §19.1.1: maddr overrides the host; an IPv6 reference loses its brackets")
    func maddrAndIPv6() throws {
        #expect(try Self.hop("sip:a@example.com;maddr=192.0.2.9").host == "192.0.2.9")
        let v6 = try Self.hop("sip:a@[2001:db8::1]:5070")
        #expect(v6.host == "2001:db8::1")
        #expect(v6.address?.port == 5070)
        #expect(try Self.hop("sip:a@example.com").address == nil, "a name goes to the resolver")
    }

    @Test("RFC 3261 §18.1.1: above 1300 bytes a request goes over TCP, unless the URI names the transport")
    func sizeRule() throws {
        #expect(try Self.hop("sip:a@192.0.2.1", size: 1301).kind == .tcp)
        #expect(try Self.hop("sip:a@192.0.2.1", size: 1300).kind == .udp)
        #expect(try Self.hop("sip:a@192.0.2.1;transport=udp", size: 4000).kind == .udp)
    }

    @Test("A target no transport of the stack can reach is an error, not a guess")
    func unavailable() throws {
        #expect(throws: SIPStackError.self) { try Self.hop("sips:a@192.0.2.1", available: [.udp, .tcp]) }
        #expect(throws: SIPStackError.self) { try Self.hop("sips:a@192.0.2.1;transport=udp") }
        #expect(throws: SIPStackError.self) { try Self.hop("sip:a@192.0.2.1;transport=sctp") }
        #expect(try Self.hop("sip:a@192.0.2.1", available: [.tcp]).kind == .tcp, "no UDP: TCP")
    }

    @Test("RFC 3261 §8.1.2, §16.12: the first Route when it is a loose router, else the Request-URI")
    func routeSet() throws {
        func request(_ routes: [String]) throws -> SIPMessage {
            .request(method: .options, uri: try URI("sip:bob@192.0.2.50"), headers: routes.map { (.route, $0) })
        }
        #expect(
            try Routing.targetURI(of: try request(["<sip:proxy.example.com;lr>", "<sip:p2.example.com;lr>"])).host.text
                == "proxy.example.com")
        #expect(try Routing.targetURI(of: try request(["<sip:strict.example.com>"])).host.text == "192.0.2.50")
        #expect(try Routing.targetURI(of: try request([])).host.text == "192.0.2.50")
        let tel = SIPMessage.request(method: .options, uri: try URI("tel:+15551234567"))
        #expect(throws: SIPStackError.self) { try Routing.targetURI(of: tel) }
    }
}
