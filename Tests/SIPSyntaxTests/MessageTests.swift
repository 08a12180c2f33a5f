import Testing

@testable import SIPSyntax

@Suite("Messages: parsing, headers, serialization")
struct MessageTests {
    static let invite = """
        INVITE sip:bob@biloxi.com SIP/2.0
        Via: SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bK776asdhds
        Max-Forwards: 70
        To: Bob <sip:bob@biloxi.com>
        From: Alice <sip:alice@atlanta.com>;tag=1928301774
        Call-ID: a84b4c76e66710@pc33.atlanta.com
        CSeq: 314159 INVITE
        Contact: <sip:alice@pc33.atlanta.com>
        Content-Type: application/sdp

        v=0

        """

    @Test("a message from wire text in Swift source gets CRLF and a Content-Length in bytes") func fromWireText() throws
    {
        let m = try SIPMessage(wire: Self.invite)
        #expect(m.method == .invite)
        // The body is kept as written (its bare LF too); Content-Length counts its bytes.
        #expect(m.headers[.contentLength] == "4")
        #expect(Array(m.body) == Array("v=0\n".utf8))
        #expect(
            try SIPMessage(wire: "MESSAGE sip:a@b SIP/2.0\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\n\nżółw").headers[
                .contentLength] == "7")
        #expect(m.cseq == CSeq(314159, .invite))
        #expect(m.from?.tag == "1928301774")
        #expect(m.from?.displayName == "Alice")
        #expect(m.essentials?.branch?.string == "z9hG4bK776asdhds")
        #expect(m.essentials?.sentByHost?.string == "pc33.atlanta.com")
    }

    @Test("compact forms equal long forms (§7.3.3)", arguments: Array("imeltfkcvsoubrxyjadn"))
    func compactForms(_ c: Character) {
        let name = SIPHeaderName(String(c))
        #expect(name.compactForm == c)
        #expect(name.known != 0)
        #expect(SIPHeaderName(name.text) == name)
        #expect(SIPHeaderName(name.text.uppercased()) == name)
    }

    @Test("a list header on several lines equals the same values on one line (§7.3.1)") func listLines() throws {
        let a = try SIPMessage(
            wire:
                "OPTIONS sip:a@b SIP/2.0\nVia: SIP/2.0/UDP h1;branch=z9hG4bK1\nVia: SIP/2.0/TCP h2:5070;branch=z9hG4bK2\nCall-ID: x\nCSeq: 1 OPTIONS\nFrom: <sip:a@b>;tag=1\nTo: <sip:a@b>\n\n"
        )
        let b = try SIPMessage(
            wire:
                "OPTIONS sip:a@b SIP/2.0\nv: SIP/2.0/UDP h1;branch=z9hG4bK1 ,\n SIP/2.0/TCP h2:5070;branch=z9hG4bK2\nCall-ID: x\nCSeq: 1 OPTIONS\nFrom: <sip:a@b>;tag=1\nTo: <sip:a@b>\n\n"
        )
        #expect(a.via == b.via)
        #expect(a.via.count == 2)
        #expect(b.via[1].port == 5070)
        #expect(b.via[1].transport == "TCP")
    }

    @Test("changed headers serialize canonically, unchanged ones byte-identical") func changes() throws {
        var m = try SIPMessage(wire: Self.invite)
        let before = m.serialized()
        #expect(m.serialized() == before)
        m.headers.prepend(.via, Via(transport: "UDP", host: "proxy.example.com", branch: "z9hG4bKp1"))
        m.headers.set(.maxForwards, 69)
        let text = m.text
        #expect(
            text.contains(
                "Via: SIP/2.0/UDP proxy.example.com;branch=z9hG4bKp1\r\nVia: SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bK776asdhds\r\n"
            ))
        #expect(text.contains("Max-Forwards: 69\r\n"))
        #expect(text.contains("To: Bob <sip:bob@biloxi.com>\r\n"))
        let again = try SIPMessage(parsing: m.serialized())
        #expect(again.via.count == 2)
        #expect(again.essentials?.branch?.string == "z9hG4bKp1")
        m.body = Array("v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\n".utf8)[...]
        #expect(try SIPMessage(parsing: m.serialized()).headers[.contentLength] == "29")
    }

    @Test("a response built from a request by §8.2.6") func response() throws {
        let req = try SIPMessage(wire: Self.invite)
        let ringing = req.makeResponse(status: 180, toTag: "a6c85cf")
        #expect(ringing.status == 180)
        #expect(ringing.reasonPhrase == "Ringing")
        #expect(ringing.via == req.via)
        #expect(ringing.to?.tag == "a6c85cf")
        #expect(ringing.from == req.from)
        #expect(ringing.callID == req.callID)
        #expect(ringing.cseq == req.cseq)
        #expect(!ringing.headers.contains(.contact))
        let trying = req.makeResponse(status: 100)
        #expect(trying.to?.tag == nil)
        let parsed = try SIPMessage(parsing: ringing.serialized())
        #expect(parsed.to?.tag == "a6c85cf")
    }

    @Test(
        "§8.2.6.2: the To tag is added to a parsed To of every form, and a To with a tag is kept",
        arguments: [
            ("To: sip:bob@biloxi.com", "sip:bob@biloxi.com", nil),
            ("To: Bob <sip:bob@biloxi.com;transport=tcp>;x=1", "sip:bob@biloxi.com;transport=tcp", nil),
            ("t: \"B;o,b\" <sip:bob@biloxi.com>", "sip:bob@biloxi.com", nil),
            ("To: <sip:bob@biloxi.com>;tag=theirs", "sip:bob@biloxi.com", "theirs"),
        ])
    func responseToTag(line: String, uri: String, existing: String?) throws {
        let text =
            "INVITE sip:bob@biloxi.com SIP/2.0\r\nVia: SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bK7\r\n"
            + "\(line)\r\nFrom: <sip:alice@atlanta.com>;tag=1928\r\nCall-ID: a84b4c76e66710\r\nCSeq: 1 INVITE\r\n"
            + "Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
        let req = try SIPMessage(parsing: Array(text.utf8))
        let ok = try SIPMessage(parsing: req.makeResponse(status: 200, toTag: "ours").serialized())
        #expect(ok.to?.uri.description == uri)
        #expect(ok.to?.tag == existing ?? "ours")
        #expect(ok.headers.values(.to).count == 1)
        let trying = try SIPMessage(parsing: req.makeResponse(status: 100).serialized())
        #expect(trying.to?.tag == existing)
    }

    @Test("§8.2.6.2: a response's copied fields are written canonically, whatever form the request had")
    func responseCopiesCanonically() throws {
        let text =
            "BYE sip:bob@biloxi.com SIP/2.0\r\n"
            + "Via: SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bK7\r\n"  // canonical already
            + "v:  SIP/2.0/UDP  proxy.example.com\r\n ;branch=z9hG4bKp1\r\n"  // compact, folded, runs of SP
            + "From:\t<sip:alice@atlanta.com>;tag=1928\r\n"  // tab after the colon
            + "To: <sip:bob@biloxi.com>;tag=b\r\n"
            + "Call-ID: a84b4c76e66710\n"  // bare LF
            + "CSeq: 2 BYE \r\n"  // trailing space
            + "Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
        let req = try SIPMessage(parsing: Array(text.utf8))
        let ok = req.makeResponse(status: 200)
        let expected =
            "SIP/2.0 200 OK\r\n"
            + "Via: SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bK7\r\n"
            + "Via: SIP/2.0/UDP proxy.example.com ;branch=z9hG4bKp1\r\n"
            + "From: <sip:alice@atlanta.com>;tag=1928\r\n"
            + "To: <sip:bob@biloxi.com>;tag=b\r\n"
            + "Call-ID: a84b4c76e66710\r\n"
            + "CSeq: 2 BYE\r\n"
            + "Content-Length: 0\r\n\r\n"
        #expect(String(decoding: ok.serialized(), as: UTF8.self) == expected)
        #expect(ok.serialized(canonical: true) == ok.serialized())
        // A value outside ASCII is written as its text: invalid UTF-8 comes out repaired.
        let latin =
            Array("OPTIONS sip:b@h SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: \"J".utf8) + [0xE9]
            + Array(
                "\" <sip:j@h>;tag=1\r\nTo: <sip:b@h>\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n".utf8
            )
        let from = try SIPMessage(parsing: latin).makeResponse(status: 200, toTag: "t").serialized()
        #expect(
            String(decoding: from, as: UTF8.self).contains(
                "From: \"J\u{FFFD}\" <sip:j@h>;tag=1\r\nTo: <sip:b@h>;tag=t\r\n"))
    }

    @Test(
        "the Request-URI's scheme is read without building the URI, and is the URI's",
        arguments: [
            "sip:bob@biloxi.com", "SIPS:bob@biloxi.com", "tel:+1-201-555-0123", "URN:service:sos", "Mailto:a@b.c",
        ])
    func requestURIScheme(uri: String) throws {
        let m = try SIPMessage(
            wire: "OPTIONS \(uri) SIP/2.0\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\nCall-ID: c\nCSeq: 1 OPTIONS\n\n")
        guard case .request(let line) = m.startLine else {
            Issue.record("not a request")
            return
        }
        #expect(line.uriScheme == line.uri.scheme)
        #expect(line.uriScheme == uri.prefix { $0 != ":" }.lowercased())
    }

    @Test("reason phrases for every IANA code") func reasons() {
        #expect(SIPStatus.reasonPhrase(for: 200) == "OK")
        #expect(SIPStatus.reasonPhrase(for: 481) == "Call/Transaction Does Not Exist")
        #expect(SIPStatus.reasonPhrase(for: 423) == "Interval Too Brief")
        #expect(SIPStatus.reasonPhrase(for: 608) == "Rejected")
        #expect(SIPStatus.registeredCodes.count >= 70)
    }

    @Test("identifiers") func identifiers() {
        let b = SIPIdentifiers.branch()
        #expect(b.hasPrefix("z9hG4bK"))
        #expect(b.count == 7 + 24)
        #expect(SIPIdentifiers.branch() != b)
        #expect(SIPIdentifiers.tag().count == 15)
        #expect(SIPIdentifiers.callID(host: "h").hasSuffix("@h"))
    }

    @Test("§19.3: tags are 60 random bits as 15 hex digits, none repeated across many blocks of the random pool")
    func tagsAreFresh() {
        var seen = Set<String>()
        var ones = 0
        for _ in 0..<5_000 {
            let t = SIPIdentifiers.tag()
            #expect(t.utf8.count == 15 && t.utf8.allSatisfy { (48...57).contains($0) || (97...102).contains($0) })
            seen.insert(t)
            ones += t.utf8.reduce(0) {
                $0 + ((UInt8(ascii: "8")...UInt8(ascii: "9")).contains($1) || $1 >= UInt8(ascii: "a") ? 1 : 0)
            }
        }
        #expect(seen.count == 5_000)
        // Half of all hex digits have their top bit set: 37,500 ± 5σ (σ = √(75,000 / 4) ≈ 137).
        #expect((36_815...38_185).contains(ones))
    }

    @Test(
        "the random pool fills a block with one call to the system's CSPRNG, whatever its length",
        arguments: [4096, 4095, 7, 1])
    func poolFillsInBulk(count: Int) {
        var bytes = [UInt8](repeating: 0, count: count)
        let bulk = bytes.withUnsafeMutableBytes { RandomPool.fill($0) }
        #expect(bulk)
        // All zero has probability 2^-8 for one byte: check the longer buffers only.
        if count >= 7 { #expect(bytes.contains { $0 != 0 }) }
        if count == 4096 {
            // Each bit value appears about half the time: 16,384 ± 5σ (σ = 64).
            let ones = bytes.reduce(0) { $0 + $1.nonzeroBitCount }
            #expect((16_064...16_704).contains(ones))
        }
    }
}

@Suite("Limits: every one has a typed error naming it")
struct LimitTests {
    static func request(headers: String, body: String = "") -> [UInt8] {
        Array(
            "OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n\(headers)Content-Length: \(body.utf8.count)\r\n\r\n\(body)"
                .utf8)
    }

    static func limit(_ bytes: [UInt8], _ limits: SIPLimits) -> SIPLimitViolation? {
        do {
            _ = try SIPMessage(parsing: bytes, limits: limits)
            return nil
        } catch { return error.limit }
    }

    @Test func messageSize() {
        var l = SIPLimits()
        l.maxMessageSize = 100
        let v = Self.limit(Self.request(headers: "Subject: \(String(repeating: "x", count: 100))\r\n"), l)
        #expect(v?.limit == .messageSize)
        #expect(v?.maximum == 100)
        #expect((v?.actual ?? 0) > 100)
    }

    @Test func headerCount() {
        var l = SIPLimits()
        l.maxHeaderCount = 10
        let v = Self.limit(Self.request(headers: String(repeating: "X-A: 1\r\n", count: 20)), l)
        #expect(v == SIPLimitViolation(limit: .headerCount, actual: 11, maximum: 10))
    }

    @Test func headerLineLength() {
        var l = SIPLimits()
        l.maxHeaderLineLength = 64
        let v = Self.limit(Self.request(headers: "Subject: \(String(repeating: "y", count: 80))\r\n"), l)
        #expect(v?.limit == .headerLineLength)
        #expect(v?.maximum == 64)
    }

    @Test func viaCount() {
        var l = SIPLimits()
        l.maxViaCount = 5
        let v = Self.limit(
            Self.request(headers: String(repeating: "Via: SIP/2.0/UDP x, SIP/2.0/UDP y\r\n", count: 3)), l)
        #expect(v == SIPLimitViolation(limit: .viaCount, actual: 7, maximum: 5))
    }

    @Test func bodySize() {
        var l = SIPLimits()
        l.maxBodySize = 10
        #expect(Self.limit(Self.request(headers: "", body: String(repeating: "z", count: 11)), l)?.limit == .bodySize)
    }

    @Test func startLineLength() {
        var l = SIPLimits()
        l.maxStartLineLength = 20
        #expect(Self.limit(Self.request(headers: ""), l)?.limit == .startLineLength)
    }

    @Test("a huge Content-Length is refused, never used to allocate") func hugeContentLength() {
        let b = Array("OPTIONS sip:a@b SIP/2.0\r\nContent-Length: 1000000000\r\n\r\n".utf8)
        #expect(Self.limit(b, .default)?.limit == .bodySize)
        let c = Array("OPTIONS sip:a@b SIP/2.0\r\nContent-Length: 99999999999999999999999\r\n\r\n".utf8)
        #expect(throws: SIPParseError.self) { try SIPMessage(parsing: c) }
    }
}

@Suite("Fields added as text")
struct TextFieldTests {
    @Test(
        "a field added as text is written and read back unfolded, blanks collapsed, as one added as bytes always was",
        arguments: [
            ("plain value", "plain value"), ("  padded  ", "padded"), ("two  spaces", "two spaces"),
            ("tab\there", "tab here"), ("ünïcode ok", "ünïcode ok"), ("x", "x"),
        ])
    func writtenUnfolded(value: String, expected: String) throws {
        var m = SIPMessage.request(method: .options, uri: try URI("sip:bob@example.com"))
        m.headers.append(.subject, value)
        m.headers.append(SIPHeaderName("X-Long"), String(repeating: "y", count: 40))
        #expect(m.headers[.subject] == expected)
        let text = String(decoding: m.serialized(), as: UTF8.self)
        #expect(text.contains("\r\nSubject: \(expected)\r\n"))
        #expect(text.contains("\r\nX-Long: \(String(repeating: "y", count: 40))\r\n"))
        let back = try SIPMessage(parsing: m.serialized())
        #expect(back.headers[.subject] == expected)
    }
}
