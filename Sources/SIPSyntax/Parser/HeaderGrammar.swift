// The parts of the RFC 3261 §25.1 header grammar that the parser checks on every message (Via,
// From/To, CSeq, Call-ID): passes that record ranges and allocate nothing.

/// Where the parts of one Via value lie (§20.42: sent-protocol LWS sent-by *( SEMI via-params )).
struct ViaRanges: Sendable {
    var protocolName: Range<Int>
    var protocolVersion: Range<Int>
    var transport: Range<Int>
    var host: Range<Int>
    var port: Int?
    /// After the first ';' to the end of the value (empty when there are no parameters).
    var params: Range<Int>
    var branch: Range<Int>?
    var received: Range<Int>?
    var rport: Range<Int>?
    var hasRport: Bool
    /// The `rport` parameter's name, when present.
    var rportName: Range<Int>? = nil
    /// The `maddr` parameter's value (RFC 3261 §18.2.2), when present.
    var maddr: Range<Int>? = nil
    /// Whether the `alias` parameter is present (RFC 5923).
    var hasAlias = false
    /// Where the via-parm ends: after its last parameter, or after sent-by without any.
    var end: Int = 0
}

/// Where the parts of one name-addr / addr-spec value lie (§20.10, §20.20, §20.39).
struct NameAddrRanges: Sendable {
    /// The display name as written (quotes included when quoted), if any.
    var displayName: Range<Int>?
    var uri: URIRanges
    var angle: Bool
    var params: Range<Int>
    var tag: Range<Int>?
}

enum HeaderGrammar {
    /// gen-value = token / host / quoted-string, and (for Via `received`, RFC 5118 §4.5) a bare IPv6 address.
    static func genValue(_ s: inout SIPScanner, allowColon: Bool) throws(SIPParseError) -> Range<Int> {
        if s.peek() == ASCII.dquote { return try s.quotedString() }
        if s.peek() == ASCII.lBracket {
            let start = s.position
            _ = try URIGrammar.host(&s)
            return start..<s.position
        }
        let r = s.scan(while: { ASCII.isToken($0) || (allowColon && $0 == ASCII.colon) })
        guard !r.isEmpty else { throw s.error("empty parameter value") }
        return r
    }

    /// `*( SEMI generic-param )`, generic-param = token [ EQUAL gen-value ]. Calls `visit` for each
    /// parameter with the name's and value's ranges. Returns the range after the first ';'.
    static func params(
        _ s: inout SIPScanner, allowColonIn colonParam: StaticString? = nil,
        _ visit: (Range<Int>, Range<Int>?) -> Void
    ) throws(SIPParseError) -> Range<Int> {
        var first: Int? = nil
        while s.separator(ASCII.semicolon) {
            if first == nil { first = s.position }
            guard let name = s.token() else { throw s.error("empty parameter") }
            var value: Range<Int>? = nil
            if s.separator(ASCII.equals) {
                var allowColon = false
                if let colonParam { allowColon = s.bytes.equalsCaseInsensitive(name, colonParam) }
                value = try genValue(&s, allowColon: allowColon)
            }
            visit(name, value)
        }
        let start = first ?? s.position
        return start..<s.position
    }

    /// The start of a via-parm, sent-protocol and sent-by, ignoring the parameters: enough to send
    /// a response back to a request whose Via parameters are broken (§18.2.2, RFC 4475 §3.1.2.1).
    static func viaSentBy(_ s: inout SIPScanner) throws(SIPParseError) -> Range<Int> {
        s.skipLWS()
        _ = try s.expectToken("protocol name in Via")
        try s.expectSeparator(ASCII.slash, "'/' in Via sent-protocol")
        _ = try s.expectToken("protocol version in Via")
        try s.expectSeparator(ASCII.slash, "'/' in Via sent-protocol")
        _ = try s.expectToken("transport in Via")
        s.skipLWS()
        return try URIGrammar.host(&s)
    }

    /// One via-parm.
    static func via(_ s: inout SIPScanner) throws(SIPParseError) -> ViaRanges {
        s.skipLWS()
        let name = try s.expectToken("protocol name in Via")
        try s.expectSeparator(ASCII.slash, "'/' in Via sent-protocol")
        let version = try s.expectToken("protocol version in Via")
        try s.expectSeparator(ASCII.slash, "'/' in Via sent-protocol")
        let transport = try s.expectToken("transport in Via")
        let beforeLWS = s.position
        s.skipLWS()
        guard s.position > beforeLWS else { throw s.error("expected LWS before Via sent-by") }
        let host = try URIGrammar.host(&s)
        var port: Int? = nil
        if s.separator(ASCII.colon) { port = Int(try s.number(max: 65535, what: "Via port")) }
        var v = ViaRanges(
            protocolName: name, protocolVersion: version, transport: transport, host: host, port: port,
            params: s.position..<s.position, branch: nil, received: nil, rport: nil, hasRport: false)
        v.end = s.position
        let bytes = s.bytes
        let p = try params(&s, allowColonIn: "received") { n, value in
            v.end = value?.upperBound ?? n.upperBound
            if bytes.equalsCaseInsensitive(n, "branch") {
                if v.branch == nil { v.branch = value ?? n.upperBound..<n.upperBound }
            } else if bytes.equalsCaseInsensitive(n, "received") {
                v.received = value
            } else if bytes.equalsCaseInsensitive(n, "rport") {
                v.hasRport = true
                v.rport = value
                v.rportName = n
            } else if bytes.equalsCaseInsensitive(n, "maddr") {
                v.maddr = value
            } else if bytes.equalsCaseInsensitive(n, "alias") {
                v.hasAlias = true
            }
        }
        v.params = p
        return v
    }

    /// name-addr / addr-spec followed by parameters (From, To, Contact, Route, …).
    static func nameAddr(_ s: inout SIPScanner) throws(SIPParseError) -> NameAddrRanges {
        s.skipLWS()
        var display: Range<Int>? = nil
        var angle = false
        if s.peek() == ASCII.dquote {
            display = try s.quotedString()
            s.skipLWS()
            guard s.peek() == ASCII.lAngle else { throw s.error("expected '<' after display name") }
        } else if s.peek() != ASCII.lAngle {
            // display-name = *(token LWS): a run of tokens, then '<' (RFC 4475 §3.1.1.6 allows no LWS before '<')
            let save = s.position
            var end = s.position
            while let t = s.token() {
                end = t.upperBound
                s.skipLWS()
            }
            if s.peek() == ASCII.lAngle, end > save {
                display = save..<end
            } else {
                s.position = save
            }
        }
        var uri: URIRanges
        if s.consume(ASCII.lAngle) {
            angle = true
            // RAQUOT / LAQUOT allow no LWS inside the brackets (RFC 4475 §3.1.2.14)
            let inner = s.position
            s.position = findByte(s.bytes, ASCII.rAngle, from: s.position, to: Swift.min(s.end, s.bytes.count))
            guard s.peek() == ASCII.rAngle else { throw s.error("expected '>'") }
            var sub = SIPScanner(s.bytes, range: inner..<s.position)
            sub.inheritHeader(from: s)
            uri = try URIGrammar.parse(&sub, context: .whole)
            s.position += 1
        } else {
            uri = try URIGrammar.parse(&s, context: .bare)
        }
        var r = NameAddrRanges(displayName: display, uri: uri, angle: angle, params: s.position..<s.position, tag: nil)
        let bytes = s.bytes
        let p = try params(&s) { n, value in
            if r.tag == nil, bytes.equalsCaseInsensitive(n, "tag") { r.tag = value }
        }
        r.params = p
        return r
    }

    /// CSeq = 1*DIGIT LWS Method (§20.16); the number is less than 2**31 (§8.1.1.5).
    static func cseq(_ s: inout SIPScanner) throws(SIPParseError) -> (number: UInt32, method: Range<Int>) {
        s.skipLWS()
        let n = try s.number(max: 0x7FFF_FFFF, what: "CSeq number")
        let before = s.position
        s.skipLWS()
        guard s.position > before else { throw s.error("expected LWS after the CSeq number") }
        let m = try s.expectToken("CSeq method")
        try s.expectEnd()
        return (UInt32(n), m)
    }

    /// callid = word [ "@" word ] (§25.1).
    static func callID(_ s: inout SIPScanner) throws(SIPParseError) -> Range<Int> {
        s.skipLWS()
        let start = s.position
        guard s.word() != nil else { throw s.error("empty Call-ID") }
        if s.consume(ASCII.at) {
            guard s.word() != nil else { throw s.error("empty word after '@' in Call-ID") }
        }
        let r = start..<s.position
        try s.expectEnd()
        return r
    }
}
