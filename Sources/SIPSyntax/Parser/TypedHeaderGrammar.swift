// Grammar pieces shared by the typed headers of RFC 3261 §20 and its extensions (§25.1): generic
// parameters with per-header rules, auth-params, comments, text, language tags.

extension SIPScanner {
    /// An error about the bytes at `offset` (rather than at the cursor).
    func error(_ detail: String, at offset: Int, kind: SIPParseError.Kind = .invalidHeaderValue) -> SIPParseError {
        SIPParseError(kind, detail, header: header, offset: offset)
    }

    /// The text of `range`; a range holding folded lines comes back unfolded (RFC 3261 §7.3.1).
    func text(_ range: Range<Int>) -> String {
        for i in range where bytes[i] == ASCII.cr || bytes[i] == ASCII.lf { return unfoldedText(bytes, range) }
        return string(range)
    }

    /// Skips LWS, throwing unless there was at least one whitespace byte (the `LWS` of §25.1).
    mutating func expectLWS(_ what: String) throws(SIPParseError) {
        let before = position
        skipLWS()
        guard position > before else { throw error("expected whitespace \(what)") }
    }

    /// delta-seconds = 1*DIGIT (§25.1), at most 2**32-1 (§20.19, §20.33).
    mutating func deltaSeconds(_ what: String) throws(SIPParseError) -> Int {
        Int(try number(max: UInt64(UInt32.max), what: what))
    }
}

/// A rule a header puts on one of its parameters: when the parameter is present, it has a value of
/// this shape (e.g. Retry-After `duration` is delta-seconds, §20.33; Accept `q` is a qvalue, §20.1).
struct ParamRule: Sendable {
    enum Shape: Sendable {
        /// delta-seconds, at most 2**32-1.
        case deltaSeconds
        /// qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] ) (§25.1).
        case qvalue
        /// 1*DIGIT.
        case digits
        /// quoted-string.
        case quoted
        /// token (not a quoted-string or an IPv6 reference).
        case token
        /// One of these tokens, any case.
        case oneOf([String])
    }
    let name: String
    let shape: Shape

    init(_ name: String, _ shape: Shape) {
        self.name = name
        self.shape = shape
    }

    func accepts(_ b: [UInt8], _ r: Range<Int>) -> Bool {
        guard !r.isEmpty else { return false }
        switch shape {
        case .deltaSeconds:
            return isDeltaSeconds(b, r)
        case .qvalue:
            return isQValue(b, r)
        case .digits:
            return r.allSatisfy { ASCII.isDigit(b[$0]) }
        case .quoted:
            return b[r.lowerBound] == ASCII.dquote
        case .token:
            return r.allSatisfy { ASCII.isToken(b[$0]) }
        case .oneOf(let words):
            let v = String(decoding: b[r], as: UTF8.self)
            return words.contains { asciiCaseInsensitiveEquals($0, v) }
        }
    }

    var expectation: String {
        switch shape {
        case .deltaSeconds: return "delta-seconds (0 to 4294967295)"
        case .qvalue: return "a qvalue (0 to 1, three decimals at most)"
        case .digits: return "digits"
        case .quoted: return "a quoted string"
        case .token: return "a token"
        case .oneOf(let words): return words.joined(separator: " or ")
        }
    }
}

/// delta-seconds = 1*DIGIT, not above 2**32-1 (leading zeros allowed).
func isDeltaSeconds(_ b: [UInt8], _ r: Range<Int>) -> Bool {
    guard !r.isEmpty else { return false }
    var v: UInt64 = 0
    for i in r {
        guard ASCII.isDigit(b[i]) else { return false }
        v = v * 10 + UInt64(b[i] - 0x30)
        if v > UInt64(UInt32.max) { return false }
    }
    return true
}

/// qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] ) (RFC 3261 §25.1).
func isQValue(_ b: [UInt8], _ r: Range<Int>) -> Bool {
    guard let first = r.first else { return false }
    let lead = b[first]
    guard lead == 0x30 || lead == 0x31 else { return false }
    if r.count == 1 { return true }
    guard b[first + 1] == ASCII.dot, r.count <= 5 else { return false }
    for i in (first + 2)..<r.upperBound {
        guard ASCII.isDigit(b[i]) else { return false }
        if lead == 0x31, b[i] != 0x30 { return false }
    }
    return true
}

/// language-range / language-tag (§20.3, §20.13): `1*8ALPHA *( "-" 1*8alphanum )`, or `*` where
/// `allowStar`. RFC 3261 says ALPHA for the subtags; digits are accepted there as RFC 5646 does (`es-419`).
func isLanguageTag(_ b: [UInt8], _ r: Range<Int>, allowStar: Bool) -> Bool {
    if allowStar, r.count == 1, b[r.lowerBound] == 0x2A { return true }
    var partLength = 0
    var first = true
    for i in r {
        let c = b[i]
        if c == 0x2D {
            guard partLength > 0 else { return false }
            partLength = 0
            first = false
            continue
        }
        let isAlpha = ASCII.lower(c) &- 0x61 < 26
        guard isAlpha || (!first && ASCII.isDigit(c)) else { return false }
        partLength += 1
        guard partLength <= 8 else { return false }
    }
    return partLength > 0
}

extension HeaderGrammar {
    /// `*( SEMI generic-param )` (§25.1) as typed parameters, each checked against `rules`.
    static func genericParams(_ s: inout SIPScanner, rules: [ParamRule] = []) throws(SIPParseError) -> SIPParameters {
        var out: [SIPParameter] = []
        while s.separator(ASCII.semicolon) {
            guard let name = s.token() else { throw s.error("empty parameter") }
            var value: Range<Int>? = nil
            if s.separator(ASCII.equals) { value = try genValue(&s, allowColon: false) }
            if !rules.isEmpty {
                let n = s.string(name)
                for rule in rules where asciiCaseInsensitiveEquals(rule.name, n) {
                    guard let value, rule.accepts(s.bytes, value) else {
                        let at = value?.lowerBound ?? name.lowerBound
                        throw s.error("parameter '\(n)' must be \(rule.expectation)", at: at)
                    }
                }
            }
            out.append(SIPParameter(s.string(name), value.map { s.text($0) }))
        }
        return SIPParameters(out)
    }

    /// auth-param *( COMMA auth-param ), auth-param = auth-param-name EQUAL ( token / quoted-string )
    /// (§25.1). Values are kept as written, quotes included.
    static func authParams(_ s: inout SIPScanner) throws(SIPParseError) -> [AuthParameter] {
        var out: [AuthParameter] = []
        repeat {
            let name = try s.expectToken("an auth-param name")
            try s.expectSeparator(ASCII.equals, "'=' after the auth-param name")
            let value: Range<Int>
            if s.peek() == ASCII.dquote {
                value = try s.quotedString()
            } else {
                value = try s.expectToken("an auth-param value (token or quoted string)")
            }
            out.append(AuthParameter(s.string(name), s.text(value)))
        } while s.separator(ASCII.comma)
        return out
    }

    /// comment = LPAREN *( ctext / quoted-pair / comment ) RPAREN (§25.1), nested to any depth
    /// without recursion. Returns the range from '(' to ')' included.
    static func comment(_ s: inout SIPScanner) throws(SIPParseError) -> Range<Int> {
        let start = s.position
        try s.expect(ASCII.lParen, "'('")
        var depth = 1
        while let b = s.peek() {
            switch b {
            case ASCII.lParen:
                depth += 1
            case ASCII.rParen:
                depth -= 1
                if depth == 0 {
                    s.position += 1
                    return start..<s.position
                }
            case ASCII.backslash:
                // quoted-pair = "\" ( %x00-09 / %x0B-0C / %x0E-7F )
                guard let n = s.peek(at: 1), n != ASCII.cr, n != ASCII.lf, n < 0x80 else {
                    throw s.error("bad quoted-pair in comment")
                }
                s.position += 1
            default:
                // ctext: %x21-27 / %x2A-5B / %x5D-7E / UTF8-NONASCII / LWS
                guard b >= 0x20 || ASCII.isLWS(b), b != 0x7F else { throw s.error("control character in comment") }
            }
            s.position += 1
        }
        s.position = start
        throw s.error("unterminated comment")
    }

    /// TEXT-UTF8-TRIM from the cursor to the end (§25.1): printable UTF-8 and LWS, no control
    /// characters. Returns the text unfolded and trimmed (empty when there is none).
    static func utf8Text(_ s: inout SIPScanner) throws(SIPParseError) -> String {
        s.skipLWS()
        let r = s.position..<s.end
        for i in r {
            let b = s.bytes[i]
            if (b < 0x20 && !ASCII.isLWS(b)) || b == 0x7F {
                throw s.error("control character in text", at: i)
            }
        }
        guard String(validating: s.bytes[r], as: UTF8.self) != nil else {
            throw s.error("text is not UTF-8", kind: .invalidUTF8)
        }
        return s.restAsText()
    }

    /// `word [ "@" word ]` (§25.1 callid), stopping at what follows it.
    static func callIDWord(_ s: inout SIPScanner) throws(SIPParseError) -> Range<Int> {
        let start = s.position
        guard s.word() != nil else { throw s.error("expected a Call-ID") }
        if s.consume(ASCII.at) {
            guard s.word() != nil else { throw s.error("empty word after '@' in Call-ID") }
        }
        return start..<s.position
    }
}
