import Testing

@testable import SIPSyntax

@Suite("URIs (RFC 3261 §19.1)")
struct URITests {
    @Test("parts of a SIP URI") func parts() throws {
        let u = try SIPURI(
            "sips:alice:secret@atlanta.com:5061;transport=tcp;lr;maddr=239.255.255.1?subject=project%20x&priority=urgent"
        )
        #expect(u.isSecure)
        #expect(u.user == "alice")
        #expect(u.password == "secret")
        #expect(u.host.text == "atlanta.com")
        #expect(u.port == 5061)
        #expect(u.transport == "tcp")
        #expect(u.isLooseRouter)
        #expect(u.maddr == "239.255.255.1")
        #expect(u.headers.map(\.name) == ["subject", "priority"])
        #expect(
            u.description
                == "sips:alice:secret@atlanta.com:5061;transport=tcp;lr;maddr=239.255.255.1?subject=project%20x&priority=urgent"
        )
    }

    /// RFC 3261 §19.1.4's examples of equivalent and non-equivalent URIs.
    @Test(
        "§19.1.4 equivalent pairs",
        arguments: [
            ("sip:%61lice@atlanta.com;transport=TCP", "sip:alice@AtLanTa.CoM;Transport=tcp"),
            ("sip:carol@chicago.com", "sip:carol@chicago.com;newparam=5"),
            ("sip:carol@chicago.com", "sip:carol@chicago.com;security=on"),
            ("sip:carol@chicago.com;newparam=5", "sip:carol@chicago.com;security=on"),
            (
                "sip:biloxi.com;transport=tcp;method=REGISTER?to=sip:bob%40biloxi.com",
                "sip:biloxi.com;method=REGISTER;transport=tcp?to=sip:bob%40biloxi.com"
            ),
            (
                "sip:alice@atlanta.com?subject=project%20x&priority=urgent",
                "sip:alice@atlanta.com?priority=urgent&subject=project%20x"
            ),
        ])
    func equivalent(_ pair: (String, String)) throws {
        #expect(try SIPURI(pair.0) == SIPURI(pair.1))
    }

    @Test(
        "§19.1.4 non-equivalent pairs",
        arguments: [
            ("SIP:ALICE@AtLanTa.CoM;Transport=udp", "sip:alice@AtLanTa.CoM;Transport=UDP"),
            ("sip:bob@biloxi.com", "sip:bob@biloxi.com:5060"),
            ("sip:bob@biloxi.com", "sip:bob@biloxi.com;transport=udp;user=phone"),
            ("sip:carol@chicago.com", "sip:carol@chicago.com?Subject=next%20meeting"),
            ("sip:bob@phone21.boxesbybob.com", "sip:bob@192.0.2.4"),
            ("sip:alice@atlanta.com", "sips:alice@atlanta.com"),
            ("sip:alice@atlanta.com;maddr=1.2.3.4", "sip:alice@atlanta.com"),
        ])
    func notEquivalent(_ pair: (String, String)) throws {
        #expect(try SIPURI(pair.0) != SIPURI(pair.1))
    }

    @Test("tel and other schemes") func otherSchemes() throws {
        guard case .tel(let t) = try URI("tel:+1-201-555-0123;phone-context=example.com") else {
            Issue.record("not tel")
            return
        }
        #expect(t.number == "+1-201-555-0123")
        #expect(t.isGlobal)
        #expect(t.parameters.value("phone-context") == "example.com")
        #expect(try URI("tel:+12015550123") == URI("tel:+1-201-555-0123"))
        #expect(try URI("urn:service:sos").scheme == "urn")
        #expect(try URI("urn:service:sos").description == "urn:service:sos")
    }

    @Test(
        "malformed URIs are refused",
        arguments: [
            "sip:", "sip:user@", "sip:host:99999", "sip:host:", "sip:[2001:db8::1", "sip:[zz::1]", "sip:a@b;",
            "sip:%zzuser@host",
            "sip:host;x=", "sip:-bad-.example.com", "sip:1.2.3.400", "sip:2001:db8::10", "nocolon", "sip:host?x",
        ])
    func malformed(_ text: String) {
        #expect(throws: SIPParseError.self) { try URI(text) }
    }

    @Test("IPv6 forms, RFC 5118") func ipv6Forms() {
        func p(_ s: String) -> [UInt8]? {
            let b = Array(s.utf8)
            return IPv6.parse(b, 0..<b.count)
        }
        #expect(p("2001:db8::10") == [0x20, 1, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10])
        #expect(p("::1") == [UInt8](repeating: 0, count: 15) + [1])
        #expect(p("::ffff:192.0.2.10") == [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 10])
        #expect(p("2001:db8:::192.0.2.1") == p("2001:db8::192.0.2.1"))
        #expect(p("1:2:3:4:5:6:7:8") != nil)
        #expect(p("1:2:3:4:5:6:7:8:9") == nil)
        #expect(p("1::2::3") == nil)
        #expect(p(":1") == nil)
        #expect(p("1:") == nil)
    }
}

@Suite("SIP URIs written as bytes")
struct SIPURIWriteTests {
    @Test(
        "a SIP URI written into a request line is its text",
        arguments: [
            "sip:bob@biloxi.com", "sips:alice:secret@atlanta.com:5061", "sip:127.0.0.1:5070",
            "sip:%61lice@atlanta.com;transport=TCP;lr", "sip:bob@[2001:db8::1]:5060?subject=x&priority=urgent",
            "sip:+1-212-555-1212:1234@gateway.com;user=phone",
        ])
    func writtenAsText(text: String) throws {
        guard case .sip(let u) = try URI(text) else {
            Issue.record("not a SIP URI")
            return
        }
        var out: [UInt8] = []
        u.write(into: &out)
        #expect(String(decoding: out, as: UTF8.self) == u.description)
        #expect(u.description == text)
    }
}
