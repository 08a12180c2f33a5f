import SIPSyntax
import SIPTransaction

/// A registrar's location service (RFC 3261 §10.3): bindings of contact addresses to
/// addresses-of-record, kept in memory.
///
/// ``handle(_:now:)`` runs the steps of §10.3 for one REGISTER and returns the response to send.
/// Time is passed in (milliseconds on any monotonic clock), so that expiry can be tested without
/// waiting. Not thread-safe: the owner confines it (``EndpointCore`` keeps one per event loop).
///
/// Expiry is driven by deadlines, never by a scan: each address-of-record has one pending
/// deadline (its earliest binding's expiry) in a ``DeadlineQueue``, and ``expire(now:atMost:)``
/// removes the bindings of the addresses-of-record that are due, a bounded number at a time. Each
/// REGISTER first expires at most ``expiredPerRequest`` of them, so its cost does not grow with
/// the table: a full table is answered 503 at the cost of an empty one. The owner calls
/// ``expire(now:atMost:)`` at ``nextExpiry`` for the rest.
public struct Registrar: Sendable {
    /// How long bindings may last, and how many there may be.
    public struct Policy: Sendable, Hashable {
        /// §10.2.1.1: the interval used when the request names none (the RFC suggests one hour).
        public var defaultExpires: UInt32 = 3600
        /// §10.3 step 6 / §20.23: a shorter non-zero interval gets 423 with this Min-Expires.
        public var minExpires: UInt32 = 60
        /// §10.3 step 6: longer intervals are shortened to this.
        public var maxExpires: UInt32 = 7200
        /// Bindings per address-of-record; more get 403 (a protection, not an RFC value).
        public var maxBindingsPerAOR: Int = 32
        /// Bindings in all; more get 503 with Retry-After (a protection).
        public var maxBindings: Int = 100_000

        /// The defaults: RFC 3261's one hour, a minimum of 60 s, at most two hours.
        public init() {}
    }

    /// One contact bound to an address-of-record (§10.3 step 7: with the Call-ID and CSeq of the
    /// REGISTER that last changed it).
    public struct Binding: Sendable, Hashable {
        /// The contact as it was registered, without its `expires` parameter.
        public var contact: NameAddress
        /// The Call-ID of the REGISTER that last changed it.
        public var callID: String
        /// The CSeq number of the REGISTER that last changed it.
        public var cseq: UInt32
        /// When it expires, in the caller's milliseconds.
        public var expiresAt: UInt64
        /// Where the REGISTER came from: its transport and source address (RFC 3261 §18.2.1's
        /// `received` and RFC 3581's `rport` on the top Via). A proxy reaches a contact behind a
        /// NAT, or over the connection it registered on (RFC 5626's flow; the only way to reach a
        /// WebSocket client, RFC 7118 §5), there.
        public var source: Source?
        /// The REGISTER's Path header values, in order (RFC 3327): the route to the contact.
        public var path: [String] = []

        /// A binding of `contact`, made by the REGISTER with `callID` and `cseq`, until `expiresAt`.
        public init(
            contact: NameAddress, callID: String, cseq: UInt32, expiresAt: UInt64, source: Source? = nil,
            path: [String] = []
        ) {
            self.contact = contact
            self.callID = callID
            self.cseq = cseq
            self.expiresAt = expiresAt
            self.source = source
            self.path = path
        }
    }

    /// The transport and address a REGISTER came from.
    public struct Source: Sendable, Hashable {
        /// The Via transport (`UDP`, `TCP`, `TLS`, `WS`, `WSS`).
        public var transport: String
        /// The source IP (an IPv6 address without brackets).
        public var host: String
        /// The source port.
        public var port: Int
        /// Whether the REGISTER came from another address than its Via's sent-by (`received` or
        /// `rport` differ from it): a NAT is on the way, and the contact's own address does not
        /// reach it.
        public var isBehindNAT: Bool

        /// A source of `transport` at `host`:`port`.
        public init(transport: String, host: String, port: Int, isBehindNAT: Bool = false) {
            self.transport = transport
            self.host = host
            self.port = port
            self.isBehindNAT = isBehindNAT
        }

        /// The source of `request`, read from its top Via as the stack stamped it: `received`
        /// (else the sent-by host) and `rport` (else the sent-by port, else 5060 or 5061).
        public init?(of request: SIPMessage) {
            guard let via = request.topVia else { return nil }
            transport = via.transport.uppercased()
            host = via.received ?? via.host.address
            let tls = transport == "TLS" || transport == "WSS"
            let sentByPort = via.port ?? (tls ? 5061 : 5060)
            port = via.parameters.value("rport").flatMap { Int($0) } ?? sentByPort
            // RFC 3581 §4 writes `received` with `rport` even when it equals the sent-by.
            isBehindNAT = host != via.host.address || port != sentByPort
        }

        /// The URI that reaches it: `sip:HOST:PORT;transport=…` (UDP: no parameter).
        public var uri: SIPURI {
            var u = SIPURI(host: SIPHost(host.contains(":") ? "[\(host)]" : host), port: port)
            if transport != "UDP" { u.parameters.set("transport", transport.lowercased()) }
            return u
        }
    }

    /// The intervals and limits in force.
    public let policy: Policy
    private var bindings: [String: [Binding]] = [:]
    private var total = 0
    /// The earliest expiry of each address-of-record's bindings, on the caller's clock.
    private var expiries = DeadlineQueue<String>()
    /// Bindings examined to expire them, over the registrar's life: the work expiry has done,
    /// which tests hold to a bound per request.
    public private(set) var expiryWork = 0

    /// How many due addresses-of-record a REGISTER expires before it is handled.
    public static let expiredPerRequest = 16

    /// An empty registrar with `policy`.
    public init(policy: Policy = Policy()) { self.policy = policy }

    /// The number of bindings held (expired ones included until they are swept).
    public var count: Int { total }

    /// The live bindings of `aor` (any form of it: it is made canonical as in §10.3 step 5).
    public func bindings(of aor: URI, now: UInt64) -> [Binding] {
        bindings[Registrar.canonicalAOR(aor)]?.filter { $0.expiresAt > now } ?? []
    }

    /// RFC 3261 §10.3 step 5: the address-of-record in canonical form — the URI without its
    /// parameters and headers, user part unescaped, host lower-cased. A URI of another scheme is
    /// used as it is written.
    public static func canonicalAOR(_ uri: URI) -> String {
        guard let sip = uri.sipURI else { return uri.description }
        var s = sip.isSecure ? "sips:" : "sip:"
        if let user = sip.user { s += user + "@" }
        s += sip.host.text.lowercased()
        if let port = sip.port { s += ":\(port)" }
        return s
    }

    /// Processes one REGISTER (RFC 3261 §10.3, steps 5 to 8) at time `now` (milliseconds) and
    /// returns the response: 200 listing the bindings now in force, each with the seconds it has
    /// left; 400 for a bad Contact or `*` misuse; 423 with Min-Expires for too short an interval;
    /// 500 for a request older than the binding it would change (§10.3 step 7).
    ///
    /// Steps 1 to 4 (domain, Require, authentication, authorization) are the caller's: the stack
    /// checks Require (420) before the core sees the request, and this registrar serves any
    /// domain and needs no credentials.
    public mutating func handle(_ request: SIPMessage, now: UInt64) -> SIPMessage {
        let asked: Registration
        switch Registration.read(request) {
        case .success(let r): asked = r
        case .failure(let rejection): return rejection.response(to: request)
        }
        expire(now: now, atMost: Self.expiredPerRequest)
        let current = (bindings[asked.aor] ?? []).filter { $0.expiresAt > now }
        let list: [Binding]
        switch asked.apply(to: current, now: now, policy: policy) {
        case .success(let l): list = l
        case .failure(let rejection): return rejection.response(to: request)
        }
        // The table's limit, checked before anything is committed (all of the request or none of
        // it). No sweep here: what has expired goes by its deadlines, so a full table costs no
        // more to refuse than an empty one.
        let before = bindings[asked.aor]?.count ?? 0
        if list.count > before, total - before + list.count > policy.maxBindings {
            return Registration.full.response(to: request)
        }
        store(list, for: asked.aor, now: now)
        return asked.response(to: request, bindings: list, now: now)
    }

    /// The earliest instant (the caller's milliseconds) at which a binding is due to expire, for
    /// the owner's timer; nil when none is held.
    public mutating func nextExpiry() -> UInt64? {
        expiries.nextDeadline().map { UInt64(clamping: $0.wholeNanoseconds / 1_000_000) }
    }

    /// Removes the expired bindings of at most `limit` addresses-of-record whose earliest binding
    /// is due at `now`, earliest first. Returns how many it handled: `limit` means more may be due.
    @discardableResult
    public mutating func expire(now: UInt64, atMost limit: Int) -> Int {
        let instant = Duration.milliseconds(now)
        expiries.advance(to: instant)
        var handled = 0
        while handled < limit, let due = expiries.popNext(notAfter: instant) {
            handled += 1
            guard let list = bindings[due.key] else { continue }
            expiryWork += list.count
            store(list.filter { $0.expiresAt > now }, for: due.key, now: now)
        }
        return handled
    }

    /// Drops every expired binding (all that are due, however many).
    public mutating func sweep(now: UInt64) {
        while expire(now: now, atMost: 1024) == 1024 {}
    }

    /// Puts `list` in place of `aor`'s bindings, keeping the count and its deadline: the earliest
    /// expiry of the list, or none when it is empty.
    private mutating func store(_ list: [Binding], for aor: String, now: UInt64) {
        total += list.count - (bindings[aor]?.count ?? 0)
        guard let earliest = list.lazy.map(\.expiresAt).min() else {
            bindings[aor] = nil
            expiries.cancel(aor)
            return
        }
        bindings[aor] = list
        expiries.advance(to: .milliseconds(now))
        expiries.start(aor, after: .milliseconds(earliest) - expiries.now)
    }
}
