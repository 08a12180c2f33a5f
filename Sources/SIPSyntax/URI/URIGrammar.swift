// RFC 3261 §19.1 and §25.1 URI grammar, RFC 3966 tel, RFC 5118 IPv6 references, as a pass over
// bytes that records where each part is and allocates nothing. The typed `URI` is built from it.

/// Where a URI's parts lie in the bytes it was parsed from.
struct URIRanges: Sendable {
    enum Scheme: UInt8, Sendable { case sip, sips, tel, other }
    var whole: Range<Int>
    var scheme: Scheme
    var schemeRange: Range<Int>
    /// sip/sips: user (escaped, as written); tel: the number.
    var user: Range<Int>?
    var password: Range<Int>?
    /// sip/sips: host (an IPv6 reference with its brackets); other schemes: the part after ':'.
    var host: Range<Int>
    var port: Int?
    /// From the first ';' (excluded) to the headers or the end; empty when there are none.
    var params: Range<Int>
    /// After '?', when there are headers.
    var headers: Range<Int>?
}

/// How far a URI runs in its context.
enum URIContext {
    /// The whole range is the URI (a Request-URI, or the inside of `<…>`).
    case whole
    /// An addr-spec outside `<>` (RFC 3261 §20.10): the URI ends before ';', ',', '?', or LWS, and a
    /// SIP URI there has no parameters or headers (those belong to the header field).
    case bare
}

enum URIGrammar {
    /// Parses a URI starting at `scanner.position`. In `.whole` context it must consume the range.
    static func parse(_ s: inout SIPScanner, context: URIContext) throws(SIPParseError) -> URIRanges {
        let start = s.position
        // scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )
        guard let first = s.peek(), ASCII.is(first, .alphanum), !ASCII.isDigit(first) else {
            throw s.error("URI has no scheme", kind: .invalidURI)
        }
        let schemeRange = s.scan(while: { ASCII.is($0, .alphanum) || $0 == 0x2B || $0 == 0x2D || $0 == 0x2E })
        guard s.consume(ASCII.colon) else { throw s.error("URI has no ':' after its scheme", kind: .invalidURI) }
        let scheme: URIRanges.Scheme
        if s.bytes.equalsCaseInsensitive(schemeRange, "sip") {
            scheme = .sip
        } else if s.bytes.equalsCaseInsensitive(schemeRange, "sips") {
            scheme = .sips
        } else if s.bytes.equalsCaseInsensitive(schemeRange, "tel") {
            scheme = .tel
        } else {
            scheme = .other
        }
        var r = URIRanges(
            whole: start..<start, scheme: scheme, schemeRange: schemeRange, user: nil, password: nil,
            host: s.position..<s.position, port: nil, params: s.position..<s.position, headers: nil)
        switch scheme {
        case .sip, .sips: try parseSIP(&s, &r, context: context)
        case .tel: try parseTel(&s, &r, context: context)
        case .other: try parseOther(&s, &r, context: context)
        }
        r.whole = start..<s.position
        if case .whole = context, !s.isAtEnd {
            throw s.error("unexpected '\(printable(s.bytes[s.position]))' in URI", kind: .invalidURI)
        }
        return r
    }

    private static func isPasswordChar(_ b: UInt8) -> Bool {
        ASCII.is(b, .unreserved) || ASCII.is(b, .passwordExtra) || b == ASCII.percent
    }

    static func isParamChar(_ b: UInt8) -> Bool {
        ASCII.is(b, .paramUnreserved) || ASCII.is(b, .unreserved) || b == ASCII.percent
    }

    static func isHeaderChar(_ b: UInt8) -> Bool {
        ASCII.is(b, .hnvUnreserved) || ASCII.is(b, .unreserved) || b == ASCII.percent
    }

    /// Checks that every '%' in `range` starts an `escaped` (`"%" HEXDIG HEXDIG`).
    static func checkEscapes(_ s: SIPScanner, _ range: Range<Int>) throws(SIPParseError) {
        var i = range.lowerBound
        while i < range.upperBound {
            if s.bytes[i] == ASCII.percent {
                guard i + 2 < range.upperBound, ASCII.hexValue(s.bytes[i + 1]) != nil,
                    ASCII.hexValue(s.bytes[i + 2]) != nil
                else { throw SIPParseError(.invalidURI, "bad %-escape", header: s.header, offset: i) }
                i += 3
            } else {
                i += 1
            }
        }
    }

    private static func parseSIP(_ s: inout SIPScanner, _ r: inout URIRanges, context: URIContext) throws(SIPParseError)
    {
        // userinfo = ( user / telephone-subscriber ) [ ":" password ] "@" — present when an '@'
        // ends the run of characters a userinfo may hold (semiuri: ';' may sit in the user part).
        let save = s.position
        // One pass over the run: where its first ':' is, and whether it holds a '%'.
        let (ul, uh) = ASCII.userinfoMasks
        var colon: Int? = nil
        var sawPercent = false
        let stop = save >= 0 ? Swift.min(s.end, s.bytes.count) : save  // reads stay inside the array
        let runEnd = s.bytes.withUnsafeBufferPointer { p in
            var i = save
            while i < stop {
                let c = p[i]
                guard ASCII.isIn(c, ul, uh) else { break }
                if c == ASCII.colon, colon == nil { colon = i }
                if c == ASCII.percent { sawPercent = true }
                i += 1
            }
            return i
        }
        let run = save..<runEnd
        s.position = runEnd
        if s.peek() == ASCII.at, !run.isEmpty {
            let userRange = run.lowerBound..<(colon ?? run.upperBound)
            guard !userRange.isEmpty else { throw s.error("empty user in URI", kind: .invalidURI) }
            // The user part needs no check of its own: password characters are user characters
            // too, so the run before its first ':' holds user characters only.
            if sawPercent { try checkEscapes(s, userRange) }
            r.user = userRange
            if let colon {
                let pw = (colon + 1)..<run.upperBound
                for i in pw where !isPasswordChar(s.bytes[i]) {
                    throw SIPParseError(
                        .invalidURI, "'\(printable(s.bytes[i]))' not allowed in a URI password", header: s.header,
                        offset: i)
                }
                if sawPercent { try checkEscapes(s, pw) }
                r.password = pw
            }
            s.position += 1  // '@'
        } else {
            s.position = save
        }
        r.host = try host(&s)
        if s.consume(ASCII.colon) {
            r.port = Int(try s.number(max: 65535, what: "port"))
        }
        let paramsStart = s.position
        if case .bare = context {
            r.params = paramsStart..<paramsStart
            return
        }
        // uri-parameters = *( ";" uri-parameter ); uri-parameter = pname [ "=" pvalue ]
        let (pl, ph) = ASCII.paramCharMasks
        while s.consume(ASCII.semicolon) {
            let name = s.scan(while: { ASCII.isIn($0, pl, ph) })
            guard !name.isEmpty else { throw s.error("empty URI parameter name", kind: .invalidURI) }
            try checkEscapes(s, name)
            if s.consume(ASCII.equals) {
                let value = s.scan(while: { ASCII.isIn($0, pl, ph) })
                guard !value.isEmpty else { throw s.error("empty URI parameter value", kind: .invalidURI) }
                try checkEscapes(s, value)
            }
        }
        r.params = (paramsStart == s.position ? paramsStart : paramsStart + 1)..<s.position
        // headers = "?" header *( "&" header ); header = hname "=" hvalue
        if s.consume(ASCII.question) {
            let hs = s.position
            repeat {
                let name = s.scan(while: isHeaderChar)
                guard !name.isEmpty else { throw s.error("empty URI header name", kind: .invalidURI) }
                try checkEscapes(s, name)
                try s.expect(ASCII.equals, "'=' in URI header")
                let value = s.scan(while: isHeaderChar)
                try checkEscapes(s, value)
            } while s.consume(ASCII.ampersand)
            r.headers = hs..<s.position
        }
    }

    /// host = hostname / IPv4address / IPv6reference (RFC 3261 §25.1; RFC 5118 for IPv6).
    static func host(_ s: inout SIPScanner) throws(SIPParseError) -> Range<Int> {
        let start = s.position
        if s.consume(ASCII.lBracket) {
            let inner = s.scan(while: { ASCII.is($0, .hex) || $0 == ASCII.colon || $0 == ASCII.dot })
            guard s.consume(ASCII.rBracket) else { throw s.error("IPv6 reference without ']'", kind: .invalidURI) }
            guard IPv6.parse(s.bytes, inner) != nil else {
                throw SIPParseError(.invalidURI, "bad IPv6 address", header: s.header, offset: inner.lowerBound)
            }
            return start..<s.position
        }
        // One pass: scan the hostname characters and check the labels as isValidHostname does.
        let b = s.bytes
        var labelStart = start
        var lastLabelStart = start
        var lastLabelEnd = start
        var valid = true
        let stop = start >= 0 ? Swift.min(s.end, b.count) : start  // reads stay inside the array
        let i = b.withUnsafeBufferPointer { p in
            var i = start
            while i < stop {
                let c = p[i]
                if c == ASCII.dot {
                    if i == labelStart {
                        valid = false  // an empty label before a dot
                    } else {
                        if p[labelStart] == 0x2D || p[i - 1] == 0x2D { valid = false }
                        lastLabelStart = labelStart
                        lastLabelEnd = i
                    }
                    labelStart = i + 1
                } else if !ASCII.is(c, .hostname) {
                    break
                }
                i += 1
            }
            return i
        }
        s.position = i
        let r = start..<i
        guard !r.isEmpty else { throw s.error("expected a host", kind: .invalidURI) }
        if i > labelStart {
            // the last label (a single trailing dot leaves none after it, which is allowed)
            if b[labelStart] == 0x2D || b[i - 1] == 0x2D { valid = false }
            lastLabelStart = labelStart
            lastLabelEnd = i
        }
        // toplabel = ALPHA / ALPHA *( alphanum / "-" ) alphanum, or an IPv4address
        if valid, lastLabelEnd <= lastLabelStart || (ASCII.isDigit(b[lastLabelStart]) && IPv4.parse(b, r) == nil) {
            valid = false
        }
        guard valid else {
            throw SIPParseError(.invalidURI, "bad host '\(s.string(r))'", header: s.header, offset: start)
        }
        return r
    }

    /// hostname = *( domainlabel "." ) toplabel [ "." ], or an IPv4address. Underscores are tolerated
    /// in labels (seen in real deployments); a label may not start or end with '-'.
    static func isValidHostname(_ b: [UInt8], _ r: Range<Int>) -> Bool {
        // One pass over the labels; only when the last label starts with a digit can it be an IPv4address.
        var labelStart = r.lowerBound
        var lastLabelStart = r.lowerBound
        var lastLabelEnd = r.lowerBound
        var i = r.lowerBound
        while i <= r.upperBound {
            if i == r.upperBound || b[i] == ASCII.dot {
                if i == labelStart {
                    // empty label: only a single trailing dot is allowed, after at least one label
                    guard i == r.upperBound, i > r.lowerBound else { return false }
                } else {
                    if b[labelStart] == 0x2D || b[i - 1] == 0x2D { return false }
                    lastLabelStart = labelStart
                    lastLabelEnd = i
                }
                labelStart = i + 1
            }
            i += 1
        }
        guard lastLabelEnd > lastLabelStart else { return false }
        // toplabel = ALPHA / ALPHA *( alphanum / "-" ) alphanum
        if ASCII.isDigit(b[lastLabelStart]) { return IPv4.parse(b, r) != nil }
        return true
    }

    /// RFC 3966: telephone-subscriber *( ";" par ). The number is kept as written.
    private static func parseTel(_ s: inout SIPScanner, _ r: inout URIRanges, context: URIContext) throws(SIPParseError)
    {
        let num = s.scan(while: {
            ASCII.is($0, .hex) || $0 == 0x2B || $0 == 0x2D || $0 == ASCII.dot || $0 == ASCII.lParen
                || $0 == ASCII.rParen || $0 == 0x2A || $0 == 0x23
        })
        guard !num.isEmpty else { throw s.error("empty telephone number", kind: .invalidURI) }
        r.user = num
        r.host = num
        let ps = s.position
        if case .bare = context {
            r.params = ps..<ps
            return
        }
        while s.consume(ASCII.semicolon) {
            let name = s.scan(while: { ASCII.is($0, .alphanum) || $0 == 0x2D })
            guard !name.isEmpty else { throw s.error("empty tel parameter", kind: .invalidURI) }
            if s.consume(ASCII.equals) {
                let v = s.scan(while: isParamChar)
                guard !v.isEmpty else { throw s.error("empty tel parameter value", kind: .invalidURI) }
                try checkEscapes(s, v)
            }
        }
        r.params = (ps == s.position ? ps : ps + 1)..<s.position
    }

    /// absoluteURI (RFC 3261 §25.1): kept opaque: reserved / unreserved / escaped characters.
    private static func parseOther(_ s: inout SIPScanner, _ r: inout URIRanges, context: URIContext)
        throws(SIPParseError)
    {
        let rest: Range<Int>
        switch context {
        case .whole:
            rest = s.scan(while: {
                ASCII.is($0, .reserved) || ASCII.is($0, .unreserved) || $0 == ASCII.percent
                    || $0 == 0x23 || $0 == ASCII.lBracket || $0 == ASCII.rBracket
            })
        case .bare:
            rest = s.scan(while: {
                ($0 != ASCII.semicolon && $0 != ASCII.comma && $0 != ASCII.question)
                    && (ASCII.is($0, .reserved) || ASCII.is($0, .unreserved) || $0 == ASCII.percent || $0 == 0x23)
            })
        }
        guard !rest.isEmpty else { throw s.error("empty URI after scheme", kind: .invalidURI) }
        try checkEscapes(s, rest)
        r.host = rest
        r.params = rest.upperBound..<rest.upperBound
    }
}

enum IPv4 {
    /// dotted quad, each part 1–3 digits, ≤ 255.
    static func parse(_ b: [UInt8], _ r: Range<Int>) -> (UInt8, UInt8, UInt8, UInt8)? {
        var parts: (Int, Int, Int, Int) = (0, 0, 0, 0)
        var n = 0
        var digits = 0
        var value = 0
        for i in r.lowerBound...r.upperBound {
            if i == r.upperBound || b[i] == ASCII.dot {
                guard digits > 0, value <= 255, n < 4 else { return nil }
                switch n {
                case 0: parts.0 = value
                case 1: parts.1 = value
                case 2: parts.2 = value
                default: parts.3 = value
                }
                n += 1
                digits = 0
                value = 0
            } else if ASCII.isDigit(b[i]) {
                digits += 1
                guard digits <= 3 else { return nil }
                value = value * 10 + Int(b[i] - 0x30)
            } else {
                return nil
            }
        }
        guard n == 4 else { return nil }
        return (UInt8(parts.0), UInt8(parts.1), UInt8(parts.2), UInt8(parts.3))
    }
}

enum IPv6 {
    /// Parses an IPv6 address (without brackets) into its 16 bytes. Accepts RFC 4291 forms, an
    /// embedded IPv4 tail, and the RFC 3261 ABNF's ":::" before an IPv4 tail (RFC 5118 §4.10).
    static func parse(_ b: [UInt8], _ r: Range<Int>) -> [UInt8]? {
        guard r.count >= 2, r.count <= 64 else { return nil }
        var head: [UInt16] = []
        var tail: [UInt16] = []
        var sawDouble = false
        var i = r.lowerBound
        if b[i] == ASCII.colon {
            guard i + 1 < r.upperBound, b[i + 1] == ASCII.colon else { return nil }
            sawDouble = true
            i += 2
        }
        while i < r.upperBound {
            // a group, or an IPv4 tail
            var j = i
            while j < r.upperBound, ASCII.is(b[j], .hex) { j += 1 }
            if j < r.upperBound, b[j] == ASCII.dot {
                // IPv4 tail: runs to the end
                guard let v4 = IPv4.parse(b, i..<r.upperBound) else { return nil }
                let g1 = UInt16(v4.0) << 8 | UInt16(v4.1)
                let g2 = UInt16(v4.2) << 8 | UInt16(v4.3)
                if sawDouble { tail += [g1, g2] } else { head += [g1, g2] }
                i = r.upperBound
                break
            }
            guard j > i, j - i <= 4 else { return nil }
            var v: UInt16 = 0
            for k in i..<j { v = v << 4 | UInt16(ASCII.hexValue(b[k]) ?? 0) }
            if sawDouble { tail.append(v) } else { head.append(v) }
            i = j
            if i == r.upperBound { break }
            guard b[i] == ASCII.colon else { return nil }
            i += 1
            if i < r.upperBound, b[i] == ASCII.colon {
                guard !sawDouble else { return nil }
                sawDouble = true
                i += 1
                // RFC 3261's hexpart "::" followed by ":" IPv4address (RFC 5118 §4.10)
                if i < r.upperBound, b[i] == ASCII.colon {
                    var k = i + 1
                    while k < r.upperBound, ASCII.isDigit(b[k]) { k += 1 }
                    guard k < r.upperBound, b[k] == ASCII.dot else { return nil }
                    i += 1
                }
                if i == r.upperBound { break }
            } else if i == r.upperBound {
                return nil  // trailing single ':'
            }
        }
        let total = head.count + tail.count
        if sawDouble { guard total <= 7 else { return nil } } else { guard total == 8 else { return nil } }
        var groups = head
        if sawDouble { groups += [UInt16](repeating: 0, count: 8 - total) }
        groups += tail
        var out: [UInt8] = []
        out.reserveCapacity(16)
        for g in groups {
            out.append(UInt8(g >> 8))
            out.append(UInt8(g & 0xFF))
        }
        return out
    }
}

/// Percent-decoding (RFC 3261 §19.1.2, §19.1.4) and encoding.
enum PercentEncoding {
    static func decode(_ b: [UInt8], _ r: Range<Int>) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(r.count)
        var i = r.lowerBound
        while i < r.upperBound {
            if b[i] == ASCII.percent, i + 2 < r.upperBound,
                let h = ASCII.hexValue(b[i + 1]), let l = ASCII.hexValue(b[i + 2])
            {
                out.append(h << 4 | l)
                i += 3
            } else {
                out.append(b[i])
                i += 1
            }
        }
        return out
    }

    static func decode(_ s: String) -> String {
        let b = Array(s.utf8)
        guard b.contains(ASCII.percent) else { return s }
        return String(decoding: decode(b, 0..<b.count), as: UTF8.self)
    }

    /// Escapes every byte of `s` that `allowed` refuses.
    static func encode(_ s: String, allowed: (UInt8) -> Bool) -> String {
        var out: [UInt8] = []
        for c in s.utf8 {
            if allowed(c) && c != ASCII.percent {
                out.append(c)
            } else {
                out.append(ASCII.percent)
                out.append(ASCII.hexDigits[Int(c >> 4)])
                out.append(ASCII.hexDigits[Int(c & 0xF)])
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
