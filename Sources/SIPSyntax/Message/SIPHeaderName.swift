/// A header field name. Names compare case-insensitively (RFC 3261 §7.3.1), and a compact form
/// (§7.3.3, IANA "Header Fields" registry) equals its long form: `"v" == .via`.
public struct SIPHeaderName: Hashable, Sendable, CustomStringConvertible, ExpressibleByStringLiteral {
    /// Index into ``KnownHeader/all`` plus one; 0 for a name this library does not know.
    let known: UInt8
    /// The long form for a known header; the name as given otherwise.
    public let text: String

    public init(_ name: String) {
        if let k = KnownHeader.lookup(Array(name.utf8), 0..<name.utf8.count) {
            self.known = k
            self.text = KnownHeader.all[Int(k) - 1].name
        } else {
            self.known = 0
            self.text = name
        }
    }

    public init(stringLiteral value: String) { self.init(value) }

    init(known: UInt8) {
        self.known = known
        self.text = KnownHeader.all[Int(known) - 1].name
    }

    /// The compact form (§7.3.3), for a header that has one.
    public var compactForm: Character? {
        guard known != 0, let c = KnownHeader.all[Int(known) - 1].compact else { return nil }
        return Character(UnicodeScalar(c))
    }

    public var description: String { text }

    public static func == (a: SIPHeaderName, b: SIPHeaderName) -> Bool {
        if a.known != 0 || b.known != 0 { return a.known == b.known }
        return asciiCaseInsensitiveEquals(a.text, b.text)
    }

    public func hash(into hasher: inout Hasher) {
        if known != 0 { hasher.combine(known) } else { hasher.combine(text.asciiLowercased) }
    }
}

/// The header fields this library knows by name: RFC 3261 §20 and the extensions real traffic carries.
enum KnownHeader {
    struct Entry {
        let name: String
        let compact: UInt8?
        /// Whether the grammar lets several values share a line, comma-separated (RFC 3261 §7.3.1).
        let isList: Bool
    }

    // swift-format-ignore
    static let all: [Entry] = [
        Entry(name: "Accept", compact: nil, isList: true),
        Entry(name: "Accept-Contact", compact: UInt8(ascii: "a"), isList: true),            // RFC 3841
        Entry(name: "Accept-Encoding", compact: nil, isList: true),
        Entry(name: "Accept-Language", compact: nil, isList: true),
        Entry(name: "Alert-Info", compact: nil, isList: true),
        Entry(name: "Allow", compact: nil, isList: true),
        Entry(name: "Allow-Events", compact: UInt8(ascii: "u"), isList: true),              // RFC 6665
        Entry(name: "Authentication-Info", compact: nil, isList: false),
        Entry(name: "Authorization", compact: nil, isList: false),
        Entry(name: "Call-ID", compact: UInt8(ascii: "i"), isList: false),
        Entry(name: "Call-Info", compact: nil, isList: true),
        Entry(name: "Contact", compact: UInt8(ascii: "m"), isList: true),
        Entry(name: "Content-Disposition", compact: nil, isList: false),
        Entry(name: "Content-Encoding", compact: UInt8(ascii: "e"), isList: true),
        Entry(name: "Content-Language", compact: nil, isList: true),
        Entry(name: "Content-Length", compact: UInt8(ascii: "l"), isList: false),
        Entry(name: "Content-Type", compact: UInt8(ascii: "c"), isList: false),
        Entry(name: "CSeq", compact: nil, isList: false),
        Entry(name: "Date", compact: nil, isList: false),
        Entry(name: "Error-Info", compact: nil, isList: true),
        Entry(name: "Event", compact: UInt8(ascii: "o"), isList: false),                    // RFC 6665
        Entry(name: "Expires", compact: nil, isList: false),
        Entry(name: "From", compact: UInt8(ascii: "f"), isList: false),
        Entry(name: "Identity", compact: UInt8(ascii: "y"), isList: false),                 // RFC 8224
        Entry(name: "Identity-Info", compact: UInt8(ascii: "n"), isList: false),            // RFC 4474
        Entry(name: "In-Reply-To", compact: nil, isList: true),
        Entry(name: "Max-Forwards", compact: nil, isList: false),
        Entry(name: "MIME-Version", compact: nil, isList: false),
        Entry(name: "Min-Expires", compact: nil, isList: false),
        Entry(name: "Min-SE", compact: nil, isList: false),                                 // RFC 4028
        Entry(name: "Organization", compact: nil, isList: false),
        Entry(name: "P-Asserted-Identity", compact: nil, isList: true),                     // RFC 3325
        Entry(name: "P-Preferred-Identity", compact: nil, isList: true),                    // RFC 3325
        Entry(name: "Path", compact: nil, isList: true),                                    // RFC 3327
        Entry(name: "Priority", compact: nil, isList: false),
        Entry(name: "Privacy", compact: nil, isList: false),                                // RFC 3323
        Entry(name: "Proxy-Authenticate", compact: nil, isList: false),
        Entry(name: "Proxy-Authorization", compact: nil, isList: false),
        Entry(name: "Proxy-Require", compact: nil, isList: true),
        Entry(name: "RAck", compact: nil, isList: false),                                   // RFC 3262
        Entry(name: "Reason", compact: nil, isList: true),                                  // RFC 3326
        Entry(name: "Record-Route", compact: nil, isList: true),
        Entry(name: "Refer-To", compact: UInt8(ascii: "r"), isList: false),                 // RFC 3515
        Entry(name: "Referred-By", compact: UInt8(ascii: "b"), isList: false),              // RFC 3892
        Entry(name: "Reject-Contact", compact: UInt8(ascii: "j"), isList: true),            // RFC 3841
        Entry(name: "Replaces", compact: nil, isList: false),                               // RFC 3891
        Entry(name: "Reply-To", compact: nil, isList: false),
        Entry(name: "Request-Disposition", compact: UInt8(ascii: "d"), isList: true),       // RFC 3841
        Entry(name: "Require", compact: nil, isList: true),
        Entry(name: "Retry-After", compact: nil, isList: false),
        Entry(name: "Route", compact: nil, isList: true),
        Entry(name: "RSeq", compact: nil, isList: false),                                   // RFC 3262
        Entry(name: "Server", compact: nil, isList: false),
        Entry(name: "Service-Route", compact: nil, isList: true),                           // RFC 3608
        Entry(name: "Session-Expires", compact: UInt8(ascii: "x"), isList: false),          // RFC 4028
        Entry(name: "Subject", compact: UInt8(ascii: "s"), isList: false),
        Entry(name: "Subscription-State", compact: nil, isList: false),                     // RFC 6665
        Entry(name: "Supported", compact: UInt8(ascii: "k"), isList: true),
        Entry(name: "Timestamp", compact: nil, isList: false),
        Entry(name: "To", compact: UInt8(ascii: "t"), isList: false),
        Entry(name: "Unsupported", compact: nil, isList: true),
        Entry(name: "User-Agent", compact: nil, isList: false),
        Entry(name: "Via", compact: UInt8(ascii: "v"), isList: true),
        Entry(name: "Warning", compact: nil, isList: true),
        Entry(name: "WWW-Authenticate", compact: nil, isList: false),
    ]

    /// The id (1-based) of the header named by `bytes[range]`, long or compact form, any case.
    /// Generated: a switch on the length, then a comparison with each name of that length.
    static func lookup(_ bytes: [UInt8], _ range: Range<Int>) -> UInt8? {
        let n = range.count
        if n == 1 {
            switch ASCII.lower(bytes[range.lowerBound]) {
            case UInt8(ascii: "a"): return 2
            case UInt8(ascii: "b"): return 44
            case UInt8(ascii: "c"): return 17
            case UInt8(ascii: "d"): return 48
            case UInt8(ascii: "e"): return 14
            case UInt8(ascii: "f"): return 23
            case UInt8(ascii: "i"): return 10
            case UInt8(ascii: "j"): return 45
            case UInt8(ascii: "k"): return 58
            case UInt8(ascii: "l"): return 16
            case UInt8(ascii: "m"): return 12
            case UInt8(ascii: "n"): return 25
            case UInt8(ascii: "o"): return 21
            case UInt8(ascii: "r"): return 43
            case UInt8(ascii: "s"): return 56
            case UInt8(ascii: "t"): return 60
            case UInt8(ascii: "u"): return 7
            case UInt8(ascii: "v"): return 63
            case UInt8(ascii: "x"): return 55
            case UInt8(ascii: "y"): return 24
            default: return nil
            }
        }
        switch n {
        case 2:
            if bytes.equalsLowercase(range, "to") { return 60 }
        case 3:
            if bytes.equalsLowercase(range, "via") { return 63 }
        case 4:
            if bytes.equalsLowercase(range, "cseq") { return 18 }
            if bytes.equalsLowercase(range, "date") { return 19 }
            if bytes.equalsLowercase(range, "from") { return 23 }
            if bytes.equalsLowercase(range, "path") { return 34 }
            if bytes.equalsLowercase(range, "rack") { return 40 }
            if bytes.equalsLowercase(range, "rseq") { return 52 }
        case 5:
            if bytes.equalsLowercase(range, "allow") { return 6 }
            if bytes.equalsLowercase(range, "event") { return 21 }
            if bytes.equalsLowercase(range, "route") { return 51 }
        case 6:
            if bytes.equalsLowercase(range, "accept") { return 1 }
            if bytes.equalsLowercase(range, "min-se") { return 30 }
            if bytes.equalsLowercase(range, "reason") { return 41 }
            if bytes.equalsLowercase(range, "server") { return 53 }
        case 7:
            if bytes.equalsLowercase(range, "call-id") { return 10 }
            if bytes.equalsLowercase(range, "contact") { return 12 }
            if bytes.equalsLowercase(range, "expires") { return 22 }
            if bytes.equalsLowercase(range, "privacy") { return 36 }
            if bytes.equalsLowercase(range, "require") { return 49 }
            if bytes.equalsLowercase(range, "subject") { return 56 }
            if bytes.equalsLowercase(range, "warning") { return 64 }
        case 8:
            if bytes.equalsLowercase(range, "identity") { return 24 }
            if bytes.equalsLowercase(range, "priority") { return 35 }
            if bytes.equalsLowercase(range, "refer-to") { return 43 }
            if bytes.equalsLowercase(range, "replaces") { return 46 }
            if bytes.equalsLowercase(range, "reply-to") { return 47 }
        case 9:
            if bytes.equalsLowercase(range, "call-info") { return 11 }
            if bytes.equalsLowercase(range, "supported") { return 58 }
            if bytes.equalsLowercase(range, "timestamp") { return 59 }
        case 10:
            if bytes.equalsLowercase(range, "alert-info") { return 5 }
            if bytes.equalsLowercase(range, "error-info") { return 20 }
            if bytes.equalsLowercase(range, "user-agent") { return 62 }
        case 11:
            if bytes.equalsLowercase(range, "in-reply-to") { return 26 }
            if bytes.equalsLowercase(range, "min-expires") { return 29 }
            if bytes.equalsLowercase(range, "referred-by") { return 44 }
            if bytes.equalsLowercase(range, "retry-after") { return 50 }
            if bytes.equalsLowercase(range, "unsupported") { return 61 }
        case 12:
            if bytes.equalsLowercase(range, "allow-events") { return 7 }
            if bytes.equalsLowercase(range, "content-type") { return 17 }
            if bytes.equalsLowercase(range, "max-forwards") { return 27 }
            if bytes.equalsLowercase(range, "mime-version") { return 28 }
            if bytes.equalsLowercase(range, "organization") { return 31 }
            if bytes.equalsLowercase(range, "record-route") { return 42 }
        case 13:
            if bytes.equalsLowercase(range, "authorization") { return 9 }
            if bytes.equalsLowercase(range, "identity-info") { return 25 }
            if bytes.equalsLowercase(range, "proxy-require") { return 39 }
            if bytes.equalsLowercase(range, "service-route") { return 54 }
        case 14:
            if bytes.equalsLowercase(range, "accept-contact") { return 2 }
            if bytes.equalsLowercase(range, "content-length") { return 16 }
            if bytes.equalsLowercase(range, "reject-contact") { return 45 }
        case 15:
            if bytes.equalsLowercase(range, "accept-encoding") { return 3 }
            if bytes.equalsLowercase(range, "accept-language") { return 4 }
            if bytes.equalsLowercase(range, "session-expires") { return 55 }
        case 16:
            if bytes.equalsLowercase(range, "content-encoding") { return 14 }
            if bytes.equalsLowercase(range, "content-language") { return 15 }
            if bytes.equalsLowercase(range, "www-authenticate") { return 65 }
        case 18:
            if bytes.equalsLowercase(range, "proxy-authenticate") { return 37 }
            if bytes.equalsLowercase(range, "subscription-state") { return 57 }
        case 19:
            if bytes.equalsLowercase(range, "authentication-info") { return 8 }
            if bytes.equalsLowercase(range, "content-disposition") { return 13 }
            if bytes.equalsLowercase(range, "p-asserted-identity") { return 32 }
            if bytes.equalsLowercase(range, "proxy-authorization") { return 38 }
            if bytes.equalsLowercase(range, "request-disposition") { return 48 }
        case 20:
            if bytes.equalsLowercase(range, "p-preferred-identity") { return 33 }
        default: break
        }
        return nil
    }

    static func id(_ name: String) -> UInt8 {
        guard let i = all.firstIndex(where: { $0.name == name }) else { return 0 }
        return UInt8(i + 1)
    }

    // Ids used by the parser's hot path, as literals (a computed initializer would cost a
    // `swift_once` on every read). KnownHeaderTests checks them against `all`.
    static let via: UInt8 = 63
    static let from: UInt8 = 23
    static let to: UInt8 = 60
    static let callID: UInt8 = 10
    static let cseq: UInt8 = 18
    static let contentLength: UInt8 = 16
    static let maxForwards: UInt8 = 27
    static let contact: UInt8 = 12
    static let contentType: UInt8 = 17
    static let route: UInt8 = 51
    static let recordRoute: UInt8 = 42
}

extension SIPHeaderName {
    // swift-format-ignore
    public static let accept = SIPHeaderName("Accept"), acceptContact = SIPHeaderName("Accept-Contact"),
        acceptEncoding = SIPHeaderName("Accept-Encoding"), acceptLanguage = SIPHeaderName("Accept-Language"),
        alertInfo = SIPHeaderName("Alert-Info"), allow = SIPHeaderName("Allow"),
        allowEvents = SIPHeaderName("Allow-Events"), authenticationInfo = SIPHeaderName("Authentication-Info"),
        authorization = SIPHeaderName("Authorization"), callID = SIPHeaderName("Call-ID"),
        callInfo = SIPHeaderName("Call-Info"), contact = SIPHeaderName("Contact"),
        contentDisposition = SIPHeaderName("Content-Disposition"), contentEncoding = SIPHeaderName("Content-Encoding"),
        contentLanguage = SIPHeaderName("Content-Language"), contentLength = SIPHeaderName("Content-Length"),
        contentType = SIPHeaderName("Content-Type"), cseq = SIPHeaderName("CSeq"), date = SIPHeaderName("Date"),
        errorInfo = SIPHeaderName("Error-Info"), event = SIPHeaderName("Event"), expires = SIPHeaderName("Expires"),
        from = SIPHeaderName("From"), identity = SIPHeaderName("Identity"), identityInfo = SIPHeaderName("Identity-Info"),
        inReplyTo = SIPHeaderName("In-Reply-To"), maxForwards = SIPHeaderName("Max-Forwards"),
        mimeVersion = SIPHeaderName("MIME-Version"), minExpires = SIPHeaderName("Min-Expires"),
        minSE = SIPHeaderName("Min-SE"), organization = SIPHeaderName("Organization"),
        pAssertedIdentity = SIPHeaderName("P-Asserted-Identity"), pPreferredIdentity = SIPHeaderName("P-Preferred-Identity"),
        path = SIPHeaderName("Path"), priority = SIPHeaderName("Priority"), privacy = SIPHeaderName("Privacy"),
        proxyAuthenticate = SIPHeaderName("Proxy-Authenticate"), proxyAuthorization = SIPHeaderName("Proxy-Authorization"),
        proxyRequire = SIPHeaderName("Proxy-Require"), rack = SIPHeaderName("RAck"), reason = SIPHeaderName("Reason"),
        recordRoute = SIPHeaderName("Record-Route"), referTo = SIPHeaderName("Refer-To"),
        referredBy = SIPHeaderName("Referred-By"), rejectContact = SIPHeaderName("Reject-Contact"),
        replaces = SIPHeaderName("Replaces"), replyTo = SIPHeaderName("Reply-To"),
        requestDisposition = SIPHeaderName("Request-Disposition"), require = SIPHeaderName("Require"),
        retryAfter = SIPHeaderName("Retry-After"), route = SIPHeaderName("Route"), rseq = SIPHeaderName("RSeq"),
        server = SIPHeaderName("Server"), serviceRoute = SIPHeaderName("Service-Route"),
        sessionExpires = SIPHeaderName("Session-Expires"), subject = SIPHeaderName("Subject"),
        subscriptionState = SIPHeaderName("Subscription-State"), supported = SIPHeaderName("Supported"),
        timestamp = SIPHeaderName("Timestamp"), to = SIPHeaderName("To"), unsupported = SIPHeaderName("Unsupported"),
        userAgent = SIPHeaderName("User-Agent"), via = SIPHeaderName("Via"), warning = SIPHeaderName("Warning"),
        wwwAuthenticate = SIPHeaderName("WWW-Authenticate")

    /// Whether this header's grammar is a comma-separated list (RFC 3261 §7.3.1), so that several
    /// lines of it equal one line with the values joined by commas. Unknown headers are not.
    public var isList: Bool { known != 0 && KnownHeader.all[Int(known) - 1].isList }
}
