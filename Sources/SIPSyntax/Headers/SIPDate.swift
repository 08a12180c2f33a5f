/// The value of Date (RFC 3261 §20.17): an RFC 1123 date, always in GMT.
///
/// `wkday "," SP date1 SP time SP "GMT"`, date1 = `2DIGIT SP month SP 4DIGIT`, time =
/// `2DIGIT ":" 2DIGIT ":" 2DIGIT` (§25.1). SIP allows no zone but the literal `GMT` (§20.17), so
/// `Fri, 01 Jan 2010 16:00:00 EST` (RFC 4475 §3.1.2.12) is rejected. The weekday is kept as written;
/// it is not checked against the date.
public struct SIPDate: Sendable, Hashable, CustomStringConvertible {
    /// 1 = Monday … 7 = Sunday (ISO 8601 numbering).
    public var weekday: Int
    /// 1–31.
    public var day: Int
    /// 1 = January … 12 = December.
    public var month: Int
    /// Four digits.
    public var year: Int
    /// 0–23.
    public var hour: Int
    /// 0–59.
    public var minute: Int
    /// 0–59.
    public var second: Int

    static let weekdayNames = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
    static let monthNames = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    /// The date `secondsSince1970` seconds after 1970-01-01 00:00:00 GMT, weekday computed.
    /// Years outside 0–9999 cannot be written in a Date header; they are clamped to that range.
    public init(secondsSince1970: Int) {
        let minSeconds = SIPDate.daysFromCivil(0, 1, 1) * 86_400
        let maxSeconds = SIPDate.daysFromCivil(9999, 12, 31) * 86_400 + 86_399
        let t = Swift.min(Swift.max(secondsSince1970, minSeconds), maxSeconds)
        var days = t / 86_400
        var rest = t % 86_400
        if rest < 0 {
            rest += 86_400
            days -= 1
        }
        let (y, m, d) = SIPDate.civilFromDays(days)
        self.year = y
        self.month = m
        self.day = d
        self.hour = rest / 3600
        self.minute = rest / 60 % 60
        self.second = rest % 60
        self.weekday = SIPDate.isoWeekday(days)
    }

    /// Parses a Date value (`Sat, 13 Nov 2010 23:29:00 GMT`).
    public init(_ text: String) throws(SIPParseError) {
        var s = SIPScanner(text)
        s.header = "Date"
        s.skipLWS()
        self = try SIPDate.parse(&s)
        try s.expectEnd()
    }

    init(weekday: Int, day: Int, month: Int, year: Int, hour: Int, minute: Int, second: Int) {
        self.weekday = weekday
        self.day = day
        self.month = month
        self.year = year
        self.hour = hour
        self.minute = minute
        self.second = second
    }

    /// Seconds since 1970-01-01 00:00:00 GMT (negative before it).
    public var secondsSince1970: Int {
        SIPDate.daysFromCivil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second
    }

    /// `Sat, 13 Nov 2010 23:29:00 GMT`.
    public var description: String {
        func two(_ n: Int) -> String { n < 10 ? "0\(n)" : String(n) }
        func four(_ n: Int) -> String { String(repeating: "0", count: Swift.max(0, 4 - String(n).count)) + String(n) }
        let wd = SIPDate.weekdayNames[Swift.min(Swift.max(weekday, 1), 7) - 1]
        let mo = SIPDate.monthNames[Swift.min(Swift.max(month, 1), 12) - 1]
        return "\(wd), \(two(day)) \(mo) \(four(year)) \(two(hour)):\(two(minute)):\(two(second)) GMT"
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date.
    static func daysFromCivil(_ y0: Int, _ m: Int, _ d: Int) -> Int {
        let y = m <= 2 ? y0 - 1 : y0
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (m + 9) % 12
        let doy = (153 * mp + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    static func civilFromDays(_ z0: Int) -> (Int, Int, Int) {
        let z = z0 + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (m <= 2 ? 1 : 0), m, d)
    }

    /// 1 = Monday … 7 = Sunday; 1970-01-01 was a Thursday.
    static func isoWeekday(_ days: Int) -> Int {
        let r = (days + 3) % 7
        return (r < 0 ? r + 7 : r) + 1
    }

    static func daysInMonth(_ m: Int, _ y: Int) -> Int {
        switch m {
        case 2: return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    @Sendable static func parse(_ s: inout SIPScanner) throws(SIPParseError) -> SIPDate {
        // wkday ","
        let wd = try name(&s, weekdayNames, "a weekday (Mon … Sun)")
        try s.expect(ASCII.comma, "',' after the weekday")
        try s.expectLWS("after the weekday")
        // date1 = 2DIGIT SP month SP 4DIGIT
        let dayAt = s.position
        let day = try digits(&s, 2, "a two-digit day")
        try s.expectLWS("after the day")
        let month = try name(&s, monthNames, "a month (Jan … Dec)")
        try s.expectLWS("after the month")
        let year = try digits(&s, 4, "a four-digit year")
        guard day >= 1, day <= daysInMonth(month, year) else {
            throw s.error("day \(day) does not exist in \(monthNames[month - 1]) \(year)", at: dayAt)
        }
        try s.expectLWS("after the year")
        // time = 2DIGIT ":" 2DIGIT ":" 2DIGIT, 00:00:00 – 23:59:59
        let timeAt = s.position
        let hour = try digits(&s, 2, "a two-digit hour")
        try s.expect(ASCII.colon, "':' in the time")
        let minute = try digits(&s, 2, "two-digit minutes")
        try s.expect(ASCII.colon, "':' in the time")
        let second = try digits(&s, 2, "two-digit seconds")
        guard hour <= 23, minute <= 59, second <= 59 else {
            throw s.error("the time is not in 00:00:00–23:59:59", at: timeAt)
        }
        try s.expectLWS("before GMT")
        let zoneAt = s.position
        let zone = s.scan(while: { ASCII.is($0, .alphanum) || $0 == 0x2B || $0 == 0x2D })
        guard s.bytes.equalsCaseInsensitive(zone, "GMT") else {
            throw s.error("the time zone must be GMT (RFC 3261 §20.17), not '\(s.string(zone))'", at: zoneAt)
        }
        return SIPDate(weekday: wd, day: day, month: month, year: year, hour: hour, minute: minute, second: second)
    }

    /// One of `names` (any case); its 1-based index.
    private static func name(_ s: inout SIPScanner, _ names: [String], _ what: String) throws(SIPParseError) -> Int {
        let start = s.position
        let r = s.scan(while: { ASCII.lower($0) &- 0x61 < 26 })
        let text = s.string(r)
        guard let i = names.firstIndex(where: { asciiCaseInsensitiveEquals($0, text) }) else {
            s.position = start
            throw s.error("expected \(what)")
        }
        return i + 1
    }

    /// Exactly `count` digits.
    private static func digits(_ s: inout SIPScanner, _ count: Int, _ what: String) throws(SIPParseError) -> Int {
        let start = s.position
        let r = s.scan(while: ASCII.isDigit)
        guard r.count == count else {
            s.position = start
            throw s.error("expected \(what)")
        }
        var v = 0
        for i in r { v = v * 10 + Int(s.bytes[i] - 0x30) }
        return v
    }
}
