// Small value types of RFC 3261 §20 and its extensions: Alert-Info / Call-Info / Error-Info,
// Warning, Retry-After, Timestamp, RAck.

/// `LAQUOT absoluteURI RAQUOT *( SEMI generic-param )`: an element of Alert-Info (RFC 3261 §20.4),
/// Call-Info (§20.9) and Error-Info (§20.18).
public struct InfoValue: Sendable, Hashable, CustomStringConvertible {
    /// The URI between `<` and `>`: any scheme (`http:`, `sip:`, `cid:`…).
    public var uri: URI
    /// Parameters in order, as written (`purpose=icon`, `appearance=2`).
    public var parameters: SIPParameters

    /// An element that refers to `uri`, with `parameters`.
    public init(uri: URI, parameters: SIPParameters = []) {
        self.uri = uri
        self.parameters = parameters
    }

    /// Call-Info `purpose` (§20.9): `icon`, `info`, `card` or an extension token.
    public var purpose: String? { parameters.value("purpose") }

    /// `<uri>;params`.
    public var description: String { "<" + uri.description + ">" + parameters.description }

    static func parse(_ s: inout SIPScanner, rules: [ParamRule]) throws(SIPParseError) -> InfoValue {
        try s.expect(ASCII.lAngle, "'<'")
        let inner = s.position
        while let b = s.peek(), b != ASCII.rAngle { s.position += 1 }
        guard s.peek() == ASCII.rAngle else { throw s.error("expected '>'") }
        var sub = SIPScanner(s.bytes, range: inner..<s.position)
        sub.inheritHeader(from: s)
        let uri = try URIGrammar.parse(&sub, context: .whole)
        s.position += 1
        let params = try HeaderGrammar.genericParams(&s, rules: rules)
        return InfoValue(uri: URI(ranges: uri, bytes: s.bytes), parameters: params)
    }
}

/// One Warning value (RFC 3261 §20.43): `warn-code SP warn-agent SP warn-text`, the code exactly
/// three digits (RFC 4475 §3.1.2.5's `1812` is rejected), the agent a host[:port] or a pseudonym.
public struct SIPWarning: Sendable, Hashable, CustomStringConvertible {
    /// Three digits; 3xx codes are registered (§20.43, IANA "Warning Codes").
    public var code: Int
    /// The host (and port) or pseudonym of the element that added the warning.
    public var agent: String
    /// The warn-text, unquoted.
    public var text: String

    /// A warning with its three-digit `code`, the `agent` that adds it and its `text` (unquoted).
    public init(code: Int, agent: String, text: String) {
        self.code = code
        self.agent = agent
        self.text = text
    }

    /// `307 isi.edu "Session parameter 'foo' not understood"`.
    public var description: String {
        let c = Swift.min(Swift.max(code, 0), 999)
        return String(repeating: "0", count: 3 - String(c).count) + String(c) + " " + agent + " " + quote(text)
    }

    @Sendable static func parse(_ s: inout SIPScanner) throws(SIPParseError) -> SIPWarning {
        let codeRange = s.scan(while: ASCII.isDigit)
        guard codeRange.count == 3 else {
            throw s.error("the warn-code must be three digits", at: codeRange.lowerBound)
        }
        var code = 0
        for i in codeRange { code = code * 10 + Int(s.bytes[i] - 0x30) }
        try s.expectLWS("after the warn-code")
        // warn-agent = hostport / pseudonym
        let agentStart = s.position
        if s.peek() == ASCII.lBracket {
            _ = try URIGrammar.host(&s)
        } else {
            let t = try s.expectToken("a warn-agent")
            if s.peek() == ASCII.colon, !URIGrammar.isValidHostname(s.bytes, t) {
                throw s.error("bad host in the warn-agent", at: t.lowerBound)
            }
        }
        if s.consume(ASCII.colon) { _ = try s.number(max: 65535, what: "warn-agent port") }
        let agent = s.string(agentStart..<s.position)
        try s.expectLWS("after the warn-agent")
        let text = try s.quotedString()
        return SIPWarning(code: code, agent: agent, text: unquote(s.text(text)))
    }
}

/// The value of Retry-After (RFC 3261 §20.33): `delta-seconds [ comment ] *( SEMI retry-param )`,
/// the delay at most 2**32-1 (RFC 4475 §3.1.2.5's 27-digit value is rejected).
public struct RetryAfter: Sendable, Hashable, CustomStringConvertible {
    /// Seconds to wait.
    public var seconds: Int
    /// The comment without its parentheses (`I'm in a meeting`), if any.
    public var comment: String?
    /// Parameters in order (`duration=3600`).
    public var parameters: SIPParameters

    /// A Retry-After of `seconds`, with a comment (without its parentheses) and parameters if any.
    public init(seconds: Int, comment: String? = nil, parameters: SIPParameters = []) {
        self.seconds = seconds
        self.comment = comment
        self.parameters = parameters
    }

    /// `duration` (§20.33): how long the callee will be available, in seconds.
    public var duration: Int? { parameters.value("duration").flatMap { Int($0) } }

    /// `18000;duration=3600`, `120 (I'm in a meeting)`.
    public var description: String {
        String(seconds) + (comment.map { " (" + $0 + ")" } ?? "") + parameters.description
    }

    @Sendable static func parse(_ s: inout SIPScanner) throws(SIPParseError) -> RetryAfter {
        let seconds = try s.deltaSeconds("Retry-After delta-seconds")
        var comment: String? = nil
        let save = s.position
        s.skipLWS()
        if s.peek() == ASCII.lParen {
            let r = try HeaderGrammar.comment(&s)
            comment = s.text((r.lowerBound + 1)..<(r.upperBound - 1))
        } else {
            s.position = save
        }
        let params = try HeaderGrammar.genericParams(&s, rules: [ParamRule("duration", .deltaSeconds)])
        return RetryAfter(seconds: seconds, comment: comment, parameters: params)
    }
}

/// The value of Timestamp (RFC 3261 §20.38): `1*DIGIT [ "." *DIGIT ] [ LWS delay ]`, kept as
/// written so that a UAS echoes it exactly (§8.2.6.1).
public struct SIPTimestamp: Sendable, Hashable, CustomStringConvertible {
    /// The time the request was sent, as written (`54`, `54.3`).
    public var value: String
    /// The delay the UAS adds when it echoes the header, as written (`0.2`), if any.
    public var delay: String?

    /// A Timestamp of `value` and, when the UAS echoes it, its `delay`; both as written.
    public init(value: String, delay: String? = nil) {
        self.value = value
        self.delay = delay
    }

    /// ``value`` as a number.
    public var time: Double? { Double(value.hasSuffix(".") ? value + "0" : value) }

    /// ``delay`` as a number (an empty delay or a lone "." count as 0).
    public var delaySeconds: Double? {
        guard let delay else { return nil }
        let d = (delay.hasPrefix(".") ? "0" : "") + delay + (delay.hasSuffix(".") ? "0" : "")
        return Double(d)
    }

    /// `54.3 0.2`: the value, then the delay if any.
    public var description: String { value + (delay.map { " " + $0 } ?? "") }

    @Sendable static func parse(_ s: inout SIPScanner) throws(SIPParseError) -> SIPTimestamp {
        let start = s.position
        guard !s.scan(while: ASCII.isDigit).isEmpty else { throw s.error("expected the timestamp's digits") }
        if s.consume(ASCII.dot) { _ = s.scan(while: ASCII.isDigit) }
        let value = s.string(start..<s.position)
        let save = s.position
        s.skipLWS()
        guard s.position > save else { return SIPTimestamp(value: value) }
        // delay = *(DIGIT) [ "." *(DIGIT) ]
        let ds = s.position
        _ = s.scan(while: ASCII.isDigit)
        if s.consume(ASCII.dot) { _ = s.scan(while: ASCII.isDigit) }
        let delay = ds..<s.position
        return SIPTimestamp(value: value, delay: delay.isEmpty ? nil : s.string(delay))
    }
}

/// The value of RAck (RFC 3262 §7.2): `response-num LWS CSeq-num LWS Method`, naming the reliable
/// provisional response a PRACK acknowledges.
public struct RAck: Sendable, Hashable, CustomStringConvertible {
    /// The RSeq of the response acknowledged (1 to 2**32-1, RFC 3262 §7.1).
    public var responseNumber: UInt32
    /// The CSeq number of the response acknowledged (below 2**31, RFC 3261 §8.1.1.5).
    public var cseq: UInt32
    /// The CSeq method of the response acknowledged.
    public var method: SIPMethod

    /// An RAck for the response with RSeq `responseNumber` to the request with CSeq `cseq` and `method`.
    public init(responseNumber: UInt32, cseq: UInt32, method: SIPMethod) {
        self.responseNumber = responseNumber
        self.cseq = cseq
        self.method = method
    }

    /// `776656 1 INVITE`.
    public var description: String { "\(responseNumber) \(cseq) \(method)" }

    @Sendable static func parse(_ s: inout SIPScanner) throws(SIPParseError) -> RAck {
        let rseq = try s.number(max: UInt64(UInt32.max), what: "RAck response-num")
        try s.expectLWS("after the RAck response-num")
        let cseq = try s.number(max: 0x7FFF_FFFF, what: "RAck CSeq-num")
        try s.expectLWS("after the RAck CSeq-num")
        let m = try s.expectToken("the RAck method")
        return RAck(responseNumber: UInt32(rseq), cseq: UInt32(cseq), method: SIPMethod(s.string(m)))
    }
}
