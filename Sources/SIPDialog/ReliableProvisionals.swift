import SIPSyntax

/// The UAS side of reliable provisional responses (RFC 3262 §3) for one INVITE: RSeq numbering,
/// retransmission until the PRACK, and the give-up after 64·T1.
///
/// A value with no I/O or clock: the caller gives the time (`now`, a `Duration` since any
/// origin) and applies the actions; ``nextDeadline`` says when to call ``timerFired(now:)``.
/// One reliable provisional is outstanding at a time (§3: a later one waits until the earlier
/// is acknowledged); a 2xx may be sent at any time, but not before the PRACK of a provisional
/// with an offer (left to the caller's offer/answer state).
public struct ReliableProvisionals: Sendable {
    /// What to do.
    public enum Action: Sendable {
        /// Send this response (the first time, or again).
        case send(SIPMessage)
        /// No PRACK came within 64·T1 of the first send (§3): answer the INVITE with a 5xx.
        case giveUp(SIPMessage)
    }

    /// T1 (RFC 3261 §17.1.1.1).
    public let t1: Duration
    /// The RSeq of the next reliable provisional response.
    public private(set) var nextRSeq: UInt32
    private var outstanding:
        (response: SIPMessage, rseq: UInt32, firstSent: Duration, interval: Duration, next: Duration)?
    private var queued: [SIPMessage] = []

    /// The provisionals of one INVITE. `firstRSeq` is the first RSeq (§7.1: between 1 and
    /// 2^31 - 1, chosen at random by default).
    public init(t1: Duration = .milliseconds(500), firstRSeq: UInt32 = UInt32.random(in: 1...(1 << 31) - 1)) {
        self.t1 = t1
        self.nextRSeq = firstRSeq
    }

    /// Whether a response waits for its PRACK.
    public var isWaiting: Bool { outstanding != nil }

    /// When ``timerFired(now:)`` is due: the next retransmission, or the give-up.
    public var nextDeadline: Duration? { outstanding.map { min($0.next, $0.firstSent + t1 * 64) } }

    /// Sends the provisional `response` (101-199) reliably: with RSeq and `Require: 100rel`
    /// (§3). Sent at once, or queued behind one not yet acknowledged.
    public mutating func send(_ response: SIPMessage, now: Duration) -> [Action] {
        var r = response
        r.headers.set(.rseq, String(nextRSeq))
        if !r.hasOption("100rel", in: .require) {
            r.headers.append(.require, "100rel")
        }
        nextRSeq &+= 1
        guard outstanding == nil else {
            queued.append(r)
            return []
        }
        return [start(r, now: now)]
    }

    private mutating func start(_ response: SIPMessage, now: Duration) -> Action {
        let rseq = (try? response.headers.first(.rseq)).flatMap { $0.map(UInt32.init) } ?? 0
        outstanding = (response, rseq, now, t1, now + t1)
        return .send(response)
    }

    /// The time has come (``nextDeadline``): the response again, its interval doubled (§3: "an
    /// interval that starts at T1 seconds and doubles for each retransmission"), or, 64·T1 after
    /// the first send, the give-up with the 5xx to send for the INVITE (`giveUpStatus`).
    public mutating func timerFired(now: Duration, invite: SIPMessage, giveUpStatus: Int = 504) -> [Action] {
        guard var o = outstanding else { return [] }
        if now >= o.firstSent + t1 * 64 {
            outstanding = nil
            queued = []
            return [.giveUp(invite.makeResponse(status: giveUpStatus, toTag: o.response.toTag))]
        }
        guard now >= o.next else { return [] }
        o.interval = o.interval * 2
        o.next = now + o.interval
        outstanding = o
        return [.send(o.response)]
    }

    /// What a PRACK's RAck matched.
    public enum PRACKVerdict: Sendable {
        /// It acknowledges the outstanding response: answer the PRACK with 200; `actions` sends
        /// the next queued provisional, if any.
        case acknowledged(actions: [Action])
        /// It matches nothing outstanding (§3: answer 481).
        case noMatch

        /// Whether the PRACK matched nothing.
        public var isNoMatch: Bool { if case .noMatch = self { return true } else { return false } }
    }

    /// A PRACK arrived with `rack` for the INVITE of CSeq `cseq` (§3: RSeq, CSeq number and
    /// method must all match the outstanding response).
    public mutating func receivePRACK(_ rack: RAck, inviteCSeq cseq: UInt32, now: Duration) -> PRACKVerdict {
        guard let o = outstanding, rack.responseNumber == o.rseq, rack.cseq == cseq, rack.method == .invite else {
            return .noMatch
        }
        outstanding = nil
        guard !queued.isEmpty else { return .acknowledged(actions: []) }
        return .acknowledged(actions: [start(queued.removeFirst(), now: now)])
    }

    /// The final response was sent: nothing more is retransmitted (§3: a 2xx or failure ends the
    /// provisional phase).
    public mutating func finish() {
        outstanding = nil
        queued = []
    }
}

/// The UAC side of reliable provisional responses (RFC 3262 §4): which ones to PRACK, in order.
public struct PRACKSender: Sendable {
    private var lastRSeq: [String: UInt32] = [:]

    /// A sender with nothing acknowledged yet.
    public init() {}

    /// The RAck to PRACK `response` with, or nil when it needs none: not reliable (no RSeq, or no
    /// `Require: 100rel`), a retransmission of one already acknowledged, or out of order (§4: an
    /// RSeq other than the last plus one is not acknowledged; the UAS sends it again). Each early
    /// dialog (the To tag) counts its own RSeq.
    public mutating func rack(for response: SIPMessage) -> RAck? {
        guard let status = response.status, status > 100, status < 200,
            let rseq = (try? response.headers.first(.rseq)).flatMap({ $0.map(UInt32.init) }),
            response.hasOption("100rel", in: .require),
            let cseq = response.cseq
        else { return nil }
        let dialog = response.toTag ?? ""
        if let last = lastRSeq[dialog], rseq != last &+ 1 { return nil }
        lastRSeq[dialog] = rseq
        return RAck(responseNumber: rseq, cseq: cseq.sequence, method: cseq.method)
    }
}
