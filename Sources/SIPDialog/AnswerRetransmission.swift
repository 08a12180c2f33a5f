/// The UAS's retransmission of a 2xx to an INVITE until its ACK (RFC 3261 §13.3.1.4).
///
/// The transaction layer ends with the 2xx (RFC 6026), so the core sends it again itself: first
/// T1 after it was sent, then at intervals that double up to T2, until the ACK. If no ACK has
/// come 64·T1 after the first send, the dialog is confirmed but the session should end: the core
/// sends BYE (§13.3.1.4).
///
/// A value with no I/O or clock: the caller gives the time (`now`, a `Duration` since any
/// origin), calls ``timerFired(now:)`` at ``nextDeadline`` and does what it returns.
public struct AnswerRetransmission: Hashable, Sendable {
    /// What to do when the timer fires.
    public enum Action: Hashable, Sendable {
        /// Send the 2xx again.
        case retransmit
        /// 64·T1 passed without an ACK: stop, and end the session with BYE.
        case giveUp
    }

    /// T1 (RFC 3261 §17.1.1.1): the first interval.
    public let t1: Duration
    /// T2 (§17.1.2.2): the longest interval.
    public let t2: Duration
    private let giveUpAt: Duration
    private var interval: Duration
    /// When ``timerFired(now:)`` is due; nil once the ACK came or the UAS gave up.
    public private(set) var nextDeadline: Duration?

    /// The retransmission of a 2xx first sent at `now`.
    public init(sentAt now: Duration, t1: Duration = .milliseconds(500), t2: Duration = .seconds(4)) {
        self.t1 = t1
        self.t2 = t2
        giveUpAt = now + t1 * 64
        interval = t1
        nextDeadline = now + t1
    }

    /// The ACK came: no more retransmissions.
    public mutating func acknowledged() { nextDeadline = nil }

    /// The timer fired at `now`: retransmit (and the next deadline is set), or give up. Nil when
    /// nothing is due yet, or the ACK came.
    public mutating func timerFired(now: Duration) -> Action? {
        guard let due = nextDeadline, now >= due else { return nil }
        if now >= giveUpAt {
            nextDeadline = nil
            return .giveUp
        }
        interval = min(interval * 2, t2)
        nextDeadline = min(due + interval, giveUpAt)
        return .retransmit
    }
}
