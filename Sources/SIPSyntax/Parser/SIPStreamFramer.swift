/// Splits a TCP/TLS byte stream into SIP messages (RFC 3261 §18.3): a message is the header
/// section up to the empty line, then exactly Content-Length bytes of body. Content-Length is
/// mandatory on streams. CRLFs between messages are keep-alives (RFC 5626 §3.5.1: a double CRLF
/// "ping" is answered with a single CRLF "pong").
///
/// The framer never buffers more than the limits allow: a header section longer than
/// `maxMessageSize` or a Content-Length above `maxBodySize` is an error, after which the stream
/// cannot be re-synchronised and the connection should be closed (RFC 4475 §3.1.2.3).
public struct SIPStreamFramer: Sendable {
    /// What the framer found next in the stream.
    public enum Frame: Sendable, Hashable {
        /// One complete message: parse it with `SIPMessage(parsing:framing: .stream)`.
        case message([UInt8])
        /// A CRLFCRLF keep-alive ping (RFC 5626 §3.5.1); answer with a single CRLF.
        case ping
        /// A single CRLF keep-alive pong (RFC 5626 §3.5.1).
        case pong
    }

    /// The bounds this framer enforces on a message's header section and body.
    public let limits: SIPLimits
    private var buffer: [UInt8] = []
    private var start = 0
    /// Where the search for the end of the header section resumes.
    private var scanFrom = 0
    private var failed: SIPParseError?

    /// A framer with nothing buffered, enforcing `limits`.
    public init(limits: SIPLimits = .default) { self.limits = limits }

    /// Bytes received and not yet returned as frames.
    public var bufferedByteCount: Int { buffer.count - start }

    /// Adds bytes read from the connection.
    public mutating func append<S: Sequence>(_ bytes: S) where S.Element == UInt8 {
        if start > 0, start >= buffer.count / 2 {
            buffer.removeSubrange(0..<start)
            scanFrom -= start
            start = 0
        }
        buffer.append(contentsOf: bytes)
    }

    /// The next complete frame, or nil when more bytes are needed. Throws when the stream breaks
    /// the framing rules; every later call throws the same error.
    public mutating func next() throws(SIPParseError) -> Frame? {
        if let failed { throw failed }
        do {
            return try nextFrame()
        } catch {
            failed = error
            throw error
        }
    }

    private mutating func nextFrame() throws(SIPParseError) -> Frame? {
        let n = buffer.count
        // Keep-alives before a start line.
        if start < n, buffer[start] == ASCII.cr {
            guard start + 1 < n else { return nil }
            guard buffer[start + 1] == ASCII.lf else {
                throw SIPParseError(.malformedStartLine, "bare CR before a start line", offset: 0)
            }
            if start + 3 < n, buffer[start + 2] == ASCII.cr, buffer[start + 3] == ASCII.lf {
                start += 4
                scanFrom = start
                return .ping
            }
            if start + 2 < n, buffer[start + 2] != ASCII.cr {
                start += 2
                scanFrom = start
                return .pong
            }
            if start + 3 < n {  // CR LF CR x
                throw SIPParseError(.malformedStartLine, "bare CR before a start line", offset: 2)
            }
            return nil
        }
        if start < n, buffer[start] == ASCII.lf {
            start += 1
            scanFrom = start
            return .pong
        }
        // The end of the header section: an empty line after a line end, CRLF or a bare LF, as
        // the parser reads it (so that framer and parser never disagree on where a message ends).
        var i = Swift.max(scanFrom, start)
        var headerEnd = -1
        var resume = n
        while i < n {
            let lf = findByte(buffer, ASCII.lf, from: i, to: n)
            guard lf < n else { break }
            if lf + 1 >= n {
                resume = lf
                break
            }
            if buffer[lf + 1] == ASCII.lf {
                headerEnd = lf + 2
                break
            }
            if buffer[lf + 1] == ASCII.cr {
                if lf + 2 >= n {
                    resume = lf
                    break
                }
                if buffer[lf + 2] == ASCII.lf {
                    headerEnd = lf + 3
                    break
                }
            }
            i = lf + 1
        }
        if headerEnd < 0 {
            scanFrom = Swift.max(start, resume)
            guard n - start <= limits.maxMessageSize else {
                throw .limit(.messageSize, actual: n - start, maximum: limits.maxMessageSize, offset: 0)
            }
            return nil
        }
        guard headerEnd - start <= limits.maxMessageSize else {
            throw .limit(.messageSize, actual: headerEnd - start, maximum: limits.maxMessageSize, offset: 0)
        }
        let length = try contentLength(start..<headerEnd)
        guard length <= limits.maxBodySize else { throw .limit(.bodySize, actual: length, maximum: limits.maxBodySize) }
        let end = headerEnd + length
        guard end <= n else {
            scanFrom = start
            return nil
        }
        let message = Array(buffer[start..<end])
        start = end
        scanFrom = end
        if start == buffer.count {
            buffer.removeAll(keepingCapacity: buffer.capacity <= 65_536)
            start = 0
            scanFrom = 0
        }
        return .message(message)
    }

    /// The Content-Length of the header section `r` (long or compact name), required on streams.
    private func contentLength(_ r: Range<Int>) throws(SIPParseError) -> Int {
        var value: Int? = nil
        var lineStart = r.lowerBound
        var i = r.lowerBound
        while i < r.upperBound {
            if buffer[i] == ASCII.lf {
                let next = i + 1
                // a header line starts at lineStart; continuation lines start with SP/HTAB
                var nameEnd = lineStart
                while nameEnd < i, ASCII.isToken(buffer[nameEnd]) { nameEnd += 1 }
                if nameEnd > lineStart, KnownHeader.lookup(buffer, lineStart..<nameEnd) == KnownHeader.contentLength {
                    var c = nameEnd
                    while c < i, buffer[c] == ASCII.sp || buffer[c] == ASCII.htab { c += 1 }
                    if c < i, buffer[c] == ASCII.colon {
                        // the value may be folded onto continuation lines
                        var e = next
                        while e < r.upperBound, buffer[e] == ASCII.sp || buffer[e] == ASCII.htab {
                            while e < r.upperBound, buffer[e] != ASCII.lf { e += 1 }
                            e += 1
                        }
                        let v = try MessageParser.parseContentLength(buffer, (c + 1)..<Swift.min(e, r.upperBound))
                        if let value, value != v {
                            throw SIPParseError(
                                .invalidContentLength, "two Content-Length values, \(value) and \(v)",
                                header: "Content-Length")
                        }
                        value = v
                    }
                }
                lineStart = next
            }
            i += 1
        }
        guard let value else {
            throw SIPParseError(
                .invalidContentLength, "Content-Length is required on a stream (§18.3)", header: "Content-Length")
        }
        return value
    }
}
