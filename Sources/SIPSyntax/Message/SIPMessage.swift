/// A SIP request or response (RFC 3261 §7): start line, header fields in wire order, body bytes.
///
/// Parse one with ``init(parsing:limits:)``; build one with ``request(method:uri:headers:body:)``,
/// ``response(status:reason:headers:body:)`` or ``init(wire:)``; turn it into bytes with ``serialized()``.
public struct SIPMessage: Sendable {
    /// The Request-Line or Status-Line.
    public enum StartLine: Sendable, Hashable {
        /// A request's Request-Line (§7.1).
        case request(RequestLine)
        /// A response's Status-Line (§7.2).
        case response(StatusLine)
    }

    /// The message's parts, in one object shared by its copies until one of them changes (copy
    /// on write): a message is copied several times on its way through the stack (into its
    /// transaction, into the actions that hand it to the core), and copying one reference costs
    /// one retain where copying every part cost one for each of its buffers.
    // @unchecked: a Storage is changed only when uniquely referenced (`makeUnique()`), so a
    // shared one is immutable.
    final class Storage: @unchecked Sendable {
        var startLine: StartLine {
            didSet { method = Self.method(of: startLine) }
        }
        /// The request's method, read once from the start line: asking for it copied the
        /// Request-Line out of the enum, retaining its buffers.
        private(set) var method: SIPMethod?
        var headers: SIPHeaders
        var body: ArraySlice<UInt8>
        /// The received bytes of this message (start line to the end of its body), while unchanged.
        var wire: ArraySlice<UInt8>?
        var startLineChanged = false
        var bodyChanged = false
        /// What the parser found about the hot headers; nil once the headers change.
        var cache: Essentials?

        init(
            startLine: StartLine, headers: SIPHeaders, body: ArraySlice<UInt8>, wire: ArraySlice<UInt8>?,
            cache: Essentials?
        ) {
            self.startLine = startLine
            self.method = Self.method(of: startLine)
            self.headers = headers
            self.body = body
            self.wire = wire
            self.cache = cache
        }

        static func method(of line: StartLine) -> SIPMethod? {
            if case .request(let l) = line { return l.method }
            return nil
        }

        func copy() -> Storage {
            let c = Storage(startLine: startLine, headers: headers, body: body, wire: wire, cache: cache)
            c.startLineChanged = startLineChanged
            c.bodyChanged = bodyChanged
            return c
        }
    }

    var storage: Storage

    /// Before any change: a storage other copies share is copied first.
    @inline(__always)
    mutating func makeUnique() {
        if !isKnownUniquelyReferenced(&storage) { storage = storage.copy() }
    }

    /// The Request-Line of a request, the Status-Line of a response (§7.1, §7.2).
    public var startLine: StartLine {
        _read { yield storage.startLine }
        set {
            makeUnique()
            storage.startLine = newValue
            storage.startLineChanged = true
        }
    }

    /// The header fields, in wire order (§7.3).
    public var headers: SIPHeaders {
        _read { yield storage.headers }
        _modify {
            makeUnique()
            storage.cache = nil
            yield &storage.headers
        }
        set {
            makeUnique()
            storage.cache = nil
            storage.headers = newValue
        }
    }

    /// The body, as bytes (RFC 3261 §7.4). On a parsed message it shares the received buffer.
    public var body: ArraySlice<UInt8> {
        _read { yield storage.body }
        set {
            makeUnique()
            storage.body = newValue
            storage.bodyChanged = true
        }
    }

    /// The received bytes of this message (start line to the end of its body), while unchanged.
    var wire: ArraySlice<UInt8>? { storage.wire }
    var startLineChanged: Bool { storage.startLineChanged }
    var bodyChanged: Bool { storage.bodyChanged }
    /// What the parser found about the hot headers; nil once the headers change.
    var cache: Essentials? { storage.cache }

    init(
        startLine: StartLine, headers: SIPHeaders, body: ArraySlice<UInt8>, wire: ArraySlice<UInt8>?, cache: Essentials?
    ) {
        storage = Storage(startLine: startLine, headers: headers, body: body, wire: wire, cache: cache)
    }

    /// A new request for `method` and `uri`, with the given header fields (name, value) in order and `body`.
    public static func request(method: SIPMethod, uri: URI, headers: [(SIPHeaderName, String)] = [], body: [UInt8] = [])
        -> SIPMessage
    {
        var h = SIPHeaders()
        // Room for the fields given and those a stack adds (Via, Max-Forwards, Content-Length):
        // one allocation, not one per doubling.
        h.fields.reserveCapacity(headers.count + 3)
        for (n, v) in headers { h.append(n, v) }
        let m = SIPMessage(
            startLine: .request(RequestLine(method: method, uri: uri)), headers: h, body: body[...],
            wire: nil, cache: nil)
        m.storage.startLineChanged = true
        m.storage.bodyChanged = true
        return m
    }

    /// A new response with the given header fields (name, value) in order. The reason phrase
    /// defaults to the IANA one for the code.
    public static func response(
        status: Int, reason: String? = nil, headers: [(SIPHeaderName, String)] = [], body: [UInt8] = []
    ) -> SIPMessage {
        var h = SIPHeaders()
        if !headers.isEmpty { h.fields.reserveCapacity(headers.count + 1) }
        for (n, v) in headers { h.append(n, v) }
        let m = SIPMessage(
            startLine: .response(StatusLine(status: status, reason: reason ?? SIPStatus.reasonPhrase(for: status))),
            headers: h, body: body[...], wire: nil, cache: nil)
        m.storage.startLineChanged = true
        m.storage.bodyChanged = true
        return m
    }

    /// Whether the message is a request.
    public var isRequest: Bool { if case .request = startLine { return true } else { return false } }
    /// Whether the message is a response.
    public var isResponse: Bool { !isRequest }

    /// The request method, for a request.
    public var method: SIPMethod? { storage.method }

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
    /// The method (§7.1).
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
    /// The SIP-Version (§7.1): `SIP/2.0`.
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

    /// A Request-Line for `method` and `uri`, version SIP/2.0.
    public init(method: SIPMethod, uri: URI) {
        self.method = method
        self.storage = .typed(uri)
    }

    init(method: SIPMethod, raw bytes: [UInt8], uri: URIRanges) {
        self.method = method
        self.storage = .raw(bytes, uri)
    }

    /// Request-Lines are equal when their methods, versions and Request-URIs as text (``URI/description``) are.
    public static func == (a: RequestLine, b: RequestLine) -> Bool {
        a.method == b.method && a.version == b.version && a.uri.description == b.uri.description
    }
    /// Hashes the method and the Request-URI as text, consistently with `==`.
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
    /// The SIP-Version (§7.2): `SIP/2.0`.
    public var version: String = "SIP/2.0"
    /// A Status-Line with `status` and its `reason` phrase, version SIP/2.0.
    public init(status: Int, reason: String) {
        self.status = status
        self.reason = reason
    }
}
