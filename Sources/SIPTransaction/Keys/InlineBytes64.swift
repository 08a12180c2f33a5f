/// 64 bytes held in the value itself: the storage of identifiers packed for the tables a server
/// keeps large (``PackedKeyText`` for its transactions, the endpoint's dialog IDs).
///
/// Copying one touches no reference count and allocates nothing; equal contents are equal words,
/// so comparing and hashing read the eight words and nothing beyond them. Whoever packs the bytes
/// keeps unused ones zero, so that equal texts compare equal.
package struct InlineBytes64: Hashable, Sendable {
    /// The number of bytes.
    package static let count = 64

    private var words: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0, 0, 0, 0)

    /// All zero.
    package init() {}

    /// Reads the bytes.
    package func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try Swift.withUnsafeBytes(of: words, body)
    }

    /// Writes the bytes.
    package mutating func withUnsafeMutableBytes<R>(_ body: (UnsafeMutableRawBufferPointer) throws -> R) rethrows -> R {
        try Swift.withUnsafeMutableBytes(of: &words, body)
    }

    /// Copies `part` to `out` at `i` (in bulk when it is contiguous, as views of a parsed message
    /// and native strings are), and moves `i` past it. The caller has checked that it fits.
    package static func copy(_ part: some Collection<UInt8>, into out: UnsafeMutableRawBufferPointer, at i: inout Int) {
        let start = i
        let copied = part.withContiguousStorageIfAvailable { source in
            UnsafeMutableRawBufferPointer(rebasing: out[start..<start + source.count]).copyMemory(
                from: UnsafeRawBufferPointer(source))
            return source.count
        }
        if let copied {
            i += copied
            return
        }
        for b in part {
            out[i] = b
            i += 1
        }
    }

    /// The bytes in `range`, as a string.
    package func string(_ range: Range<Int>) -> String {
        withUnsafeBytes { String(decoding: $0[range], as: UTF8.self) }
    }

    package static func == (a: InlineBytes64, b: InlineBytes64) -> Bool {
        a.words.0 == b.words.0 && a.words.1 == b.words.1 && a.words.2 == b.words.2 && a.words.3 == b.words.3
            && a.words.4 == b.words.4 && a.words.5 == b.words.5 && a.words.6 == b.words.6 && a.words.7 == b.words.7
    }

    package func hash(into hasher: inout Hasher) {
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
