/// `name-addr` or `addr-spec` with header parameters: the value of From, To, Contact, Route,
/// Record-Route, Reply-To, Path, Service-Route, P-Asserted-Identity, Refer-To… (RFC 3261 §20.10,
/// §20.20, §20.39, §25.1).
public struct NameAddress: Sendable, Hashable, CustomStringConvertible {
    /// The display name, unquoted and unescaped, if any.
    public var displayName: String?
    /// The address: the URI of the name-addr or addr-spec.
    public var uri: URI
    /// Header parameters (after the URI, outside `<>`): `tag`, `expires`, `q`…, as written.
    public var parameters: SIPParameters

    /// An address of `uri`, with a display name and header parameters if any.
    public init(displayName: String? = nil, uri: URI, parameters: SIPParameters = []) {
        self.displayName = displayName
        self.uri = uri
        self.parameters = parameters
    }

    /// Parses one name-addr / addr-spec with its parameters.
    public init(_ text: String) throws(SIPParseError) {
        var s = SIPScanner(text)
        let r = try HeaderGrammar.nameAddr(&s)
        try s.expectEnd()
        self.init(ranges: r, bytes: s.bytes)
    }

    init(ranges r: NameAddrRanges, bytes b: [UInt8]) {
        if let d = r.displayName {
            let text = String(decoding: b[d], as: UTF8.self)
            displayName = text.hasPrefix("\"") ? unquote(text) : unfoldedText(b, d)
        }
        uri = URI(ranges: r.uri, bytes: b)
        parameters = SIPParameters(generic: b, r.params)
    }

    /// `tag` parameter (§19.3).
    public var tag: String? {
        get { parameters.value("tag") }
        set { parameters.set("tag", newValue) }
    }

    /// Canonical text: `"Display" <uri>;params`. The URI always goes in `<>`, which §20.10 allows
    /// everywhere and requires when it holds ',', ';' or '?'.
    public var description: String {
        var s = ""
        if let displayName {
            s += displayNameIsToken(displayName) ? displayName : quote(displayName)
            s += " "
        }
        s += "<" + uri.description + ">"
        s += parameters.description
        return s
    }

    @Sendable static func key(_ s: inout SIPScanner) throws(SIPParseError) -> NameAddress {
        NameAddress(ranges: try HeaderGrammar.nameAddr(&s), bytes: s.bytes)
    }
}

func displayNameIsToken(_ s: String) -> Bool {
    !s.isEmpty && s.utf8.allSatisfy { ASCII.isToken($0) || $0 == ASCII.sp } && !s.hasPrefix(" ") && !s.hasSuffix(" ")
}

/// A Contact value: `*` or an address (RFC 3261 §20.10).
public enum ContactValue: Sendable, Hashable, CustomStringConvertible {
    /// `Contact: *`, only in a REGISTER with `Expires: 0` (§10.2.2).
    case wildcard
    /// An address, with its parameters.
    case address(NameAddress)

    /// The address; nil for the wildcard.
    public var address: NameAddress? { if case .address(let a) = self { return a } else { return nil } }

    /// The `expires` parameter (§10.2.1.1), when present and a valid delta-seconds.
    public var expires: UInt32? {
        guard let v = address?.parameters.value("expires") else { return nil }
        return UInt32(v)
    }

    /// The `q` parameter (§20.10).
    public var q: Double? { address?.parameters.value("q").flatMap(Double.init) }

    /// `*`, or the address as ``NameAddress/description`` writes it.
    public var description: String {
        switch self {
        case .wildcard: return "*"
        case .address(let a): return a.description
        }
    }
}

/// Via (RFC 3261 §20.42): sent-protocol, sent-by and parameters.
public struct Via: Sendable, Hashable, CustomStringConvertible {
    /// Usually "SIP".
    public var protocolName: String = "SIP"
    /// Usually "2.0".
    public var protocolVersion: String = "2.0"
    /// UDP, TCP, TLS, SCTP, WS, WSS, or an extension, uppercased as written.
    public var transport: String
    /// The host of sent-by: where the element that added this Via wants responses (§18.2.1).
    public var host: SIPHost
    /// The port of sent-by, if written; without it the transport's default port applies (§18.2.2).
    public var port: Int?
    /// All parameters in order, as written (branch, received, rport, maddr, ttl, extensions).
    public var parameters: SIPParameters

    /// A Via of `transport` and sent-by `host`:`port`, with `branch` set among `parameters` when given.
    public init(
        transport: String, host: SIPHost, port: Int? = nil, branch: String? = nil, parameters: SIPParameters = []
    ) {
        self.transport = transport
        self.host = host
        self.port = port
        self.parameters = parameters
        if let branch { self.parameters.set("branch", branch) }
    }

    /// Parses one Via value.
    public init(_ text: String) throws(SIPParseError) {
        var s = SIPScanner(text)
        let r = try HeaderGrammar.via(&s)
        try s.expectEnd()
        self.init(ranges: r, bytes: s.bytes)
    }

    init(ranges r: ViaRanges, bytes b: [UInt8]) {
        protocolName = String(decoding: b[r.protocolName], as: UTF8.self)
        protocolVersion = String(decoding: b[r.protocolVersion], as: UTF8.self)
        transport = String(decoding: b[r.transport], as: UTF8.self)
        host = SIPHost(String(decoding: b[r.host], as: UTF8.self))
        port = r.port
        parameters = SIPParameters(generic: b, r.params)
    }

    /// `branch` (§8.1.1.7).
    public var branch: String? {
        get { parameters.value("branch") }
        set { parameters.set("branch", newValue) }
    }
    /// `received` (§18.2.1).
    public var received: String? {
        get { parameters.value("received") }
        set { parameters.set("received", newValue) }
    }
    /// `rport` (RFC 3581): `.some(nil)` when requested without a value.
    public var rport: Int?? {
        get {
            guard let v = parameters["rport"] else { return nil }
            return .some(v.flatMap { Int($0) })
        }
        set {
            if let newValue { parameters.set("rport", newValue.map(String.init)) } else { parameters.remove("rport") }
        }
    }
    /// `maddr` (§18.2.2).
    public var maddr: String? { parameters.value("maddr") }
    /// `ttl`.
    public var ttl: Int? { parameters.value("ttl").flatMap { Int($0) } }

    /// Whether the branch carries the RFC 3261 magic cookie `z9hG4bK` (§8.1.1.7).
    public var hasMagicCookie: Bool { branch?.hasPrefix("z9hG4bK") ?? false }

    /// sent-by as `host[:port]`.
    public var sentBy: String { port.map { "\(host.text):\($0)" } ?? host.text }

    /// `SIP/2.0/UDP host:port;params`, as on the wire.
    public var description: String {
        "\(protocolName)/\(protocolVersion)/\(transport) \(sentBy)\(parameters.description)"
    }
}

/// CSeq (RFC 3261 §20.16): a sequence number below 2**31 and the method.
public struct CSeq: Sendable, Hashable, CustomStringConvertible {
    /// The sequence number: below 2**31, it orders the requests of a dialog (§8.1.1.5).
    public var sequence: UInt32
    /// The method, which must match the request's (§8.1.1.5).
    public var method: SIPMethod
    /// A CSeq of `sequence` and `method`.
    public init(_ sequence: UInt32, _ method: SIPMethod) {
        self.sequence = sequence
        self.method = method
    }
    /// `4711 INVITE`.
    public var description: String { "\(sequence) \(method)" }
}
