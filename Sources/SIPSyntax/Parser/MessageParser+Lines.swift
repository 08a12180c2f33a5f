/// The parts of parsing one message that work on a single line: the start line (RFC 3261 §7.1,
/// §7.2), Content-Length (§20.14), and the values of the headers every element reads (top Via,
/// From, To, Call-ID, CSeq, Max-Forwards), checked as their lines are indexed.
extension MessageParser {

    /// Content-Length = 1*DIGIT (§20.14). Never a negative number, never beyond Int.
    static func parseContentLength(_ bytes: [UInt8], _ r: Range<Int>) throws(SIPParseError) -> Int {
        var s = SIPScanner(bytes, range: r)
        s.header = "Content-Length"
        s.skipLWS()
        guard let c = s.peek(), ASCII.isDigit(c) else {
            throw SIPParseError(
                .invalidContentLength, "Content-Length is not a non-negative number", header: "Content-Length",
                offset: r.lowerBound)
        }
        let v: UInt64
        do { v = try s.number(max: UInt64(Int32.max), what: "Content-Length") } catch {
            throw SIPParseError(
                .invalidContentLength, "Content-Length is out of range", header: "Content-Length", offset: r.lowerBound)
        }
        s.skipLWS()
        guard s.isAtEnd else {
            throw SIPParseError(
                .invalidContentLength, "Content-Length has trailing characters", header: "Content-Length",
                offset: s.position)
        }
        return Int(v)
    }

    static func parseStartLine(_ b: [UInt8], _ r: Range<Int>, _ e: inout Essentials) throws(SIPParseError)
        -> SIPMessage.StartLine
    {
        if r.count >= 4, b.equalsCaseInsensitive(r.lowerBound..<(r.lowerBound + 4), "SIP/") {
            // Status-Line = SIP-Version SP Status-Code SP Reason-Phrase
            var s = SIPScanner(b, range: r)
            let version = try parseVersion(&s)
            guard s.consume(ASCII.sp) else {
                throw SIPParseError(.malformedStartLine, "expected SP after the SIP version", offset: s.position)
            }
            let codeStart = s.position
            let digits = s.scan(while: ASCII.isDigit)
            guard digits.count == 3 else {
                throw SIPParseError(.malformedStartLine, "the status code is not three digits", offset: codeStart)
            }
            let code =
                Int(b[digits.lowerBound] - 0x30) * 100 + Int(b[digits.lowerBound + 1] - 0x30) * 10
                + Int(b[digits.lowerBound + 2] - 0x30)
            guard (100...699).contains(code) else {
                throw SIPParseError(.malformedStartLine, "status code \(code) is not in 100–699", offset: codeStart)
            }
            // The SP before the reason is required, even when the reason is empty (RFC 4475 §3.1.1.13);
            // a missing one is tolerated.
            _ = s.consume(ASCII.sp)
            let reasonRange = s.position..<r.upperBound
            for k in reasonRange where (b[k] < 0x20 && b[k] != ASCII.htab) || b[k] == 0x7F {
                throw SIPParseError(.malformedStartLine, "control character in the reason phrase", offset: k)
            }
            guard let reason = String(validating: b[reasonRange], as: UTF8.self) else {
                throw SIPParseError(.invalidUTF8, "the reason phrase is not UTF-8", offset: reasonRange.lowerBound)
            }
            var line = StatusLine(status: code, reason: reason)
            line.version = version
            return .response(line)
        }
        // Request-Line = Method SP Request-URI SP SIP-Version: exactly one SP between elements
        // (RFC 4475 §3.1.2.9–10 reject extra SP).
        var s = SIPScanner(b, range: r)
        guard let m = s.token() else {
            throw SIPParseError(.malformedStartLine, "expected a method", offset: r.lowerBound)
        }
        guard s.consume(ASCII.sp) else {
            throw SIPParseError(.malformedStartLine, "expected SP after the method", offset: s.position)
        }
        let uriEnd = findByte(b, ASCII.sp, from: s.position, to: r.upperBound)
        guard uriEnd < r.upperBound else {
            throw SIPParseError(.malformedStartLine, "expected SP after the Request-URI", offset: uriEnd)
        }
        if s.peek() == ASCII.lAngle {
            throw SIPParseError(
                .malformedStartLine, "the Request-URI is enclosed in <> (RFC 4475 §3.1.2.7)", offset: s.position)
        }
        var us = SIPScanner(b, range: s.position..<uriEnd)
        us.header = "Request-URI"
        let uri: URIRanges
        do { uri = try URIGrammar.parse(&us, context: .whole) } catch {
            var err = error
            err.kind = .malformedStartLine
            err.detail = "bad Request-URI: " + error.detail
            throw err
        }
        // §19.1.1 Table 1: URI headers are not allowed in a Request-URI (RFC 4475 §3.1.2.11).
        if uri.headers != nil {
            throw SIPParseError(
                .malformedStartLine, "URI headers are not allowed in a Request-URI", offset: uri.headers?.lowerBound)
        }
        s.position = uriEnd + 1
        let version = try parseVersion(&s)
        guard s.isAtEnd else {
            throw SIPParseError(.malformedStartLine, "unexpected bytes after the SIP version", offset: s.position)
        }
        e.requestMethod = Span(m)
        var line = RequestLine(method: method(b, m), raw: b, uri: uri)
        line.version = version
        return .request(line)
    }

    /// The method named by `b[r]`: the methods of RFC 3261 as string literals (no decoding, no
    /// allocation), others decoded.
    static func method(_ b: [UInt8], _ r: Range<Int>) -> SIPMethod {
        func its(_ name: StaticString) -> Bool {
            r.count == name.utf8CodeUnitCount
                && b[r].elementsEqual(UnsafeBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount))
        }
        switch r.count {
        case 3:
            if its("ACK") { return SIPMethod(rawValue: "ACK") }
            if its("BYE") { return SIPMethod(rawValue: "BYE") }
        case 6:
            if its("INVITE") { return SIPMethod(rawValue: "INVITE") }
            if its("CANCEL") { return SIPMethod(rawValue: "CANCEL") }
        case 7:
            if its("OPTIONS") { return SIPMethod(rawValue: "OPTIONS") }
            if its("MESSAGE") { return SIPMethod(rawValue: "MESSAGE") }
        case 8:
            if its("REGISTER") { return SIPMethod(rawValue: "REGISTER") }
        default:
            break
        }
        return SIPMethod(String(decoding: b[r], as: UTF8.self))
    }

    /// SIP-Version = "SIP" "/" 1*DIGIT "." 1*DIGIT; this stack speaks 2.0 only (§7.1).
    static func parseVersion(_ s: inout SIPScanner) throws(SIPParseError) -> String {
        let start = s.position
        // "SIP/2.0" as nearly every message writes it; anything else takes the general path.
        if start + 7 <= s.end, s.bytes[start..<(start + 7)].elementsEqual("SIP/2.0".utf8),
            start + 7 == s.end || !ASCII.isDigit(s.bytes[start + 7])
        {
            s.position = start + 7
            return "SIP/2.0"
        }
        guard s.position + 4 <= s.end, s.bytes.equalsCaseInsensitive(start..<(start + 4), "SIP/") else {
            throw SIPParseError(.malformedStartLine, "expected SIP-Version", offset: start)
        }
        s.position += 4
        let major = s.scan(while: ASCII.isDigit)
        guard !major.isEmpty, s.consume(ASCII.dot) else {
            throw SIPParseError(.malformedStartLine, "malformed SIP-Version", offset: start)
        }
        let minor = s.scan(while: ASCII.isDigit)
        guard !minor.isEmpty else { throw SIPParseError(.malformedStartLine, "malformed SIP-Version", offset: start) }
        let isTwoZero =
            s.bytes[major].drop(while: { $0 == 0x30 }).elementsEqual([0x32]) && s.bytes[minor].allSatisfy { $0 == 0x30 }
        let text = String(decoding: s.bytes[start..<s.position], as: UTF8.self)
        guard isTwoZero else {
            throw SIPParseError(.unsupportedVersion, "\(text) is not supported", offset: start)
        }
        return "SIP/2.0"
    }

    /// The number of comma-separated values in a list header's value (commas inside quoted strings
    /// and `<…>` do not count).
    static func countListValues(_ b: [UInt8], _ r: Range<Int>) -> Int {
        b.withUnsafeBufferPointer { p in
            // Without a comma there is one value, whatever else the line holds.
            if findByte(p, ASCII.comma, from: r.lowerBound, to: r.upperBound) == r.upperBound { return 1 }
            var count = 1
            var i = Swift.max(r.lowerBound, 0)
            let end = Swift.min(r.upperBound, p.count)
            var quoted = false
            var angle = false
            // '"', ',', '<' and '>': the bytes that matter outside a quoted string.
            let special: UInt64 = 1 << 0x22 | 1 << 0x2C | 1 << 0x3C | 1 << 0x3E
            while i < end {
                let c = p[i]
                if quoted {
                    if c == ASCII.backslash { i += 1 } else if c == ASCII.dquote { quoted = false }
                } else if c < 64, special >> UInt64(c) & 1 != 0 {
                    if c == ASCII.dquote {
                        quoted = true
                    } else if c == ASCII.lAngle {
                        angle = true
                    } else if c == ASCII.rAngle {
                        angle = false
                    } else if !angle {
                        count += 1  // a comma
                    }
                }
                i += 1
            }
            return count
        }
    }

    /// Whether `id` is one of the headers the parser checks on every message.
    @inline(__always)
    static func isHot(_ id: UInt8) -> Bool {
        switch id {
        case KnownHeader.via, KnownHeader.from, KnownHeader.to, KnownHeader.callID, KnownHeader.cseq,
            KnownHeader.maxForwards:
            return true
        default:
            return false
        }
    }

    /// Checks the value `r` of a top Via, From, To, Call-ID, CSeq or Max-Forwards line, recording
    /// where its essential parts are (the first line of each counts).
    static func checkHotHeader(
        _ id: UInt8, _ b: [UInt8], _ r: Range<Int>, _ e: inout Essentials,
        limits: SIPLimits
    ) throws(SIPParseError) {
        var s = SIPScanner(b, range: r)
        s.headerID = id
        switch id {
        case KnownHeader.via:
            // The top Via is parsed (matching and responses need it, §17, §18.2.2); the others
            // are only counted here and parsed when read or in strict checking.
            if !e.hasTopVia {
                let v = try HeaderGrammar.via(&s)
                e.hasTopVia = true
                e.viaTransport = Span(v.transport)
                e.viaHost = Span(v.host)
                e.viaPort = v.port.map { Int32(truncatingIfNeeded: $0) }
                e.viaBranch = v.branch.map(Span.init)
                e.viaReceived = v.received.map(Span.init)
                e.viaHasRport = v.hasRport
                e.viaRport = v.rportName.map { Span(v.rport ?? $0.upperBound..<$0.upperBound) }
                e.viaEnd = Int32(truncatingIfNeeded: v.end)
                e.viaMaddr = v.maddr.map(Span.init)
                e.viaHasAlias = v.hasAlias
                e.viaCount += 1
                if s.separator(ASCII.comma) {
                    e.viaCount += countListValues(b, s.position..<r.upperBound)
                } else {
                    try s.expectEnd()
                }
            } else {
                e.viaCount += countListValues(b, r)
            }
            guard e.viaCount <= limits.maxViaCount else {
                throw .limit(.viaCount, actual: e.viaCount, maximum: limits.maxViaCount, offset: r.lowerBound)
            }
        case KnownHeader.from, KnownHeader.to:
            let na = try HeaderGrammar.nameAddr(&s)
            try s.expectEnd()
            if id == KnownHeader.from {
                if e.fromTag == nil { e.fromTag = na.tag.map(Span.init) }
            } else if e.toTag == nil {
                e.toTag = na.tag.map(Span.init)
            }
        case KnownHeader.callID:
            let c = try HeaderGrammar.callID(&s)
            if e.callID == nil { e.callID = Span(c) }
        case KnownHeader.cseq:
            let c = try HeaderGrammar.cseq(&s)
            if e.cseqNumber == nil {
                e.cseqNumber = c.number
                e.cseqMethod = Span(c.method)
            }
        case KnownHeader.maxForwards:
            s.skipLWS()
            let v = try s.number(max: 255, what: "Max-Forwards")
            try s.expectEnd()
            if e.maxForwards == nil { e.maxForwards = Int32(truncatingIfNeeded: v) }
        default:
            break
        }
    }
}
