import SIPSyntax

/// What identifies a client transaction (RFC 3261 §17.1.3): the branch of the top Via of the request
/// it sent, and the method of that request.
///
/// A response matches the client transaction whose branch equals the branch of the response's top
/// Via and whose method equals the CSeq method of the response. The method is needed because a
/// CANCEL has the same branch as the request it cancels (§9.1), so one branch can name two client
/// transactions.
///
/// Its text form is Sippet's: `~K[z9hG4bK230f2.1|INVITE]`; ``init(_:)`` reads it back.
public struct ClientTransactionKey: Hashable, Sendable, CustomStringConvertible, LosslessStringConvertible {
    /// RFC 3261 §8.1.1.7: the branch parameter of the top Via, as sent.
    public let branch: String
    /// RFC 3261 §17.1.3: the method of the request that created the transaction (the CSeq method of
    /// its responses).
    public let method: SIPMethod
    /// The hash of the Call-ID of the transaction's request (``CallIDHash``): which loop owns the
    /// transaction. Zero when not known (a key read back from its text form). Not part of the
    /// key's identity.
    package var loopHash: Int { Int(loopHash32) }
    private let loopHash32: UInt32

    /// A key from its parts.
    public init(branch: String, method: SIPMethod) {
        self.init(branch: branch, method: method, loopHash: 0)
    }

    /// A key from its parts, with the hash of its request's Call-ID.
    package init(branch: String, method: SIPMethod, loopHash: Int) {
        self.branch = branch
        self.method = method
        self.loopHash32 = CallIDHash.narrow(loopHash)
    }

    /// Whether two keys name the same transaction: branch and method (RFC 3261 §17.1.3).
    public static func == (a: ClientTransactionKey, b: ClientTransactionKey) -> Bool {
        a.branch == b.branch && a.method == b.method
    }

    /// Hashes the branch and the method, as `==` compares them.
    public func hash(into hasher: inout Hasher) {
        hasher.combine(branch)
        hasher.combine(method)
    }

    /// RFC 3261 §17.1.3: the key of the client transaction a response belongs to: its top Via
    /// branch and its CSeq method. Nil when the response has no branch or no CSeq.
    public init?(response: SIPMessage) {
        guard response.isResponse else { return nil }
        if let e = response.essentials {
            guard let b = e.branch, !b.isEmpty, let m = e.cseqMethod, !m.isEmpty else { return nil }
            self.init(branch: b.string, method: SIPMethod(m.string), loopHash: e.callID.map { CallIDHash.of($0) } ?? 0)
        } else {
            guard let b = response.topVia?.branch, !b.isEmpty, let cseq = response.cseq else { return nil }
            self.init(branch: b, method: cseq.method, loopHash: CallIDHash.of(response))
        }
    }

    /// The key of the client transaction `request` creates (RFC 3261 §17.1.3): its top Via branch
    /// and its method. Nil when the request has no branch.
    public init?(request: SIPMessage) {
        guard let method = request.method else { return nil }
        if let e = request.parsedEssentials {
            // As parsed (the stack parses what it sends once): no header parsed again.
            guard let b = e.branch, !b.isEmpty else { return nil }
            self.init(branch: b.string, method: method, loopHash: e.callID.map { CallIDHash.of($0) } ?? 0)
            return
        }
        guard let b = request.topVia?.branch, !b.isEmpty else { return nil }
        self.init(branch: b, method: method, loopHash: CallIDHash.of(request))
    }

    /// Whether `request` has what its key needs (a method and a top Via branch), checked without
    /// making the key: its branch as text is an allocation, and a machine only asks whether there
    /// is one.
    package static func canKey(_ request: SIPMessage) -> Bool {
        guard request.method != nil else { return false }
        if let e = request.parsedEssentials { return e.branch.map { !$0.isEmpty } ?? false }
        return !(request.topVia?.branch ?? "").isEmpty
    }

    /// Whether the branch carries the RFC 3261 magic cookie `z9hG4bK` and something after it
    /// (RFC 3261 §8.1.1.7).
    public var hasMagicCookie: Bool { KeyText.hasMagicCookie(branch) }

    /// `~K[z9hG4bK230f2.1|INVITE]`.
    public var description: String { KeyText.format([branch, method.rawValue]) }

    /// Reads the text form `~K[branch|METHOD]` back. Nil for any other text.
    public init?(_ description: String) {
        guard let f = KeyText.parse(description), f.count == 2, !f[0].isEmpty, !f[1].isEmpty else { return nil }
        self.init(branch: f[0], method: SIPMethod(f[1]))
    }
}

/// The key of either kind of transaction: what a timer, an error or a table entry names.
public enum TransactionKey: Hashable, Sendable, CustomStringConvertible, LosslessStringConvertible {
    /// RFC 3261 §17.1.3.
    case client(ClientTransactionKey)
    /// RFC 3261 §17.2.3.
    case server(ServerTransactionKey)

    /// The client key, for a client transaction.
    public var client: ClientTransactionKey? { if case .client(let k) = self { return k } else { return nil } }
    /// The server key, for a server transaction.
    public var server: ServerTransactionKey? { if case .server(let k) = self { return k } else { return nil } }

    /// The method of the request that created the transaction.
    public var method: SIPMethod {
        switch self {
        case .client(let k): return k.method
        case .server(let k): return k.method
        }
    }

    /// The key's text form (``ClientTransactionKey`` or ``ServerTransactionKey``).
    public var description: String {
        switch self {
        case .client(let k): return k.description
        case .server(let k): return k.description
        }
    }

    /// Reads either text form back: two fields make a client key, three or the RFC 2543 form a
    /// server key.
    public init?(_ description: String) {
        if let k = ClientTransactionKey(description) {
            self = .client(k)
        } else if let k = ServerTransactionKey(description) {
            self = .server(k)
        } else {
            return nil
        }
    }
}

/// The `~K[a|b|c]` text form of keys, and the small string helpers keys need.
enum KeyText {
    static let prefix = "~K["
    static let magicCookie = "z9hG4bK"

    /// RFC 3261 §8.1.1.7: a branch starting with `z9hG4bK` was made by an RFC 3261 element. A branch
    /// that is only the cookie (RFC 4475 §3.2.1 `badbranch`) carries no transaction id, and is
    /// treated as absent.
    static func hasMagicCookie(_ branch: String) -> Bool {
        branch.utf8.count > 7 && branch.utf8.starts(with: magicCookie.utf8)
    }

    static func hasMagicCookie(_ branch: ByteView) -> Bool {
        branch.count > 7 && branch.starts(with: magicCookie.utf8)
    }

    /// `~K[f0|f1|…]`, with `%` and `|` inside fields written `%25` and `%7C`.
    static func format(_ fields: [String]) -> String {
        prefix + fields.map(escape).joined(separator: "|") + "]"
    }

    /// The fields of `~K[f0|f1|…]`, unescaped; nil when the text is not of that form.
    static func parse(_ text: String) -> [String]? {
        guard text.hasPrefix(prefix), text.hasSuffix("]"), text.utf8.count > prefix.utf8.count else { return nil }
        let inner = text.utf8.dropFirst(prefix.utf8.count).dropLast()
        var fields: [String] = []
        for part in inner.split(separator: UInt8(ascii: "|"), omittingEmptySubsequences: false) {
            guard let f = unescape(part) else { return nil }
            fields.append(f)
        }
        return fields
    }

    static func escape(_ s: String) -> String {
        guard s.utf8.contains(where: { $0 == UInt8(ascii: "%") || $0 == UInt8(ascii: "|") }) else { return s }
        var out = ""
        for c in s.unicodeScalars {
            switch c {
            case "%": out += "%25"
            case "|": out += "%7C"
            default: out.unicodeScalars.append(c)
            }
        }
        return out
    }

    static func unescape(_ bytes: Substring.UTF8View) -> String? {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var i = bytes.startIndex
        while i < bytes.endIndex {
            let c = bytes[i]
            if c == UInt8(ascii: "%") {
                let h = bytes.index(after: i)
                guard h < bytes.endIndex else { return nil }
                let l = bytes.index(after: h)
                guard l < bytes.endIndex, let hi = hex(bytes[h]), let lo = hex(bytes[l]) else { return nil }
                out.append(hi << 4 | lo)
                i = bytes.index(after: l)
            } else {
                out.append(c)
                i = bytes.index(after: i)
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    private static func hex(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
        default: return nil
        }
    }

    /// ASCII lowercase, for host names (RFC 3261 §19.1.4: hosts compare case-insensitively).
    static func lowercased(_ bytes: some Sequence<UInt8>) -> String {
        String(decoding: bytes.map { $0 >= 65 && $0 <= 90 ? $0 + 32 : $0 }, as: UTF8.self)
    }

    /// RFC 3261 §17.2.3: a sent-by as a key holds it, `host:port` with the host in lower case,
    /// written in one go (no intermediate strings; short ones stay inline in the `String`).
    static func sentBy(host: ByteView, port: Int) -> String {
        let digits = String(port)  // short: inline in the String, no allocation
        return String(unsafeUninitializedCapacity: host.count + 1 + digits.utf8.count) { out in
            writeSentBy(host: host, digits: digits, into: UnsafeMutableRawBufferPointer(out), at: 0)
        }
    }

    /// Writes `host:digits` at `start` of `out`, the host in lower case; returns the index after it.
    static func writeSentBy(
        host: some Collection<UInt8>, digits: String, into out: UnsafeMutableRawBufferPointer,
        at start: Int
    ) -> Int {
        var i = start
        for b in host {
            out[i] = b >= 65 && b <= 90 ? b + 32 : b
            i += 1
        }
        out[i] = UInt8(ascii: ":")
        i += 1
        for b in digits.utf8 {
            out[i] = b
            i += 1
        }
        return i
    }

    /// RFC 3261 §18.2.2, §19.1.2: the port a sent-by without one means: 5061 for TLS, 5060 otherwise.
    static func defaultPort(transport: String?) -> Int {
        guard let t = transport else { return 5060 }
        return lowercased(t.utf8).hasPrefix("tls") ? 5061 : 5060
    }
}
