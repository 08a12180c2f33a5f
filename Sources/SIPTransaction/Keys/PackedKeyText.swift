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

    private var bytes = InlineBytes64()

    /// Packs `branch` and `host:port`, the host in lower case (RFC 3261 §19.1.4: hosts compare
    /// case-insensitively), as ``KeyText/sentBy(host:port:)`` writes it. Nil when they do not fit.
    init?(branch: some Collection<UInt8>, host: some Collection<UInt8>, port: Int) {
        let digits = String(port)  // short: inline in the String, no allocation
        let branchCount = branch.count
        let total = branchCount + host.count + 1 + digits.utf8.count
        guard total <= Self.capacity else { return nil }
        bytes.withUnsafeMutableBytes { out in
            var i = 0
            InlineBytes64.copy(branch, into: out, at: &i)
            _ = KeyText.writeSentBy(host: host, digits: digits, into: out, at: i)
            out[62] = UInt8(branchCount)
            out[63] = UInt8(total)
        }
    }

    /// Packs a branch and a sent-by already written `host:port`. Nil when they do not fit.
    init?(branch: String, sentBy: String) {
        let b = branch.utf8.count
        let s = sentBy.utf8.count
        guard b + s <= Self.capacity else { return nil }
        bytes.withUnsafeMutableBytes { out in
            var i = 0
            InlineBytes64.copy(branch.utf8, into: out, at: &i)
            InlineBytes64.copy(sentBy.utf8, into: out, at: &i)
            out[62] = UInt8(b)
            out[63] = UInt8(b + s)
        }
    }

    /// The branch, as a string.
    var branch: String {
        bytes.string(0..<bytes.withUnsafeBytes { Int($0[62]) })
    }

    /// The sent-by, `host:port`.
    var sentBy: String {
        bytes.string(bytes.withUnsafeBytes { Int($0[62])..<Int($0[63]) })
    }
}
