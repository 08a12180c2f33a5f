/// A typed view of one header: its name and grammar. `headers.all(.via)` gives `[Via]`,
/// `headers.first(.cseq)` a `CSeq?`, `headers.set(.contact, [...])` writes them back.
///
/// Keys for the headers of RFC 3261 §20 and common extensions are static members
/// (`SIPHeaderKey<Via>.via`…); define your own for extension headers with ``init(_:isList:allowsEmpty:parse:write:)``.
public struct SIPHeaderKey<Value: Sendable>: Sendable {
    /// The name of the header this key reads and writes.
    public let name: SIPHeaderName
    /// Whether values are a comma-separated list (RFC 3261 §7.3.1).
    public let isList: Bool
    /// Whether an empty value is a valid empty list (`Supported:`).
    public let allowsEmpty: Bool
    let parseValue: @Sendable (inout SIPScanner) throws(SIPParseError) -> Value
    let writeValue: @Sendable (Value) -> String

    /// A key for the header `name`: `parse` reads one value from a scanner over the field value (for a list
    /// header, one element; the key splits the list at commas), `write` gives a value's text on the wire.
    public init(
        _ name: SIPHeaderName, isList: Bool = false, allowsEmpty: Bool = false,
        parse: @escaping @Sendable (inout SIPScanner) throws(SIPParseError) -> Value,
        write: @escaping @Sendable (Value) -> String
    ) {
        self.name = name
        self.isList = isList
        self.allowsEmpty = allowsEmpty
        self.parseValue = parse
        self.writeValue = write
    }

    /// Parses a whole field value (all list elements).
    func parseField(_ s: inout SIPScanner) throws(SIPParseError) -> [Value] {
        s.skipLWS()
        if s.isAtEnd {
            if allowsEmpty { return [] }
            throw s.error("empty value")
        }
        var out: [Value] = []
        repeat {
            s.skipLWS()
            out.append(try parseValue(&s))
        } while isList && s.separator(ASCII.comma)
        try s.expectEnd()
        return out
    }

    /// Parses a value given as text (one field's worth).
    public func parse(_ text: String) throws(SIPParseError) -> [Value] {
        var s = SIPScanner(text)
        s.header = name.text
        return try parseField(&s)
    }
}

extension SIPHeaders {
    /// Every value of the header `key` names, across all its lines, in order.
    public func all<V>(_ key: SIPHeaderKey<V>) throws(SIPParseError) -> [V] {
        var out: [V] = []
        for i in fields.indices where matches(i, key.name) {
            var s = scanner(at: i)
            out += try key.parseField(&s)
        }
        return out
    }

    /// The first value of the header `key` names, or nil when it is absent.
    public func first<V>(_ key: SIPHeaderKey<V>) throws(SIPParseError) -> V? {
        guard let i = firstIndex(of: key.name) else { return nil }
        var s = scanner(at: i)
        return try key.parseField(&s).first
    }

    /// Removes the first value of the header `key` names — the first element of its first line,
    /// which may hold several (`Via: a, b`, RFC 3261 §7.3.1) — keeping the others as written.
    /// A proxy removes the topmost Via of a response so (§16.7 step 3). Returns false when there
    /// is no such header; throws when its first line does not parse.
    @discardableResult
    public mutating func removeFirstValue<V>(_ key: SIPHeaderKey<V>) throws(SIPParseError) -> Bool {
        guard let i = firstIndex(of: key.name) else { return false }
        var s = scanner(at: i)
        s.skipLWS()
        _ = try key.parseValue(&s)
        guard key.isList, s.separator(ASCII.comma) else {
            fields.remove(at: i)
            return true
        }
        s.skipLWS()
        // A trailing comma left nothing after it: the line goes.
        guard s.position < s.end else {
            fields.remove(at: i)
            return true
        }
        let rest = String(decoding: s.bytes[s.position..<s.end], as: UTF8.self)
        replaceValue(at: i, with: rest)
        return true
    }

    /// Replaces the header's fields with `values`: one comma-separated line for a list header, one
    /// line each otherwise. An empty array removes the header.
    public mutating func set<V>(_ key: SIPHeaderKey<V>, _ values: [V]) {
        if values.isEmpty {
            remove(key.name)
            return
        }
        let first = firstIndex(of: key.name) ?? fields.count
        remove(key.name)
        let lines = key.isList ? [values.map(key.writeValue).joined(separator: ", ")] : values.map(key.writeValue)
        for (k, line) in lines.enumerated() {
            fields.insert(.owned(name: key.name, value: Array(line.utf8)), at: Swift.min(first + k, fields.count))
        }
    }

    /// Replaces the header with one value.
    public mutating func set<V>(_ key: SIPHeaderKey<V>, _ value: V) { set(key, [value]) }

    /// Adds a value as a new line at the end.
    public mutating func append<V>(_ key: SIPHeaderKey<V>, _ value: V) {
        fields.append(.owned(name: key.name, value: Array(key.writeValue(value).utf8)))
    }

    /// Adds a value as a new line above all others of its name (a proxy's Via, §16.6 step 8; a Record-Route, §16.6 step 4).
    public mutating func prepend<V>(_ key: SIPHeaderKey<V>, _ value: V) {
        let at = firstIndex(of: key.name) ?? fields.count
        fields.insert(.owned(name: key.name, value: Array(key.writeValue(value).utf8)), at: at)
    }

    /// Removes the first value of a header (the top Via when a response goes up, §18.1.2), leaving
    /// the others on their line.
    public mutating func removeFirst<V>(_ key: SIPHeaderKey<V>) throws(SIPParseError) {
        guard let i = firstIndex(of: key.name) else { return }
        var s = scanner(at: i)
        let values = try key.parseField(&s)
        if values.count <= 1 {
            fields.remove(at: i)
        } else {
            fields[i] = .owned(
                name: key.name, value: Array(values.dropFirst().map(key.writeValue).joined(separator: ", ").utf8))
        }
    }

    func matches(_ i: Int, _ name: SIPHeaderName) -> Bool {
        if name.known != 0 { return fields[i].id == name.known }
        return fields[i].id == 0 && self.name(at: i) == name
    }
}
