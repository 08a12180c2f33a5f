/// An RFC 3261 server transaction key's branch and sent-by (§17.2.3), packed into 64 bytes held in
/// the key itself, for the branches most agents make (up to 62 bytes of branch and `host:port`
/// together).
///
/// A server keeps each transaction's key for 32 s after its final response (Timer J, L): in its
/// table, its timers and its driver's entry. Packed, a key is plain bytes: making one allocates
/// nothing, copying one touches no reference count, and comparing two reads nothing beyond them,
/// where a key of `String`s held the branch in a heap object of its own, retained with every copy
/// and read (cold, 32 s on) when the transaction ended.
///
/// Bytes 0..<62 hold the branch followed by the sent-by; byte 62 the branch's length, byte 63 the
/// total. Unused bytes are zero, so that equal texts are equal words.
struct PackedKeyText: Hashable, Sendable {
    /// The most bytes of branch and sent-by together.
    static let capacity = 62

    private var words: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0, 0, 0, 0)

    /// Packs `branch` and `host:port`, the host in lower case (RFC 3261 §19.1.4: hosts compare
    /// case-insensitively), as ``KeyText/sentBy(host:port:)`` writes it. Nil when they do not fit.
    init?(branch: some Collection<UInt8>, host: some Collection<UInt8>, port: Int) {
        let digits = String(port)  // short: inline in the String, no allocation
        let branchCount = branch.count
        let total = branchCount + host.count + 1 + digits.utf8.count
        guard total <= Self.capacity else { return nil }
        withUnsafeMutableBytes(of: &words) { out in
            var i = 0
            for b in branch {
                out[i] = b
                i += 1
            }
            _ = KeyText.writeSentBy(host: host, digits: digits, into: out, at: i)
            out[62] = UInt8(branchCount)
            out[63] = UInt8(total)
        }
    }

    /// Packs a branch and a sent-by already written `host:port`. Nil when they do not fit.
    init?(branch: String, sentBy: String) {
        let b = branch.utf8.count, s = sentBy.utf8.count
        guard b + s <= Self.capacity else { return nil }
        withUnsafeMutableBytes(of: &words) { out in
            var i = 0
            for c in branch.utf8 {
                out[i] = c
                i += 1
            }
            for c in sentBy.utf8 {
                out[i] = c
                i += 1
            }
            out[62] = UInt8(b)
            out[63] = UInt8(b + s)
        }
    }

    /// The branch, as a string.
    var branch: String {
        withUnsafeBytes(of: words) { String(decoding: $0[0..<Int($0[62])], as: UTF8.self) }
    }

    /// The sent-by, `host:port`.
    var sentBy: String {
        withUnsafeBytes(of: words) { String(decoding: $0[Int($0[62])..<Int($0[63])], as: UTF8.self) }
    }

    static func == (a: PackedKeyText, b: PackedKeyText) -> Bool {
        a.words.0 == b.words.0 && a.words.1 == b.words.1 && a.words.2 == b.words.2 && a.words.3 == b.words.3
            && a.words.4 == b.words.4 && a.words.5 == b.words.5 && a.words.6 == b.words.6 && a.words.7 == b.words.7
    }

    func hash(into hasher: inout Hasher) {
        hasher.combine(words.0)
        hasher.combine(words.1)
        hasher.combine(words.2)
        hasher.combine(words.3)
        hasher.combine(words.4)
        hasher.combine(words.5)
        hasher.combine(words.6)
        hasher.combine(words.7)
    }
}
