/// Whether the transport a transaction runs on delivers messages reliably (RFC 3261 §17, §18).
///
/// RFC 3261 §17.1.1.2, §17.1.2.2, §17.2.1, §17.2.2: on a reliable transport (TCP, TLS, SCTP,
/// WebSocket) the retransmission timers A, E and G are not started, and Timers D, I, J and K are
/// zero, so the machines leave Completed or Confirmed at once.
public enum TransportReliability: Sendable, Hashable, CustomStringConvertible {
    /// UDP: the transaction layer retransmits (RFC 3261 §17.1.1.1).
    case unreliable
    /// TCP, TLS, SCTP, WS, WSS: the transport retransmits, the transaction does not.
    case reliable

    /// Whether this is ``reliable``.
    public var isReliable: Bool { self == .reliable }

    /// "unreliable" or "reliable".
    public var description: String { isReliable ? "reliable" : "unreliable" }
}

/// The timers of RFC 3261 §17 (Table 4 of §A) and RFC 6026 §8.
///
/// Each machine names the timer it wants started or cancelled; the driver keys a timer by the
/// transaction and this kind, so that starting a kind again replaces the pending one.
public enum TransactionTimer: UInt8, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// RFC 3261 §17.1.1.2: INVITE request retransmission interval, unreliable transports only;
    /// starts at T1 and doubles.
    case a
    /// RFC 3261 §17.1.1.2: INVITE transaction timeout, 64·T1.
    case b
    /// RFC 3261 §17.1.1.2: wait time for response retransmissions in the INVITE client's Completed
    /// state: at least 32 s unreliable, zero reliable.
    case d
    /// RFC 3261 §17.1.2.2: non-INVITE request retransmission interval, unreliable only; starts at T1,
    /// doubles up to T2, and is T2 in Proceeding.
    case e
    /// RFC 3261 §17.1.2.2: non-INVITE transaction timeout, 64·T1.
    case f
    /// RFC 3261 §17.2.1: INVITE final response retransmission interval, unreliable only; starts at
    /// T1 and doubles up to T2.
    case g
    /// RFC 3261 §17.2.1: wait time for the ACK, 64·T1.
    case h
    /// RFC 3261 §17.2.1: wait time for ACK retransmissions in Confirmed: T4 unreliable, zero reliable.
    case i
    /// RFC 3261 §17.2.2: wait time for non-INVITE request retransmissions: 64·T1 unreliable, zero reliable.
    case j
    /// RFC 3261 §17.1.2.2: wait time for non-INVITE response retransmissions: T4 unreliable, zero reliable.
    case k
    /// RFC 6026 §8.7: wait time for 2xx retransmissions from the TU in the INVITE server's Accepted
    /// state, 64·T1.
    case l
    /// RFC 6026 §8.4: wait time for 2xx retransmissions in the INVITE client's Accepted state, 64·T1.
    case m
    /// RFC 3261 §17.2.1: the INVITE server sends 100 (Trying) itself when the TU has sent no
    /// provisional response within 200 ms. The RFC gives this timer no letter.
    case trying

    /// Whether the timer only bounds how long a transaction waits (B, D, F, H, I, J, K, L, M), so
    /// that firing a little late changes nothing on the wire; the retransmission timers (A, E, G)
    /// and the 100 Trying timer are not.
    public var isCoarse: Bool {
        switch self {
        case .a, .e, .g, .trying: return false
        case .b, .d, .f, .h, .i, .j, .k, .l, .m: return true
        }
    }

    /// "Timer A" … "Timer M", or "Timer 100 Trying".
    public var description: String {
        switch self {
        case .a: return "Timer A"
        case .b: return "Timer B"
        case .d: return "Timer D"
        case .e: return "Timer E"
        case .f: return "Timer F"
        case .g: return "Timer G"
        case .h: return "Timer H"
        case .i: return "Timer I"
        case .j: return "Timer J"
        case .k: return "Timer K"
        case .l: return "Timer L"
        case .m: return "Timer M"
        case .trying: return "Timer 100 Trying"
        }
    }
}

/// The timer values of RFC 3261 §17 (Table 4) and RFC 6026, derived from T1, T2 and T4.
///
/// RFC 3261 §17.1.1.1: T1 is an estimate of the round-trip time (500 ms by default); T2 is the
/// longest retransmission interval for non-INVITE requests and INVITE responses (4 s); T4 is the
/// longest time a message stays in the network (5 s). All three may be changed (§17.1.1.1 allows a
/// smaller T1 on private networks and recommends larger values on high-latency paths); the
/// other timers follow from them.
public struct TransactionTimers: Sendable, Hashable, CustomStringConvertible {
    /// The values, as whole nanoseconds, in an immutable object that every copy shares: every
    /// transaction holds the timers it was made with, and a server keeps its transactions for 32 s
    /// after their final response (Timer J, L), so a reference (8 bytes) is kept where five values
    /// took 40. Setting a value makes a new object. A value beyond ±292 years is clamped
    /// (``Swift/Duration/wholeNanoseconds``).
    private final class Values: Sendable {
        let t1: Int64, t2: Int64, t4: Int64, timerD: Int64, trying: Int64

        init(t1: Int64, t2: Int64, t4: Int64, timerD: Int64, trying: Int64) {
            (self.t1, self.t2, self.t4, self.timerD, self.trying) = (t1, t2, t4, timerD, trying)
        }

        var all: [Int64] { [t1, t2, t4, timerD, trying] }
    }

    private var values: Values

    /// RFC 3261 §17.1.1.1: round-trip time estimate, 500 ms by default.
    public var t1: Duration {
        get { .nanoseconds(values.t1) }
        set {
            values = Values(
                t1: newValue.wholeNanoseconds, t2: values.t2, t4: values.t4, timerD: values.timerD,
                trying: values.trying)
        }
    }
    /// RFC 3261 §17.1.2.2: maximum retransmission interval for non-INVITE requests and INVITE
    /// responses, 4 s by default.
    public var t2: Duration {
        get { .nanoseconds(values.t2) }
        set {
            values = Values(
                t1: values.t1, t2: newValue.wholeNanoseconds, t4: values.t4, timerD: values.timerD,
                trying: values.trying)
        }
    }
    /// RFC 3261 §17.1.2.2: maximum duration a message will remain in the network, 5 s by default.
    public var t4: Duration {
        get { .nanoseconds(values.t4) }
        set {
            values = Values(
                t1: values.t1, t2: values.t2, t4: newValue.wholeNanoseconds, timerD: values.timerD,
                trying: values.trying)
        }
    }
    /// RFC 3261 §17.1.1.2: Timer D on unreliable transports, "at least 32 seconds"; 32 s by default.
    /// It does not follow T1: it covers the server's retransmissions, which use the server's T1.
    public var timerDUnreliable: Duration {
        get { .nanoseconds(values.timerD) }
        set {
            values = Values(
                t1: values.t1, t2: values.t2, t4: values.t4, timerD: newValue.wholeNanoseconds, trying: values.trying)
        }
    }
    /// RFC 3261 §17.2.1: how long an INVITE server transaction waits for a provisional response
    /// from the TU before it sends 100 (Trying) itself; 200 ms by default. Zero sends the 100 at once.
    public var tryingDelay: Duration {
        get { .nanoseconds(values.trying) }
        set {
            values = Values(
                t1: values.t1, t2: values.t2, t4: values.t4, timerD: values.timerD, trying: newValue.wholeNanoseconds)
        }
    }

    /// The RFC's values: T1 = 500 ms, T2 = 4 s, T4 = 5 s, Timer D = 32 s, 100 Trying after 200 ms.
    public static let `default` = TransactionTimers()

    /// Timers from T1, T2 and T4 (RFC 3261 §17.1.1.1); the defaults are the RFC's.
    public init(
        t1: Duration = .milliseconds(500), t2: Duration = .seconds(4), t4: Duration = .seconds(5),
        timerDUnreliable: Duration = .seconds(32), tryingDelay: Duration = .milliseconds(200)
    ) {
        values = Values(
            t1: t1.wholeNanoseconds, t2: t2.wholeNanoseconds, t4: t4.wholeNanoseconds,
            timerD: timerDUnreliable.wholeNanoseconds, trying: tryingDelay.wholeNanoseconds)
    }

    /// Whether two hold the same values.
    public static func == (a: TransactionTimers, b: TransactionTimers) -> Bool {
        a.values === b.values || a.values.all == b.values.all
    }

    /// Feeds the values.
    public func hash(into hasher: inout Hasher) { hasher.combine(values.all) }

    /// RFC 3261 §17.1.1.2: Timer A's first value, T1 (unreliable transports only).
    public var a: Duration { t1 }
    /// RFC 3261 §17.1.1.2: Timer B, 64·T1.
    public var b: Duration { t1 * 64 }
    /// RFC 3261 §17.1.1.2: Timer D, ≥ 32 s unreliable, zero reliable.
    public func d(_ transport: TransportReliability) -> Duration { transport.isReliable ? .zero : timerDUnreliable }
    /// RFC 3261 §17.1.2.2: Timer E's first value, T1 (unreliable transports only).
    public var e: Duration { t1 }
    /// RFC 3261 §17.1.2.2: Timer F, 64·T1.
    public var f: Duration { t1 * 64 }
    /// RFC 3261 §17.2.1: Timer G's first value, T1 (unreliable transports only).
    public var g: Duration { t1 }
    /// RFC 3261 §17.2.1: Timer H, 64·T1.
    public var h: Duration { t1 * 64 }
    /// RFC 3261 §17.2.1: Timer I, T4 unreliable, zero reliable.
    public func i(_ transport: TransportReliability) -> Duration { transport.isReliable ? .zero : t4 }
    /// RFC 3261 §17.2.2: Timer J, 64·T1 unreliable, zero reliable.
    public func j(_ transport: TransportReliability) -> Duration { transport.isReliable ? .zero : t1 * 64 }
    /// RFC 3261 §17.1.2.2: Timer K, T4 unreliable, zero reliable.
    public func k(_ transport: TransportReliability) -> Duration { transport.isReliable ? .zero : t4 }
    /// RFC 6026 §8.7: Timer L, 64·T1 on every transport.
    public var l: Duration { t1 * 64 }
    /// RFC 6026 §8.4: Timer M, 64·T1 on every transport.
    public var m: Duration { t1 * 64 }

    /// The value a timer is first started with on `transport`, or nil for a retransmission timer
    /// (A, E, G) that a reliable transport does not start (RFC 3261 §17.1.1.2, §17.1.2.2, §17.2.1).
    public func initialValue(of timer: TransactionTimer, on transport: TransportReliability) -> Duration? {
        switch timer {
        case .a: return transport.isReliable ? nil : a
        case .b: return b
        case .d: return d(transport)
        case .e: return transport.isReliable ? nil : e
        case .f: return f
        case .g: return transport.isReliable ? nil : g
        case .h: return h
        case .i: return i(transport)
        case .j: return j(transport)
        case .k: return k(transport)
        case .l: return l
        case .m: return m
        case .trying: return tryingDelay
        }
    }

    /// The next retransmission interval after `interval`: doubled, and at most T2 when `capped`
    /// (RFC 3261 §17.1.2.2 for Timer E, §17.2.1 for Timer G; Timer A is not capped, §17.1.1.2).
    func doubled(_ interval: Duration, capped: Bool) -> Duration {
        let next = interval * 2
        return capped && next > t2 ? t2 : next
    }

    /// "T1=500 ms T2=4 s T4=5 s".
    public var description: String { "T1=\(t1) T2=\(t2) T4=\(t4)" }
}

extension Duration {
    /// The duration in whole nanoseconds, truncated; beyond ±292 years, clamped to Int64.
    @inlinable package var wholeNanoseconds: Int64 {
        let (seconds, attoseconds) = components
        let (whole, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        if overflow { return seconds < 0 ? .min : .max }
        let (sum, overflow2) = whole.addingReportingOverflow(attoseconds / 1_000_000_000)
        if overflow2 { return seconds < 0 ? .min : .max }
        return sum
    }
}
