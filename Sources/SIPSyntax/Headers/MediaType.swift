/// A media type: the value of Content-Type (RFC 3261 §20.15) and an element of Accept (§20.1).
///
/// `m-type SLASH m-subtype *( SEMI m-parameter )` (§25.1, RFC 2045 §5.1). In Accept, a media-range
/// may be `*/*` or `type/*`, and its parameters include the `q` accept-param. Types, subtypes and
/// parameter names compare case-insensitively.
public struct MediaType: Sendable, Hashable, CustomStringConvertible {
    /// The top-level type (`application`), or `*` in an Accept media-range.
    public var type: String
    /// The subtype (`sdp`), or `*` in an Accept media-range.
    public var subtype: String
    /// Parameters in order, as written (`charset=utf-8`, `boundary=…`, `level=1`, `q=0.5`).
    public var parameters: SIPParameters

    /// A media type `type/subtype` with `parameters`.
    public init(type: String, subtype: String, parameters: SIPParameters = []) {
        self.type = type
        self.subtype = subtype
        self.parameters = parameters
    }

    /// Parses one media type or media-range (`application/sdp`, `text/*;q=0.5`).
    public init(_ text: String) throws(SIPParseError) {
        var s = SIPScanner(text)
        s.skipLWS()
        self = try MediaType.parse(&s, range: true)
        try s.expectEnd()
    }

    /// `application/sdp` (RFC 3264).
    public static let sdp = MediaType(type: "application", subtype: "sdp")
    /// `message/sipfrag` (RFC 3420).
    public static let sipfrag = MediaType(type: "message", subtype: "sipfrag")
    /// `text/plain`.
    public static let textPlain = MediaType(type: "text", subtype: "plain")
    /// `multipart/mixed` (RFC 2046 §5.1.3).
    public static let multipartMixed = MediaType(type: "multipart", subtype: "mixed")
    /// `*/*`: any media type.
    public static let any = MediaType(type: "*", subtype: "*")

    /// `type/subtype` without parameters, lowercased.
    public var essence: String { (type + "/" + subtype).asciiLowercased }

    /// Whether this is an Accept media-range with a wildcard (`*/*`, `type/*`).
    public var isWildcard: Bool { type == "*" || subtype == "*" }

    /// The `q` accept-param (§20.1), 0 to 1, when present.
    public var q: Double? { parameters.value("q").flatMap { Double($0) } }

    /// Whether the two name the same media, a `*` on either side matching anything in its place
    /// (`application/*` matches `application/sdp`; `*/*` matches all). Case-insensitive; parameters
    /// are ignored.
    public func matches(_ other: MediaType) -> Bool {
        func part(_ a: String, _ b: String) -> Bool { a == "*" || b == "*" || asciiCaseInsensitiveEquals(a, b) }
        return part(type, other.type) && part(subtype, other.subtype)
    }

    /// `type/subtype;params` as on the wire.
    public var description: String { type + "/" + subtype + parameters.description }

    /// Type, subtype and parameter names compare case-insensitively (RFC 2045 §5.1); values exactly.
    public static func == (a: MediaType, b: MediaType) -> Bool {
        asciiCaseInsensitiveEquals(a.type, b.type) && asciiCaseInsensitiveEquals(a.subtype, b.subtype)
            && a.parameters.count == b.parameters.count
            && zip(a.parameters, b.parameters).allSatisfy {
                asciiCaseInsensitiveEquals($0.name, $1.name) && $0.value == $1.value
            }
    }

    /// Hashes the type, subtype and parameter names lowercased, consistently with `==`.
    public func hash(into hasher: inout Hasher) {
        hasher.combine(type.asciiLowercased)
        hasher.combine(subtype.asciiLowercased)
        for p in parameters {
            hasher.combine(p.name.asciiLowercased)
            hasher.combine(p.value)
        }
    }

    /// media-type (Content-Type, `range == false`: no wildcards, every parameter has a value) or
    /// media-range with accept-params (Accept, `range == true`).
    static func parse(_ s: inout SIPScanner, range: Bool) throws(SIPParseError) -> MediaType {
        let t = try s.expectToken("a media type")
        try s.expectSeparator(ASCII.slash, "'/' in the media type")
        let st = try s.expectToken("a media subtype")
        let b = s.bytes
        func isStar(_ r: Range<Int>) -> Bool { r.count == 1 && b[r.lowerBound] == 0x2A }
        if range {
            if isStar(t), !isStar(st) { throw s.error("'*/subtype' is not a media-range", at: t.lowerBound) }
        } else if isStar(t) || isStar(st) {
            throw s.error("a wildcard is only allowed in Accept", at: t.lowerBound)
        }
        let paramsStart = s.position
        let params = try HeaderGrammar.genericParams(&s, rules: range ? [ParamRule("q", .qvalue)] : [])
        if !range, let bare = params.first(where: { $0.value == nil }) {
            // m-parameter = m-attribute EQUAL m-value
            throw s.error("media type parameter '\(bare.name)' has no value", at: paramsStart)
        }
        return MediaType(type: s.string(t), subtype: s.string(st), parameters: params)
    }

    @Sendable static func contentType(_ s: inout SIPScanner) throws(SIPParseError) -> MediaType {
        try parse(&s, range: false)
    }

    @Sendable static func acceptRange(_ s: inout SIPScanner) throws(SIPParseError) -> MediaType {
        try parse(&s, range: true)
    }
}
