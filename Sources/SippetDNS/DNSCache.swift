import NIOCore

/// The answer to one question, as a ``DNSClient`` gives it: the records of the type asked for
/// (aliases followed, RFC 1034 §3.6.2), the additional records that came with them, and whether
/// the name exists at all.
public struct DNSAnswer: Sendable, Hashable {
    /// The name asked for, without a final dot.
    public var name: String
    /// The type asked for.
    public var type: DNSRecordType
    /// The records of `type`, in the order the server gave them. Empty for a name that does not
    /// exist or has no record of this type (NODATA, RFC 2308 §2.2).
    public var records: [DNSRecord]
    /// The additional section (the addresses of SRV targets, RFC 2782; the SRV records of NAPTR
    /// replacements, RFC 3403 §4.2).
    public var additional: [DNSRecord]
    /// False for NXDOMAIN (RFC 2308 §2.1).
    public var nameExists: Bool
    /// The aliases followed from `name` to the records, in order.
    public var aliases: [String]

    /// An answer for `name` and `type`.
    public init(
        name: String, type: DNSRecordType, records: [DNSRecord], additional: [DNSRecord] = [], nameExists: Bool = true,
        aliases: [String] = []
    ) {
        self.name = name
        self.type = type
        self.records = records
        self.additional = additional
        self.nameExists = nameExists
        self.aliases = aliases
    }
}

/// The key of a cached answer: the name (DNS names compare without regard to case, RFC 4343)
/// and the type.
struct DNSCacheKey: Hashable, Sendable {
    var name: String
    var type: DNSRecordType

    init(_ name: String, _ type: DNSRecordType) {
        self.name = name.lowercased()
        self.type = type
    }
}

/// The answers a client has, each until its TTL runs out (RFC 1035 §3.2.1), negative ones
/// (NXDOMAIN and NODATA) for the SOA's minimum (RFC 2308 §5). Bounded: when full, the answer
/// stored first goes. Sans-IO: the caller gives the time.
struct DNSCache {
    private var entries: [DNSCacheKey: (answer: DNSAnswer, expires: NIODeadline, generation: Int)] = [:]
    /// Keys in the order stored, each with the generation it was stored under (a key stored
    /// again has a newer one, and its old place in the queue is skipped).
    private var order: [(key: DNSCacheKey, generation: Int)] = []
    private var head = 0
    private var generation = 0
    let capacity: Int

    init(capacity: Int) { self.capacity = max(1, capacity) }

    /// The number of answers held, expired or not.
    var count: Int { entries.count }

    /// The answer for `key`, if it has not expired at `now`.
    mutating func answer(for key: DNSCacheKey, now: NIODeadline) -> DNSAnswer? {
        guard let e = entries[key] else { return nil }
        guard e.expires > now else {
            entries[key] = nil
            return nil
        }
        return e.answer
    }

    /// Stores `answer` until `expires`; when full, the oldest answer goes first.
    mutating func store(_ answer: DNSAnswer, for key: DNSCacheKey, expires: NIODeadline) {
        generation += 1
        if entries[key] == nil {
            while entries.count >= capacity, head < order.count {
                let oldest = order[head]
                head += 1
                if entries[oldest.key]?.generation == oldest.generation { entries[oldest.key] = nil }
            }
        }
        entries[key] = (answer, expires, generation)
        order.append((key, generation))
        // The queue holds at most twice what is held: the places of answers replaced, expired or
        // evicted are dropped once there are as many of them as live ones.
        if order.count - head > 2 * capacity {
            order = order[head...].filter { entries[$0.key]?.generation == $0.generation }
            head = 0
        }
    }
}
