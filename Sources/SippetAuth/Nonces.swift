import Crypto
import Synchronization

/// Nonces that need no table to be checked (RFC 7616 §5.4 leaves their form to the server): the
/// issue time, the issuing server's instance and a serial number, sealed with
/// HMAC-SHA-256 under a secret over those and the realm.
///
/// `nonce = hex(issued ‖ instance ‖ serial ‖ first 16 bytes of HMAC(secret, issued ‖ instance ‖
/// serial ‖ realm))`: 64 hexadecimal digits. A server reads back the issue time from any nonce it
/// or a server with the same secret made, and so tells a forged nonce from an expired one without
/// remembering either.
struct NonceMint: Sendable {
    /// What a nonce says, once its seal is checked.
    struct Contents: Sendable, Hashable {
        /// Milliseconds since 1970 when it was made.
        var issued: UInt64
        /// The making server's instance (random per process) and the nonce's serial number there.
        var identity: UInt64
    }

    /// The HMAC with its key already taken in: a copy of it is all a seal needs.
    private let keyed: HMAC<SHA256>
    private let realm: [UInt8]
    let instance: UInt32

    /// A mint sealing with `secret` (any length; HMAC hashes a long one) for `realm`, for the
    /// process whose nonces carry `instance`.
    init(secret: [UInt8], realm: String, instance: UInt32) {
        keyed = HMAC<SHA256>(key: SymmetricKey(data: secret))
        self.realm = Array(realm.utf8)
        self.instance = instance
    }

    /// The nonce with `serial`, made at `time`.
    func make(serial: UInt32, time: UInt64) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(32)
        append(time, to: &bytes)
        append(UInt64(instance) << 32 | UInt64(serial), to: &bytes)
        bytes += seal(bytes)
        return hexString(bytes)
    }

    /// What `nonce` says, when it is one this mint's secret sealed for its realm; nil otherwise.
    func open(_ nonce: String) -> Contents? {
        let text = Array(nonce.utf8)
        guard text.count == 64 else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(32)
        var i = 0
        while i < 64 {
            guard let h = hexValue(text[i]), let l = hexValue(text[i + 1]) else { return nil }
            bytes.append(h << 4 | l)
            i += 2
        }
        let mac = seal(Array(bytes[0..<16]))
        guard constantTimeEquals(mac, bytes[16..<32]) else { return nil }
        return Contents(issued: readUInt64(bytes, 0), identity: readUInt64(bytes, 8))
    }

    private func seal(_ body: [UInt8]) -> [UInt8] {
        var h = keyed
        h.update(data: body)
        h.update(data: realm)
        return h.finalize().withUnsafeBytes { Array($0.prefix(16)) }
    }

    private func append(_ v: UInt64, to bytes: inout [UInt8]) {
        for i in 0..<8 { bytes.append(UInt8(truncatingIfNeeded: v >> (56 - 8 * UInt64(i)))) }
    }

    private func readUInt64(_ bytes: [UInt8], _ at: Int) -> UInt64 {
        var v: UInt64 = 0
        for i in 0..<8 { v = v << 8 | UInt64(bytes[at + i]) }
        return v
    }

    private func hexValue(_ b: UInt8) -> UInt8? {
        switch b {
        case 0x30...0x39: b - 0x30
        case 0x61...0x66: b - 0x61 + 10
        case 0x41...0x46: b - 0x41 + 10
        default: nil
        }
    }
}

/// The nonce counts seen per live nonce (RFC 7616 §3.4: "the server … can detect request
/// replays by maintaining its own copy of this count"), in a fixed number of slots: memory does
/// not grow with the number of nonces.
///
/// Each slot holds one nonce's identity, when it was claimed, the highest count seen and a
/// 64-bit window of the counts below it (counts may arrive out of order when a client sends
/// requests in parallel). A nonce this server issues claims its slot at once. A nonce whose slot
/// another live nonce holds has been pushed out: it is answered as stale, never accepted (its
/// counts are no longer known). A nonce of another server with the same secret claims a free
/// slot when first seen. A slot is free when its holder was claimed more than a nonce lifetime
/// ago: a nonce pushed out of its slot is older than the one that pushed it, so by the time the
/// slot is free again the nonce has expired.
final class NonceCountTable: Sendable {
    struct Slot {
        var identity: UInt64 = 0
        var claimed: UInt64 = 0
        var highest: UInt32 = 0
        var seen: UInt64 = 0
    }

    /// What a count is, for its nonce.
    enum Verdict: Equatable {
        /// Not seen before: accepted, and recorded.
        case fresh
        /// Seen before, or older than the window: a replay.
        case replayed
        /// The nonce's slot is held by another live nonce: its counts are not known.
        case unknown
    }

    private static let stripeCount = 64
    private let stripes: [Stripe]
    let capacity: Int

    final class Stripe: Sendable {
        let slots: Mutex<[Slot]>
        init(count: Int) { slots = Mutex([Slot](repeating: Slot(), count: count)) }
    }

    /// A table of about `capacity` slots (rounded up to a multiple of 64).
    init(capacity: Int) {
        let perStripe = max(1, (capacity + Self.stripeCount - 1) / Self.stripeCount)
        self.capacity = perStripe * Self.stripeCount
        stripes = (0..<Self.stripeCount).map { _ in Stripe(count: perStripe) }
    }

    private func place(_ identity: UInt64) -> (stripe: Stripe, index: Int) {
        // Serials of one instance take consecutive slots; instances are spread apart.
        let serial = UInt64(UInt32(truncatingIfNeeded: identity))
        let instance = identity >> 32
        let slot = Int((serial &+ instance &* 0x9E37_79B9) % UInt64(capacity))
        return (stripes[slot % Self.stripeCount], slot / Self.stripeCount)
    }

    /// A nonce made here: it takes its slot, whoever held it.
    func claim(_ identity: UInt64, time: UInt64) {
        let (stripe, index) = place(identity)
        stripe.slots.withLock { $0[index] = Slot(identity: identity, claimed: time) }
    }

    /// Records `count` for the nonce `identity` at `time`; `lifetime` in milliseconds.
    func record(_ identity: UInt64, count: UInt32, time: UInt64, lifetime: UInt64) -> Verdict {
        let (stripe, index) = place(identity)
        return stripe.slots.withLock { slots in
            var s = slots[index]
            if s.identity != identity {
                let free = s.identity == 0 || s.claimed &+ lifetime < time
                guard free else { return .unknown }
                s = Slot(identity: identity, claimed: time)
            }
            guard count > 0 else { return .replayed }
            if count > s.highest {
                let shift = count - s.highest
                s.seen = shift >= 64 ? 1 : (s.seen << UInt64(shift)) | 1
                s.highest = count
            } else {
                let back = s.highest - count
                guard back < 64, s.seen & (1 << UInt64(back)) == 0 else { return .replayed }
                s.seen |= 1 << UInt64(back)
            }
            slots[index] = s
            return .fresh
        }
    }
}

/// Failed authentications per source address (the defence RFC 7616 §5.4 and §5.7 ask of a
/// server against guessing): after `limit` failures within `window`, the source is refused
/// without hashing until `window` after the last of them. At most `maxSources` addresses are
/// tracked; when full, those whose window has ended go (a sweep at most once a second), else one
/// tracked address, whichever the table lists first.
final class FailureThrottle: Sendable {
    struct Entry {
        var windowStart: UInt64
        var failures: Int
        var blockedUntil: UInt64
    }

    struct State {
        var entries: [String: Entry] = [:]
        var lastSweep: UInt64 = 0
    }

    let limit: Int
    let window: UInt64
    let maxSources: Int
    private let state = Mutex(State())

    /// `window` in milliseconds.
    init(limit: Int, window: UInt64, maxSources: Int) {
        self.limit = limit
        self.window = window
        self.maxSources = maxSources
    }

    /// Whether `source` is refused at `time`.
    func isBlocked(_ source: String, time: UInt64) -> Bool {
        state.withLock { $0.entries[source].map { $0.blockedUntil > time } ?? false }
    }

    /// Counts a failure of `source` at `time`; true when this one blocks it.
    @discardableResult
    func recordFailure(_ source: String, time: UInt64) -> Bool {
        state.withLock { s in
            if s.entries[source] == nil, s.entries.count >= maxSources { makeRoom(&s, time: time) }
            var e = s.entries[source] ?? Entry(windowStart: time, failures: 0, blockedUntil: 0)
            if time &- e.windowStart > window {
                e.windowStart = time
                e.failures = 0
            }
            e.failures += 1
            let blocks = e.failures >= limit
            if blocks { e.blockedUntil = time &+ window }
            s.entries[source] = e
            return blocks
        }
    }

    /// The number of sources tracked.
    var count: Int { state.withLock { $0.entries.count } }

    private func makeRoom(_ s: inout State, time: UInt64) {
        // A full sweep at most once a second; between sweeps, the first entry goes.
        if time &- s.lastSweep >= 1000 {
            s.lastSweep = time
            s.entries = s.entries.filter { $0.value.blockedUntil > time || time &- $0.value.windowStart <= window }
        }
        if s.entries.count >= maxSources { s.entries.remove(at: s.entries.startIndex) }
    }
}
