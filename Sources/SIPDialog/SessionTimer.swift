import SIPSyntax

/// Session timers (RFC 4028): the interval, who refreshes, and when to refresh or give up.
///
/// A value with no clock: ``refreshDue(after:)`` and ``expiryDue(after:)`` give the instants
/// relative to the last refresh, for the caller to schedule.
public struct SessionTimer: Hashable, Sendable {
    /// Which side refreshes (RFC 4028 §7.1: the `refresher` parameter).
    public enum Refresher: String, Hashable, Sendable {
        /// The side that sent the request.
        case uac
        /// The side that answered it.
        case uas
    }

    /// The smallest Min-SE allowed (RFC 4028 §4: 90 seconds).
    public static let lowestMinimum: UInt32 = 90

    /// The session interval, in seconds.
    public var interval: UInt32
    /// Who refreshes.
    public var refresher: Refresher

    /// A timer of `interval` seconds refreshed by `refresher`.
    public init(interval: UInt32, refresher: Refresher) {
        self.interval = interval
        self.refresher = refresher
    }

    /// Whether `role` (this side of the dialog, for the request that set the timer) refreshes.
    public func isRefresher(_ role: Dialog.Role) -> Bool {
        (refresher == .uac) == (role == .uac)
    }

    /// When the refresher sends its refresh: half the interval after the last one (RFC 4028 §10).
    public func refreshDue(after last: Duration) -> Duration { last + .seconds(Int64(interval)) / 2 }

    /// When the side that does not refresh sends BYE if no refresh came: the interval, less the
    /// smaller of 32 s and a third of it, after the last refresh (RFC 4028 §10).
    public func expiryDue(after last: Duration) -> Duration {
        let s = Int64(interval)
        return last + .seconds(s) - .seconds(min(32, s / 3))
    }

    /// The Session-Expires value: `interval;refresher=…`.
    public var headerValue: String { "\(interval);refresher=\(refresher.rawValue)" }

    /// What a UAS answers to a request (RFC 4028 §9).
    public enum Negotiation: Hashable, Sendable {
        /// The request asks for no session timer.
        case none
        /// Session-Expires below this UAS's Min-SE: answer 422 with `Min-SE: minimum` (§9).
        case tooSmall(minimum: UInt32)
        /// A session timer: its Session-Expires goes in the 2xx, with `Require: timer` when
        /// `requireInResponse` (the UAC supports the extension, §9).
        case timer(SessionTimer, requireInResponse: Bool)
    }

    /// A UAS's answer to an INVITE or UPDATE (RFC 4028 §9) given its own `minimum` (Min-SE,
    /// at least 90): no Session-Expires → no timer; below `minimum` → 422; otherwise the
    /// interval asked, the refresher asked, or chosen: the UAC when it supports `timer`, else
    /// this UAS (which alone can then refresh).
    public static func negotiate(_ request: SIPMessage, minimum: UInt32) -> Negotiation {
        guard let timer = sessionExpires(of: request) else { return .none }
        let floor = max(minimum, lowestMinimum)
        if timer.timer.interval < floor { return .tooSmall(minimum: floor) }
        let supports = request.hasOption("timer", in: .supported)
        var chosen = timer.timer
        if !timer.explicitRefresher { chosen.refresher = supports ? .uac : .uas }
        if !supports { chosen.refresher = .uas }
        return .timer(chosen, requireInResponse: supports)
    }

    /// The timer a 2xx sets for the UAC that sent the request (RFC 4028 §8.1): its
    /// Session-Expires, the refresher it names (the UAC when it names none, §7.2); nil when the
    /// response has none.
    public static func fromResponse(_ response: SIPMessage) -> SessionTimer? {
        guard let t = sessionExpires(of: response) else { return nil }
        var timer = t.timer
        if !t.explicitRefresher { timer.refresher = .uac }
        return timer
    }

    /// The Session-Expires of `message` (RFC 4028 §4, read by the syntax layer's typed key): the
    /// interval and the refresher, and whether the refresher was named; nil when absent, zero or
    /// malformed.
    static func sessionExpires(of message: SIPMessage) -> (timer: SessionTimer, explicitRefresher: Bool)? {
        guard let value = try? message.headers.first(.sessionExpires), let seconds = value.deltaSeconds,
            seconds > 0, seconds <= Int(UInt32.max)
        else { return nil }
        let named = value.parameters.value("refresher").flatMap { Refresher(rawValue: $0.lowercased()) }
        return (SessionTimer(interval: UInt32(seconds), refresher: named ?? .uac), named != nil)
    }
}

/// RFC 3261 §14.1: how long a UAC waits before sending again a re-INVITE that got 491 (glare).
public enum GlareRetry {
    /// The wait, in units of 10 ms (§14.1): 2.1 s to 4 s when this side chose the dialog's Call-ID
    /// (it sent the INVITE that made it), 0 to 2 s otherwise. `random(n)` gives a number in
    /// `0...n` (a test gives a seeded one).
    public static func delay(ownsCallID: Bool, random: (UInt32) -> UInt32 = { UInt32.random(in: 0...$0) })
        -> Duration
    {
        if ownsCallID { return .milliseconds(2100 + Int64(random(190)) * 10) }
        return .milliseconds(Int64(random(200)) * 10)
    }
}
