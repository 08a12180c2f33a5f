// The authentication-header half of the fuzz target. Fuzz/run.sh compiles this file with
// Sources/SippetAuth's parsing files (DigestValues.swift, DigestAlgorithm.swift: no hashing, so no
// swift-crypto) and -D SIPPET_FUZZ_AUTH, which makes FuzzParser.swift call fuzzAuth.
//
// Properties: an auth header value (Authorization, Proxy-Authorization, WWW-Authenticate,
// Proxy-Authenticate, Authentication-Info) of any bytes either throws a typed error or parses;
// a Digest challenge or credentials read from it either throw a DigestError or are read; what is
// read, written back, reads back equal.

/// Runs the auth parsers on `bytes` as one header value, and on the auth headers of `bytes` as a
/// message.
func fuzzAuth(_ bytes: [UInt8]) {
    guard let text = String(validating: bytes, as: UTF8.self) else { return }
    checkAuthValue(text)
    _ = try? AuthenticationInfo.parse(text)
    if let m = try? SIPMessage(parsing: bytes) {
        for name: SIPHeaderName in [.authorization, .proxyAuthorization, .wwwAuthenticate, .proxyAuthenticate] {
            for v in m.headers.values(name) { checkAuthValue(v) }
        }
    }
}

func checkAuthValue(_ text: String) {
    guard let value = try? AuthValue(text) else { return }
    // The value written back parses to the same value.
    guard let again = try? AuthValue(value.description), again == value else {
        fatalError("auth value does not round-trip: \(value.description.debugDescription)")
    }
    if let c = try? DigestChallenge(value) {
        guard let back = try? DigestChallenge(c.authValue), back == c else {
            fatalError("challenge does not round-trip: \(c.authValue.description.debugDescription)")
        }
    }
    if let c = try? DigestCredentials(value) {
        guard let back = try? DigestCredentials(c.authValue), back == c else {
            fatalError("credentials do not round-trip: \(c.authValue.description.debugDescription)")
        }
        _ = c.nonceCountValue
    }
}

extension AuthenticationInfo {
    static func parse(_ text: String) throws(SIPParseError) -> AuthenticationInfo {
        var s = SIPScanner(text)
        s.skipLWS()
        let v = try AuthenticationInfo.parse(&s)
        try s.expectEnd()
        return v
    }
}
