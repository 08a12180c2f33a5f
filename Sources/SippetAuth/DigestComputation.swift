import Crypto

extension DigestAlgorithm {
    /// `H(data)` as lowercase hexadecimal (RFC 7616 §3.4: "the hexadecimal representation").
    public func hex(_ data: some Collection<UInt8>) -> String {
        let bytes = data as? [UInt8] ?? Array(data)
        switch hash {
        case .md5: return hexString(Insecure.MD5.hash(data: bytes))
        case .sha256: return hexString(SHA256.hash(data: bytes))
        case .sha512t256: return hexString(SHA512_256.hash(bytes))
        }
    }

    /// `H(p1:p2:…)`: the parts joined by colons, hashed, as lowercase hexadecimal.
    func hex(joining parts: String...) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(parts.reduce(parts.count) { $0 + $1.utf8.count })
        for (i, part) in parts.enumerated() {
            if i > 0 { bytes.append(UInt8(ascii: ":")) }
            bytes += part.utf8
        }
        return hex(bytes)
    }

    /// `H(text)` of the UTF-8 bytes of `text`, as lowercase hexadecimal.
    public func hex(_ text: String) -> String { hex(Array(text.utf8)) }
}

/// The digest computations of RFC 7616 §3.4.1–§3.4.3 (RFC 3261 §22.4 for SIP's method and URI).
public enum DigestComputation {
    /// `H(username:realm:password)`: the HA1 a credentials store keeps (RFC 7616 §3.4.2).
    public static func ha1(user: String, realm: String, password: String, algorithm: DigestAlgorithm) -> String {
        algorithm.hex(joining: user, realm, password)
    }

    /// `H(username:realm)` (RFC 7616 §3.4.4): the username sent when `userhash=true`.
    public static func userhash(user: String, realm: String, algorithm: DigestAlgorithm) -> String {
        algorithm.hex(joining: user, realm)
    }

    /// The `response` value (RFC 7616 §3.4.1), from the stored HA1 (`H(username:realm:password)`).
    ///
    /// - For `-sess` algorithms, A1's hash is `H(HA1:nonce:cnonce)` (§3.4.2).
    /// - A2 is `method:uri`, or `method:uri:H(body)` with `auth-int` (§3.4.3).
    /// - With a qop, `H(HA1:nonce:nc:cnonce:qop:H(A2))`; without one (RFC 2069, which RFC 3261
    ///   §22.4 keeps), `H(HA1:nonce:H(A2))`.
    public static func response(
        ha1: String, algorithm: DigestAlgorithm, nonce: String, nonceCount: String?, cnonce: String?,
        qop: DigestQoP?, method: String, uri: String, body: some Collection<UInt8> = [UInt8]()
    ) -> String {
        var a1 = ha1
        if algorithm.isSession { a1 = algorithm.hex(joining: ha1, nonce, cnonce ?? "") }
        let ha2 =
            qop == .authInt
            ? algorithm.hex(joining: method, uri, algorithm.hex(body)) : algorithm.hex(joining: method, uri)
        if let qop {
            return algorithm.hex(joining: a1, nonce, nonceCount ?? "", cnonce ?? "", qop.rawValue, ha2)
        }
        return algorithm.hex(joining: a1, nonce, ha2)
    }
}
