/// What the parser learnt about the headers every element reads (top Via, CSeq, Call-ID,
/// From/To tags, Max-Forwards, Content-Length), as ranges of the received bytes.
/// Kept in every parsed message and copied with it, hence 32-bit offsets (``Span``).
struct Essentials: Sendable {
    /// Whether there is a top Via; its transport and sent-by host are then set.
    var hasTopVia = false
    var viaTransport = Span(0..<0)
    var viaHost = Span(0..<0)
    var viaPort: Int32?
    var viaBranch: Span?
    var viaReceived: Span?
    var viaHasRport = false
    /// The top Via's `rport` name and value (empty after the name when it has none).
    var viaRport: Span?
    /// Where the top via-parm ends: after its last parameter (RFC 3261 §18.2.1 adds there).
    var viaEnd: Int32 = 0
    /// The top Via's `maddr` (RFC 3261 §18.2.2).
    var viaMaddr: Span?
    /// Whether the top Via has `alias` (RFC 5923).
    var viaHasAlias = false
    var viaCount = 0
    var callID: Span?
    var cseqNumber: UInt32?
    var cseqMethod: Span?
    var fromTag: Span?
    var toTag: Span?
    var maxForwards: Int32?
    var contentLength: Int32?
    /// The request method's token in the start line.
    var requestMethod: Span?
}

/// How the parser was given the bytes.
public enum SIPFraming: Sendable, Hashable {
    /// A whole datagram (RFC 3261 §18.3): without Content-Length the body runs to the end; bytes
    /// after Content-Length are ignored (RFC 4475 §3.1.1.8).
    case datagram
    /// A message cut from a stream by ``SIPStreamFramer``: Content-Length must be present (§18.3,
    /// §20.14) and the bytes end where it says.
    case stream
}

extension SIPMessage {
    /// Parses one message from the bytes of a datagram (or, with `framing: .stream`, of one framed
    /// stream message). Checks the start line, the header section's framing, Content-Length and the
    /// values of Via, From, To, Call-ID, CSeq and Max-Forwards; other headers are parsed when read.
    public init(parsing bytes: [UInt8], limits: SIPLimits = .default, framing: SIPFraming = .datagram)
        throws(SIPParseError)
    {
        try self.init(parsing: bytes, limits: limits, framing: framing, ignoreContentLength: false, lenient: false)
    }

    /// Parses one message from its text.
    public init(parsing text: String, limits: SIPLimits = .default) throws(SIPParseError) {
        try self.init(parsing: Array(text.utf8), limits: limits)
    }

    /// Builds a message from wire text written in Swift source: bare LF line ends become CRLF in the
    /// header section, and Content-Length is set to the body's byte count. For tests, examples and
    /// tools; use ``init(parsing:limits:framing:)`` for bytes from the network.
    public init(wire text: String) throws(SIPParseError) {
        var b = Array(text.utf8)
        // header section: LF -> CRLF
        var out: [UInt8] = []
        out.reserveCapacity(b.count + 64)
        var i = 0
        var bodyStart: Int? = nil
        while i < b.count {
            let c = b[i]
            if c == ASCII.lf {
                let hadCR = out.last == ASCII.cr
                if !hadCR { out.append(ASCII.cr) }
                out.append(ASCII.lf)
                // empty line?
                let n = out.count
                if n >= 4, out[n - 4] == ASCII.cr, out[n - 3] == ASCII.lf {
                    bodyStart = i + 1
                    break
                }
                i += 1
                continue
            }
            out.append(c)
            i += 1
        }
        if bodyStart == nil {
            if out.last != ASCII.lf { out += [ASCII.cr, ASCII.lf] }
            out += [ASCII.cr, ASCII.lf]
            bodyStart = b.count
        }
        let body = Array(b[(bodyStart ?? b.count)...])
        b = out
        var m = try MessageParser.parse(b + body, limits: .default, framing: .datagram, ignoreContentLength: true)
        if let cl = m.headers.firstIndex(known: KnownHeader.contentLength) {
            if m.headers.valueText(at: cl) != String(body.count) {
                m.headers.replaceValue(at: cl, with: String(body.count))
            }
        } else {
            m.headers.append(.contentLength, String(body.count))
        }
        m.body = body[...]
        m = try MessageParser.parse(m.serialized(), limits: .default, framing: .datagram)
        self = m
    }
}

enum MessageParser {
    /// `lenient` reads what it can of a broken message, for answering it (``SIPValidator``): any
    /// first line that starts with a token is a request, the header values are not checked, a
    /// missing empty line ends the headers at the end of the bytes.
    static func parse(
        _ bytes: [UInt8], limits: SIPLimits, framing: SIPFraming,
        ignoreContentLength: Bool = false, lenient: Bool = false
    ) throws(SIPParseError) -> SIPMessage {
        try SIPMessage(
            parsing: bytes, limits: limits, framing: framing, ignoreContentLength: ignoreContentLength, lenient: lenient
        )
    }
}

extension SIPMessage {
    /// The parser. An initializer, so that the message is built where the caller wants it rather
    /// than copied there. See ``MessageParser/parse(_:limits:framing:ignoreContentLength:lenient:)``.
    init(
        parsing bytes: [UInt8], limits: SIPLimits, framing: SIPFraming,
        ignoreContentLength: Bool, lenient: Bool
    ) throws(SIPParseError) {
        typealias MP = MessageParser
        let n = bytes.count
        guard n <= limits.maxMessageSize else { throw .limit(.messageSize, actual: n, maximum: limits.maxMessageSize) }
        // Offsets are kept as 32-bit numbers (Span, SIPHeaders.Field).
        guard n < Int(Int32.max) else { throw .limit(.messageSize, actual: n, maximum: Int(Int32.max) - 1) }
        var i = 0
        // §7.5: CRLFs before the start line are ignored.
        while i < n, bytes[i] == ASCII.cr || bytes[i] == ASCII.lf { i += 1 }
        let messageStart = i
        guard i < n else { throw SIPParseError(.malformedStartLine, "no start line", offset: 0) }

        // Start line.
        let lineEnd = findByte(bytes, ASCII.lf, from: i, to: n)
        guard lineEnd < n else { throw SIPParseError(.missingEmptyLine, "the start line does not end", offset: i) }
        var contentEnd = lineEnd
        if contentEnd > i, bytes[contentEnd - 1] == ASCII.cr { contentEnd -= 1 }
        guard contentEnd - i <= limits.maxStartLineLength else {
            throw .limit(.startLineLength, actual: contentEnd - i, maximum: limits.maxStartLineLength, offset: i)
        }
        var essentials = Essentials()
        let startLine: SIPMessage.StartLine
        do {
            startLine = try MP.parseStartLine(bytes, i..<contentEnd, &essentials)
        } catch {
            guard lenient else { throw error }
            var s = SIPScanner(bytes, range: i..<contentEnd)
            guard !bytes.equalsCaseInsensitive(i..<Swift.min(i + 4, contentEnd), "SIP/"), let m = s.token() else {
                throw error
            }
            startLine = .request(
                RequestLine(method: SIPMethod(s.string(m)), uri: .absolute(AbsoluteURI(scheme: "invalid", rest: "-"))))
        }
        i = lineEnd + 1

        // Header fields (§7.3): name HCOLON value, continuation lines start with SP or HTAB.
        var fields: [SIPHeaders.Field] = []
        fields.reserveCapacity(24)
        var bodyStart = -1
        var contentLength: Int? = nil
        // The values of Via, From, To, Call-ID, CSeq and Max-Forwards are checked as their lines are
        // found; the first error is thrown after the framing checks, which come first.
        var hotError: SIPParseError? = nil
        var checkHot = !lenient
        // The header lines, read through a pointer: every read below is of an index checked to be
        // below n == p.count.
        try bytes.withUnsafeBufferPointer { (p) throws(SIPParseError) in
            while i < n {
                let c = p[i]
                if c == ASCII.cr || c == ASCII.lf {
                    // The empty line: CRLF (or a bare LF, tolerated).
                    if c == ASCII.cr {
                        guard i + 1 < n, p[i + 1] == ASCII.lf else {
                            throw SIPParseError(.malformedHeaderLine, "bare CR", offset: i)
                        }
                        bodyStart = i + 2
                    } else {
                        bodyStart = i + 1
                    }
                    break
                }
                guard fields.count < limits.maxHeaderCount else {
                    throw .limit(.headerCount, actual: fields.count + 1, maximum: limits.maxHeaderCount, offset: i)
                }
                let lineStart = i
                guard ASCII.isToken(c) else {
                    throw SIPParseError(
                        .malformedHeaderLine,
                        c == ASCII.sp || c == ASCII.htab
                            ? "continuation line with no header before it" : "header name is not a token",
                        offset: i)
                }
                while i < n, ASCII.isToken(p[i]) { i += 1 }
                let nameEnd = i
                while i < n, p[i] == ASCII.sp || p[i] == ASCII.htab { i += 1 }
                guard i < n, p[i] == ASCII.colon else {
                    throw SIPParseError(.malformedHeaderLine, "expected ':' after the header name", offset: i)
                }
                i += 1
                while i < n, p[i] == ASCII.sp || p[i] == ASCII.htab { i += 1 }
                let valueStart = i
                var valueEnd = i
                // The value runs to the end of the line, and on through continuation lines.
                while true {
                    // memchr finds the LF; a CR anywhere but right before it is a bare CR. NUL may appear
                    // inside a quoted-pair (RFC 4475 §3.1.1.2); the value grammars judge it.
                    let lf = findByte(p, ASCII.lf, from: i, to: n)
                    let cr = findByte(p, ASCII.cr, from: i, to: lf)
                    if cr < lf, cr != lf - 1 || lf == n {
                        throw SIPParseError(.malformedHeaderLine, "bare CR in a header line", offset: cr)
                    }
                    i = lf
                    guard i < n || lenient else {
                        throw SIPParseError(
                            .missingEmptyLine, "the header section does not end with an empty line", offset: i)
                    }
                    var e = i
                    if e > valueStart, p[e - 1] == ASCII.cr { e -= 1 }
                    valueEnd = Swift.max(e, valueStart)
                    i = Swift.min(i + 1, n)  // past LF
                    guard i - lineStart <= limits.maxHeaderLineLength else {
                        throw .limit(
                            .headerLineLength, actual: i - lineStart, maximum: limits.maxHeaderLineLength,
                            offset: lineStart)
                    }
                    if i < n, p[i] == ASCII.sp || p[i] == ASCII.htab { continue }
                    break
                }
                while valueEnd > valueStart, p[valueEnd - 1] == ASCII.sp || p[valueEnd - 1] == ASCII.htab {
                    valueEnd -= 1
                }
                let id = KnownHeader.lookup(p, lineStart..<nameEnd) ?? 0
                if id == KnownHeader.contentLength, !ignoreContentLength {
                    let v = try MP.parseContentLength(bytes, valueStart..<valueEnd)
                    if let contentLength, contentLength != v {
                        throw SIPParseError(
                            .invalidContentLength, "two Content-Length values, \(contentLength) and \(v)",
                            header: "Content-Length", offset: lineStart)
                    }
                    guard v <= limits.maxBodySize else {
                        throw .limit(.bodySize, actual: v, maximum: limits.maxBodySize, offset: valueStart)
                    }
                    contentLength = v
                }
                if checkHot, MP.isHot(id) {
                    do throws(SIPParseError) {
                        try MP.checkHotHeader(id, bytes, valueStart..<valueEnd, &essentials, limits: limits)
                    } catch {
                        hotError = error
                        checkHot = false
                    }
                }
                fields.append(
                    .raw(
                        id: id, lineStart: Int32(truncatingIfNeeded: lineStart),
                        nameEnd: Int32(truncatingIfNeeded: nameEnd),
                        valueStart: Int32(truncatingIfNeeded: valueStart),
                        valueEnd: Int32(truncatingIfNeeded: valueEnd),
                        lineEnd: Int32(truncatingIfNeeded: i)))
            }
        }
        if bodyStart < 0, lenient { bodyStart = n }
        guard bodyStart >= 0 else {
            throw SIPParseError(.missingEmptyLine, "the header section does not end with an empty line", offset: n)
        }

        // Body (§18.3).
        let bodyEnd: Int
        if let contentLength, !ignoreContentLength {
            guard bodyStart + contentLength <= n else {
                throw SIPParseError(
                    .truncatedBody, "Content-Length is \(contentLength) but \(n - bodyStart) bytes follow",
                    header: "Content-Length", offset: bodyStart)
            }
            bodyEnd = bodyStart + contentLength
            // A framed stream message ends where Content-Length says. Bytes beyond it mean the
            // framer and the parser disagree about where the header section ends (a bare-LF empty
            // line): dropping them would silently lose the message they hold.
            guard framing == .datagram || bodyEnd == n else {
                throw SIPParseError(
                    .invalidContentLength,
                    "\(n - bodyEnd) bytes after the \(contentLength) bytes of body that Content-Length gives",
                    header: "Content-Length", offset: bodyEnd)
            }
        } else {
            if framing == .stream, !ignoreContentLength {
                throw SIPParseError(
                    .invalidContentLength, "Content-Length is required on a stream (§18.3)",
                    header: "Content-Length")
            }
            bodyEnd = n
            guard n - bodyStart <= limits.maxBodySize else {
                throw .limit(.bodySize, actual: n - bodyStart, maximum: limits.maxBodySize, offset: bodyStart)
            }
        }
        essentials.contentLength = contentLength.map { Int32(truncatingIfNeeded: $0) }

        if lenient {
            self.storage = Storage(
                startLine: startLine, headers: SIPHeaders(source: bytes, fields: fields),
                body: bytes[bodyStart..<n], wire: nil, cache: nil)
            return
        }
        if let hotError { throw hotError }
        if let m = essentials.cseqMethod?.range, let rm = essentials.requestMethod?.range {
            // Methods are case-sensitive (§7.1); both are tokens of the received bytes.
            if !(m.count == rm.count && bytes[m].elementsEqual(bytes[rm])) {
                throw SIPParseError(
                    .cseqMethodMismatch,
                    "CSeq method \(String(decoding: bytes[m], as: UTF8.self)) but the request is \(String(decoding: bytes[rm], as: UTF8.self))",
                    header: "CSeq", offset: m.lowerBound)
            }
        }
        self.storage = Storage(
            startLine: startLine, headers: SIPHeaders(source: bytes, fields: fields),
            body: bytes[bodyStart..<bodyEnd], wire: bytes[messageStart..<bodyEnd], cache: essentials)
    }
}
