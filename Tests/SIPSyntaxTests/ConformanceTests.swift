import Testing

@testable import SIPSyntax

/// Every message of RFC 4475 and RFC 5118, with what MANIFEST.tsv says a conforming stack does.
@Suite("Torture messages (RFC 4475, RFC 5118)")
struct ConformanceTests {
    /// What a UAS answers (RFC 4475 §3 per message): accept, a status code, or drop.
    static let verdicts: [String: String] = [
        // invalid-syntax
        "badinv01": "400", "clerr": "400", "ncl": "400", "scalar02": "400", "scalarlg": "drop", "quotbal": "400",
        "ltgtruri": "400", "lwsruri": "400", "lwsstart": "400", "trws": "400", "escruri": "400", "baddate": "400",
        "regbadct": "400", "badaspec": "400", "baddn": "400", "badvers": "505", "mismatch01": "400",
        "mismatch02": "501",
        "bigcode": "drop", "ipv6-bad": "400",
        // invalid-transaction
        "badbranch": "accept",
        // invalid-application
        "insuf": "400", "unkscm": "416", "novelsc": "416", "unksm2": "400", "bext01": "420", "invut": "415",
        "regaut01": "accept", "multi01": "400", "mcl01": "400", "bcast": "drop", "zeromf": "accept",
        "cparam01": "accept",
        "cparam02": "accept", "regescrt": "accept", "sdp01": "406",
        // backward-compat
        "inv2543": "accept",
    ]

    /// Parses as the `sippet parse` command does: the message, then every header it knows.
    static func strictParse(_ bytes: [UInt8]) throws(SIPParseError) -> SIPMessage {
        let m = try SIPMessage(parsing: bytes)
        try m.headers.validateKnownHeaders()
        return m
    }

    static func verdict(_ bytes: [UInt8]) -> String {
        let v: SIPVerdict
        do {
            v = SIPValidator.validate(try strictParse(bytes))
        } catch {
            v = SIPValidator.verdictForUnparseable(bytes, error, policy: .userAgent)
        }
        switch v {
        case .accept: return "accept"
        case .reject(let r): return String(r.status)
        case .drop: return "drop"
        }
    }

    @Test("the manifest lists all 61 messages")
    func manifestIsComplete() {
        #expect(Corpus.manifest.count == 61)
        #expect(Corpus.manifest.allSatisfy { !Corpus.raw($0).isEmpty })
    }

    @Test(
        "valid and backward-compatible messages parse, every known header included",
        arguments: Corpus.manifest.filter {
            ["valid", "backward-compat", "invalid-transaction"].contains($0.expected)
        })
    func validParses(_ e: Corpus.Entry) throws {
        let m = try Self.strictParse(Corpus.wire(e))
        #expect(m.essentials != nil)
    }

    @Test(
        "syntactically invalid messages are rejected with a specific error",
        arguments: Corpus.manifest.filter {
            $0.expected == "invalid-syntax"
        })
    func invalidSyntaxRejected(_ e: Corpus.Entry) {
        #expect(throws: SIPParseError.self) { try Self.strictParse(Corpus.wire(e)) }
    }

    @Test(
        "invalid-application messages parse (mcl01's framing is undefined and is refused)",
        arguments: Corpus.manifest.filter {
            $0.expected == "invalid-application" && $0.name != "mcl01"
        })
    func applicationLevelParses(_ e: Corpus.Entry) throws {
        _ = try SIPMessage(parsing: Corpus.wire(e))
    }

    @Test("each invalid message gets the response RFC 4475 prescribes", arguments: Array(verdicts.keys).sorted())
    func prescribedResponse(_ name: String) {
        #expect(Self.verdict(Corpus.wire(Corpus.entry(name))) == Self.verdicts[name])
    }

    @Test("the specific errors") func specificErrors() {
        func kind(_ name: String) -> SIPParseError.Kind? {
            do {
                _ = try Self.strictParse(Corpus.wire(Corpus.entry(name)))
                return nil
            } catch { return error.kind }
        }
        #expect(kind("badvers") == .unsupportedVersion)
        #expect(kind("mismatch01") == .cseqMethodMismatch)
        #expect(kind("mismatch02") == .cseqMethodMismatch)
        #expect(kind("clerr") == .truncatedBody)
        #expect(kind("ncl") == .invalidContentLength)
        #expect(kind("mcl01") == .invalidContentLength)
        #expect(kind("bigcode") == .malformedStartLine)
        #expect(kind("ltgtruri") == .malformedStartLine)
        #expect(kind("lwsstart") == .malformedStartLine)
        #expect(kind("trws") == .malformedStartLine)
        #expect(kind("escruri") == .malformedStartLine)
        #expect(kind("baddn") == .missingEmptyLine)
        #expect(kind("quotbal") == .invalidHeaderValue)
        #expect(kind("scalar02") == .invalidHeaderValue)
    }

    @Test("420 lists the unsupported option tags; 415 says what is accepted") func rejectionHeaders() throws {
        let bext = try Corpus.parse("bext01")
        guard case .reject(let r) = SIPValidator.validate(bext) else {
            Issue.record("bext01 accepted")
            return
        }
        #expect(r.headers.first { $0.name == .unsupported }?.value == "nothingSupportsThis, nothingSupportsThisEither")
        let response = r.response(to: bext)
        #expect(response.status == 420)
        #expect(response.headers[.unsupported] == "nothingSupportsThis, nothingSupportsThisEither")
        #expect(response.headers[.callID] == bext.headers[.callID])
        let invut = try Corpus.parse("invut")
        guard case .reject(let u) = SIPValidator.validate(invut) else {
            Issue.record("invut accepted")
            return
        }
        #expect(u.headers.first { $0.name == .accept }?.value == "application/sdp")
    }

    @Test("an unparseable but answerable request gets its 400 with the request's Via, Call-ID and CSeq")
    func answeringBroken() throws {
        let bytes = Corpus.wire(Corpus.entry("badinv01"))
        let error: SIPParseError
        do {
            _ = try SIPMessage(parsing: bytes)
            Issue.record("badinv01 parsed")
            return
        } catch let e { error = e }
        let response = try #require(SIPValidator.rejectionResponse(for: bytes, error: error))
        #expect(response.status == 400)
        #expect(response.headers[.via] == "SIP/2.0/UDP 192.0.2.15;;,;,,")
        #expect(response.headers[.cseq] == "8 INVITE")
        #expect(response.headers[.warning]?.hasPrefix("399 sippet ") == true)
    }

    // MARK: What the RFC says must come out

    @Test("escnull: two distinct contacts, the AOR not truncated at the escaped NUL") func escnull() throws {
        let m = try Corpus.parse("escnull")
        let to = try #require(m.to?.uri.sipURI)
        #expect(to.user == "null-\u{0}-null")
        #expect(to.user?.utf8.count == 11)
        let contacts = m.contact.compactMap { $0.address?.uri.sipURI }
        #expect(contacts.count == 2)
        #expect(contacts[0].user == "\u{0}")
        #expect(contacts[1].user == "\u{0}\u{0}")
        #expect(contacts[0] != contacts[1])
    }

    @Test("semiuri: ';' in the user part belongs to the user") func semiuri() throws {
        let m = try Corpus.parse("semiuri")
        let uri = try #require(m.requestURI?.sipURI)
        #expect(uri.user == "user;par=u@example.net")
        #expect(uri.escapedUser == "user;par=u%40example.net")
        #expect(uri.host.text == "example.com")
        #expect(uri.parameters.isEmpty)
    }

    @Test("cparam01/02: a parameter outside <> is the Contact's, inside it is the URI's") func cparam() throws {
        let c1 = try #require(try Corpus.parse("cparam01").contact.first?.address)
        #expect(c1.uri.sipURI?.parameters.isEmpty == true)
        #expect(c1.parameters.contains("unknownparam"))
        let c2 = try #require(try Corpus.parse("cparam02").contact.first?.address)
        #expect(c2.uri.sipURI?.hasParameter("unknownparam") == true)
        #expect(c2.parameters.isEmpty)
    }

    @Test("esc01: escapes read as the characters they encode, and are kept for forwarding") func esc01() throws {
        let m = try Corpus.parse("esc01")
        let ruri = try #require(m.requestURI?.sipURI)
        #expect(ruri.user == "sips:user@example.com")
        #expect(ruri.host.text == "example.net")
        #expect(m.to?.uri.sipURI?.user == "user")
        #expect(m.from?.uri.sipURI?.user == "I have spaces")
        let contact = try #require(m.contact.first?.address?.uri.sipURI)
        #expect(contact.user == "caller")
        #expect(contact.hasParameter("lr"))
        #expect(contact.parameter("name") == "value%41")
        #expect(contact.description == "sip:cal%6Cer@host5.example.net;%6C%72;n%61me=v%61lue%25%34%31")
        #expect(try SIPURI("sip:%75se%72@example.com") == SIPURI("sip:user@example.com"))
    }

    @Test("longreq: 34 Via values, long values intact") func longreq() throws {
        let m = try Corpus.parse("longreq")
        #expect(m.via.count == 34)
        #expect(m.essentials?.viaCount == 34)
        #expect(m.callID?.utf8.count ?? 0 > 100)
    }

    @Test("dblreq: the trailing bytes of the datagram are ignored") func dblreq() throws {
        let bytes = Corpus.wire(Corpus.entry("dblreq"))
        let m = try SIPMessage(parsing: bytes)
        #expect(m.method == .register)
        #expect(m.body.isEmpty)
        #expect(m.serialized().count == bytes.count - 450)
        #expect(Array(bytes.prefix(bytes.count - 450)) == m.serialized())
    }

    @Test("mpart01: the binary body is framed by Content-Length") func mpart01() throws {
        let m = try Corpus.parse("mpart01")
        #expect(m.body.count == 553)
        #expect(m.body.contains(0))
    }

    @Test("inv2543: no Content-Length on a datagram means the body runs to the end") func inv2543() throws {
        let m = try Corpus.parse("inv2543")
        #expect(!m.headers.contains(.contentLength))
        #expect(m.body.count == 105)
        #expect(m.essentials?.branch == nil)
    }

    @Test("RFC 5118 IPv6 references") func ipv6() throws {
        #expect(try Corpus.parse("ipv6-good").requestURI?.sipURI?.host.text == "[2001:db8::10]")
        let amb = try #require(try Corpus.parse("port-ambiguous").requestURI?.sipURI)
        #expect(amb.host.text == "[2001:db8::10:5070]")
        #expect(amb.port == nil)
        let unamb = try #require(try Corpus.parse("port-unambiguous").requestURI?.sipURI)
        #expect(unamb.host.text == "[2001:db8::10]")
        #expect(unamb.port == 5070)
        #expect(try Corpus.parse("via-received-param-with-delim").topVia?.received == "[2001:db8::9:255]")
        #expect(try Corpus.parse("via-received-param-no-delim").topVia?.received == "2001:db8::9:255")
        let mult = try Corpus.parse("mult-ip-in-header").via
        #expect(mult.map(\.host.text) == ["[2001:db8::9:1]", "192.0.2.1", "[2001:db8::9:255]"])
        #expect(mult[0].port == 6050)
        #expect(mult[2].received == "192.0.2.200")
        let three = try #require(try Corpus.parse("ipv6-bug-abnf-3-colons").requestURI?.sipURI)
        let two = try #require(try Corpus.parse("ipv6-correct-abnf-2-colons").requestURI?.sipURI)
        #expect(three.host == two.host)
        #expect(try Corpus.parse("ipv4-mapped-ipv6").topVia?.host.text == "[::ffff:192.0.2.10]")
    }

    @Test("unknown schemes are kept as absolute URIs") func schemes() throws {
        #expect(try Corpus.parse("unkscm").requestURI?.scheme == "nobodyknowsthisscheme")
        #expect(try Corpus.parse("novelsc").requestURI?.description == "soap.beep://192.0.2.103:3002")
        let m = try Corpus.parse("unksm2")
        #expect(m.to?.uri.scheme == "isbn")
        #expect(m.from?.uri.scheme == "http")
    }

    // MARK: Round trip

    @Test(
        "an unmodified message serializes byte-identical; a canonical one parses to an equal message",
        arguments: Corpus.manifest.filter {
            ["valid", "backward-compat", "invalid-transaction", "invalid-application"].contains($0.expected)
                && $0.name != "mcl01"
        })
    func roundTrip(_ e: Corpus.Entry) throws {
        let bytes = Corpus.wire(e)
        let m = try SIPMessage(parsing: bytes)
        let out = m.serialized()
        #expect(Array(bytes.prefix(out.count)) == out)
        if e.name != "dblreq" { #expect(out.count == bytes.count) }
        let canonical = try SIPMessage(parsing: m.serialized(canonical: true))
        #expect(canonical == m)
        #expect(canonical.essentials?.branch == m.essentials?.branch)
        #expect(canonical.essentials?.cseqNumber == m.essentials?.cseqNumber)
    }
}
