/// A range of a parsed message's bytes as 32-bit offsets: half the size of a `Range<Int>`, for
/// the records a message keeps. The parser refuses messages of 2 GiB or more, so every offset fits.
struct Span: Sendable, Hashable {
    var lo: Int32
    var hi: Int32

    @inline(__always)
    init(_ r: Range<Int>) {
        lo = Int32(truncatingIfNeeded: r.lowerBound)
        hi = Int32(truncatingIfNeeded: r.upperBound)
    }

    @inline(__always)
    var range: Range<Int> { Int(lo)..<Int(hi) }
}
