import Synchronization

#if canImport(Darwin)
    import Darwin
#elseif canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// Fresh identifiers for new requests and dialogs.
public enum SIPIdentifiers {
    /// The RFC 3261 magic cookie that starts every compliant branch (§8.1.1.7).
    public static let magicCookie = "z9hG4bK"

    /// A new Via branch: the magic cookie followed by 96 random bits (§8.1.1.7 asks for uniqueness
    /// across space and time).
    public static func branch() -> String { RandomPool.shared.hex(digits: 24, after: "z9hG4bK") }

    /// A new From/To tag: 60 random bits as 15 hex digits (§19.3 asks for at least 32). Fifteen
    /// bytes is the most a Swift `String` holds inline: a tag, which a dialog keeps and reads back
    /// from every request in it (§12.2.2), is then made, copied and compared with no allocation
    /// and no reference count.
    public static func tag() -> String { randomToken(bits: 60) }

    /// A new Call-ID: 128 random bits, `@host` appended when given (§8.1.1.4).
    public static func callID(host: String? = nil) -> String {
        let id = randomToken(bits: 128)
        return host.map { id + "@" + $0 } ?? id
    }

    /// Random bits as lowercase hex (token characters only), from the system's CSPRNG (§19.3 asks
    /// tags to be cryptographically random). The bytes are drawn a block at a time
    /// (``RandomPool``): one system call per 512 tags, not one per tag.
    static func randomToken(bits: Int) -> String {
        RandomPool.shared.hex(digits: (bits + 3) / 4)
    }
}

/// Bytes from the system's CSPRNG, fetched 4 KiB at a time (one `getrandom` system call on
/// Linux, `arc4random_buf` on Darwin) and each handed out once.
final class RandomPool: Sendable {
    static let shared = RandomPool()

    private struct Block {
        var bytes = [UInt8](repeating: 0, count: 4096)
        var used = 4096
    }

    private let block = Mutex(Block())

    #if !canImport(Darwin)
        /// `getrandom(2)` (glibc 2.25, musl 1.1.20), looked up at run time: the C library's headers
        /// as Swift imports them do not declare it.
        private typealias GetRandom = @convention(c) (UnsafeMutableRawPointer?, Int, UInt32) -> Int
        private static let getrandom: GetRandom? =
            dlsym(nil, "getrandom").map { unsafeBitCast($0, to: GetRandom.self) }
    #endif

    /// Fills `buffer` with random bytes. Returns whether it took the bulk path: one call for the
    /// whole buffer (`getrandom`, `arc4random_buf`), rather than `SystemRandomNumberGenerator`,
    /// which makes one system call per eight bytes.
    @discardableResult
    static func fill(_ buffer: UnsafeMutableRawBufferPointer) -> Bool {
        guard let base = buffer.baseAddress, !buffer.isEmpty else { return true }
        #if canImport(Darwin)
            arc4random_buf(base, buffer.count)
            return true
        #else
            if let getrandom {
                var done = 0
                while done < buffer.count {
                    // A request over 256 bytes may return fewer when a signal interrupts it.
                    let n = getrandom(base + done, buffer.count - done, 0)
                    if n > 0 {
                        done += n
                    } else if n < 0 && errno == EINTR {
                        continue
                    } else {
                        break
                    }
                }
                if done == buffer.count { return true }
            }
            var g = SystemRandomNumberGenerator()
            var i = 0
            while i < buffer.count {
                var word = g.next() as UInt64
                let n = min(8, buffer.count - i)
                withUnsafeBytes(of: &word) { (base + i).copyMemory(from: $0.baseAddress!, byteCount: n) }
                i += n
            }
            return false
        #endif
    }

    /// `digits` (at most 8,192) random lowercase hex digits.
    /// `digits` random hex digits after `prefix`, made in one string (one allocation when longer
    /// than 15 bytes, none otherwise).
    func hex(digits: Int, after prefix: StaticString = "") -> String {
        let count = (digits + 1) / 2
        precondition(count <= 4096)
        return block.withLock { b -> String in
            if b.used + count > b.bytes.count {
                b.bytes.withUnsafeMutableBytes { _ = Self.fill($0) }
                b.used = 0
            }
            let start = b.used
            b.used += count
            let hex: StaticString = "0123456789abcdef"
            return b.bytes.withUnsafeBufferPointer { random in
                String(unsafeUninitializedCapacity: prefix.utf8CodeUnitCount + digits) { out in
                    let p = prefix.utf8CodeUnitCount
                    prefix.withUTF8Buffer { for (i, b) in $0.enumerated() { out[i] = b } }
                    hex.withUTF8Buffer { h in
                        for i in 0..<digits {
                            let byte = random[start + i / 2]
                            out[p + i] = h[Int(i % 2 == 0 ? byte >> 4 : byte & 0x0F)]
                        }
                    }
                    return p + digits
                }
            }
        }
    }
}

extension SIPMessage {
    /// A response to this request as RFC 3261 §8.2.6.2 builds it: the same Via fields (in order),
    /// From, To, Call-ID and CSeq; the To gets `toTag` unless it already has one or the status is
    /// 100 (§8.2.6.2: a tag on every response but 100 Trying, where it may be absent).
    /// Timestamp is copied into a 100 (§8.2.6.1).
    public func makeResponse(status: Int, reason: String? = nil, toTag: String? = nil) -> SIPMessage {
        var r = SIPMessage.response(status: status, reason: reason)
        let h = headers
        // Copied fields received in canonical form are kept as they are: the response shares the
        // request's bytes, and writes those lines as serializing them anew would.
        r.headers.source = h.source
        r.headers.fields.reserveCapacity(h.fields.count + 4)
        // A parsed request's To is a well-formed name-addr (the parser checked it), and its tag is
        // known: the tag parameter can be appended to the text, with no parse and no rewrite.
        let untagged = cache.map { $0.toTag == nil } ?? essentials.map { $0.toTag == nil }
        for i in h.indices {
            let id = h.fields[i].id
            let copy =
                id == KnownHeader.via || id == KnownHeader.from || id == KnownHeader.callID || id == KnownHeader.cseq
                || (status == 100 && id == KnownHeader.timestamp)
            if copy {
                r.headers.fields.append(h.isCanonicalLine(i) || !h.isRaw(i) ? h.fields[i] : ownedCopy(h, i))
            } else if id == KnownHeader.to {
                if status != 100, untagged == true, h.isRaw(i) {
                    let tag = toTag ?? SIPIdentifiers.tag()
                    let (bytes, range) = h.valueBytes(at: i)
                    var tagged: [UInt8] = []
                    tagged.reserveCapacity(range.count + 5 + tag.utf8.count)
                    appendUnfolded(bytes, range, into: &tagged)
                    tagged.append(contentsOf: ";tag=".utf8)
                    tagged.append(contentsOf: tag.utf8)
                    r.headers.fields.append(.owned(name: .to, value: tagged))
                } else if status != 100, untagged != false, var to = try? h.first(.to), to.tag == nil {
                    to.tag = toTag ?? SIPIdentifiers.tag()
                    r.headers.append(.to, to)
                } else {
                    r.headers.fields.append(h.isCanonicalLine(i) ? h.fields[i] : ownedCopy(h, i))
                }
            }
        }
        return r
    }

    private func ownedCopy(_ h: SIPHeaders, _ i: Int) -> SIPHeaders.Field {
        let (bytes, range) = h.valueBytes(at: i)
        var value: [UInt8] = []
        appendUnfolded(bytes, range, into: &value)
        return .owned(name: h.name(at: i), value: value)
    }
}
