/// Bounds on what the parser and the stream framer accept, so that no input can make them use
/// unbounded memory or time. Each violation is a ``SIPParseError`` of kind `limitExceeded` that
/// names the limit, the actual value and the maximum.
public struct SIPLimits: Hashable, Sendable {
    /// The name of one limit.
    public enum Name: String, Hashable, Sendable, CustomStringConvertible {
        /// ``SIPLimits/maxMessageSize`` was exceeded.
        case messageSize = "message size"
        /// ``SIPLimits/maxHeaderCount`` was exceeded.
        case headerCount = "header count"
        /// ``SIPLimits/maxHeaderLineLength`` was exceeded.
        case headerLineLength = "header line length"
        /// ``SIPLimits/maxViaCount`` was exceeded.
        case viaCount = "Via count"
        /// ``SIPLimits/maxBodySize`` was exceeded.
        case bodySize = "body size"
        /// ``SIPLimits/maxStartLineLength`` was exceeded.
        case startLineLength = "start line length"
        /// The name as error messages show it (`message size`).
        public var description: String { rawValue }
    }

    /// Bytes in one message, start line to the end of the body. UDP datagrams are at most 65,507.
    public var maxMessageSize: Int
    /// Header field lines (a folded field counts once; each line of a repeated header counts).
    public var maxHeaderCount: Int
    /// Bytes in one header field, its folded continuation lines included.
    public var maxHeaderLineLength: Int
    /// Bytes in the Request-Line or Status-Line.
    public var maxStartLineLength: Int
    /// Via values (across all Via lines): longreq in RFC 4475 has 34; a loop makes hundreds.
    public var maxViaCount: Int
    /// Bytes of body.
    public var maxBodySize: Int

    /// The defaults: generous for real traffic, bounded for hostile traffic.
    public static let `default` = SIPLimits()

    /// Limits with the given bounds; each one left out has its value in ``default``.
    public init(
        maxMessageSize: Int = 65_535, maxHeaderCount: Int = 256, maxHeaderLineLength: Int = 8_192,
        maxStartLineLength: Int = 8_192, maxViaCount: Int = 70, maxBodySize: Int = 65_535
    ) {
        self.maxMessageSize = maxMessageSize
        self.maxHeaderCount = maxHeaderCount
        self.maxHeaderLineLength = maxHeaderLineLength
        self.maxStartLineLength = maxStartLineLength
        self.maxViaCount = maxViaCount
        self.maxBodySize = maxBodySize
    }
}
