/// One parameter: `name` or `name=value`, as written on the wire (a quoted value keeps its quotes
/// and escapes; a URI parameter keeps its %-escapes).
public struct SIPParameter: Hashable, Sendable, CustomStringConvertible {
    /// The name, as written.
    public var name: String
    /// The value as written, or nil for a parameter without `=value` (`;lr`).
    public var value: String?
    /// The parameter `name`, or `name=value`; the value in its wire form (quoted or %-escaped as needed).
    public init(_ name: String, _ value: String? = nil) {
        self.name = name
        self.value = value
    }
    /// `name=value`, or `name` alone.
    public var description: String { value.map { "\(name)=\($0)" } ?? name }
}

/// Parameters in order, duplicates kept (RFC 3261 §7.3.1, §19.1.1). Names compare case-insensitively.
public struct SIPParameters: Hashable, Sendable, RandomAccessCollection, ExpressibleByArrayLiteral,
    CustomStringConvertible
{
    /// The parameters, in order.
    public var elements: [SIPParameter]

    /// No parameters.
    public init() { elements = [] }
    /// The parameters `elements`, in this order.
    public init(_ elements: [SIPParameter]) { self.elements = elements }
    /// The parameters of an array literal, in its order.
    public init(arrayLiteral elements: SIPParameter...) { self.elements = elements }

    /// The position of the first parameter: 0.
    public var startIndex: Int { elements.startIndex }
    /// The number of parameters.
    public var endIndex: Int { elements.endIndex }
    /// The parameter at `position`.
    public subscript(position: Int) -> SIPParameter { elements[position] }

    /// Whether a parameter named `name` is present (with or without a value).
    public func contains(_ name: String) -> Bool { elements.contains { asciiCaseInsensitiveEquals($0.name, name) } }

    /// The first parameter named `name`: `.some(nil)` for a parameter without a value, `nil` when absent.
    public subscript(name: String) -> String?? {
        get {
            guard let p = elements.first(where: { asciiCaseInsensitiveEquals($0.name, name) }) else { return nil }
            return .some(p.value)
        }
        set {
            if let newValue {
                set(name, newValue)
            } else {
                remove(name)
            }
        }
    }

    /// The value of the first parameter named `name`, quotes removed and quoted-pairs unescaped.
    public func value(_ name: String) -> String? {
        guard let v = self[name] ?? nil else { return nil }
        return unquote(v)
    }

    /// Sets the first parameter named `name` (appending it when absent) and removes any others of that name.
    public mutating func set(_ name: String, _ value: String?) {
        if let i = elements.firstIndex(where: { asciiCaseInsensitiveEquals($0.name, name) }) {
            elements[i].value = value
            var j = elements.count - 1
            while j > i {
                if asciiCaseInsensitiveEquals(elements[j].name, name) { elements.remove(at: j) }
                j -= 1
            }
        } else {
            elements.append(SIPParameter(name, value))
        }
    }

    /// Adds the parameter at the end, even when one of that name is already present.
    public mutating func append(_ name: String, _ value: String? = nil) { elements.append(SIPParameter(name, value)) }

    /// Removes every parameter named `name` (any case).
    public mutating func remove(_ name: String) { elements.removeAll { asciiCaseInsensitiveEquals($0.name, name) } }

    /// `;name=value;name2` as on the wire (empty when there are none).
    public var description: String {
        var s = ""
        for p in elements {
            s += ";"
            s += p.description
        }
        return s
    }

    /// Generic parameters from `bytes[range]` (the part after the first ';'), already checked by the grammar.
    init(generic bytes: [UInt8], _ range: Range<Int>) {
        elements = []
        guard !range.isEmpty else { return }
        // The range starts after the first ';' and the LWS after it (SEMI = SWS ";" SWS, RFC 3261
        // §25.1), which may be folded onto the next line: scan back over it to the ';'.
        var semicolon = range.lowerBound - 1
        while semicolon >= 0, [ASCII.sp, ASCII.htab, ASCII.cr, ASCII.lf].contains(bytes[semicolon]) { semicolon -= 1 }
        var s = SIPScanner(bytes, range: range)
        if semicolon >= 0, bytes[semicolon] == ASCII.semicolon {
            s = SIPScanner(bytes, range: semicolon..<range.upperBound)
        }
        var out: [SIPParameter] = []
        _ = try? HeaderGrammar.params(&s, allowColonIn: "received") { n, v in
            out.append(
                SIPParameter(
                    String(decoding: bytes[n], as: UTF8.self), v.map { String(decoding: bytes[$0], as: UTF8.self) }))
        }
        elements = out
    }

    /// URI parameters from `bytes[range]` (after the first ';'): `pname [ "=" pvalue ]` separated by ';'.
    init(uri bytes: [UInt8], _ range: Range<Int>) {
        elements = []
        guard !range.isEmpty else { return }
        for part in bytes[range].split(separator: ASCII.semicolon, omittingEmptySubsequences: false) {
            if let eq = part.firstIndex(of: ASCII.equals) {
                elements.append(
                    SIPParameter(
                        String(decoding: part[..<eq], as: UTF8.self),
                        String(decoding: part[(eq + 1)...], as: UTF8.self)))
            } else {
                elements.append(SIPParameter(String(decoding: part, as: UTF8.self), nil))
            }
        }
    }
}

/// Removes the quotes of a quoted-string and unescapes its quoted-pairs; other text is returned as is.
public func unquote(_ s: String) -> String {
    let u = Array(s.utf8)
    guard u.count >= 2, u.first == ASCII.dquote, u.last == ASCII.dquote else { return s }
    var out: [UInt8] = []
    out.reserveCapacity(u.count)
    var i = 1
    while i < u.count - 1 {
        if u[i] == ASCII.backslash, i + 1 < u.count - 1 {
            out.append(u[i + 1])
            i += 2
        } else {
            out.append(u[i])
            i += 1
        }
    }
    return String(decoding: out, as: UTF8.self)
}

/// Quotes `s` as a quoted-string, escaping '"', '\' and the control characters qdtext does not
/// allow (RFC 3261 §25.1: quoted-pair = "\" (%x00-09 / %x0B-0C / %x0E-7F)). CR and LF cannot be
/// escaped; a line break (a fold, once unquoted) is written as SP.
public func quote(_ s: String) -> String {
    var out = "\""
    for ch in s.unicodeScalars {
        if ch == "\r" || ch == "\n" {
            out.unicodeScalars.append(" ")
            continue
        }
        if ch == "\"" || ch == "\\" || (ch.value < 0x20 && ch != "\t") || ch.value == 0x7F {
            out.unicodeScalars.append("\\")
        }
        out.unicodeScalars.append(ch)
    }
    out += "\""
    return out
}
