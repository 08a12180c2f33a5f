/// A SIP request or response (RFC 3261 §7): start line, header fields in wire order, body bytes.
///
/// Parse one with ``init(parsing:limits:)``; build one with ``request(method:uri:headers:body:)``,
/// ``response(status:reason:headers:body:)`` or ``init(wire:)``; turn it into bytes with ``serialized()``.
public struct SIPMessage: Sendable {
    /// The Request-Line or Status-Line.
    public enum StartLine: Sendable, Hashable {
        case request(RequestLine)
        case response(StatusLine)
    }

    public var startLine: StartLine {
        didSet { startLineChanged = true }
    }

    public var headers: SIPHeaders {
        didSet { cache = nil }
    }

    /// The body, as bytes (RFC 3261 §7.4). On a parsed message it shares the received buffer.
    public var body: ArraySlice<UInt8> {
        didSet { bodyChanged = true }
    }

    /// The received bytes of this message (start line to the end of its body), while unchanged.
    var wire: ArraySlice<UInt8>?
    var startLineChanged = false
    var bodyChanged = false
    /// What the parser found about the hot headers; nil once the headers change.
    var cache: Essentials?

    init(startLine: StartLine, headers: SIPHeaders, body: ArraySlice<UInt8>, wire: ArraySlice<UInt8>?, cache: Essentials?) {
        self.startLine = startLine
        self.headers = headers
        self.body = body
        self.wire = wire
        self.cache = cache
    }

    /// A new request with the given header fields (name, value) in order.
    public static func request(method: SIPMethod, uri: URI, headers: [(SIPHeaderName, String)] = [], body: [UInt8] = []) -> SIPMessage {
        var h = SIPHeaders()
        for (n, v) in headers { h.append(n, v) }
        var m = SIPMessage(startLine: .request(RequestLine(method: method, uri: uri)), headers: h, body: body[...],
                           wire: nil, cache: nil)
        m.startLineChanged = true
        m.bodyChanged = true
        return m
    }

    /// A new response with the given header fields (name, value) in order. The reason phrase
    /// defaults to the IANA one for the code.
    public static func response(status: Int, reason: String? = nil, headers: [(SIPHeaderName, String)] = [], body: [UInt8] = []) -> SIPMessage {
        var h = SIPHeaders()
        for (n, v) in headers { h.append(n, v) }
        var m = SIPMessage(startLine: .response(StatusLine(status: status, reason: reason ?? SIPStatus.reasonPhrase(for: status))),
                           headers: h, body: body[...], wire: nil, cache: nil)
        m.startLineChanged = true
        m.bodyChanged = true
        return m
    }

    public var isRequest: Bool { if case .request = startLine { return true } else { return false } }
    public var isResponse: Bool { !isRequest }

    /// The request method, for a request.
    public var method: SIPMethod? {
        if case .request(let l) = startLine { return l.method }
        return nil
    }

    /// The Request-URI, for a request.
    public var requestURI: URI? {
        get { if case .request(let l) = startLine { return l.uri } else { return nil } }
        set {
            guard case .request(var l) = startLine, let newValue else { return }
            l.uri = newValue
            startLine = .request(l)
        }
    }

    /// The status code, for a response.
    public var status: Int? {
        if case .response(let l) = startLine { return l.status }
        return nil
    }

    /// The reason phrase, for a response.
    public var reasonPhrase: String? {
        if case .response(let l) = startLine { return l.reason }
        return nil
    }
}

/// Request-Line = Method SP Request-URI SP SIP-Version CRLF (RFC 3261 §7.1).
public struct RequestLine: Sendable, Hashable {
    public var method: SIPMethod
    /// The Request-URI, built from the received bytes when first read.
    public var uri: URI {
        get {
            switch storage {
            case .typed(let u): return u
            case .raw(let b, let r): return URI(ranges: r, bytes: b)
            }
        }
        set { storage = .typed(newValue) }
    }
    public var version: String = "SIP/2.0"

    /// The Request-URI's scheme, lowercased (``URI/scheme``), without building the URI from the
    /// received bytes when it has not been read yet.
    public var uriScheme: String {
        switch storage {
        case .typed(let u): return u.scheme
        case .raw(let b, let r):
            switch r.scheme {
            case .sip: return "sip"
            case .sips: return "sips"
            case .tel: return "tel"
            case .other: return String(decoding: b[r.schemeRange], as: UTF8.self).asciiLowercased
            }
        }
    }

    enum Storage: Sendable {
        case raw([UInt8], URIRanges)
        case typed(URI)
    }
    var storage: Storage

    public init(method: SIPMethod, uri: URI) {
        self.method = method
        self.storage = .typed(uri)
    }

    init(method: SIPMethod, raw bytes: [UInt8], uri: URIRanges) {
        self.method = method
        self.storage = .raw(bytes, uri)
    }

    public static func == (a: RequestLine, b: RequestLine) -> Bool {
        a.method == b.method && a.version == b.version && a.uri.description == b.uri.description
    }
    public func hash(into hasher: inout Hasher) {
        hasher.combine(method)
        hasher.combine(uri.description)
    }
}

/// Status-Line = SIP-Version SP Status-Code SP Reason-Phrase CRLF (RFC 3261 §7.2).
public struct StatusLine: Sendable, Hashable {
    /// 100–699.
    public var status: Int
    /// May be empty; may hold UTF-8.
    public var reason: String
    public var version: String = "SIP/2.0"
    public init(status: Int, reason: String) {
        self.status = status
        self.reason = reason
    }
}
