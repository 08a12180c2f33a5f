import SIPSyntax

/// Why a challenge or credentials could not be read as Digest (RFC 3261 §25.1, RFC 7616 §3.3–3.4).
public enum DigestError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The scheme is not `Digest`.
    case notDigest(scheme: String)
    /// A parameter the scheme requires is absent.
    case missingParameter(String)
    /// The `algorithm` names one this package does not implement.
    case unsupportedAlgorithm(String)
    /// A parameter's value does not have its grammar's form.
    case malformedParameter(String)

    /// What went wrong, in words.
    public var description: String {
        switch self {
        case .notDigest(let s): "the scheme \(s) is not Digest"
        case .missingParameter(let p): "the \(p) parameter is missing"
        case .unsupportedAlgorithm(let a): "the algorithm \(a) is not supported"
        case .malformedParameter(let p): "the \(p) parameter is malformed"
        }
    }
}

/// A Digest challenge: the value of WWW-Authenticate or Proxy-Authenticate (RFC 3261 §20.44,
/// §20.27, §25.1 `digest-cln`; RFC 7616 §3.3).
public struct DigestChallenge: Sendable, Hashable {
    /// The protection space (`realm`).
    public var realm: String
    /// The server's nonce.
    public var nonce: String
    /// Opaque data the client returns unchanged.
    public var opaque: String?
    /// `stale=true`: the previous request's digest was right but its nonce was not (RFC 7616
    /// §3.3): retry with the new nonce without asking the user again.
    public var isStale: Bool
    /// The algorithm; MD5 when the challenge names none (RFC 7616 §3.3).
    public var algorithm: DigestAlgorithm
    /// The qualities of protection offered; empty when the challenge has no `qop` (RFC 2069).
    /// Values this package does not know are left out.
    public var qop: [DigestQoP]
    /// The `domain` value as written (a space-separated list of URIs), if any.
    public var domain: String?
    /// `userhash=true`: the server accepts the username hashed (RFC 7616 §3.4.4).
    public var userhash: Bool

    /// A challenge with these values.
    public init(
        realm: String, nonce: String, opaque: String? = nil, isStale: Bool = false, algorithm: DigestAlgorithm = .md5,
        qop: [DigestQoP] = [.auth], domain: String? = nil, userhash: Bool = false
    ) {
        self.realm = realm
        self.nonce = nonce
        self.opaque = opaque
        self.isStale = isStale
        self.algorithm = algorithm
        self.qop = qop
        self.domain = domain
        self.userhash = userhash
    }

    /// Reads a Digest challenge from a parsed header value.
    public init(_ value: AuthValue) throws(DigestError) {
        guard value.isDigest else { throw .notDigest(scheme: value.scheme) }
        guard let realm = value.value("realm") else { throw .missingParameter("realm") }
        guard let nonce = value.value("nonce") else { throw .missingParameter("nonce") }
        self.realm = realm
        self.nonce = nonce
        opaque = value.value("opaque")
        isStale = value.value("stale").map { asciiLowercased($0) == "true" } ?? false
        if let name = value.value("algorithm") {
            guard let a = DigestAlgorithm(name: name) else { throw .unsupportedAlgorithm(name) }
            algorithm = a
        } else {
            algorithm = .md5
        }
        qop = (value.value("qop") ?? "").split(separator: ",").compactMap {
            DigestQoP(rawValue: asciiLowercased($0.trimmingSpaces()))
        }
        if value.value("qop") != nil, qop.isEmpty { throw .malformedParameter("qop") }
        domain = value.value("domain")
        userhash = value.value("userhash").map { asciiLowercased($0) == "true" } ?? false
    }

    /// The header value: `Digest realm="…", nonce="…", …` (quoted-strings where §25.1 has them,
    /// tokens for `algorithm` and `stale`).
    public var authValue: AuthValue {
        var p: [AuthParameter] = [.quoted("realm", realm)]
        if let domain { p.append(.quoted("domain", domain)) }
        p.append(.quoted("nonce", nonce))
        if let opaque { p.append(.quoted("opaque", opaque)) }
        if isStale { p.append(AuthParameter("stale", "true")) }
        p.append(AuthParameter("algorithm", algorithm.name))
        if !qop.isEmpty { p.append(.quoted("qop", qop.map(\.rawValue).joined(separator: ","))) }
        if userhash { p.append(AuthParameter("userhash", "true")) }
        return AuthValue(scheme: "Digest", parameters: p)
    }
}

/// Digest credentials: the value of Authorization or Proxy-Authorization (RFC 3261 §20.7,
/// §20.28, §25.1 `digest-response`; RFC 7616 §3.4).
public struct DigestCredentials: Sendable, Hashable {
    /// The user's name, or its hash when ``userhash`` is true. A `username*` (RFC 7616 §3.4.4,
    /// RFC 8187's `UTF-8''` encoding) is decoded into it.
    public var username: String
    /// The protection space.
    public var realm: String
    /// The nonce of the challenge answered.
    public var nonce: String
    /// The digest-uri: the Request-URI as the client wrote it (§22.4).
    public var uri: String
    /// The response digest, hexadecimal.
    public var response: String
    /// The algorithm; MD5 when the credentials name none.
    public var algorithm: DigestAlgorithm
    /// The client nonce; present when ``qop`` is.
    public var cnonce: String?
    /// The challenge's opaque value, returned.
    public var opaque: String?
    /// The quality of protection chosen; nil for RFC 2069 credentials.
    public var qop: DigestQoP?
    /// The nonce count as written (8 hexadecimal digits); present when ``qop`` is.
    public var nonceCount: String?
    /// Whether ``username`` is `H(username:realm)`.
    public var userhash: Bool

    /// Credentials with these values.
    public init(
        username: String, realm: String, nonce: String, uri: String, response: String,
        algorithm: DigestAlgorithm = .md5, cnonce: String? = nil, opaque: String? = nil, qop: DigestQoP? = nil,
        nonceCount: String? = nil, userhash: Bool = false
    ) {
        self.username = username
        self.realm = realm
        self.nonce = nonce
        self.uri = uri
        self.response = response
        self.algorithm = algorithm
        self.cnonce = cnonce
        self.opaque = opaque
        self.qop = qop
        self.nonceCount = nonceCount
        self.userhash = userhash
    }

    /// Reads Digest credentials from a parsed header value. With a `qop`, `cnonce` and an
    /// 8-digit hexadecimal `nc` are required (RFC 7616 §3.4).
    public init(_ value: AuthValue) throws(DigestError) {
        guard value.isDigest else { throw .notDigest(scheme: value.scheme) }
        // One pass over the parameters, each unquoted once; the first of a name counts.
        var username: String?
        var usernameStar: String?
        var realm: String?
        var nonce: String?
        var uri: String?
        var response: String?
        var algorithm: String?
        var cnonce: String?
        var opaque: String?
        var qop: String?
        var nc: String?
        var userhash: String?
        for p in value.parameters {
            func take(_ slot: inout String?) { if slot == nil { slot = p.unquotedValue } }
            switch asciiLowercased(p.name) {
            case "username": take(&username)
            case "username*": take(&usernameStar)
            case "realm": take(&realm)
            case "nonce": take(&nonce)
            case "uri": take(&uri)
            case "response": take(&response)
            case "algorithm": take(&algorithm)
            case "cnonce": take(&cnonce)
            case "opaque": take(&opaque)
            case "qop": take(&qop)
            case "nc": take(&nc)
            case "userhash": take(&userhash)
            default: break
            }
        }
        if let username {
            self.username = username
        } else if let usernameStar {
            guard let u = decodeExtValue(usernameStar) else { throw .malformedParameter("username*") }
            self.username = u
        } else {
            throw .missingParameter("username")
        }
        guard let realm else { throw .missingParameter("realm") }
        guard let nonce else { throw .missingParameter("nonce") }
        guard let uri else { throw .missingParameter("uri") }
        guard let response else { throw .missingParameter("response") }
        self.realm = realm
        self.nonce = nonce
        self.uri = uri
        self.response = asciiLowercased(response)
        if let algorithm {
            guard let a = DigestAlgorithm(name: algorithm) else { throw .unsupportedAlgorithm(algorithm) }
            self.algorithm = a
        } else {
            self.algorithm = .md5
        }
        guard self.response.utf8.count == self.algorithm.hexLength, self.response.utf8.allSatisfy(isHexDigit) else {
            throw .malformedParameter("response")
        }
        self.opaque = opaque
        self.cnonce = cnonce
        self.userhash = userhash.map { asciiLowercased($0) == "true" } ?? false
        if let qop {
            guard let q = DigestQoP(rawValue: asciiLowercased(qop)) else { throw .malformedParameter("qop") }
            self.qop = q
            guard cnonce != nil else { throw .missingParameter("cnonce") }
            guard let nc else { throw .missingParameter("nc") }
            guard nc.utf8.count == 8, nc.utf8.allSatisfy(isHexDigit) else { throw .malformedParameter("nc") }
            nonceCount = nc
        } else {
            self.qop = nil
            nonceCount = nil
        }
    }

    /// The nonce count as a number; nil without a qop.
    public var nonceCountValue: UInt32? { nonceCount.flatMap { UInt32($0, radix: 16) } }

    /// The header value: `Digest username="…", realm="…", …`, quoted-strings and tokens as §25.1
    /// and RFC 7616 §3.4 write them (`qop` and `nc` unquoted).
    public var authValue: AuthValue {
        var p: [AuthParameter] = [
            .quoted("username", username), .quoted("realm", realm), .quoted("nonce", nonce), .quoted("uri", uri),
            .quoted("response", response), AuthParameter("algorithm", algorithm.name),
        ]
        if let cnonce { p.append(.quoted("cnonce", cnonce)) }
        if let opaque { p.append(.quoted("opaque", opaque)) }
        if let qop { p.append(AuthParameter("qop", qop.rawValue)) }
        if let nonceCount { p.append(AuthParameter("nc", nonceCount)) }
        if userhash { p.append(AuthParameter("userhash", "true")) }
        return AuthValue(scheme: "Digest", parameters: p)
    }
}

/// Whether `b` is an ASCII hexadecimal digit.
func isHexDigit(_ b: UInt8) -> Bool {
    (b >= 0x30 && b <= 0x39) || (b >= 0x61 && b <= 0x66) || (b >= 0x41 && b <= 0x46)
}

/// `text` with ASCII letters lowercased.
func asciiLowercased(_ text: some StringProtocol) -> String {
    String(decoding: text.utf8.map { $0 >= 0x41 && $0 <= 0x5A ? $0 | 0x20 : $0 }, as: UTF8.self)
}

extension StringProtocol {
    /// The text without leading and trailing spaces and tabs.
    func trimmingSpaces() -> Substring {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" { s.removeFirst() }
        while let l = s.last, l == " " || l == "\t" { s.removeLast() }
        return s
    }
}

/// RFC 8187 §3.2's ext-value in UTF-8: `UTF-8'language'percent-encoded`; nil for another charset
/// or a bad escape.
func decodeExtValue(_ value: String) -> String? {
    let parts = value.split(separator: "'", maxSplits: 2, omittingEmptySubsequences: false)
    guard parts.count == 3, asciiLowercased(parts[0]) == "utf-8" else { return nil }
    var out: [UInt8] = []
    var bytes = parts[2].utf8.makeIterator()
    while let b = bytes.next() {
        if b == UInt8(ascii: "%") {
            guard let h = bytes.next(), let l = bytes.next(), isHexDigit(h), isHexDigit(l),
                let v = UInt8(String(decoding: [h, l], as: UTF8.self), radix: 16)
            else { return nil }
            out.append(v)
        } else {
            out.append(b)
        }
    }
    return String(validating: out, as: UTF8.self)
}
