import Crypto

extension DigestAlgorithm {
    /// `H(data)` as lowercase hexadecimal (RFC 7616 §3.4: "the hexadecimal representation").
    public func hex(_ data: some Collection<UInt8>) -> String {
        switch hash {
        case .md5: return hexString(Insecure.MD5.hash(data: Array(data)))
        case .sha256: return hexString(SHA256.hash(data: Array(data)))
        case .sha512t256: return hexString(SHA512_256.hash(data))
        }
    }

    /// `H(text)` of the UTF-8 bytes of `text`, as lowercase hexadecimal.
    public func hex(_ text: String) -> String { hex(Array(text.utf8)) }
}

/// The digest computations of RFC 7616 §3.4.1–§3.4.3 (RFC 3261 §22.4 for SIP's method and URI).
public enum DigestComputation {
    /// `H(username:realm:password)`: the HA1 a credentials store keeps (RFC 7616 §3.4.2).
    public static func ha1(user: String, realm: String, password: String, algorithm: DigestAlgorithm) -> String {
        algorithm.hex("\(user):\(realm):\(password)")
    }

    /// `H(username:realm)` (RFC 7616 §3.4.4): the username sent when `userhash=true`.
    public static func userhash(user: String, realm: String, algorithm: DigestAlgorithm) -> String {
        algorithm.hex("\(user):\(realm)")
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
        if algorithm.isSession { a1 = algorithm.hex("\(ha1):\(nonce):\(cnonce ?? "")") }
        let a2 = qop == .authInt ? "\(method):\(uri):\(algorithm.hex(body))" : "\(method):\(uri)"
        let ha2 = algorithm.hex(a2)
        if let qop {
            return algorithm.hex("\(a1):\(nonce):\(nonceCount ?? ""):\(cnonce ?? ""):\(qop.rawValue):\(ha2)")
        }
        return algorithm.hex("\(a1):\(nonce):\(ha2)")
    }
}
