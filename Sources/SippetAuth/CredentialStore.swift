import Synchronization

/// Where a server finds its users' secrets: the stored HA1, `H(username:realm:password)` (RFC 7616
/// §3.4.2), so that no plaintext password needs to be kept.
///
/// It is asked on the event loop that handles the request, so an implementation answers from
/// memory (a database-backed one keeps a cache).
public protocol DigestCredentialStore: Sendable {
    /// The HA1 of `user` in `realm` for `algorithm`'s hash, lowercase hexadecimal; nil when the
    /// user is unknown (or has no HA1 for that hash).
    func ha1(user: String, realm: String, hash: DigestAlgorithm.HashFunction) -> String?

    /// The user whose `H(username:realm)` is `userhash` (RFC 7616 §3.4.4); nil when none is.
    func user(userhash: String, realm: String, hash: DigestAlgorithm.HashFunction) -> String?
}

extension DigestCredentialStore {
    /// No user can be found by its hash.
    public func user(userhash: String, realm: String, hash: DigestAlgorithm.HashFunction) -> String? { nil }
}

/// A users file: one line per user, realm and algorithm, `USER:REALM:ALGORITHM:HA1`, the
/// algorithm written `MD5`, `SHA-256` or `SHA-512-256` (`sippet passwd` prints the three lines).
///
/// Blank lines and lines starting with `#` are ignored. The realm may contain `:` (the user may
/// not): the HA1 is the text after the last `:`, the algorithm the text before it.
public struct DigestUsersFile: DigestCredentialStore {
    struct Key: Hashable {
        var user: String
        var realm: String
        var hash: DigestAlgorithm.HashFunction
    }

    private var entries: [Key: String] = [:]
    private var byUserhash: [Key: String] = [:]

    /// The number of lines read (user, realm and algorithm).
    public var count: Int { entries.count }

    /// Reads a users file's text; throws on the first line that is not `USER:REALM:ALGORITHM:HA1`
    /// with a known algorithm and an HA1 of that algorithm's length, naming its line number.
    public init(text: String) throws(DigestUsersFile.Error) {
        for (index, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = rawLine.trimmingSpaces().trimmingCharacters(in: "\r")
            if line.isEmpty || line.hasPrefix("#") { continue }
            let fields = line.split(separator: ":", omittingEmptySubsequences: false)
            guard fields.count >= 4, !fields[0].isEmpty else {
                throw Error(line: index + 1, reason: "not USER:REALM:ALGORITHM:HA1")
            }
            let user = String(fields[0])
            let ha1 = asciiLowercased(fields[fields.count - 1])
            let algorithmName = String(fields[fields.count - 2])
            let realm = fields[1..<(fields.count - 2)].joined(separator: ":")
            guard let algorithm = DigestAlgorithm(name: algorithmName), !algorithm.isSession else {
                throw Error(line: index + 1, reason: "unknown algorithm \(algorithmName)")
            }
            guard ha1.utf8.count == algorithm.hexLength, ha1.utf8.allSatisfy(isHexDigit) else {
                throw Error(line: index + 1, reason: "the HA1 is not \(algorithm.hexLength) hexadecimal digits")
            }
            entries[Key(user: user, realm: realm, hash: algorithm.hash)] = ha1
            let userhash = DigestComputation.userhash(user: user, realm: realm, algorithm: algorithm)
            byUserhash[Key(user: userhash, realm: realm, hash: algorithm.hash)] = user
        }
    }

    /// The stored HA1.
    public func ha1(user: String, realm: String, hash: DigestAlgorithm.HashFunction) -> String? {
        entries[Key(user: user, realm: realm, hash: hash)]
    }

    /// The user whose `H(username:realm)` is `userhash`.
    public func user(userhash: String, realm: String, hash: DigestAlgorithm.HashFunction) -> String? {
        byUserhash[Key(user: asciiLowercased(userhash), realm: realm, hash: hash)]
    }

    /// The three lines of `user` in `realm` for a users file: MD5, SHA-256 and SHA-512-256.
    public static func lines(user: String, realm: String, password: String) -> [String] {
        [DigestAlgorithm.md5, .sha256, .sha512t256].map {
            "\(user):\(realm):\($0.name):\(DigestComputation.ha1(user: user, realm: realm, password: password, algorithm: $0))"
        }
    }

    /// A line of a users file that could not be read.
    public struct Error: Swift.Error, Sendable, Hashable, CustomStringConvertible {
        /// The line's number, from 1.
        public var line: Int
        /// What is wrong with it.
        public var reason: String
        /// The error of line `line`.
        public init(line: Int, reason: String) {
            self.line = line
            self.reason = reason
        }

        /// `line N: reason`.
        public var description: String { "line \(line): \(reason)" }
    }
}

/// A credentials store that can be replaced while in use (`sippet serve` reads its users file
/// again on SIGHUP): requests being checked keep the store they started with.
public final class ReloadableCredentialStore: DigestCredentialStore {
    private let current: Mutex<any DigestCredentialStore>

    /// A store that answers from `store` until ``replace(with:)``.
    public init(_ store: any DigestCredentialStore) { current = Mutex(store) }

    /// Answers from `store` from now on.
    public func replace(with store: any DigestCredentialStore) { current.withLock { $0 = store } }

    /// The current store's HA1.
    public func ha1(user: String, realm: String, hash: DigestAlgorithm.HashFunction) -> String? {
        current.withLock { $0 }.ha1(user: user, realm: realm, hash: hash)
    }

    /// The current store's user by userhash.
    public func user(userhash: String, realm: String, hash: DigestAlgorithm.HashFunction) -> String? {
        current.withLock { $0 }.user(userhash: userhash, realm: realm, hash: hash)
    }
}

extension Substring {
    fileprivate func trimmingCharacters(in set: Character) -> Substring {
        var s = self
        while s.last == set { s.removeLast() }
        return s
    }
}
