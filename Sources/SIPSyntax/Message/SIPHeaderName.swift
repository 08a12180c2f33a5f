/// A header field name. Names compare case-insensitively (RFC 3261 §7.3.1), and a compact form
/// (§7.3.3, IANA "Header Fields" registry) equals its long form: `"v" == .via`.
public struct SIPHeaderName: Hashable, Sendable, CustomStringConvertible, ExpressibleByStringLiteral {
    /// Index into ``KnownHeader/all`` plus one; 0 for a name this library does not know.
    let known: UInt8
    /// The long form for a known header; the name as given otherwise.
    public let text: String

    /// The header named `name`, long or compact form, in any case. A name this library knows is kept in its
    /// long form (`SIPHeaderName("v").text` is `Via`); another is kept as given.
    public init(_ name: String) {
        if let k = KnownHeader.lookup(Array(name.utf8), 0..<name.utf8.count) {
            self.known = k
            self.text = KnownHeader.all[Int(k) - 1].name
        } else {
            self.known = 0
            self.text = name
        }
    }

    /// The header named by a literal, as ``init(_:)``.
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

    /// The name as ``text`` gives it.
    public var description: String { text }

    /// Names are equal case-insensitively, and a compact form equals its long form (§7.3.1, §7.3.3).
    public static func == (a: SIPHeaderName, b: SIPHeaderName) -> Bool {
        if a.known != 0 || b.known != 0 { return a.known == b.known }
        return asciiCaseInsensitiveEquals(a.text, b.text)
    }

    /// Hashes the name, consistently with `==`.
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

    // BEGIN GENERATED table by scripts/generate-header-names.py — do not edit
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
    // END GENERATED table

    /// The id (1-based) of the header named by `bytes[range]`, long or compact form, any case.
    static func lookup(_ bytes: [UInt8], _ range: Range<Int>) -> UInt8? {
        bytes.withUnsafeBufferPointer { lookup($0, range) }
    }

    // BEGIN GENERATED lookup by scripts/generate-header-names.py — do not edit
    /// The id (1-based) of the header named by `p[range]`, long or compact form, any case.
    /// Generated: a switch on the length, then the name, lowercased and read 8 bytes at a time as
    /// little-endian words, compared with each name of that length.
    static func lookup(_ p: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> UInt8? {
        let n = range.count
        guard n >= 1, n <= 20, range.lowerBound >= 0, range.upperBound <= p.count, let base = p.baseAddress else {
            return nil
        }
        let start = base + range.lowerBound
        if n == 1 {
            switch ASCII.lower(start[0]) {
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
        // Bytes of the buffer from the name's start: a whole word is loaded when they suffice.
        let avail = p.count - range.lowerBound
        let w0 = lowercasedWord(start, 0, n, avail)
        let w1 = n > 8 ? lowercasedWord(start, 8, n, avail) : 0
        let w2 = n > 16 ? lowercasedWord(start, 16, n, avail) : 0
        switch n {
        case 2:
            if w0 == 0x0000_0000_0000_6F74 { return 60 }  // to
        case 3:
            if w0 == 0x0000_0000_0061_6976 { return 63 }  // via
        case 4:
            if w0 == 0x0000_0000_7165_7363 { return 18 }  // cseq
            if w0 == 0x0000_0000_6574_6164 { return 19 }  // date
            if w0 == 0x0000_0000_6D6F_7266 { return 23 }  // from
            if w0 == 0x0000_0000_6874_6170 { return 34 }  // path
            if w0 == 0x0000_0000_6B63_6172 { return 40 }  // rack
            if w0 == 0x0000_0000_7165_7372 { return 52 }  // rseq
        case 5:
            if w0 == 0x0000_0077_6F6C_6C61 { return 6 }  // allow
            if w0 == 0x0000_0074_6E65_7665 { return 21 }  // event
            if w0 == 0x0000_0065_7475_6F72 { return 51 }  // route
        case 6:
            if w0 == 0x0000_7470_6563_6361 { return 1 }  // accept
            if w0 == 0x0000_6573_2D6E_696D { return 30 }  // min-se
            if w0 == 0x0000_6E6F_7361_6572 { return 41 }  // reason
            if w0 == 0x0000_7265_7672_6573 { return 53 }  // server
        case 7:
            if w0 == 0x0064_692D_6C6C_6163 { return 10 }  // call-id
            if w0 == 0x0074_6361_746E_6F63 { return 12 }  // contact
            if w0 == 0x0073_6572_6970_7865 { return 22 }  // expires
            if w0 == 0x0079_6361_7669_7270 { return 36 }  // privacy
            if w0 == 0x0065_7269_7571_6572 { return 49 }  // require
            if w0 == 0x0074_6365_6A62_7573 { return 56 }  // subject
            if w0 == 0x0067_6E69_6E72_6177 { return 64 }  // warning
        case 8:
            if w0 == 0x7974_6974_6E65_6469 { return 24 }  // identity
            if w0 == 0x7974_6972_6F69_7270 { return 35 }  // priority
            if w0 == 0x6F74_2D72_6566_6572 { return 43 }  // refer-to
            if w0 == 0x7365_6361_6C70_6572 { return 46 }  // replaces
            if w0 == 0x6F74_2D79_6C70_6572 { return 47 }  // reply-to
        case 9:
            if w0 == 0x666E_692D_6C6C_6163 && w1 == 0x0000_0000_0000_006F { return 11 }  // call-info
            if w0 == 0x6574_726F_7070_7573 && w1 == 0x0000_0000_0000_0064 { return 58 }  // supported
            if w0 == 0x6D61_7473_656D_6974 && w1 == 0x0000_0000_0000_0070 { return 59 }  // timestamp
        case 10:
            if w0 == 0x6E69_2D74_7265_6C61 && w1 == 0x0000_0000_0000_6F66 { return 5 }  // alert-info
            if w0 == 0x6E69_2D72_6F72_7265 && w1 == 0x0000_0000_0000_6F66 { return 20 }  // error-info
            if w0 == 0x6567_612D_7265_7375 && w1 == 0x0000_0000_0000_746E { return 62 }  // user-agent
        case 11:
            if w0 == 0x796C_7065_722D_6E69 && w1 == 0x0000_0000_006F_742D { return 26 }  // in-reply-to
            if w0 == 0x6970_7865_2D6E_696D && w1 == 0x0000_0000_0073_6572 { return 29 }  // min-expires
            if w0 == 0x6465_7272_6566_6572 && w1 == 0x0000_0000_0079_622D { return 44 }  // referred-by
            if w0 == 0x6661_2D79_7274_6572 && w1 == 0x0000_0000_0072_6574 { return 50 }  // retry-after
            if w0 == 0x726F_7070_7573_6E75 && w1 == 0x0000_0000_0064_6574 { return 61 }  // unsupported
        case 12:
            if w0 == 0x7665_2D77_6F6C_6C61 && w1 == 0x0000_0000_7374_6E65 { return 7 }  // allow-events
            if w0 == 0x2D74_6E65_746E_6F63 && w1 == 0x0000_0000_6570_7974 { return 17 }  // content-type
            if w0 == 0x7772_6F66_2D78_616D && w1 == 0x0000_0000_7364_7261 { return 27 }  // max-forwards
            if w0 == 0x7265_762D_656D_696D && w1 == 0x0000_0000_6E6F_6973 { return 28 }  // mime-version
            if w0 == 0x617A_696E_6167_726F && w1 == 0x0000_0000_6E6F_6974 { return 31 }  // organization
            if w0 == 0x722D_6472_6F63_6572 && w1 == 0x0000_0000_6574_756F { return 42 }  // record-route
        case 13:
            if w0 == 0x7A69_726F_6874_7561 && w1 == 0x0000_006E_6F69_7461 { return 9 }  // authorization
            if w0 == 0x7974_6974_6E65_6469 && w1 == 0x0000_006F_666E_692D { return 25 }  // identity-info
            if w0 == 0x6572_2D79_786F_7270 && w1 == 0x0000_0065_7269_7571 { return 39 }  // proxy-require
            if w0 == 0x2D65_6369_7672_6573 && w1 == 0x0000_0065_7475_6F72 { return 54 }  // service-route
        case 14:
            if w0 == 0x632D_7470_6563_6361 && w1 == 0x0000_7463_6174_6E6F { return 2 }  // accept-contact
            if w0 == 0x2D74_6E65_746E_6F63 && w1 == 0x0000_6874_676E_656C { return 16 }  // content-length
            if w0 == 0x632D_7463_656A_6572 && w1 == 0x0000_7463_6174_6E6F { return 45 }  // reject-contact
        case 15:
            if w0 == 0x652D_7470_6563_6361 && w1 == 0x0067_6E69_646F_636E { return 3 }  // accept-encoding
            if w0 == 0x6C2D_7470_6563_6361 && w1 == 0x0065_6761_7567_6E61 { return 4 }  // accept-language
            if w0 == 0x2D6E_6F69_7373_6573 && w1 == 0x0073_6572_6970_7865 { return 55 }  // session-expires
        case 16:
            if w0 == 0x2D74_6E65_746E_6F63 && w1 == 0x676E_6964_6F63_6E65 { return 14 }  // content-encoding
            if w0 == 0x2D74_6E65_746E_6F63 && w1 == 0x6567_6175_676E_616C { return 15 }  // content-language
            if w0 == 0x6874_7561_2D77_7777 && w1 == 0x6574_6163_6974_6E65 { return 65 }  // www-authenticate
        case 18:
            // proxy-authenticate
            if w0 == 0x7561_2D79_786F_7270 && w1 == 0x6163_6974_6E65_6874 && w2 == 0x0000_0000_0000_6574 { return 37 }
            // subscription-state
            if w0 == 0x7069_7263_7362_7573 && w1 == 0x6174_732D_6E6F_6974 && w2 == 0x0000_0000_0000_6574 { return 57 }
        case 19:
            // authentication-info
            if w0 == 0x6974_6E65_6874_7561 && w1 == 0x692D_6E6F_6974_6163 && w2 == 0x0000_0000_006F_666E { return 8 }
            // content-disposition
            if w0 == 0x2D74_6E65_746E_6F63 && w1 == 0x7469_736F_7073_6964 && w2 == 0x0000_0000_006E_6F69 { return 13 }
            // p-asserted-identity
            if w0 == 0x7472_6573_7361_2D70 && w1 == 0x746E_6564_692D_6465 && w2 == 0x0000_0000_0079_7469 { return 32 }
            // proxy-authorization
            if w0 == 0x7561_2D79_786F_7270 && w1 == 0x7461_7A69_726F_6874 && w2 == 0x0000_0000_006E_6F69 { return 38 }
            // request-disposition
            if w0 == 0x2D74_7365_7571_6572 && w1 == 0x7469_736F_7073_6964 && w2 == 0x0000_0000_006E_6F69 { return 48 }
        case 20:
            // p-preferred-identity
            if w0 == 0x7265_6665_7270_2D70 && w1 == 0x6E65_6469_2D64_6572 && w2 == 0x0000_0000_7974_6974 { return 33 }
        default: break
        }
        return nil
    }
    // END GENERATED lookup

    /// Bytes `at..<min(at + 8, n)` of the name at `s`, ASCII-lowercased, as a little-endian word
    /// (zero beyond the name). Reads 8 bytes at once when `at + 8 <= avail`, the bytes readable at `s`.
    @inline(__always)
    static func lowercasedWord(_ s: UnsafePointer<UInt8>, _ at: Int, _ n: Int, _ avail: Int) -> UInt64 {
        let len = Swift.min(n - at, 8)
        var x: UInt64 = 0
        if at + 8 <= avail {
            x = UInt64(littleEndian: UnsafeRawPointer(s + at).loadUnaligned(as: UInt64.self))
            if len < 8 { x &= (1 &<< (UInt64(len) &* 8)) &- 1 }
        } else {
            for k in 0..<len { x |= UInt64(s[at + k]) &<< (UInt64(k) &* 8) }
        }
        // ASCII.lower on each byte: 0x20 added to the bytes 0x41...0x5A (no carry crosses bytes).
        let ones: UInt64 = 0x0101_0101_0101_0101
        let low7 = x & (ones &* 0x7F)
        let atLeastA = low7 &+ ones &* (0x80 - 0x41)
        let aboveZ = low7 &+ ones &* (0x80 - 0x5B)
        let upper = atLeastA & ~aboveZ & ~x & (ones &* 0x80)
        return x | (upper &>> 2)
    }

    static func id(_ name: String) -> UInt8 {
        guard let i = all.firstIndex(where: { $0.name == name }) else { return 0 }
        return UInt8(i + 1)
    }

    // Ids used by the parser's hot path, as literals (a computed initializer would cost a
    // `swift_once` on every read). ParserInternalsTests checks them against `all`.
    // BEGIN GENERATED ids by scripts/generate-header-names.py — do not edit
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
    static let timestamp: UInt8 = 59
    // END GENERATED ids

    /// The long names as bytes, by id − 1, for comparing with received bytes.
    static let names: [[UInt8]] = all.map { Array($0.name.utf8) }
}

extension SIPHeaderName {
    /// The names of the headers this library knows (RFC 3261 §20 and the extensions), in their long forms.
    // BEGIN GENERATED names by scripts/generate-header-names.py — do not edit
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
        from = SIPHeaderName("From"), identity = SIPHeaderName("Identity"),
        identityInfo = SIPHeaderName("Identity-Info"), inReplyTo = SIPHeaderName("In-Reply-To"),
        maxForwards = SIPHeaderName("Max-Forwards"), mimeVersion = SIPHeaderName("MIME-Version"),
        minExpires = SIPHeaderName("Min-Expires"), minSE = SIPHeaderName("Min-SE"),
        organization = SIPHeaderName("Organization"), pAssertedIdentity = SIPHeaderName("P-Asserted-Identity"),
        pPreferredIdentity = SIPHeaderName("P-Preferred-Identity"), path = SIPHeaderName("Path"),
        priority = SIPHeaderName("Priority"), privacy = SIPHeaderName("Privacy"),
        proxyAuthenticate = SIPHeaderName("Proxy-Authenticate"),
        proxyAuthorization = SIPHeaderName("Proxy-Authorization"), proxyRequire = SIPHeaderName("Proxy-Require"),
        rack = SIPHeaderName("RAck"), reason = SIPHeaderName("Reason"), recordRoute = SIPHeaderName("Record-Route"),
        referTo = SIPHeaderName("Refer-To"), referredBy = SIPHeaderName("Referred-By"),
        rejectContact = SIPHeaderName("Reject-Contact"), replaces = SIPHeaderName("Replaces"),
        replyTo = SIPHeaderName("Reply-To"), requestDisposition = SIPHeaderName("Request-Disposition"),
        require = SIPHeaderName("Require"), retryAfter = SIPHeaderName("Retry-After"), route = SIPHeaderName("Route"),
        rseq = SIPHeaderName("RSeq"), server = SIPHeaderName("Server"), serviceRoute = SIPHeaderName("Service-Route"),
        sessionExpires = SIPHeaderName("Session-Expires"), subject = SIPHeaderName("Subject"),
        subscriptionState = SIPHeaderName("Subscription-State"), supported = SIPHeaderName("Supported"),
        timestamp = SIPHeaderName("Timestamp"), to = SIPHeaderName("To"), unsupported = SIPHeaderName("Unsupported"),
        userAgent = SIPHeaderName("User-Agent"), via = SIPHeaderName("Via"), warning = SIPHeaderName("Warning"),
        wwwAuthenticate = SIPHeaderName("WWW-Authenticate")
    // END GENERATED names

    /// Whether this header's grammar is a comma-separated list (RFC 3261 §7.3.1), so that several
    /// lines of it equal one line with the values joined by commas. Unknown headers are not.
    public var isList: Bool { known != 0 && KnownHeader.all[Int(known) - 1].isList }
}
