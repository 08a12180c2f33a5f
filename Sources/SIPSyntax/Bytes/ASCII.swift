#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

// Character classes of the RFC 3261 §25.1 grammar, as a 256-entry table of bit flags.

enum ASCII {
    static let sp: UInt8 = 0x20
    static let htab: UInt8 = 0x09
    static let cr: UInt8 = 0x0D
    static let lf: UInt8 = 0x0A
    static let colon: UInt8 = 0x3A
    static let semicolon: UInt8 = 0x3B
    static let comma: UInt8 = 0x2C
    static let equals: UInt8 = 0x3D
    static let slash: UInt8 = 0x2F
    static let dquote: UInt8 = 0x22
    static let backslash: UInt8 = 0x5C
    static let lAngle: UInt8 = 0x3C
    static let rAngle: UInt8 = 0x3E
    static let lBracket: UInt8 = 0x5B
    static let rBracket: UInt8 = 0x5D
    static let at: UInt8 = 0x40
    static let question: UInt8 = 0x3F
    static let ampersand: UInt8 = 0x26
    static let percent: UInt8 = 0x25
    static let dot: UInt8 = 0x2E
    static let lParen: UInt8 = 0x28
    static let rParen: UInt8 = 0x29

    /// Bit flags per byte: which §25.1 character sets the byte belongs to.
    struct Class: OptionSet {
        let rawValue: UInt16
        /// `token` (alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~")
        static let token = Class(rawValue: 1 << 0)
        /// `unreserved` (alphanum / mark)
        static let unreserved = Class(rawValue: 1 << 1)
        /// `user-unreserved`: "&" / "=" / "+" / "$" / "," / ";" / "?" / "/"
        static let userUnreserved = Class(rawValue: 1 << 2)
        /// password's extra: "&" / "=" / "+" / "$" / ","
        static let passwordExtra = Class(rawValue: 1 << 3)
        /// `param-unreserved`: "[" / "]" / "/" / ":" / "&" / "+" / "$"
        static let paramUnreserved = Class(rawValue: 1 << 4)
        /// `hnv-unreserved`: "[" / "]" / "/" / "?" / ":" / "+" / "$"
        static let hnvUnreserved = Class(rawValue: 1 << 5)
        /// `word` = token chars plus ( ) < > : \ DQUOTE / [ ] ? { }
        static let word = Class(rawValue: 1 << 6)
        /// alphanum
        static let alphanum = Class(rawValue: 1 << 7)
        /// hostname characters: alphanum / "-" / "." (and "_" tolerated in the wild)
        static let hostname = Class(rawValue: 1 << 8)
        /// `reserved` (RFC 3261 §25.1): ";" / "/" / "?" / ":" / "@" / "&" / "=" / "+" / "$" / ","
        static let reserved = Class(rawValue: 1 << 9)
        /// digits
        static let digit = Class(rawValue: 1 << 10)
        /// hex digits
        static let hex = Class(rawValue: 1 << 11)
    }

    /// The two 64-bit masks (bytes 0–63, 64–127) of a class. Literals, so that no lazily
    /// initialised global sits on the per-byte path. Bytes ≥ 128 belong to no class.
    static func masks(_ c: Class) -> (UInt64, UInt64) {
        switch c {
        case .token: return (0x03FF_6CA2_0000_0000, 0x47FF_FFFF_87FF_FFFE)
        case .unreserved: return (0x03FF_6782_0000_0000, 0x47FF_FFFE_87FF_FFFE)
        case .userUnreserved: return (0xA800_9850_0000_0000, 0x0000_0000_0000_0000)
        case .passwordExtra: return (0x2000_1850_0000_0000, 0x0000_0000_0000_0000)
        case .paramUnreserved: return (0x0400_8850_0000_0000, 0x0000_0000_2800_0000)
        case .hnvUnreserved: return (0x8400_8810_0000_0000, 0x0000_0000_2800_0000)
        case .word: return (0xD7FF_EFA6_0000_0000, 0x6FFF_FFFF_BFFF_FFFE)
        case .alphanum: return (0x03FF_0000_0000_0000, 0x07FF_FFFE_07FF_FFFE)
        case .hostname: return (0x03FF_6000_0000_0000, 0x07FF_FFFE_87FF_FFFE)
        case .reserved: return (0xAC00_9850_0000_0000, 0x0000_0000_0000_0001)
        case .digit: return (0x03FF_0000_0000_0000, 0x0000_0000_0000_0000)
        case .hex: return (0x03FF_0000_0000_0000, 0x0000_007E_0000_007E)
        default: return (0, 0)
        }
    }

    @inline(__always)
    static func `is`(_ byte: UInt8, _ c: Class) -> Bool {
        let (lo, hi) = masks(c)
        // Branch-free: pick the mask for the byte's half of 0–127, then test its bit.
        let m = byte < 64 ? lo : hi
        return byte < 128 && (m &>> UInt64(byte & 63)) & 1 != 0
    }

    static func isToken(_ byte: UInt8) -> Bool { `is`(byte, .token) }

    /// Whether `byte` is in the set given by its two 64-bit masks (bytes 0–63, 64–127).
    @inline(__always)
    static func isIn(_ byte: UInt8, _ lo: UInt64, _ hi: UInt64) -> Bool {
        let m = byte < 64 ? lo : hi
        return byte < 128 && (m &>> UInt64(byte & 63)) & 1 != 0
    }

    // Unions of classes the URI grammar scans for, as masks (ParserInternalsTests checks them).
    /// The characters of a userinfo run: user characters (unreserved / user-unreserved / '%'),
    /// password characters (a subset of them) and ':'.
    static let userinfoMasks: (UInt64, UInt64) = (0xAFFF_FFF2_0000_0000, 0x47FF_FFFE_87FF_FFFE)
    /// paramchar: param-unreserved / unreserved / '%'.
    static let paramCharMasks: (UInt64, UInt64) = (0x07FF_EFF2_0000_0000, 0x47FF_FFFE_AFFF_FFFE)

    @inline(__always)
    static func isDigit(_ byte: UInt8) -> Bool { byte &- 0x30 < 10 }

    /// Whitespace inside a header value: SP, HTAB, and the CR LF of a folded line (RFC 3261 §7.3.1).
    @inline(__always)
    static func isLWS(_ byte: UInt8) -> Bool { byte == sp || byte == htab || byte == cr || byte == lf }

    @inline(__always)
    static func lower(_ byte: UInt8) -> UInt8 { byte &- 0x41 < 26 ? byte | 0x20 : byte }

    @inline(__always)
    static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case 0x30...0x39: return byte - 0x30
        case 0x41...0x46: return byte - 0x41 + 10
        case 0x61...0x66: return byte - 0x61 + 10
        default: return nil
        }
    }

    static let hexDigits: [UInt8] = Array("0123456789ABCDEF".utf8)
}

extension Array where Element == UInt8 {
    /// Case-insensitive ASCII comparison of `self[range]` with `literal`, without allocating.

    func equalsCaseInsensitive(_ range: Range<Int>, _ literal: StaticString) -> Bool {
        guard range.count == literal.utf8CodeUnitCount else { return false }
        return literal.withUTF8Buffer { lit in
            var i = range.lowerBound
            for b in lit {
                if ASCII.lower(self[i]) != ASCII.lower(b) { return false }
                i += 1
            }
            return true
        }
    }
}

/// ASCII case-insensitive equality of two strings (header names, tokens, hosts).
func asciiCaseInsensitiveEquals<A: StringProtocol, B: StringProtocol>(_ a: A, _ b: B) -> Bool {
    let x = a.utf8
    let y = b.utf8
    guard x.count == y.count else { return false }
    return zip(x, y).allSatisfy { ASCII.lower($0) == ASCII.lower($1) }
}

extension String {
    /// Lowercased for ASCII only: the case rules of SIP tokens (RFC 3261 §7.3.1).
    var asciiLowercased: String {
        if !utf8.contains(where: { $0 &- 0x41 < 26 }) { return self }
        return String(decoding: utf8.map(ASCII.lower), as: UTF8.self)
    }
}

extension Array where Element == UInt8 {
    /// Whether `self[range]`, ASCII-lowercased, equals `lowercase` (which must be lowercase).
    @inline(__always)
    func equalsLowercase(_ range: Range<Int>, _ lowercase: StaticString) -> Bool {
        guard range.count == lowercase.utf8CodeUnitCount else { return false }
        let p = lowercase.utf8Start
        var i = range.lowerBound
        var j = 0
        while i < range.upperBound {
            if ASCII.lower(self[i]) != p[j] { return false }
            i += 1
            j += 1
        }
        return true
    }
}

/// The index of the first `byte` in `bytes[from..<to]`, or `to` when there is none (memchr).
@inline(__always)
func findByte(_ bytes: [UInt8], _ byte: UInt8, from: Int, to: Int) -> Int {
    guard from < to else { return to }
    return bytes.withUnsafeBufferPointer { p -> Int in
        guard let base = p.baseAddress, let hit = memchr(base + from, Int32(byte), to - from) else { return to }
        return base.distance(to: hit.assumingMemoryBound(to: UInt8.self))
    }
}

/// The index of the first `byte` in `p[from..<to]`, or `to` when there is none (memchr).
@inline(__always)
func findByte(_ p: UnsafeBufferPointer<UInt8>, _ byte: UInt8, from: Int, to: Int) -> Int {
    guard from >= 0, from < to, to <= p.count, let base = p.baseAddress,
        let hit = memchr(base + from, Int32(byte), to - from)
    else { return to }
    return base.distance(to: hit.assumingMemoryBound(to: UInt8.self))
}
