import Testing

@testable import SIPSyntax

/// RFC 3261 §18.2.1 and RFC 3581 §4 on a received request: `received` and the value of `rport`
/// put in its top Via in place, the message still as parsed.
@Suite("Top Via edited in place")
struct TopViaEditTests {
    static func request(via: String, extraVia: String? = nil) -> String {
        "INVITE sip:bob@example.com SIP/2.0\r\n"
            + "Via: \(via)\r\n"
            + (extraVia.map { "Via: \($0)\r\n" } ?? "")
            + "Max-Forwards: 70\r\nFrom: <sip:a@example.com>;tag=f1\r\nTo: <sip:bob@example.com>;tag=t9\r\n"
            + "Call-ID: c0ffee@192.0.2.7\r\nCSeq: 7 INVITE\r\nContent-Type: application/sdp\r\n"
            + "Content-Length: 4\r\n\r\nv=0\n"
    }

    /// The stamped message is what a fresh parse of its bytes gives: the same fields, the same
    /// essentials, the same body.
    static func expectConsistent(_ m: SIPMessage, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let again = try SIPMessage(parsing: m.serialized())
        #expect(Array(m.headers) == Array(again.headers), sourceLocation: sourceLocation)
        #expect(m.body == again.body, sourceLocation: sourceLocation)
        let (a, b) = (try #require(m.essentials), try #require(again.essentials))
        #expect(a.branch == b.branch && a.sentByHost == b.sentByHost && a.sentByPort == b.sentByPort)
        #expect(a.received == b.received && a.rport == b.rport && a.hasRport == b.hasRport)
        #expect(a.callID == b.callID && a.fromTag == b.fromTag && a.toTag == b.toTag)
        #expect(a.cseqNumber == b.cseqNumber && a.cseqMethod == b.cseqMethod && a.maddr == b.maddr)
        #expect(m.topVia == again.topVia, sourceLocation: sourceLocation)
    }

    @Test("A valueless rport gets the source port and received is added after the last parameter")
    func rportAndReceived() throws {
        var m = try SIPMessage(parsing: Self.request(via: "SIP/2.0/UDP 192.0.2.7:5099;branch=z9hG4bKab1;rport"))
        let stamped1 = m.stampTopVia(received: "198.51.100.4", rport: 40123)

        #expect(stamped1)
        #expect(
            m.text
                == Self.request(via: "SIP/2.0/UDP 192.0.2.7:5099;branch=z9hG4bKab1;rport=40123;received=198.51.100.4")
        )
        #expect(m.essentials?.received?.string == "198.51.100.4")
        #expect(m.essentials?.rport?.string == "40123")
        #expect(m.topVia?.rport == .some(40123))
        try Self.expectConsistent(m)
    }

    @Test("rport in the middle: its value goes after its name, received at the end; a second Via is untouched")
    func rportInTheMiddle() throws {
        var m = try SIPMessage(
            parsing: Self.request(
                via:
                    "SIP/2.0/UDP host.example.com;rport;branch=z9hG4bKab2 , SIP/2.0/TCP proxy.example.com;branch=z9hG4bKp",
                extraVia: "SIP/2.0/UDP last.example.com;branch=z9hG4bKl"))
        let stamped2 = m.stampTopVia(received: "192.0.2.9", rport: 5070)

        #expect(stamped2)
        #expect(
            m.text
                == Self.request(
                    via:
                        "SIP/2.0/UDP host.example.com;rport=5070;branch=z9hG4bKab2;received=192.0.2.9 , SIP/2.0/TCP proxy.example.com;branch=z9hG4bKp",
                    extraVia: "SIP/2.0/UDP last.example.com;branch=z9hG4bKl"))
        #expect(m.via.count == 3)
        #expect(m.essentials?.branch?.string == "z9hG4bKab2")
        try Self.expectConsistent(m)
    }

    @Test("A received that differs is replaced; one that matches leaves the bytes as they were")
    func receivedReplaced() throws {
        let original = Self.request(via: "SIP/2.0/UDP 10.0.0.1;received=10.0.0.1;branch=z9hG4bKab3")
        var m = try SIPMessage(parsing: original)
        let stamped3 = m.stampTopVia(received: "10.0.0.1", rport: nil)

        #expect(stamped3)
        #expect(m.text == original)
        let stamped4 = m.stampTopVia(received: "2001:db8::7", rport: 5060)

        #expect(stamped4, "no rport asked for: none added")
        #expect(m.text == Self.request(via: "SIP/2.0/UDP 10.0.0.1;received=2001:db8::7;branch=z9hG4bKab3"))
        #expect(m.essentials?.received?.string == "2001:db8::7")
        try Self.expectConsistent(m)
    }

    @Test("A Via without parameters gets received after its port; a message not as parsed is left alone")
    func noParameters() throws {
        var m = try SIPMessage(parsing: Self.request(via: "SIP/2.0/UDP 192.0.2.7:5099"))
        let stamped5 = m.stampTopVia(received: "192.0.2.8", rport: nil)

        #expect(stamped5)
        #expect(m.text == Self.request(via: "SIP/2.0/UDP 192.0.2.7:5099;received=192.0.2.8"))
        try Self.expectConsistent(m)
        var changed = m
        changed.headers.append(.subject, "x")
        let stamped6 = changed.stampTopVia(received: "192.0.2.9", rport: nil)

        #expect(!stamped6)
        #expect(changed.topVia?.received == "192.0.2.8")
    }

    @Test("Every request of the torture corpus that parses stays consistent after the edit")
    func corpus() throws {
        var stamped = 0
        for entry in Corpus.manifest {
            guard var m = try? SIPMessage(parsing: Corpus.wire(entry)), m.isRequest, m.essentials?.sentByHost != nil
            else { continue }
            guard m.stampTopVia(received: "203.0.113.77", rport: 41000) else { continue }
            stamped += 1
            #expect(m.essentials?.received?.string == "203.0.113.77", "\(entry.name)")
            try Self.expectConsistent(m)
        }
        #expect(stamped > 10)
    }

    @Test("The accessors of the hot headers read the parser's findings, and agree with the typed headers")
    func accessorsFromTheCache() throws {
        for entry in Corpus.manifest {
            guard let m = try? SIPMessage(parsing: Corpus.wire(entry)) else { continue }
            #expect(m.callID == (try? m.headers.first(.callID)), "\(entry.name)")
            #expect(m.cseq == (try? m.headers.first(.cseq)), "\(entry.name)")
            #expect(m.maxForwards == (try? m.headers.first(.maxForwards)), "\(entry.name)")
            #expect(m.fromTag == m.from?.tag, "\(entry.name)")
            #expect(m.toTag == m.to?.tag, "\(entry.name)")
        }
    }
}
