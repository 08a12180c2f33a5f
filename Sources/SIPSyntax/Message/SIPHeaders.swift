/// One header field line as a user sees it: its name and its value, folds unfolded.
public struct SIPHeaderField: Hashable, Sendable, CustomStringConvertible {
    /// The field's name.
    public var name: SIPHeaderName
    /// The field's value, folds unfolded.
    public var value: String
    /// The field `name: value`.
    public init(name: SIPHeaderName, value: String) {
        self.name = name
        self.value = value
    }
    /// `Name: value`, with the name's long form for a header this library knows.
    public var description: String { "\(name.text): \(value)" }
}

/// The header fields of a message, in wire order, duplicates kept (RFC 3261 §7.3).
///
/// Fields that came off the wire stay as ranges of the received bytes until someone changes them,
/// and serialize byte-identical. Added or replaced fields serialize canonically (`Name: value`).
/// Typed values are parsed when they are read (``first(_:)``, ``all(_:)``), not when the message is.
public struct SIPHeaders: Sendable, RandomAccessCollection {
    enum Field: Sendable {
        /// From the wire: `lineStart..<lineEnd` is the whole line (terminator and folds included).
        case raw(id: UInt8, lineStart: Int32, nameEnd: Int32, valueStart: Int32, valueEnd: Int32, lineEnd: Int32)
        /// Added or changed here: the value as bytes (one line, no folds).
        case owned(name: SIPHeaderName, value: [UInt8])
        /// Added here as text (``append(_:_:)``): the string itself, not a copy of its bytes. A
        /// value of up to 15 bytes is held in place and a longer one shares the caller's storage,
        /// where a copy into bytes was an allocation for every field of every message built.
        case text(name: SIPHeaderName, value: String)

        var id: UInt8 {
            switch self {
            case .raw(let id, _, _, _, _, _): return id
            case .owned(let name, _), .text(let name, _): return name.known
            }
        }
    }

    var source: [UInt8]
    var fields: [Field]

    /// An empty header section.
    public init() {
        source = []
        fields = []
    }

    init(source: [UInt8], fields: [Field]) {
        self.source = source
        self.fields = fields
    }

    /// The position of the top field: 0.
    public var startIndex: Int { 0 }
    /// The number of fields (lines).
    public var endIndex: Int { fields.count }

    /// The field at `position`, in wire order: its name and its value, unfolded.
    public subscript(position: Int) -> SIPHeaderField {
        SIPHeaderField(name: name(at: position), value: valueText(at: position))
    }

    func name(at i: Int) -> SIPHeaderName {
        switch fields[i] {
        case .raw(let id, let ls, let ne, _, _, _):
            if id != 0 { return SIPHeaderName(known: id) }
            var e = Int(ne)
            while e > Int(ls), source[e - 1] == ASCII.sp || source[e - 1] == ASCII.htab { e -= 1 }
            return SIPHeaderName(String(decoding: source[Int(ls)..<e], as: UTF8.self))
        case .owned(let name, _), .text(let name, _): return name
        }
    }

    /// The name exactly as it appears on the wire (compact or long, original case).
    public func wireName(at i: Int) -> String {
        switch fields[i] {
        case .raw(_, let ls, let ne, _, _, _):
            var e = Int(ne)
            while e > Int(ls), source[e - 1] == ASCII.sp || source[e - 1] == ASCII.htab { e -= 1 }
            return String(decoding: source[Int(ls)..<e], as: UTF8.self)
        case .owned(let name, _), .text(let name, _): return name.text
        }
    }

    /// The bytes and range of field `i`'s value (folds included for raw fields).

    func valueBytes(at i: Int) -> (bytes: [UInt8], range: Range<Int>) {
        switch fields[i] {
        case .raw(_, _, _, let vs, let ve, _): return (source, Int(vs)..<Int(ve))
        case .owned(_, let v): return (v, 0..<v.count)
        case .text(_, let v): return (Array(v.utf8), 0..<v.utf8.count)
        }
    }

    func valueText(at i: Int) -> String {
        if case .text(_, let v) = fields[i], Self.isPlain(v) { return v }
        let (b, r) = valueBytes(at: i)
        return unfoldedText(b, r)
    }

    /// Whether `text` is printable ASCII with no blank at either end and no run of blanks: its
    /// unfolded form (RFC 3261 §7.3.1) is itself, and it is written as it is.
    static func isPlain(_ text: String) -> Bool {
        var previous: UInt8 = 0x20
        for b in text.utf8 {
            guard b >= 0x20, b < 0x7F, !(b == 0x20 && previous == 0x20) else { return false }
            previous = b
        }
        return previous != 0x20
    }

    func scanner(at i: Int) -> SIPScanner {
        let (b, r) = valueBytes(at: i)
        var s = SIPScanner(b, range: r)
        switch fields[i] {
        case .raw(let id, _, _, _, _, _) where id != 0: s.headerID = id
        default: s.header = name(at: i).text
        }
        return s
    }

    /// Whether field `i` is as it was received.
    func isRaw(_ i: Int) -> Bool {
        if case .raw = fields[i] { return true }
        return false
    }

    /// Whether field `i` is a received line already written canonically: the long name, `": "`,
    /// a value with no fold, tab or run of spaces, all ASCII, and CRLF. Its bytes are then what
    /// ``SIPMessage/serialized(canonical:)`` would write for it, and another message can share them.
    func isCanonicalLine(_ i: Int) -> Bool {
        guard case .raw(let id, let ls32, let ne32, let vs32, let ve32, let le32) = fields[i], id != 0 else {
            return false
        }
        let ls = Int(ls32)
        let ne = Int(ne32)
        let vs = Int(vs32)
        let ve = Int(ve32)
        let le = Int(le32)
        guard vs == ne + 2, le == ve + 2, source[ne] == ASCII.colon, source[ne + 1] == ASCII.sp,
            source[ve] == ASCII.cr
        else {
            return false
        }
        let name = KnownHeader.names[Int(id) - 1]
        guard ne - ls == name.count else { return false }
        for k in 0..<name.count where source[ls + k] != name[k] { return false }
        return isPlainASCII(source, vs..<ve)
    }

    // MARK: - By name, as text

    /// Indices of the fields named `name`, in order.
    public func indices(of name: SIPHeaderName) -> [Int] {
        if name.known != 0 { return fields.indices.filter { fields[$0].id == name.known } }
        return fields.indices.filter { fields[$0].id == 0 && self.name(at: $0) == name }
    }

    func firstIndex(known id: UInt8) -> Int? {
        for i in fields.indices where fields[i].id == id { return i }
        return nil
    }

    func firstIndex(of name: SIPHeaderName) -> Int? {
        if name.known != 0 { return firstIndex(known: name.known) }
        return fields.indices.first { fields[$0].id == 0 && self.name(at: $0) == name }
    }

    /// Whether a field named `name` is present.
    public func contains(_ name: SIPHeaderName) -> Bool { firstIndex(of: name) != nil }

    /// The value of the first field named `name`, unfolded.
    public subscript(name: SIPHeaderName) -> String? {
        guard let i = firstIndex(of: name) else { return nil }
        return valueText(at: i)
    }

    /// The value of every field named `name`, one per line, unfolded (a list header's line may hold several values).
    public func values(_ name: SIPHeaderName) -> [String] { indices(of: name).map(valueText(at:)) }

    /// The number of fields (lines) named `name`.
    public func count(_ name: SIPHeaderName) -> Int {
        var n = 0
        if name.known != 0 {
            for f in fields where f.id == name.known { n += 1 }
            return n
        }
        return indices(of: name).count
    }

    // MARK: - Changing

    /// Appends a field at the end.
    public mutating func append(_ name: SIPHeaderName, _ value: String) {
        fields.append(.text(name: name, value: value))
    }

    /// Adds a field with a value already in bytes (a constant the caller keeps: no copy).
    package mutating func append(_ name: SIPHeaderName, bytes value: [UInt8]) {
        fields.append(.owned(name: name, value: value))
    }

    /// Inserts a field at position `index` (0 is the top: where a proxy puts its Via, §16.6 step 8).
    public mutating func insert(_ name: SIPHeaderName, _ value: String, at index: Int) {
        fields.insert(.owned(name: name, value: Array(value.utf8)), at: Swift.min(Swift.max(index, 0), fields.count))
    }

    /// Removes every field named `name`; returns how many.
    @discardableResult
    public mutating func remove(_ name: SIPHeaderName) -> Int {
        let idx = Set(indices(of: name))
        guard !idx.isEmpty else { return 0 }
        var kept: [Field] = []
        kept.reserveCapacity(fields.count - idx.count)
        for i in fields.indices where !idx.contains(i) { kept.append(fields[i]) }
        fields = kept
        return idx.count
    }

    /// Removes the field at `index`.
    public mutating func remove(at index: Int) { fields.remove(at: index) }

    /// Replaces every field named `name` with one field holding `value`, where the first one stood
    /// (or at the end when there was none).
    public mutating func set(_ name: SIPHeaderName, _ value: String) {
        let idx = indices(of: name)
        guard let first = idx.first else {
            append(name, value)
            return
        }
        fields[first] = .owned(name: name, value: Array(value.utf8))
        for i in idx.dropFirst().reversed() { fields.remove(at: i) }
    }

    /// Replaces the value of field `index`, keeping its position and name.
    public mutating func replaceValue(at index: Int, with value: String) {
        fields[index] = .owned(name: name(at: index), value: Array(value.utf8))
    }
}

extension SIPMessage {
    /// Calls `body` with the bytes of the first Call-ID's value as they are stored, without its
    /// surrounding blanks: for a message built here, what the parser would read as the Call-ID
    /// (RFC 3261 §20.8: one word, with no blanks inside), got with no parse and no text made. Nil
    /// without a Call-ID, or when the value spans lines (then parse it).
    package func withCallIDBytes<R>(_ body: (UnsafeRawBufferPointer) -> R) -> R? {
        guard let i = headers.firstIndex(known: SIPHeaderName.callID.known) else { return nil }
        if case .text(_, var text) = headers.fields[i] {
            return text.withUTF8 { Self.trimmed(UnsafeRawBufferPointer($0), body) }
        }
        let (bytes, range) = headers.valueBytes(at: i)
        return bytes.withUnsafeBytes { Self.trimmed(UnsafeRawBufferPointer(rebasing: $0[range]), body) }
    }

    /// `body` on `value` without its surrounding blanks; nil when empty or spanning lines.
    private static func trimmed<R>(_ value: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer) -> R) -> R? {
        var lo = 0
        var hi = value.count
        while lo < hi, value[lo] == ASCII.sp || value[lo] == ASCII.htab { lo += 1 }
        while hi > lo, value[hi - 1] == ASCII.sp || value[hi - 1] == ASCII.htab { hi -= 1 }
        guard lo < hi, !value[lo..<hi].contains(where: { $0 == ASCII.cr || $0 == ASCII.lf }) else { return nil }
        return body(UnsafeRawBufferPointer(rebasing: value[lo..<hi]))
    }
}
