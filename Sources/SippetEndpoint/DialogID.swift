import SIPSyntax
import SIPTransaction

/// A dialog this UAS is in (RFC 3261 §12.1.1): its Call-ID, local tag (ours) and remote tag
/// (theirs), compared as written (§12: the three together identify the dialog).
///
/// Each ACK and BYE makes one to find its dialog, and while a 2xx waits for its ACK the ID sits
/// in a timer too. Packed (``InlineBytes64``) when the three fit in 61 bytes, as the Call-IDs
/// and tags of common agents do, an ID allocates nothing and is copied without reference
/// counts; longer ones are kept as strings. Which depends on the text alone, so equal IDs are
/// held alike.
struct DialogID: Hashable, Sendable {
    enum Text: Hashable, Sendable {
        /// Bytes 0..<61: Call-ID, local tag, remote tag; bytes 61, 62, 63: where each ends.
        case packed(InlineBytes64)
        case spelled(callID: String, localTag: String, remoteTag: String)
    }

    /// The most bytes of Call-ID and tags together that are packed.
    static let packedCapacity = 61

    let text: Text
    /// Worked out once: an ID is looked up in the dialogs, and hashing its text each time
    /// showed in profiles.
    private let hashCode: Int

    init<C: Collection<UInt8>, L: Collection<UInt8>, R: Collection<UInt8>>(callID: C, localTag: L, remoteTag: R) {
        let c = callID.count
        let l = localTag.count
        let r = remoteTag.count
        if c + l + r <= Self.packedCapacity {
            var bytes = InlineBytes64()
            bytes.withUnsafeMutableBytes { out in
                var i = 0
                InlineBytes64.copy(callID, into: out, at: &i)
                InlineBytes64.copy(localTag, into: out, at: &i)
                InlineBytes64.copy(remoteTag, into: out, at: &i)
                out[61] = UInt8(c)
                out[62] = UInt8(c + l)
                out[63] = UInt8(c + l + r)
            }
            text = .packed(bytes)
            hashCode = bytes.hashValue
        } else {
            let t = (
                String(decoding: callID, as: UTF8.self), String(decoding: localTag, as: UTF8.self),
                String(decoding: remoteTag, as: UTF8.self)
            )
            text = .spelled(callID: t.0, localTag: t.1, remoteTag: t.2)
            var h = Hasher()
            h.combine(t.0)
            h.combine(t.1)
            h.combine(t.2)
            hashCode = h.finalize()
        }
    }

    init(callID: String, localTag: String, remoteTag: String) {
        self.init(callID: callID.utf8, localTag: localTag.utf8, remoteTag: remoteTag.utf8)
    }

    /// The Call-ID, the local tag and the remote tag.
    var parts: (callID: String, localTag: String, remoteTag: String) {
        switch text {
        case .packed(let b):
            let ends = b.withUnsafeBytes { (Int($0[61]), Int($0[62]), Int($0[63])) }
            return (b.string(0..<ends.0), b.string(ends.0..<ends.1), b.string(ends.1..<ends.2))
        case .spelled(let c, let l, let r):
            return (c, l, r)
        }
    }

    var callID: String { parts.callID }

    static func == (a: DialogID, b: DialogID) -> Bool { a.hashCode == b.hashCode && a.text == b.text }

    func hash(into hasher: inout Hasher) { hasher.combine(hashCode) }
}
