/// A run of bytes inside a parsed message, shared with it rather than copied.
///
/// The hot path (transaction matching, routing, the parse benchmark) reads the Via branch, Call-ID,
/// tags and CSeq through views so that parsing a message costs no allocation per value.
/// `string` makes a `String` when one is wanted.
public struct ByteView: Sendable, Hashable, RandomAccessCollection, CustomStringConvertible {
    let base: [UInt8]
    /// The position of the first byte: views keep the offsets of the message they share, so it need not be 0.
    public let startIndex: Int
    /// The position one past the last byte.
    public let endIndex: Int

    init(_ base: [UInt8], _ range: Range<Int>) {
        self.base = base
        self.startIndex = range.lowerBound
        self.endIndex = range.upperBound
    }

    /// A view of the UTF-8 bytes of `string`.
    public init(_ string: String) {
        let bytes = Array(string.utf8)
        self.init(bytes, 0..<bytes.count)
    }

    /// The byte at `position`, an offset from ``startIndex`` up to ``endIndex``.
    public subscript(position: Int) -> UInt8 { base[position] }

    /// The bytes in place: a view is always contiguous, so algorithms that copy or compare in
    /// bulk need not go byte by byte.
    public func withContiguousStorageIfAvailable<R>(_ body: (UnsafeBufferPointer<UInt8>) throws -> R) rethrows -> R? {
        try base.withUnsafeBufferPointer { try body(UnsafeBufferPointer(rebasing: $0[startIndex..<endIndex])) }
    }

    /// The bytes decoded as UTF-8 into a new `String` (an invalid sequence becomes U+FFFD).
    public var string: String { String(decoding: base[startIndex..<endIndex], as: UTF8.self) }
    /// The bytes as a string, like ``string``.
    public var description: String { string }

    /// Byte equality: two views are equal when they hold the same bytes, wherever these lie.
    public static func == (lhs: ByteView, rhs: ByteView) -> Bool {
        lhs.count == rhs.count && lhs.elementsEqual(rhs)
    }

    /// Hashes the bytes, consistently with `==`.
    public func hash(into hasher: inout Hasher) {
        base.withUnsafeBufferPointer {
            hasher.combine(bytes: UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: $0[startIndex..<endIndex])))
        }
    }

    /// Byte equality with a string.
    public static func == (lhs: ByteView, rhs: String) -> Bool { lhs.elementsEqual(rhs.utf8) }

    /// ASCII case-insensitive equality with a string.
    public func equalsCaseInsensitive(_ other: String) -> Bool {
        count == other.utf8.count && zip(self, other.utf8).allSatisfy { ASCII.lower($0) == ASCII.lower($1) }
    }
}
