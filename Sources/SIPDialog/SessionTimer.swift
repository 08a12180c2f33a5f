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
        guard let value = request.headers[.sessionExpires],
            let timer = parse(value)
        else { return .none }
        let floor = max(minimum, lowestMinimum)
        if timer.timer.interval < floor { return .tooSmall(minimum: floor) }
        let supports = request.headers.values(.supported).contains { Self.lists($0, "timer") }
        var chosen = timer.timer
        if !timer.explicitRefresher { chosen.refresher = supports ? .uac : .uas }
        if !supports { chosen.refresher = .uas }
        return .timer(chosen, requireInResponse: supports)
    }

    /// The timer a 2xx sets for the UAC that sent the request (RFC 4028 §8.1): its
    /// Session-Expires, the refresher it names (the UAC when it names none, §7.2); nil when the
    /// response has none.
    public static func fromResponse(_ response: SIPMessage) -> SessionTimer? {
        guard let value = response.headers[.sessionExpires], let t = parse(value) else { return nil }
        var timer = t.timer
        if !t.explicitRefresher { timer.refresher = .uac }
        return timer
    }

    /// Reads `delta-seconds *(;param)` (RFC 4028 §4): the interval and the refresher.
    static func parse(_ value: String) -> (timer: SessionTimer, explicitRefresher: Bool)? {
        let parts = value.split(separator: ";").map { $0.trimmingCharacters(in: " \t") }
        guard let first = parts.first, let seconds = UInt32(first), seconds > 0 else { return nil }
        var refresher = Refresher.uac
        var explicit = false
        for p in parts.dropFirst() {
            let kv = p.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: " \t").lowercased() }
            if kv.count == 2, kv[0] == "refresher", let r = Refresher(rawValue: kv[1]) {
                refresher = r
                explicit = true
            }
        }
        return (SessionTimer(interval: seconds, refresher: refresher), explicit)
    }

    static func lists(_ header: String, _ option: String) -> Bool {
        header.split(separator: ",").contains { $0.trimmingCharacters(in: " \t").lowercased() == option }
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

extension Substring {
    func trimmingCharacters(in set: String) -> String {
        let s = drop { set.contains($0) }
        var end = s.endIndex
        while end > s.startIndex, set.contains(s[s.index(before: end)]) { end = s.index(before: end) }
        return String(s[s.startIndex..<end])
    }
}
