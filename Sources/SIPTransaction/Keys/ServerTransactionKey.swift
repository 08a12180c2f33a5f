import SIPSyntax

/// What identifies a server transaction (RFC 3261 §17.2.3).
///
/// When the top Via branch starts with the magic cookie `z9hG4bK`, a request matches the
/// transaction whose branch, sent-by and method equal its own; an ACK takes the method INVITE, so
/// that the ACK for a non-2xx final response finds the INVITE's transaction, while a CANCEL keeps
/// its method and gets a transaction of its own (``cancelledInvite`` names the INVITE's).
///
/// Without the cookie (an RFC 2543 element, or RFC 4475's `badbranch`, whose branch is only the
/// cookie) the key is the Request-URI, the To and From tags, the Call-ID, the CSeq number and
/// method, and the top Via (§17.2.3). An ACK for a non-2xx response then carries the To tag of that
/// response; ``TransactionTable`` finds the INVITE's transaction from it.
///
/// Text form, after Sippet: `~K[z9hG4bK74b21|INVITE|client.biloxi.example.com:5060]`, and for
/// RFC 2543 keys `~K[2543|METHOD|Request-URI|Call-ID|CSeq number|From tag|To tag|top Via]`.
/// ``init(_:)`` reads both back.
public struct ServerTransactionKey: Hashable, Sendable, CustomStringConvertible, LosslessStringConvertible {
    /// RFC 3261 §17.2.3: what identifies a request without an RFC 3261 branch.
    public struct RFC2543Identity: Hashable, Sendable {
        /// The Request-URI, as written.
        public var requestURI: String
        /// The To tag, if any (an initial INVITE has none).
        public var toTag: String?
        /// The From tag, if any (RFC 2543 did not require one).
        public var fromTag: String?
        /// The Call-ID.
        public var callID: String
        /// The CSeq number.
        public var cseqNumber: UInt32
        /// The top Via, written canonically.
        public var topVia: String

        /// An identity from its parts.
        public init(
            requestURI: String, toTag: String?, fromTag: String?, callID: String, cseqNumber: UInt32,
            topVia: String
        ) {
            self.requestURI = requestURI
            self.toTag = toTag
            self.fromTag = fromTag
            self.callID = callID
            self.cseqNumber = cseqNumber
            self.topVia = topVia
        }
    }

    /// Boxed so that an RFC 3261 key, the usual case, stays small.
    private final class Legacy: Hashable, Sendable {
        let identity: RFC2543Identity
        init(_ identity: RFC2543Identity) { self.identity = identity }
        static func == (a: Legacy, b: Legacy) -> Bool { a === b || a.identity == b.identity }
        func hash(into hasher: inout Hasher) { hasher.combine(identity) }
    }

    /// An RFC 3261 key is packed when its branch and sent-by fit (``PackedKeyText``), and held
    /// as strings only when they do not: which one depends on the text alone, so equal keys are
    /// always held alike.
    private enum Storage: Hashable, Sendable {
        case packed(PackedKeyText)
        case rfc3261(branch: String, sentBy: String)
        case rfc2543(Legacy)
        /// A key of an extension method (none of ``SIPMethod/standard``): its name, and the
        /// identity. Boxed: such keys are rare, and the usual ones keep the method in a byte.
        indirect case other(method: String, Storage)

        /// The identity, without an extension method's name.
        var identity: Storage { if case .other(_, let base) = self { return base } else { return self } }

        static func rfc3261(_ branch: String, _ sentBy: String) -> Storage {
            if let p = PackedKeyText(branch: branch, sentBy: sentBy) { return .packed(p) }
            return .rfc3261(branch: branch, sentBy: sentBy)
        }

        /// The same from a message's top Via: its branch, sent-by host and port.
        static func rfc3261(_ branch: ByteView, host: ByteView, port: Int) -> Storage {
            if let p = PackedKeyText(branch: branch, host: host, port: port) { return .packed(p) }
            return .rfc3261(branch: branch.string, sentBy: KeyText.sentBy(host: host, port: port))
        }
    }

    /// The hash of the method and the identity, worked out once: a key is looked up in several
    /// tables per message (the transactions, their routes, their timers), and hashing its strings
    /// each time showed in profiles. Still every field's hash, so that keys built to collide on a
    /// part (one branch with many sent-by values) do not pile up in one bucket. First, so that a
    /// look-up's first comparison reads the key's first bytes.
    @usableFromInline let hashCode: Int
    /// The second half of ``digest``.
    @usableFromInline let hashCode2: UInt64
    private let storage: Storage
    /// The method's place in ``SIPMethod/standard`` (INVITE is 0), or ``extensionMethod``, whose
    /// name is then in ``storage``: a byte where a `SIPMethod` took 16, in a key kept with every
    /// transaction.
    @usableFromInline let methodCode: UInt8
    /// ``loopHash`` in 32 bits, which fit in the key's padding: a key is kept twice per transaction.
    private var loopHash32: UInt32 = 0

    /// ``methodCode`` of an extension method.
    @usableFromInline static var extensionMethod: UInt8 { 0xFF }

    /// RFC 3261 §17.2.3: the method of the request that created the transaction; INVITE for an ACK.
    public var method: SIPMethod {
        if methodCode != Self.extensionMethod { return SIPMethod.standard[Int(methodCode)] }
        if case .other(let name, _) = storage { return SIPMethod(name) }
        return SIPMethod("")
    }

    /// Whether the method is INVITE (or the key is an ACK's), read from its byte.
    @inlinable package var isInvite: Bool { methodCode == 0 }

    /// The hash of the Call-ID of the request that made the key (``CallIDHash``): which loop owns
    /// the transaction. Zero when not known (a key made from its parts or its text form). Not part
    /// of the key's identity.
    package var loopHash: Int { Int(loopHash32) }

    /// A 128-bit digest of the key's identity (the method and the identity, as ``==`` compares
    /// them), keyed with the process's random hashing seed: what the transaction table files
    /// server transactions under, 16 bytes in each of its buckets where the key takes 88. A server
    /// keeps its transactions for 32 s after their final response (Timer J, L), in tables that
    /// are at most three quarters full, so the bucket is most of a transaction's cost.
    ///
    /// Two keys that are equal have equal digests. Two that differ could only share one by a
    /// collision of two 64-bit outputs of the standard library's keyed hash (SipHash) at once:
    /// about one chance in 10²⁷ with a million live transactions, and not to be aimed at by a
    /// sender, who does not know the seed.
    @usableFromInline package struct Digest: Hashable, Sendable {
        @usableFromInline let low: Int
        @usableFromInline let high: UInt64

        @inlinable init(low: Int, high: UInt64) {
            self.low = low
            self.high = high
        }

        /// The first half is already a keyed hash: fed as it is.
        @inlinable package func hash(into hasher: inout Hasher) { hasher.combine(low) }
    }

    /// The key's ``Digest``.
    @inlinable package var digest: Digest { Digest(low: hashCode, high: hashCode2) }

    /// Whether two keys name the same transaction (RFC 3261 §17.2.3: branch, sent-by and method).
    public static func == (a: ServerTransactionKey, b: ServerTransactionKey) -> Bool {
        a.hashCode == b.hashCode && a.methodCode == b.methodCode && a.storage == b.storage
    }

    /// Feeds the hash worked out once when the key was made.
    public func hash(into hasher: inout Hasher) { hasher.combine(hashCode) }

    /// RFC 3261 §17.2.3: the key of a request with an RFC 3261 branch. `sentBy` is `host:port`;
    /// `method` ACK is taken as INVITE.
    public init(branch: String, sentBy: String, method: SIPMethod) {
        self.init(method: method, storage: .rfc3261(branch, sentBy))
    }

    /// RFC 3261 §17.2.3: the key of a request without an RFC 3261 branch. `method` ACK is taken as
    /// INVITE.
    public init(rfc2543 identity: RFC2543Identity, method: SIPMethod) {
        self.init(method: method, storage: .rfc2543(Legacy(identity)))
        loopHash32 = CallIDHash.narrow(CallIDHash.of(identity.callID))
    }

    /// RFC 3261 §17.2.3: the key of the server transaction `request` belongs to (or creates). Nil
    /// when the request lacks what matching reads (a Via with a sent-by; for an RFC 2543 request
    /// also Call-ID and CSeq).
    ///
    /// An ACK's key is that of the INVITE it acknowledges. The sent-by host is compared
    /// case-insensitively and an absent port is the transport's default (5060, 5061 for TLS).
    public init?(request: SIPMessage) {
        guard let e = request.essentials else { return nil }
        self.init(request: request, essentials: e)
    }

    /// The key of `request` (``init(request:)``), from its essentials when the caller has them.
    package init?(request: SIPMessage, essentials e: MessageEssentials) {
        guard let method = request.method else { return nil }
        if let b = e.branch, KeyText.hasMagicCookie(b) {
            guard let host = e.sentByHost, !host.isEmpty else { return nil }
            let port = e.sentByPort ?? KeyText.defaultPort(transport: e.transport?.string)
            self.init(method: method, storage: .rfc3261(b, host: host, port: port))
            loopHash32 = CallIDHash.narrow(e.callID.map { CallIDHash.of($0) } ?? 0)
            return
        }
        guard let callID = e.callID, let n = e.cseqNumber, let uri = request.requestURI, let via = request.topVia else {
            return nil
        }
        let id = RFC2543Identity(
            requestURI: uri.description, toTag: e.toTag?.string, fromTag: e.fromTag?.string,
            callID: callID.string, cseqNumber: n, topVia: via.description)
        self.init(rfc2543: id, method: method)
        loopHash32 = CallIDHash.narrow(CallIDHash.of(callID))
    }

    /// The key of the server transaction a response from the TU goes out on, read from the
    /// response's top Via and CSeq (RFC 3261 §17.2.3 applied to the copied Via, §8.2.6.2). Only for
    /// RFC 3261 branches: an RFC 2543 key needs the Request-URI, which a response does not carry.
    public init?(response: SIPMessage) {
        guard response.isResponse, let e = response.essentials, let b = e.branch, KeyText.hasMagicCookie(b),
            let host = e.sentByHost, !host.isEmpty, let m = e.cseqMethod, !m.isEmpty
        else { return nil }
        let port = e.sentByPort ?? KeyText.defaultPort(transport: e.transport?.string)
        self.init(method: SIPMethod(m.string), storage: .rfc3261(b, host: host, port: port))
        loopHash32 = CallIDHash.narrow(e.callID.map { CallIDHash.of($0) } ?? 0)
    }

    /// RFC 3261 §8.1.1.7: the top Via branch, for an RFC 3261 key.
    public var branch: String? {
        switch storage.identity {
        case .packed(let p): return p.branch
        case .rfc3261(let b, _): return b
        case .rfc2543, .other: return nil
        }
    }

    /// RFC 3261 §17.2.3: the top Via sent-by as `host:port`, for an RFC 3261 key.
    public var sentBy: String? {
        switch storage.identity {
        case .packed(let p): return p.sentBy
        case .rfc3261(_, let s): return s
        case .rfc2543, .other: return nil
        }
    }

    /// RFC 3261 §17.2.3: the identity of an RFC 2543 request, for a key without a magic cookie.
    public var rfc2543: RFC2543Identity? {
        if case .rfc2543(let l) = storage.identity { return l.identity } else { return nil }
    }

    /// Whether this key follows the RFC 2543 rules (§17.2.3).
    public var isRFC2543: Bool { rfc2543 != nil }

    /// RFC 3261 §9.2: for a CANCEL's key, the key of the INVITE transaction it cancels (same branch
    /// and sent-by, or for RFC 2543 the same identity, with the method INVITE). Nil for other methods.
    public var cancelledInvite: ServerTransactionKey? {
        guard method == .cancel else { return nil }
        var invite = ServerTransactionKey(method: .invite, storage: storage.identity)
        invite.loopHash32 = loopHash32
        return invite
    }

    /// RFC 3261 §17.2.3: an RFC 2543 key with another To tag: the key an ACK for a response with
    /// that tag computes. Nil for RFC 3261 keys.
    @usableFromInline
    func withToTag(_ tag: String?) -> ServerTransactionKey? {
        guard var id = rfc2543 else { return nil }
        id.toTag = tag
        var key = ServerTransactionKey(rfc2543: id, method: method)
        key.loopHash32 = loopHash32
        return key
    }

    /// `method` ACK is taken as INVITE (RFC 3261 §17.2.3), for every way a key is made.
    private init(method given: SIPMethod, storage: Storage) {
        let method = given == .ack ? SIPMethod.invite : given
        if let i = SIPMethod.standard.firstIndex(of: method) {
            self.methodCode = UInt8(i)
            self.storage = storage
        } else {
            self.methodCode = Self.extensionMethod
            self.storage = .other(method: method.rawValue, storage)
        }
        var hasher = Hasher()
        hasher.combine(method)
        hasher.combine(storage)
        self.hashCode = hasher.finalize()
        // The same fields again, after a tag: an independent second output of the keyed hash.
        var second = Hasher()
        second.combine(0x5349_5020_4B45_5932 as UInt64)
        second.combine(method)
        second.combine(storage)
        self.hashCode2 = UInt64(bitPattern: Int64(second.finalize()))
    }

    /// `~K[z9hG4bK74b21|INVITE|client.biloxi.example.com:5060]`, or the RFC 2543 form.
    public var description: String {
        switch storage.identity {
        case .packed(let p):
            return KeyText.format([p.branch, method.rawValue, p.sentBy])
        case .rfc3261(let b, let s):
            return KeyText.format([b, method.rawValue, s])
        case .rfc2543(let l):
            let i = l.identity
            return KeyText.format([
                "2543", method.rawValue, i.requestURI, i.callID, String(i.cseqNumber),
                i.fromTag ?? "", i.toTag ?? "", i.topVia,
            ])
        case .other: return ""
        }
    }

    /// Reads either text form back; nil for any other text. An empty tag field means no tag.
    public init?(_ description: String) {
        guard let f = KeyText.parse(description) else { return nil }
        if f.count == 3 {
            guard !f[0].isEmpty, !f[1].isEmpty, !f[2].isEmpty else { return nil }
            self.init(branch: f[0], sentBy: f[2], method: SIPMethod(f[1]))
        } else if f.count == 8, f[0] == "2543" {
            guard !f[1].isEmpty, let n = UInt32(f[4]) else { return nil }
            let id = RFC2543Identity(
                requestURI: f[2], toTag: f[6].isEmpty ? nil : f[6],
                fromTag: f[5].isEmpty ? nil : f[5], callID: f[3], cseqNumber: n, topVia: f[7])
            self.init(rfc2543: id, method: SIPMethod(f[1]))
        } else {
            return nil
        }
    }
}
