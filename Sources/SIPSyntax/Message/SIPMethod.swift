/// A request method (RFC 3261 §7.1): any token; methods are case-sensitive.
public struct SIPMethod: RawRepresentable, Hashable, Sendable, CustomStringConvertible, ExpressibleByStringLiteral {
    /// The method's name as written: methods are case-sensitive (§7.1).
    public let rawValue: String
    /// The method named `rawValue`.
    public init(rawValue: String) { self.rawValue = rawValue }
    /// The method named `rawValue`.
    public init(_ rawValue: String) { self.rawValue = rawValue }
    /// The method named by a literal (`"INVITE"`).
    public init(stringLiteral value: String) { self.rawValue = value }
    /// The method's name.
    public var description: String { rawValue }

    /// RFC 3261 §13: invites a user agent to a session.
    public static let invite = SIPMethod("INVITE")
    /// RFC 3261 §13.2.2.4, §17.1.1.3: acknowledges the final response to an INVITE.
    public static let ack = SIPMethod("ACK")
    /// RFC 3261 §15.1: ends a session.
    public static let bye = SIPMethod("BYE")
    /// RFC 3261 §9: cancels a request that has no final response yet.
    public static let cancel = SIPMethod("CANCEL")
    /// RFC 3261 §11: asks a user agent or server for its capabilities.
    public static let options = SIPMethod("OPTIONS")
    /// RFC 3261 §10: binds contact addresses to an address-of-record.
    public static let register = SIPMethod("REGISTER")
    /// RFC 3262
    public static let prack = SIPMethod("PRACK")
    /// RFC 6665
    public static let subscribe = SIPMethod("SUBSCRIBE")
    /// RFC 6665
    public static let notify = SIPMethod("NOTIFY")
    /// RFC 3903
    public static let publish = SIPMethod("PUBLISH")
    /// RFC 6086
    public static let info = SIPMethod("INFO")
    /// RFC 3515
    public static let refer = SIPMethod("REFER")
    /// RFC 3428
    public static let message = SIPMethod("MESSAGE")
    /// RFC 3311
    public static let update = SIPMethod("UPDATE")

    /// The methods of RFC 3261 and its common extensions.
    public static let standard: [SIPMethod] = [
        .invite, .ack, .bye, .cancel, .options, .register, .prack, .subscribe, .notify, .publish, .info, .refer,
        .message, .update,
    ]
}
