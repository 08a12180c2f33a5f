import SIPSyntax

/// Which event loop owns a transaction or a call: the hash of its Call-ID's bytes (RFC 3261
/// §8.1.1.4), the process's seeded `Hasher`, so that nobody outside can choose Call-IDs that fall
/// on one loop.
///
/// Every message of a transaction carries its request's Call-ID (a retransmission, the ACK of a
/// non-2xx and the CANCEL of an INVITE, §9.1, §17.1.1.3; every response, §8.2.6.2), and so does
/// every request of a dialog (§12.2.1.1), whose ACK for a 2xx and BYE have new branches: spread by
/// Call-ID, a transaction, its dialog and the other transactions of the call live on one loop.
/// Zero stands for "not known" (a key read back from its text form) and for no Call-ID.
package enum CallIDHash {
    /// The hash of a Call-ID's bytes, in 32 bits (what a key keeps of it); never zero.
    package static func of(bytes: UnsafeRawBufferPointer) -> Int {
        var hasher = Hasher()
        hasher.combine(bytes: bytes)
        let h = UInt32(truncatingIfNeeded: hasher.finalize())
        return h == 0 ? 1 : Int(h)
    }

    /// The hash of a Call-ID as received.
    package static func of(_ callID: ByteView) -> Int {
        if let h = callID.withContiguousStorageIfAvailable({ of(bytes: UnsafeRawBufferPointer($0)) }) { return h }
        return of(Array(callID))
    }

    /// The hash of a Call-ID as text.
    package static func of(_ callID: String) -> Int {
        var text = callID
        return text.withUTF8 { of(bytes: UnsafeRawBufferPointer($0)) }
    }

    /// The hash of a Call-ID's bytes in an array.
    package static func of(_ bytes: [UInt8]) -> Int {
        bytes.withUnsafeBytes { of(bytes: $0) }
    }

    /// The hash of `message`'s Call-ID, zero without one.
    package static func of(_ message: SIPMessage) -> Int {
        if let e = message.parsedEssentials { return e.callID.map { of($0) } ?? 0 }
        if let h = message.withCallIDBytes({ of(bytes: $0) }) { return h }
        return message.callID.map { of($0) } ?? 0
    }

    /// A hash in the 32 bits a key keeps of it, still never zero for a known one.
    @inline(__always)
    package static func narrow(_ hash: Int) -> UInt32 {
        let low = UInt32(truncatingIfNeeded: hash)
        return low == 0 && hash != 0 ? 1 : low
    }

    /// Which of `count` loops a hash picks.
    @inline(__always)
    package static func index(_ hash: Int, of count: Int) -> Int {
        count == 1 ? 0 : Int(UInt(bitPattern: hash) % UInt(count))
    }
}
