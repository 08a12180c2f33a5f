// The DNS wire format (RFC 1035 §4), the record types RFC 3263 needs: A (RFC 1035 §3.4.1), AAAA
// (RFC 3596), CNAME (RFC 1035 §3.3.1), SRV (RFC 2782), NAPTR (RFC 3403 §4.1) and SOA (RFC 1035
// §3.3.13, for negative caching, RFC 2308). No imports: the fuzz target builds this file alone.

/// A DNS record type (RFC 1035 §3.2.2 and the RFCs of each type).
public struct DNSRecordType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    /// The type's number on the wire.
    public var rawValue: UInt16
    /// The type numbered `rawValue`.
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    /// An IPv4 address (RFC 1035 §3.4.1).
    public static let a = DNSRecordType(rawValue: 1)
    /// The canonical name of an alias (RFC 1035 §3.3.1).
    public static let cname = DNSRecordType(rawValue: 5)
    /// The start of a zone of authority (RFC 1035 §3.3.13).
    public static let soa = DNSRecordType(rawValue: 6)
    /// An IPv6 address (RFC 3596 §2.1).
    public static let aaaa = DNSRecordType(rawValue: 28)
    /// A service location (RFC 2782).
    public static let srv = DNSRecordType(rawValue: 33)
    /// A naming authority pointer (RFC 3403 §4).
    public static let naptr = DNSRecordType(rawValue: 35)

    /// The type's mnemonic (`SRV`), or `TYPE` and its number (RFC 3597 §5).
    public var description: String {
        switch self {
        case .a: "A"
        case .cname: "CNAME"
        case .soa: "SOA"
        case .aaaa: "AAAA"
        case .srv: "SRV"
        case .naptr: "NAPTR"
        default: "TYPE\(rawValue)"
        }
    }
}

/// The response codes a client acts on (RFC 1035 §4.1.1).
public enum DNSResponseCode: UInt8, Sendable {
    /// No error.
    case noError = 0
    /// The server could not read the query.
    case formatError = 1
    /// The server failed.
    case serverFailure = 2
    /// The name does not exist (NXDOMAIN).
    case nameError = 3
    /// The server does not do this kind of query.
    case notImplemented = 4
    /// The server will not answer.
    case refused = 5
}

/// Why bytes are not a DNS message. Every read is bounded: a length or count past the message's
/// end, a compression pointer that does not point backward (a loop), a name longer than 255
/// octets are errors, never a crash or an unbounded allocation.
public struct DNSParseError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What is wrong.
    public enum Reason: Hashable, Sendable {
        /// The message ends inside a field.
        case truncated
        /// A compression pointer that does not point before where it is (RFC 1035 §4.1.4).
        case badPointer
        /// A name longer than 255 octets (RFC 1035 §2.3.4).
        case nameTooLong
        /// A label type other than a length (00) or a pointer (11), or a label holding a dot
        /// (which the name's text could not tell from two labels), or an empty label in a name
        /// to write.
        case badLabelType
        /// A record's data does not fit its type (an A record of 5 bytes, say).
        case badRecordData
        /// More records than ``DNSMessage/maxRecords``.
        case tooManyRecords
        /// Bytes left after the last record.
        case trailingBytes
    }

    /// What is wrong.
    public var reason: Reason
    /// The offset in the message where it was found.
    public var offset: Int

    /// An error of `reason` at `offset`.
    public init(_ reason: Reason, at offset: Int) {
        self.reason = reason
        self.offset = offset
    }

    /// The reason and offset.
    public var description: String { "\(reason) at offset \(offset)" }
}

/// A resource record's data, typed for the types RFC 3263 uses.
public enum DNSRecordData: Hashable, Sendable {
    /// An IPv4 address, 4 bytes in network order.
    case a([UInt8])
    /// An IPv6 address, 16 bytes in network order.
    case aaaa([UInt8])
    /// The canonical name.
    case cname(String)
    /// RFC 2782: priority, weight, port and target.
    case srv(priority: UInt16, weight: UInt16, port: UInt16, target: String)
    /// RFC 3403 §4.1.
    case naptr(order: UInt16, preference: UInt16, flags: String, services: String, regexp: String, replacement: String)
    /// RFC 1035 §3.3.13; `minimum` is the negative-caching TTL (RFC 2308 §4).
    case soa(
        primary: String, mailbox: String, serial: UInt32, refresh: UInt32, retry: UInt32, expire: UInt32,
        minimum: UInt32)
    /// A type this layer does not read, kept as its bytes.
    case other([UInt8])
}

/// A resource record (RFC 1035 §4.1.3).
public struct DNSRecord: Hashable, Sendable, CustomStringConvertible {
    /// The owner name, without the final dot.
    public var name: String
    /// The record's type.
    public var type: DNSRecordType
    /// Its time to live, in seconds.
    public var ttl: UInt32
    /// Its data.
    public var data: DNSRecordData

    /// A record of `name` and `type`.
    public init(name: String, type: DNSRecordType, ttl: UInt32, data: DNSRecordData) {
        self.name = name
        self.type = type
        self.ttl = ttl
        self.data = data
    }

    /// The record in zone-file form: `name TTL TYPE data`.
    public var description: String {
        let rdata: String
        switch data {
        case .a(let b): rdata = b.map(String.init).joined(separator: ".")
        case .aaaa(let b): rdata = DNSRecord.ipv6Text(b)
        case .cname(let n): rdata = n
        case .srv(let p, let w, let port, let t): rdata = "\(p) \(w) \(port) \(t)"
        case .naptr(let o, let p, let f, let s, let r, let repl):
            rdata = "\(o) \(p) \"\(f)\" \"\(s)\" \"\(r)\" \(repl.isEmpty ? "." : repl)"
        case .soa(let m, let r, let serial, let refresh, let retry, let expire, let minimum):
            rdata = "\(m) \(r) \(serial) \(refresh) \(retry) \(expire) \(minimum)"
        case .other(let b): rdata = "\\# \(b.count)"
        }
        return "\(name) \(ttl) \(type) \(rdata)"
    }

    /// The address of an A or AAAA record as text (`192.0.2.1`, `2001:db8::1`); nil for other
    /// types.
    public var addressText: String? {
        switch data {
        case .a(let b): b.map(String.init).joined(separator: ".")
        case .aaaa(let b): DNSRecord.ipv6Text(b)
        default: nil
        }
    }

    /// An IPv6 address in the RFC 5952 text form (the longest run of zero groups as `::`).
    static func ipv6Text(_ b: [UInt8]) -> String {
        guard b.count == 16 else { return "?" }
        let groups = (0..<8).map { UInt16(b[2 * $0]) << 8 | UInt16(b[2 * $0 + 1]) }
        var best = (start: -1, length: 0)
        var i = 0
        while i < 8 {
            if groups[i] == 0 {
                var j = i
                while j < 8, groups[j] == 0 { j += 1 }
                if j - i > best.length, j - i > 1 { best = (i, j - i) }
                i = j
            } else {
                i += 1
            }
        }
        func hex(_ range: Range<Int>) -> String {
            range.map { String(groups[$0], radix: 16) }.joined(separator: ":")
        }
        if best.start < 0 { return hex(0..<8) }
        return hex(0..<best.start) + "::" + hex((best.start + best.length)..<8)
    }
}

/// A DNS message (RFC 1035 §4.1): the header fields a client reads, the question, and the three
/// record sections.
public struct DNSMessage: Hashable, Sendable {
    /// The most records read from one message (all sections). A 64 KiB message over TCP could
    /// hold about 5,000 minimal ones; no answer a SIP client needs is near this.
    public static let maxRecords = 1024

    /// The query identifier.
    public var id: UInt16
    /// QR: a response.
    public var isResponse: Bool
    /// AA: the answer is authoritative.
    public var isAuthoritative: Bool
    /// TC: the message was truncated (RFC 1035 §4.1.1; the client asks again over TCP, §4.2.2).
    public var isTruncated: Bool
    /// RD: recursion desired.
    public var recursionDesired: Bool
    /// The response code, as its number (``DNSResponseCode`` names the usual ones).
    public var responseCode: UInt8
    /// The question: a name and a type (class IN).
    public var questions: [(name: String, type: DNSRecordType)]
    /// The answer section.
    public var answers: [DNSRecord]
    /// The authority section (the SOA of a negative answer, RFC 2308 §3).
    public var authority: [DNSRecord]
    /// The additional section.
    public var additional: [DNSRecord]

    /// A message with no records.
    public init(id: UInt16, isResponse: Bool = false) {
        self.id = id
        self.isResponse = isResponse
        isAuthoritative = false
        isTruncated = false
        recursionDesired = true
        responseCode = 0
        questions = []
        answers = []
        authority = []
        additional = []
    }

    /// Two messages are equal when every field is.
    public static func == (a: DNSMessage, b: DNSMessage) -> Bool {
        a.id == b.id && a.isResponse == b.isResponse && a.isAuthoritative == b.isAuthoritative
            && a.isTruncated == b.isTruncated && a.recursionDesired == b.recursionDesired
            && a.responseCode == b.responseCode && a.questions.elementsEqual(b.questions, by: { $0 == $1 })
            && a.answers == b.answers && a.authority == b.authority && a.additional == b.additional
    }

    /// Hashes the identifier and the answers.
    public func hash(into hasher: inout Hasher) {
        hasher.combine(id)
        hasher.combine(answers)
    }

    // MARK: - Writing

    /// The bytes of a query for `name` and `type`, class IN, recursion desired (RFC 1035 §4.1).
    /// Throws when `name` is not a valid domain name (a label longer than 63 octets, an empty
    /// label, more than 255 octets in all).
    public static func query(id: UInt16, name: String, type: DNSRecordType) throws(DNSParseError) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(18 + name.utf8.count)
        out.append(UInt8(id >> 8))
        out.append(UInt8(id & 0xff))
        out += [0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]
        try writeName(name, into: &out)
        out += [UInt8(type.rawValue >> 8), UInt8(type.rawValue & 0xff), 0, 1]
        return out
    }

    /// Writes `name` as labels with no compression (RFC 1035 §3.1).
    public static func writeName(_ name: String, into out: inout [UInt8]) throws(DNSParseError) {
        var labels = name.utf8.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        if labels.last?.isEmpty == true { labels.removeLast() }
        var length = 1
        for label in labels {
            guard !label.isEmpty else { throw DNSParseError(.badLabelType, at: out.count) }
            guard label.count <= 63 else { throw DNSParseError(.nameTooLong, at: out.count) }
            length += label.count + 1
            guard length <= 255 else { throw DNSParseError(.nameTooLong, at: out.count) }
            out.append(UInt8(label.count))
            out.append(contentsOf: label)
        }
        out.append(0)
    }

    /// The message as bytes, names written without compression: what a server (or a test)
    /// sends.
    public func serialized() throws(DNSParseError) -> [UInt8] {
        var out: [UInt8] = []
        func u16(_ v: UInt16) { out += [UInt8(v >> 8), UInt8(v & 0xff)] }
        func u32(_ v: UInt32) { out += [UInt8(v >> 24), UInt8(v >> 16 & 0xff), UInt8(v >> 8 & 0xff), UInt8(v & 0xff)] }
        u16(id)
        var flags: UInt16 = 0
        if isResponse { flags |= 0x8000 }
        if isAuthoritative { flags |= 0x0400 }
        if isTruncated { flags |= 0x0200 }
        if recursionDesired { flags |= 0x0100 }
        flags |= UInt16(responseCode & 0x0f)
        u16(flags)
        u16(UInt16(questions.count))
        u16(UInt16(answers.count))
        u16(UInt16(authority.count))
        u16(UInt16(additional.count))
        for q in questions {
            try Self.writeName(q.name, into: &out)
            u16(q.type.rawValue)
            u16(1)
        }
        for r in answers + authority + additional {
            try Self.writeName(r.name, into: &out)
            u16(r.type.rawValue)
            u16(1)
            u32(r.ttl)
            var rdata: [UInt8] = []
            switch r.data {
            case .a(let b), .aaaa(let b), .other(let b): rdata = b
            case .cname(let n): try Self.writeName(n, into: &rdata)
            case .srv(let p, let w, let port, let t):
                rdata = [UInt8(p >> 8), UInt8(p & 0xff), UInt8(w >> 8), UInt8(w & 0xff)]
                rdata += [UInt8(port >> 8), UInt8(port & 0xff)]
                try Self.writeName(t, into: &rdata)
            case .naptr(let o, let p, let f, let s, let re, let repl):
                rdata = [UInt8(o >> 8), UInt8(o & 0xff), UInt8(p >> 8), UInt8(p & 0xff)]
                for text in [f, s, re] {
                    // A <character-string> is at most 255 octets (RFC 1035 §3.3).
                    guard text.utf8.count <= 255 else { throw DNSParseError(.badRecordData, at: out.count) }
                    rdata.append(UInt8(text.utf8.count))
                    rdata += text.utf8
                }
                try Self.writeName(repl, into: &rdata)
            case .soa(let m, let mb, let serial, let refresh, let retry, let expire, let minimum):
                try Self.writeName(m, into: &rdata)
                try Self.writeName(mb, into: &rdata)
                for v in [serial, refresh, retry, expire, minimum] {
                    rdata += [UInt8(v >> 24), UInt8(v >> 16 & 0xff), UInt8(v >> 8 & 0xff), UInt8(v & 0xff)]
                }
            }
            u16(UInt16(rdata.count))
            out += rdata
        }
        return out
    }

    // MARK: - Reading

    /// Reads a message. Names come back without the final dot, as read (DNS compares them
    /// without regard to case, RFC 4343).
    public init(parsing bytes: [UInt8]) throws(DNSParseError) {
        var r = DNSReader(bytes)
        id = try r.u16()
        let flags = try r.u16()
        isResponse = flags & 0x8000 != 0
        isAuthoritative = flags & 0x0400 != 0
        isTruncated = flags & 0x0200 != 0
        recursionDesired = flags & 0x0100 != 0
        responseCode = UInt8(flags & 0x000f)
        let qd = Int(try r.u16())
        var an = Int(try r.u16())
        var ns = Int(try r.u16())
        var ar = Int(try r.u16())
        // Each question takes at least 5 bytes and each record 11: counts the bytes cannot hold
        // are refused before anything is allocated for them. A truncated message (RFC 2181 §9)
        // is read for its question only: the client asks again over TCP (RFC 1035 §4.2.2).
        if isTruncated {
            an = 0
            ns = 0
            ar = 0
        }
        guard qd * 5 + (an + ns + ar) * 11 <= bytes.count - 12 else {
            throw DNSParseError(.truncated, at: 4)
        }
        guard qd + an + ns + ar <= Self.maxRecords else { throw DNSParseError(.tooManyRecords, at: 4) }
        questions = []
        answers = []
        authority = []
        additional = []
        for _ in 0..<qd {
            let name = try r.name()
            let type = DNSRecordType(rawValue: try r.u16())
            _ = try r.u16()
            questions.append((name, type))
        }
        if isTruncated { return }
        for _ in 0..<an { answers.append(try r.record()) }
        for _ in 0..<ns { authority.append(try r.record()) }
        for _ in 0..<ar { additional.append(try r.record()) }
        guard r.offset == bytes.count else { throw DNSParseError(.trailingBytes, at: r.offset) }
    }
}

/// A bounded reader over a DNS message.
struct DNSReader {
    let bytes: [UInt8]
    var offset = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    mutating func u8() throws(DNSParseError) -> UInt8 {
        guard offset < bytes.count else { throw DNSParseError(.truncated, at: offset) }
        defer { offset += 1 }
        return bytes[offset]
    }

    mutating func u16() throws(DNSParseError) -> UInt16 {
        guard offset + 2 <= bytes.count else { throw DNSParseError(.truncated, at: offset) }
        defer { offset += 2 }
        return UInt16(bytes[offset]) << 8 | UInt16(bytes[offset + 1])
    }

    mutating func u32() throws(DNSParseError) -> UInt32 {
        UInt32(try u16()) << 16 | UInt32(try u16())
    }

    mutating func take(_ n: Int) throws(DNSParseError) -> [UInt8] {
        guard n >= 0, offset + n <= bytes.count else { throw DNSParseError(.truncated, at: offset) }
        defer { offset += n }
        return Array(bytes[offset..<offset + n])
    }

    /// A <character-string> (RFC 1035 §3.3): a length octet and that many bytes.
    mutating func characterString() throws(DNSParseError) -> String {
        let n = Int(try u8())
        return String(decoding: try take(n), as: UTF8.self)
    }

    /// A domain name (RFC 1035 §4.1.4), following compression pointers. A pointer must point
    /// before the label it replaces, so that every jump goes backward and the walk ends; the
    /// name is at most 255 octets.
    mutating func name() throws(DNSParseError) -> String {
        var out: [UInt8] = []
        var position = offset
        var jumped = false
        var lowest = offset
        var length = 1
        while true {
            guard position < bytes.count else { throw DNSParseError(.truncated, at: position) }
            let byte = bytes[position]
            switch byte & 0xc0 {
            case 0x00:
                let n = Int(byte)
                if n == 0 {
                    if !jumped { offset = position + 1 }
                    return String(decoding: out, as: UTF8.self)
                }
                guard position + 1 + n <= bytes.count else { throw DNSParseError(.truncated, at: position) }
                length += n + 1
                guard length <= 255 else { throw DNSParseError(.nameTooLong, at: position) }
                let label = bytes[(position + 1)..<(position + 1 + n)]
                // A dot inside a label could not be told from a label boundary in the name's text.
                guard !label.contains(UInt8(ascii: ".")) else { throw DNSParseError(.badLabelType, at: position) }
                if !out.isEmpty { out.append(UInt8(ascii: ".")) }
                out.append(contentsOf: label)
                position += 1 + n
            case 0xc0:
                guard position + 1 < bytes.count else { throw DNSParseError(.truncated, at: position) }
                let target = Int(byte & 0x3f) << 8 | Int(bytes[position + 1])
                guard target < lowest else { throw DNSParseError(.badPointer, at: position) }
                if !jumped { offset = position + 2 }
                jumped = true
                lowest = target
                position = target
            default:
                throw DNSParseError(.badLabelType, at: position)
            }
        }
    }

    /// A resource record (RFC 1035 §4.1.3); class is not checked (the client asks for IN).
    mutating func record() throws(DNSParseError) -> DNSRecord {
        let owner = try name()
        let type = DNSRecordType(rawValue: try u16())
        _ = try u16()
        let ttl = try u32()
        let length = Int(try u16())
        let start = offset
        let end = start + length
        guard end <= bytes.count else { throw DNSParseError(.truncated, at: start) }
        let data: DNSRecordData
        switch type {
        case .a:
            guard length == 4 else { throw DNSParseError(.badRecordData, at: start) }
            data = .a(try take(4))
        case .aaaa:
            guard length == 16 else { throw DNSParseError(.badRecordData, at: start) }
            data = .aaaa(try take(16))
        case .cname:
            data = .cname(try name())
        case .srv:
            data = .srv(priority: try u16(), weight: try u16(), port: try u16(), target: try name())
        case .naptr:
            data = .naptr(
                order: try u16(), preference: try u16(), flags: try characterString(), services: try characterString(),
                regexp: try characterString(), replacement: try name())
        case .soa:
            data = .soa(
                primary: try name(), mailbox: try name(), serial: try u32(), refresh: try u32(), retry: try u32(),
                expire: try u32(), minimum: try u32())
        default:
            data = .other(try take(length))
        }
        guard offset == end else { throw DNSParseError(.badRecordData, at: start) }
        // RFC 2181 §8: a TTL with the top bit set is taken as zero.
        return DNSRecord(name: owner, type: type, ttl: ttl > 0x7fff_ffff ? 0 : ttl, data: data)
    }
}
