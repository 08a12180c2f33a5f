/// A cursor over the bytes of one header value (or URI), with the lexical rules of RFC 3261 §25.1.
///
/// Header values given to a scanner may contain folded lines: CR and LF inside the value are only
/// ever followed by whitespace (the header splitter guarantees it), so they count as LWS here.
/// Every read is bounds-checked; no input can make the scanner trap.
public struct SIPScanner: Sendable {
    /// The bytes scanned; the ranges the scanner returns are indices into them.
    public let bytes: [UInt8]
    /// The index of the next byte to read.
    public var position: Int
    /// The index one past the last byte the scanner may read.
    public let end: Int
    /// The header being parsed, for error messages: its name as given, or else the name of the
    /// known header `headerID` (looked up only when an error needs it).
    var header: String? {
        get {
            if let headerText { return headerText }
            return headerID != 0 ? KnownHeader.all[Int(headerID) - 1].name : nil
        }
        set {
            headerText = newValue
            headerID = 0
        }
    }
    var headerText: String?
    var headerID: UInt8 = 0

    /// A scanner over `bytes[range]`, at its first byte.
    public init(_ bytes: [UInt8], range: Range<Int>) {
        self.bytes = bytes
        self.position = range.lowerBound
        self.end = range.upperBound
    }

    /// A scanner over the UTF-8 bytes of `string`, at its first byte.
    public init(_ string: String) {
        let b = Array(string.utf8)
        self.init(b, range: 0..<b.count)
    }

    /// Names the same header as `other` in error messages.
    mutating func inheritHeader(from other: SIPScanner) {
        headerText = other.headerText
        headerID = other.headerID
    }

    /// Whether every byte has been read.
    public var isAtEnd: Bool { position >= end }

    /// The next byte, without consuming it; nil at the end.
    public func peek() -> UInt8? { position < end ? bytes[position] : nil }

    /// The byte `offset` bytes after the next one (0 is the next), without consuming anything; nil past the end.
    public func peek(at offset: Int) -> UInt8? {
        let i = position + offset
        return i < end && i >= 0 ? bytes[i] : nil
    }

    /// Skips SP, HTAB and folded line breaks.
    public mutating func skipLWS() {
        while position < end, ASCII.isLWS(bytes[position]) { position += 1 }
    }

    /// Consumes `byte` if it is next; nothing else.
    public mutating func consume(_ byte: UInt8) -> Bool {
        if position < end, bytes[position] == byte {
            position += 1
            return true
        }
        return false
    }

    /// A separator with optional LWS around it (`SEMI`, `COMMA`, `EQUAL`, `SLASH`, `COLON`… of §25.1).
    public mutating func separator(_ byte: UInt8) -> Bool {
        let save = position
        skipLWS()
        if consume(byte) {
            skipLWS()
            return true
        }
        position = save
        return false
    }

    /// An error of `kind` at the current position, naming the header being parsed.
    public func error(_ detail: String, kind: SIPParseError.Kind = .invalidHeaderValue) -> SIPParseError {
        SIPParseError(kind, detail, header: header, offset: position)
    }

    /// Consumes `byte`, or throws an error that says `what` was expected.
    public mutating func expect(_ byte: UInt8, _ what: String) throws(SIPParseError) {
        guard consume(byte) else { throw error("expected \(what)") }
    }

    /// Consumes `byte` with optional LWS around it (``separator(_:)``), or throws an error that says `what` was
    /// expected.
    public mutating func expectSeparator(_ byte: UInt8, _ what: String) throws(SIPParseError) {
        guard separator(byte) else { throw error("expected \(what)") }
    }

    /// Consumes bytes while `predicate` holds; returns their range (possibly empty).
    public mutating func scan(while predicate: (UInt8) -> Bool) -> Range<Int> {
        let start = position
        // Reads stay inside the array: from a non-negative start to at most its count.
        let stop = start >= 0 ? Swift.min(end, bytes.count) : start
        position = bytes.withUnsafeBufferPointer { p in
            var i = start
            while i < stop, predicate(p[i]) { i += 1 }
            return i
        }
        return start..<position
    }

    /// `token` (§25.1): one or more token characters, or nil (nothing consumed).
    public mutating func token() -> Range<Int>? {
        let r = scan(while: ASCII.isToken)
        return r.isEmpty ? nil : r
    }

    /// Consumes a `token` (§25.1) and returns its range, or throws an error that says `what` was expected.
    public mutating func expectToken(_ what: String) throws(SIPParseError) -> Range<Int> {
        guard let r = token() else { throw error("expected \(what)") }
        return r
    }

    /// `word` (§25.1), as in Call-ID.
    public mutating func word() -> Range<Int>? {
        let r = scan(while: { ASCII.is($0, .word) })
        return r.isEmpty ? nil : r
    }

    /// A `quoted-string` (§25.1), the quotes included in the returned range. Quoted pairs may
    /// escape any byte but CR and LF. Throws on a missing closing quote.
    public mutating func quotedString() throws(SIPParseError) -> Range<Int> {
        let start = position
        guard consume(ASCII.dquote) else { throw error("expected '\"'") }
        // 0: closed at `position`; 1: bad quoted-pair, 2: control character (at `position`); 3: unterminated.
        var at = position
        let stop = at >= 0 ? Swift.min(end, bytes.count) : at  // reads stay inside the array
        let outcome = bytes.withUnsafeBufferPointer { p -> Int in
            while at < stop {
                let b = p[at]
                if b == ASCII.dquote {
                    at += 1
                    return 0
                }
                if b == ASCII.backslash {
                    guard at + 1 < stop, p[at + 1] != ASCII.cr, p[at + 1] != ASCII.lf else { return 1 }
                    at += 2
                } else if b == ASCII.cr || b == ASCII.lf {
                    // A folded line inside a quoted string: the fold is LWS (§25.1 qdtext includes LWS).
                    at += 1
                } else if b < 0x20 && b != ASCII.htab || b == 0x7F {
                    return 2
                } else {
                    at += 1
                }
            }
            return 3
        }
        switch outcome {
        case 0:
            position = at
            return start..<position
        case 1:
            position = at
            throw error("bad quoted-pair")
        case 2:
            position = at
            throw error("control character in quoted string")
        default:
            position = start
            throw error("unterminated quoted string")
        }
    }

    /// A decimal number (leading zeros allowed) no greater than `max`; `what` names it in the error.
    public mutating func number(max: UInt64, what: String) throws(SIPParseError) -> UInt64 {
        let r = scan(while: ASCII.isDigit)
        guard !r.isEmpty else { throw error("expected \(what)") }
        var value: UInt64 = 0
        for i in r {
            let (m, o1) = value.multipliedReportingOverflow(by: 10)
            let (a, o2) = m.addingReportingOverflow(UInt64(bytes[i] &- 0x30))
            if o1 || o2 || a > max {
                position = r.lowerBound
                throw error("\(what) is out of range (more than \(max))")
            }
            value = a
        }
        return value
    }

    /// Throws unless only LWS remains.
    public mutating func expectEnd() throws(SIPParseError) {
        skipLWS()
        guard isAtEnd else { throw error("unexpected '\(printable(bytes[position]))'") }
    }

    /// The bytes in `range`, decoded as UTF-8.
    public func string(_ range: Range<Int>) -> String {
        String(decoding: bytes[range], as: UTF8.self)
    }

    /// A view of the bytes in `range`, sharing them.
    public func view(_ range: Range<Int>) -> ByteView { ByteView(bytes, range) }

    /// The remaining bytes up to the end, trailing LWS trimmed, with folds collapsed to one SP.
    public mutating func restAsText() -> String {
        skipLWS()
        let r = position..<end
        position = end
        return unfoldedText(bytes, r)
    }
}

func printable(_ b: UInt8) -> String {
    b >= 0x20 && b < 0x7F ? String(UnicodeScalar(b)) : "\\x" + String(b, radix: 16)
}

/// The text of `range` with each run of LWS (folds included) made one SP, and the ends trimmed
/// (RFC 3261 §7.3.1: a folded value is equivalent to the value on one line).
func unfoldedText(_ bytes: [UInt8], _ range: Range<Int>) -> String {
    let (r, plain, _) = lwsShape(bytes, range)
    if plain { return String(decoding: bytes[r], as: UTF8.self) }
    var out: [UInt8] = []
    out.reserveCapacity(r.count)
    appendCollapsingLWS(bytes, r, into: &out)
    return String(decoding: out, as: UTF8.self)
}

/// The bytes of ``unfoldedText(_:_:)``, appended to `out` without making the `String`. A value with
/// bytes outside ASCII goes through the text, so that invalid UTF-8 comes out repaired as there.
func appendUnfolded(_ bytes: [UInt8], _ range: Range<Int>, into out: inout [UInt8]) {
    let (r, plain, ascii) = lwsShape(bytes, range)
    if !ascii {
        out.append(contentsOf: unfoldedText(bytes, range).utf8)
    } else if plain {
        out.append(contentsOf: bytes[r])
    } else {
        appendCollapsingLWS(bytes, r, into: &out)
    }
}

/// Whether `range` has no LWS at its ends, no fold, tab or run of LWS, and only ASCII: its unfolded
/// form is itself.
func isPlainASCII(_ bytes: [UInt8], _ range: Range<Int>) -> Bool {
    let (r, plain, ascii) = lwsShape(bytes, range)
    return plain && ascii && r == range
}

/// `range` without leading and trailing LWS; whether it holds no fold, tab or run of LWS (`plain`),
/// and whether it is all ASCII.
private func lwsShape(_ bytes: [UInt8], _ range: Range<Int>) -> (range: Range<Int>, plain: Bool, ascii: Bool) {
    var lo = range.lowerBound
    var hi = range.upperBound
    while lo < hi, ASCII.isLWS(bytes[lo]) { lo += 1 }
    while hi > lo, ASCII.isLWS(bytes[hi - 1]) { hi -= 1 }
    var plain = true
    var ascii = true
    var i = lo
    while i < hi {
        let b = bytes[i]
        if b >= 0x80 { ascii = false }
        if b == ASCII.cr || b == ASCII.lf || b == ASCII.htab
            || (b == ASCII.sp && i + 1 < hi && ASCII.isLWS(bytes[i + 1]))
        {
            plain = false
        }
        i += 1
    }
    return (lo..<hi, plain, ascii)
}

/// `range` (trimmed) with each run of LWS made one SP.
private func appendCollapsingLWS(_ bytes: [UInt8], _ range: Range<Int>, into out: inout [UInt8]) {
    var inLWS = false
    for j in range {
        let b = bytes[j]
        if ASCII.isLWS(b) {
            if !inLWS {
                out.append(ASCII.sp)
                inLWS = true
            }
        } else {
            out.append(b)
            inLWS = false
        }
    }
}
