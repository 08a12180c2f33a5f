/// Why a message, or one of its header values, could not be parsed.
///
/// A struct rather than an enum so that new kinds can be added without breaking users; switch on
/// ``kind``. Where the error makes the request unanswerable by the parser's standards but still
/// answerable (RFC 3261 §8.2, §21.4), ``suggestedStatus`` says which response a UAS sends.
public struct SIPParseError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What went wrong, as a value users can switch on.
    public struct Kind: Hashable, Sendable, CustomStringConvertible {
        let raw: UInt8
        let name: String
        private init(_ raw: UInt8, _ name: String) {
            self.raw = raw
            self.name = name
        }
        /// The kind's name, as error messages show it (`invalid header value`).
        public var description: String { name }
        /// Whether two kinds are the same kind.
        public static func == (a: Kind, b: Kind) -> Bool { a.raw == b.raw }
        /// Hashes the kind, consistently with `==`.
        public func hash(into hasher: inout Hasher) { hasher.combine(raw) }

        /// The message has no start line, or the Request-Line / Status-Line is malformed (§7.1, §7.2).
        public static let malformedStartLine = Kind(1, "malformed start line")
        /// The SIP-Version is not SIP/2.0 (§7.1; answered with 505 Version Not Supported, §21.5.6).
        public static let unsupportedVersion = Kind(2, "unsupported SIP version")
        /// A header line has no name, no colon, or a name that is not a token (§7.3).
        public static let malformedHeaderLine = Kind(3, "malformed header line")
        /// A header value does not match its grammar (§25.1, §20).
        public static let invalidHeaderValue = Kind(4, "invalid header value")
        /// The header section does not end with an empty line.
        public static let missingEmptyLine = Kind(5, "header section not terminated")
        /// Content-Length is not a non-negative decimal number, or appears with conflicting values (§20.14, §18.3).
        public static let invalidContentLength = Kind(6, "invalid Content-Length")
        /// The body is shorter than Content-Length says (§18.3).
        public static let truncatedBody = Kind(7, "body shorter than Content-Length")
        /// A URI does not match RFC 3261 §19.1 / §25.1 (or RFC 3966 for tel).
        public static let invalidURI = Kind(8, "invalid URI")
        /// A configured limit was exceeded; ``SIPParseError/limit`` names it.
        public static let limitExceeded = Kind(9, "limit exceeded")
        /// The CSeq method differs from the request method (§8.1.1.5, RFC 4475 §3.1.2.17–18).
        public static let cseqMethodMismatch = Kind(10, "CSeq method does not match the request method")
        /// Bytes that are not valid UTF-8 where the grammar asks for UTF-8 text.
        public static let invalidUTF8 = Kind(11, "invalid UTF-8")
    }

    /// What went wrong.
    public var kind: Kind
    /// What exactly is wrong, for people.
    public var detail: String
    /// The header whose value is wrong (long form), when the error is in a header.
    public var headerName: String?
    /// Byte offset in the message where the problem was found, when known.
    public var offset: Int?
    /// The limit that was exceeded, for ``Kind-swift.struct/limitExceeded``.
    public var limit: SIPLimitViolation?

    /// An error of `kind` with its `detail`, the long name of the header it is in, the byte offset where it was
    /// found, and, for ``Kind-swift.struct/limitExceeded``, the limit exceeded.
    public init(
        _ kind: Kind, _ detail: String, header: String? = nil, offset: Int? = nil, limit: SIPLimitViolation? = nil
    ) {
        self.kind = kind
        self.detail = detail
        self.headerName = header
        self.offset = offset
        self.limit = limit
    }

    static func limit(_ name: SIPLimits.Name, actual: Int, maximum: Int, offset: Int? = nil) -> SIPParseError {
        SIPParseError(
            .limitExceeded, "\(name) is \(actual), the limit is \(maximum)", offset: offset,
            limit: SIPLimitViolation(limit: name, actual: actual, maximum: maximum))
    }

    /// The response a UAS sends for a request that fails this way, when the request can be answered
    /// at all (RFC 3261 §8.2, §21): 505 for a version it does not support, 413 for an oversized
    /// message, 400 for the rest.
    public var suggestedStatus: Int {
        switch kind {
        case .unsupportedVersion: return 505
        case .limitExceeded:
            switch limit?.limit {
            case .messageSize?, .bodySize?: return 413
            default: return 400
            }
        default: return 400
        }
    }

    /// `kind: detail`, then ` (in Header)` and ` at byte N` when these are known.
    public var description: String {
        var s = "\(kind): \(detail)"
        if let headerName { s += " (in \(headerName))" }
        if let offset { s += " at byte \(offset)" }
        return s
    }
}

/// A limit that a message exceeded: which, by how much.
public struct SIPLimitViolation: Hashable, Sendable {
    /// The limit exceeded.
    public var limit: SIPLimits.Name
    /// The size or count found when the parser stopped, which is over ``maximum``.
    public var actual: Int
    /// The largest size or count allowed.
    public var maximum: Int
}
