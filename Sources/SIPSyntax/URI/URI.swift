/// A URI as SIP carries it: `sip:`/`sips:` (RFC 3261 §19.1), `tel:` (RFC 3966), or any other
/// absolute URI kept as written (so that a UAS can answer 416, RFC 3261 §8.2.2.1).
///
/// `==` is the equivalence of RFC 3261 §19.1.4 for SIP URIs, not byte equality; ``description``
/// gives the URI with its original escaping.
public enum URI: Sendable, Hashable, CustomStringConvertible {
    /// A `sip:` or `sips:` URI (RFC 3261 §19.1).
    case sip(SIPURI)
    /// A `tel:` URI (RFC 3966).
    case tel(TelURI)
    /// A URI of any other scheme, kept as written.
    case absolute(AbsoluteURI)

    /// Parses a URI (the whole string).
    public init(_ text: String) throws(SIPParseError) {
        var s = SIPScanner(text)
        let r = try URIGrammar.parse(&s, context: .whole)
        self.init(ranges: r, bytes: s.bytes)
    }

    init(ranges r: URIRanges, bytes b: [UInt8]) {
        switch r.scheme {
        case .sip, .sips: self = .sip(SIPURI(ranges: r, bytes: b))
        case .tel: self = .tel(TelURI(ranges: r, bytes: b))
        case .other:
            self = .absolute(
                AbsoluteURI(
                    scheme: String(decoding: b[r.schemeRange], as: UTF8.self),
                    rest: String(decoding: b[r.host], as: UTF8.self)))
        }
    }

    /// The scheme, lowercased.
    public var scheme: String {
        switch self {
        case .sip(let u): return u.isSecure ? "sips" : "sip"
        case .tel: return "tel"
        case .absolute(let a): return a.scheme.asciiLowercased
        }
    }

    /// The SIP URI, for `sip:` and `sips:`.
    public var sipURI: SIPURI? { if case .sip(let u) = self { return u } else { return nil } }

    /// The URI as text, with its original escaping.
    public var description: String {
        switch self {
        case .sip(let u): return u.description
        case .tel(let t): return t.description
        case .absolute(let a): return a.description
        }
    }
}

/// The host part of a SIP URI or Via: a name, an IPv4 address, or an IPv6 reference.
public struct SIPHost: Sendable, Hashable, CustomStringConvertible, ExpressibleByStringLiteral {
    /// As written; an IPv6 reference keeps its brackets.
    public var text: String

    /// The host `text`, as written (an IPv6 reference with its brackets); it is not checked.
    public init(_ text: String) { self.text = text }
    /// The host written in a literal, as ``init(_:)``.
    public init(stringLiteral value: String) { self.text = value }

    /// The host as written.
    public var description: String { text }

    /// Whether this is an IPv6 reference (`[…]`).
    public var isIPv6: Bool { text.hasPrefix("[") }

    /// Whether this is a dotted-quad IPv4 address.
    public var isIPv4: Bool {
        let b = Array(text.utf8)
        return IPv4.parse(b, 0..<b.count) != nil
    }

    /// The address without IPv6 brackets, as a socket API wants it.
    public var address: String { isIPv6 ? String(text.dropFirst().dropLast()) : text }

    /// Hosts compare case-insensitively; IPv6 addresses by value (RFC 3261 §19.1.4, RFC 5118 §4.10).
    public static func == (a: SIPHost, b: SIPHost) -> Bool { a.canonical == b.canonical }
    /// Hashes the canonical form of the host, consistently with `==`.
    public func hash(into hasher: inout Hasher) { hasher.combine(canonical) }

    var canonical: String {
        if isIPv6 {
            let b = Array(address.utf8)
            if let v6 = IPv6.parse(b, 0..<b.count) {
                return "[" + v6.map { String($0, radix: 16) }.joined(separator: ":") + "]"
            }
        }
        return text.asciiLowercased
    }
}

/// `sip:` / `sips:` URI (RFC 3261 §19.1.1).
///
/// User, password, parameters and headers are kept as written (escaped); ``user`` and
/// ``password`` give them %-decoded, as an application reads them (§19.1.2).
public struct SIPURI: Sendable, Hashable, CustomStringConvertible {
    /// `sips:` rather than `sip:`.
    public var isSecure: Bool
    /// The user part as written, %-escapes kept.
    public var escapedUser: String?
    /// The password as written, %-escapes kept.
    public var escapedPassword: String?
    /// The host (§19.1.1).
    public var host: SIPHost
    /// The port, if written; without it the transport's default port applies (5060, or 5061 for TLS, §19.1.2).
    public var port: Int?
    /// uri-parameters, in order, as written.
    public var parameters: SIPParameters
    /// headers (`?name=value&…`), in order, as written.
    public var headers: [SIPParameter]

    /// A URI of `host` and `port`; `user` is %-escaped where §25.1 requires it, parameters and headers are
    /// kept as given.
    public init(
        user: String? = nil, host: SIPHost, port: Int? = nil, isSecure: Bool = false,
        parameters: SIPParameters = [], headers: [SIPParameter] = []
    ) {
        self.isSecure = isSecure
        self.escapedUser = user.map {
            PercentEncoding.encode($0, allowed: { ASCII.is($0, .unreserved) || ASCII.is($0, .userUnreserved) })
        }
        self.host = host
        self.port = port
        self.parameters = parameters
        self.headers = headers
    }

    /// Parses a `sip:` or `sips:` URI.
    public init(_ text: String) throws(SIPParseError) {
        guard case .sip(let u) = try URI(text) else { throw SIPParseError(.invalidURI, "not a sip: or sips: URI") }
        self = u
    }

    init(ranges r: URIRanges, bytes b: [UInt8]) {
        isSecure = r.scheme == .sips
        escapedUser = r.user.map { String(decoding: b[$0], as: UTF8.self) }
        escapedPassword = r.password.map { String(decoding: b[$0], as: UTF8.self) }
        host = SIPHost(String(decoding: b[r.host], as: UTF8.self))
        port = r.port
        parameters = SIPParameters(uri: b, r.params)
        headers = []
        if let h = r.headers {
            for part in b[h].split(separator: ASCII.ampersand) {
                if let eq = part.firstIndex(of: ASCII.equals) {
                    headers.append(
                        SIPParameter(
                            String(decoding: part[..<eq], as: UTF8.self),
                            String(decoding: part[(eq + 1)...], as: UTF8.self)))
                }
            }
        }
    }

    /// The user part, %-decoded (RFC 3261 §19.1.2); NUL and all other escaped bytes kept.
    public var user: String? {
        get { escapedUser.map(PercentEncoding.decode) }
        set {
            escapedUser = newValue.map {
                PercentEncoding.encode($0, allowed: { ASCII.is($0, .unreserved) || ASCII.is($0, .userUnreserved) })
            }
        }
    }

    /// The password, %-decoded.
    public var password: String? {
        get { escapedPassword.map(PercentEncoding.decode) }
        set {
            escapedPassword = newValue.map {
                PercentEncoding.encode($0, allowed: { ASCII.is($0, .unreserved) || ASCII.is($0, .passwordExtra) })
            }
        }
    }

    /// The value of a URI parameter, %-decoded; nil when absent or valueless.
    public func parameter(_ name: String) -> String? {
        for p in parameters where asciiCaseInsensitiveEquals(PercentEncoding.decode(p.name), name) {
            return p.value.map(PercentEncoding.decode)
        }
        return nil
    }

    /// Whether the parameter is present (`;lr`).
    public func hasParameter(_ name: String) -> Bool {
        parameters.contains { asciiCaseInsensitiveEquals(PercentEncoding.decode($0.name), name) }
    }

    /// `transport` parameter, lowercased.
    public var transport: String? { parameter("transport")?.asciiLowercased }
    /// `maddr` parameter.
    public var maddr: String? { parameter("maddr") }
    /// `lr` parameter present (loose routing, §19.1.1).
    public var isLooseRouter: Bool { hasParameter("lr") }

    /// The URI as text: user, password, parameters and headers as written (escaped).
    public var description: String {
        var s = isSecure ? "sips:" : "sip:"
        if let escapedUser {
            s += escapedUser
            if let escapedPassword { s += ":" + escapedPassword }
            s += "@"
        }
        s += host.text
        if let port { s += ":" + String(port) }
        s += parameters.description
        if !headers.isEmpty { s += "?" + headers.map(\.description).joined(separator: "&") }
        return s
    }

    /// Writes ``description`` into `out`, the parts without parameters or headers straight as
    /// bytes: a request line is written for every request a core builds.
    func write(into out: inout [UInt8]) {
        out.append(contentsOf: (isSecure ? "sips:" : "sip:").utf8)
        if let escapedUser {
            out.append(contentsOf: escapedUser.utf8)
            if let escapedPassword {
                out.append(ASCII.colon)
                out.append(contentsOf: escapedPassword.utf8)
            }
            out.append(UInt8(ascii: "@"))
        }
        out.append(contentsOf: host.text.utf8)
        if let port {
            out.append(ASCII.colon)
            out.append(contentsOf: String(port).utf8)
        }
        if !parameters.isEmpty { out.append(contentsOf: parameters.description.utf8) }
        if !headers.isEmpty {
            out.append(UInt8(ascii: "?"))
            out.append(contentsOf: headers.map(\.description).joined(separator: "&").utf8)
        }
    }

    /// URI equivalence, RFC 3261 §19.1.4.
    public static func == (a: SIPURI, b: SIPURI) -> Bool {
        // sip and sips never match; userinfo case-sensitively after unescaping; host, port exactly.
        guard a.isSecure == b.isSecure, a.user == b.user, a.password == b.password, a.host == b.host, a.port == b.port
        else {
            return false
        }
        // Parameters present in both must match (case-insensitively); user, ttl, method and maddr
        // present in only one make the URIs differ.
        func decoded(_ p: SIPParameters) -> [String: String?] {
            var d: [String: String?] = [:]
            for x in p where d[PercentEncoding.decode(x.name).asciiLowercased] == nil {
                d[PercentEncoding.decode(x.name).asciiLowercased] = .some(
                    x.value.map { PercentEncoding.decode($0).asciiLowercased })
            }
            return d
        }
        let pa = decoded(a.parameters)
        let pb = decoded(b.parameters)
        for (k, va) in pa {
            if let vb = pb[k] {
                if va != vb { return false }
            } else if ["user", "ttl", "method", "maddr"].contains(k) {
                return false
            }
        }
        for k in pb.keys where pa[k] == nil && ["user", "ttl", "method", "maddr"].contains(k) { return false }
        // Headers are never ignored: the same set on both sides.
        func hdrs(_ h: [SIPParameter]) -> [String: String] {
            var d: [String: String] = [:]
            for x in h { d[PercentEncoding.decode(x.name).asciiLowercased] = PercentEncoding.decode(x.value ?? "") }
            return d
        }
        let ha = hdrs(a.headers)
        let hb = hdrs(b.headers)
        guard ha.count == hb.count else { return false }
        for (k, v) in ha { guard let w = hb[k], asciiCaseInsensitiveEquals(v, w) else { return false } }
        return true
    }

    /// Hashes the scheme, user, host and port, which equal URIs share (§19.1.4).
    public func hash(into hasher: inout Hasher) {
        hasher.combine(isSecure)
        hasher.combine(user)
        hasher.combine(host)
        hasher.combine(port)
    }
}

/// `tel:` URI (RFC 3966): the number as written, and its parameters.
public struct TelURI: Sendable, Hashable, CustomStringConvertible {
    /// The number as written, visual separators included (`+1-201-555-0123`).
    public var number: String
    /// The parameters, in order, as written (`;phone-context=…`, `;ext=…`).
    public var parameters: SIPParameters

    /// A `tel:` URI of `number` with `parameters`, as written.
    public init(number: String, parameters: SIPParameters = []) {
        self.number = number
        self.parameters = parameters
    }

    init(ranges r: URIRanges, bytes b: [UInt8]) {
        number = String(decoding: b[r.host], as: UTF8.self)
        parameters = SIPParameters(uri: b, r.params)
    }

    /// Whether the number is global (`+` followed by digits).
    public var isGlobal: Bool { number.hasPrefix("+") }

    /// RFC 3966 §4: visual separators are ignored when comparing numbers.
    public static func == (a: TelURI, b: TelURI) -> Bool {
        a.digits == b.digits && a.parameters.description.asciiLowercased == b.parameters.description.asciiLowercased
    }
    /// Hashes the number without its visual separators, consistently with `==`.
    public func hash(into hasher: inout Hasher) { hasher.combine(digits) }
    var digits: String { String(number.filter { !"-.()".contains($0) }).asciiLowercased }

    /// `tel:number;params`.
    public var description: String { "tel:" + number + parameters.description }
}

/// A URI of a scheme SIP does not interpret (RFC 3261 §25.1 absoluteURI), kept as written.
public struct AbsoluteURI: Sendable, Hashable, CustomStringConvertible {
    /// The scheme, as written.
    public var scheme: String
    /// Everything after `scheme:`.
    public var rest: String
    /// A URI of `scheme` and the text after its colon.
    public init(scheme: String, rest: String) {
        self.scheme = scheme
        self.rest = rest
    }
    /// `scheme:rest`.
    public var description: String { scheme + ":" + rest }
    /// URIs are equal when their schemes are (in any case) and the rest is the same text.
    public static func == (a: AbsoluteURI, b: AbsoluteURI) -> Bool {
        asciiCaseInsensitiveEquals(a.scheme, b.scheme) && a.rest == b.rest
    }
    /// Hashes the lowercased scheme and the rest, consistently with `==`.
    public func hash(into hasher: inout Hasher) {
        hasher.combine(scheme.asciiLowercased)
        hasher.combine(rest)
    }
}
