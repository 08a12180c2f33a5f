/// One `auth-param` (RFC 3261 §25.1): `name=value`, the value a token or a quoted-string.
public struct AuthParameter: Sendable, Hashable, CustomStringConvertible {
    /// The parameter's name as written (`realm`, `nonce`); lookups compare names case-insensitively.
    public var name: String
    /// The value as written: a token (`MD5`, `00000001`), or a quoted-string with its quotes.
    public var value: String

    /// A parameter whose value is already in its wire form: a token, or a quoted-string with its quotes (see
    /// ``quoted(_:_:)``).
    public init(_ name: String, _ value: String) {
        self.name = name
        self.value = value
    }

    /// A parameter whose value is `value` quoted (`realm="atlanta.com"`).
    public static func quoted(_ name: String, _ value: String) -> AuthParameter { AuthParameter(name, quote(value)) }

    /// The value with its quotes removed and quoted-pairs unescaped.
    public var unquotedValue: String { unquote(value) }

    /// `name=value`, as on the wire.
    public var description: String { name + "=" + value }
}

/// Credentials or a challenge: the value of Authorization (RFC 3261 §20.7), Proxy-Authorization
/// (§20.28), WWW-Authenticate (§20.44) and Proxy-Authenticate (§20.27).
///
/// `auth-scheme LWS auth-param *( COMMA auth-param )` (§25.1: credentials, challenge). The commas
/// separate parameters, not values: one header field holds one challenge or one set of credentials,
/// and several are given in several fields (§22.3). Digest and unknown schemes share the shape, so
/// `NoOneKnowsThisScheme opaque-data=here` (RFC 4475 §3.3.5) parses.
public struct AuthValue: Sendable, Hashable, CustomStringConvertible {
    /// The scheme as written (`Digest`); schemes compare case-insensitively.
    public var scheme: String
    /// The auth-params in order, values as written.
    public var parameters: [AuthParameter]

    /// Credentials or a challenge of `scheme` with `parameters`, their values in wire form.
    public init(scheme: String, parameters: [AuthParameter]) {
        self.scheme = scheme
        self.parameters = parameters
    }

    /// Parses credentials or a challenge (`Digest realm="atlanta.com", nonce="…"`).
    public init(_ text: String) throws(SIPParseError) {
        var s = SIPScanner(text)
        s.skipLWS()
        self = try AuthValue.parse(&s)
        try s.expectEnd()
    }

    /// Whether the scheme is Digest (§22.4), in any case.
    public var isDigest: Bool { asciiCaseInsensitiveEquals(scheme, "Digest") }

    /// The value of the first parameter named `name` (any case), unquoted; nil when absent.
    public func value(_ name: String) -> String? {
        parameters.first { asciiCaseInsensitiveEquals($0.name, name) }?.unquotedValue
    }

    /// `Scheme name=value, name="value"` as on the wire.
    public var description: String {
        scheme + " " + parameters.map(\.description).joined(separator: ", ")
    }

    @Sendable static func parse(_ s: inout SIPScanner) throws(SIPParseError) -> AuthValue {
        let scheme = try s.expectToken("an auth scheme")
        try s.expectLWS("after the auth scheme")
        let params = try HeaderGrammar.authParams(&s)
        return AuthValue(scheme: s.string(scheme), parameters: params)
    }
}

/// The value of Authentication-Info (RFC 3261 §20.6): `ainfo *( COMMA ainfo )`, auth-params with no
/// scheme (`nextnonce`, `qop`, `rspauth`, `cnonce`, `nc`).
public struct AuthenticationInfo: Sendable, Hashable, CustomStringConvertible {
    /// The parameters in order, values as written.
    public var parameters: [AuthParameter]

    /// Authentication-Info with `parameters`, their values in wire form.
    public init(_ parameters: [AuthParameter]) { self.parameters = parameters }

    /// The value of the first parameter named `name` (any case), unquoted; nil when absent.
    public func value(_ name: String) -> String? {
        parameters.first { asciiCaseInsensitiveEquals($0.name, name) }?.unquotedValue
    }

    /// `name=value, name="value"`, as on the wire.
    public var description: String { parameters.map(\.description).joined(separator: ", ") }

    @Sendable static func parse(_ s: inout SIPScanner) throws(SIPParseError) -> AuthenticationInfo {
        AuthenticationInfo(try HeaderGrammar.authParams(&s))
    }
}
