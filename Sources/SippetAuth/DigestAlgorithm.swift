/// A digest algorithm (RFC 7616 §3.2, §6.1 and the IANA registry it creates; RFC 8760 for SIP):
/// the hash function and whether the session variant (`-sess`) is used.
///
/// The `-sess` variants compute A1 once per nonce and cnonce (RFC 7616 §3.4.2):
/// `H(H(username:realm:password):nonce:cnonce)`.
public struct DigestAlgorithm: Sendable, Hashable, CustomStringConvertible {
    /// The hash function of an algorithm.
    public enum HashFunction: Sendable, Hashable, Comparable {
        /// MD5 (RFC 1321); RFC 8760 §2.1 keeps it for compatibility only.
        case md5
        /// SHA-256 (FIPS 180-4).
        case sha256
        /// SHA-512/256 (FIPS 180-4 §6.7).
        case sha512t256
    }

    /// The hash function.
    public var hash: HashFunction
    /// Whether this is the `-sess` variant.
    public var isSession: Bool

    /// The algorithm with `hash`, the session variant when `isSession`.
    public init(hash: HashFunction, isSession: Bool = false) {
        self.hash = hash
        self.isSession = isSession
    }

    /// `MD5`.
    public static let md5 = DigestAlgorithm(hash: .md5)
    /// `MD5-sess`.
    public static let md5Session = DigestAlgorithm(hash: .md5, isSession: true)
    /// `SHA-256`.
    public static let sha256 = DigestAlgorithm(hash: .sha256)
    /// `SHA-256-sess`.
    public static let sha256Session = DigestAlgorithm(hash: .sha256, isSession: true)
    /// `SHA-512-256`.
    public static let sha512t256 = DigestAlgorithm(hash: .sha512t256)
    /// `SHA-512-256-sess`.
    public static let sha512t256Session = DigestAlgorithm(hash: .sha512t256, isSession: true)

    /// The algorithm named `name` (any case): `MD5`, `SHA-256`, `SHA-512-256`, each also with
    /// `-sess`; nil for any other.
    public init?(name: String) {
        var base = Substring(name)
        var session = false
        if base.count > 5, base.suffix(5).lowercased() == "-sess" {
            base = base.dropLast(5)
            session = true
        }
        switch base.uppercased() {
        case "MD5": self.init(hash: .md5, isSession: session)
        case "SHA-256": self.init(hash: .sha256, isSession: session)
        case "SHA-512-256": self.init(hash: .sha512t256, isSession: session)
        default: return nil
        }
    }

    /// The name as RFC 7616 writes it (`SHA-512-256-sess`).
    public var name: String {
        let base =
            switch hash {
            case .md5: "MD5"
            case .sha256: "SHA-256"
            case .sha512t256: "SHA-512-256"
            }
        return isSession ? base + "-sess" : base
    }

    /// The name.
    public var description: String { name }

    /// How strong the hash is, for choosing among challenges (RFC 8760 §2.4): higher is stronger.
    public var strength: Int {
        switch hash {
        case .md5: 0
        case .sha256: 1
        case .sha512t256: 2
        }
    }

    /// The number of hexadecimal digits of a digest with this algorithm (32 or 64).
    public var hexLength: Int { hash == .md5 ? 32 : 64 }
}

/// Lowercase hexadecimal of `bytes`.
func hexString(_ bytes: some Sequence<UInt8>) -> String {
    let digits = Array("0123456789abcdef".utf8)
    var out: [UInt8] = []
    for b in bytes {
        out.append(digits[Int(b >> 4)])
        out.append(digits[Int(b & 0xF)])
    }
    return String(decoding: out, as: UTF8.self)
}

/// Compares two byte strings in time that depends on their lengths only, not on where they differ
/// (a response compared byte by byte with an early exit tells an attacker how much of it is
/// right).
func constantTimeEquals(_ a: some Collection<UInt8>, _ b: some Collection<UInt8>) -> Bool {
    guard a.count == b.count else { return false }
    var difference: UInt8 = 0
    for (x, y) in zip(a, b) { difference |= x ^ y }
    return difference == 0
}

/// The quality of protection (RFC 7616 §3.3, RFC 3261 §22.4).
public enum DigestQoP: String, Sendable, Hashable {
    /// Authentication of the request line.
    case auth
    /// Authentication with integrity protection of the body (A2 includes `H(entity-body)`).
    case authInt = "auth-int"
}
