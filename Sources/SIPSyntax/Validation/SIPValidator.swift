/// What a user agent server does with a message, by RFC 3261 §8.2 (requests), §8.1.3.3
/// (responses) and §16.3 (proxies).
public enum SIPVerdict: Sendable, Hashable, CustomStringConvertible {
    /// Process it.
    case accept
    /// Answer with this response and do nothing else.
    case reject(SIPRejection)
    /// Discard it silently (a response, or a request too broken to answer).
    case drop(String)

    /// `accept`, `reject <status> <reason>` or `drop <why>`.
    public var description: String {
        switch self {
        case .accept: return "accept"
        case .reject(let r): return "reject \(r.status) \(r.reason)"
        case .drop(let why): return "drop \(why)"
        }
    }
}

/// A response that rejects a request: its status, reason phrase, why, and the header fields the
/// RFC asks for (Unsupported with 420, Accept with 415, Allow with 405…).
public struct SIPRejection: Error, Sendable, Hashable {
    /// The status code of the response.
    public var status: Int
    /// The reason phrase of the response.
    public var reason: String
    /// Why, for people; sent in a Warning header (code 399, RFC 3261 §20.43).
    public var detail: String
    /// The header fields the RFC asks for with this status (Unsupported with 420, Accept with 415, Allow with 405…).
    public var headers: [SIPHeaderField]

    /// A rejection with `status`, its `reason` (the registered phrase by default), `detail` for the Warning, and
    /// the extra header fields.
    public init(status: Int, reason: String? = nil, detail: String, headers: [SIPHeaderField] = []) {
        self.status = status
        self.reason = reason ?? SIPStatus.reasonPhrase(for: status)
        self.detail = detail
        self.headers = headers
    }

    /// The response to `request`: §8.2.6 headers, the required extra ones, and a Warning.
    public func response(to request: SIPMessage, agent: String = "sippet") -> SIPMessage {
        var r = request.makeResponse(status: status, reason: reason)
        for h in headers { r.headers.append(h.name, h.value) }
        r.headers.append(.warning, "399 \(agent) \(quote(detail))")
        return r
    }
}

/// What the element supports, for validation.
public struct SIPValidationPolicy: Sendable, Hashable {
    /// The role of the element: proxies check Proxy-Require and Max-Forwards (§16.3) and forward
    /// what a UAS would reject; user agents check Require and bodies (§8.2).
    public enum Role: Sendable, Hashable {
        /// A user agent client or server (RFC 3261 §8.2).
        case userAgent
        /// A proxy (RFC 3261 §16.3).
        case proxy
    }

    /// The role of the element: a user agent by default.
    public var role: Role = .userAgent
    /// Methods the UAS implements; others known to it get 405, unknown ones 501 (§8.2.1).
    public var allowedMethods: [SIPMethod] = [.invite, .ack, .bye, .cancel, .options, .register]
    /// Request-URI schemes it serves (§8.2.2.1); others get 416.
    public var uriSchemes: Set<String> = ["sip", "sips"]
    /// Option tags it supports (§8.2.2.3, §20.32); others in Require get 420.
    public var supportedExtensions: Set<String> = []
    /// Body types it understands (§8.2.3); others get 415.
    public var acceptedContentTypes: [String] = ["application/sdp"]
    /// Whether REGISTER is handled as a registrar (§10.3: the To must be a SIP or SIPS AOR).
    public var isRegistrar: Bool = true

    /// The policy of a user agent that implements the methods of RFC 3261, serves `sip` and `sips` URIs, accepts
    /// SDP bodies, supports no option tags and acts as a registrar.
    public init() {}
    /// The default policy, for a user agent (``init()``).
    public static let userAgent = SIPValidationPolicy()
    /// The default policy with the role of a proxy.
    public static var proxy: SIPValidationPolicy {
        var p = SIPValidationPolicy()
        p.role = .proxy
        return p
    }
}

/// Semantic checks on parsed messages, apart from parsing (so that a proxy can forward what a UAS
/// would reject).
public enum SIPValidator {
    /// The verdict for a parsed message.
    public static func validate(_ m: SIPMessage, policy: SIPValidationPolicy = .userAgent) -> SIPVerdict {
        guard case .request(let line) = m.startLine else { return validateResponse(m, policy: policy) }
        let h = m.headers
        // One pass over the fields counts each known header (by id, saturating at 255).
        var contentTypes: UInt8 = 0
        let counted: SIPVerdict? = withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 256) { counts in
            counts.initialize(repeating: 0)
            for f in h.fields where counts[Int(f.id)] < 255 { counts[Int(f.id)] += 1 }
            contentTypes = counts[Int(KnownHeader.contentType)]
            // §8.1.1: To, From, CSeq, Call-ID, Max-Forwards and Via are mandatory. Max-Forwards
            // is tolerated when absent, for RFC 2543 peers (RFC 4475 §3.4.1).
            for (id, name) in Self.mandatory where counts[Int(id)] == 0 {
                return reject(400, "Missing \(name.text)", "the request has no \(name.text) header")
            }
            // §7.3.1, §20: these appear once (RFC 4475 §3.3.8).
            for (id, name) in Self.single where counts[Int(id)] > 1 {
                return reject(400, "Multiple \(name.text)", "\(name.text) appears \(h.count(name)) times")
            }
            return nil
        }
        if let counted { return counted }
        let method = line.method
        // §16.3 step 3 (proxy): Max-Forwards 0 ends the request here — 483, except OPTIONS which may be answered.
        if policy.role == .proxy, m.maxForwards == 0, method != .options {
            return reject(483, nil, "Max-Forwards is 0")
        }
        // §8.2.1: methods.
        if policy.role == .userAgent, !policy.allowedMethods.contains(method) {
            let allow = SIPHeaderField(
                name: .allow, value: policy.allowedMethods.map(\.rawValue).joined(separator: ", "))
            if SIPMethod.standard.contains(method) {
                return .reject(SIPRejection(status: 405, detail: "\(method) is not allowed here", headers: [allow]))
            }
            return .reject(SIPRejection(status: 501, detail: "\(method) is not implemented", headers: [allow]))
        }
        // §8.2.2.1: Request-URI scheme.
        let scheme = line.uriScheme
        if !policy.uriSchemes.contains(scheme) {
            return reject(416, nil, "the Request-URI scheme \(scheme) is not supported")
        }
        // §10.3 step 3 (registrar): the To header field is the address-of-record, a SIP or SIPS URI.
        if policy.role == .userAgent, policy.isRegistrar, method == .register {
            guard let to = try? h.first(.to) else { return reject(400, "Bad To", "the To header does not parse") }
            if to.uri.sipURI == nil {
                return reject(400, "Bad To", "the address-of-record \(to.uri.scheme): is not a SIP URI")
            }
        }
        // §8.2.2.3 (UAS: Require; not for ACK or CANCEL) and §16.3 step 5 (proxy: Proxy-Require).
        let requireKey: SIPHeaderKey<String> = policy.role == .proxy ? .proxyRequire : .require
        if method != .ack, method != .cancel {
            guard let tags = try? h.all(requireKey) else { return badHeader(requireKey.name) }
            let unsupported = tags.filter { t in
                !policy.supportedExtensions.contains { asciiCaseInsensitiveEquals($0, t) }
            }
            if !unsupported.isEmpty {
                return .reject(
                    SIPRejection(
                        status: 420,
                        detail: "unsupported \(requireKey.name.text): \(unsupported.joined(separator: ", "))",
                        headers: [SIPHeaderField(name: .unsupported, value: unsupported.joined(separator: ", "))]))
            }
        }
        guard policy.role == .userAgent else { return .accept }
        // The policy's types, parsed only when a plain type/subtype comparison does not settle it.
        var understood: [MediaType] { policy.acceptedContentTypes.compactMap { try? MediaType($0) } }
        // §8.2.3: content processing. A multipart body is let through: its parts are the application's.
        if !m.body.isEmpty {
            var accept: SIPHeaderField {
                SIPHeaderField(name: .accept, value: policy.acceptedContentTypes.joined(separator: ", "))
            }
            // The usual case, a Content-Type that is one of the accepted types as written, needs no parse.
            let plainType = contentTypes == 1 ? h.firstIndex(known: KnownHeader.contentType).map(h.valueText(at:)) : nil
            let typeAccepted =
                plainType.map { t in
                    // type "/" subtype, both tokens (§20.15): what the parse would accept.
                    t.utf8.count(where: { $0 == UInt8(ascii: "/") }) == 1 && t.utf8.first != UInt8(ascii: "/")
                        && t.utf8.last != UInt8(ascii: "/")
                        && t.utf8.allSatisfy { $0 == UInt8(ascii: "/") || ASCII.isToken($0) }
                        && policy.acceptedContentTypes.contains { asciiCaseInsensitiveEquals($0, t) }
                } ?? false
            if typeAccepted {
                // Checked below as for any type: the content coding.
            } else if let type = try? h.first(.contentType) {
                let essence = type.essence
                if !asciiCaseInsensitiveEquals(type.type, "multipart"),
                    !policy.acceptedContentTypes.contains(where: { asciiCaseInsensitiveEquals($0, essence) }),
                    !understood.contains(where: { $0.matches(type) })
                {
                    return .reject(
                        SIPRejection(status: 415, detail: "\(essence) bodies are not understood", headers: [accept]))
                }
            } else {
                if h.contains(.contentType) { return badHeader(.contentType) }
                return .reject(SIPRejection(status: 415, detail: "a body without Content-Type", headers: [accept]))
            }
            guard let codings = try? h.all(.contentEncoding) else { return badHeader(.contentEncoding) }
            if let coding = codings.first(where: { !asciiCaseInsensitiveEquals($0, "identity") }) {
                return .reject(
                    SIPRejection(
                        status: 415, detail: "content coding \(coding) is not understood",
                        headers: [SIPHeaderField(name: .acceptEncoding, value: "identity")]))
            }
        }
        // RFC 4475 §3.3.15: an INVITE whose Accept (§20.1) excludes every body type the answer can carry.
        if method == .invite, h.contains(.accept) {
            guard let ranges = try? h.all(.accept) else { return badHeader(.accept) }
            if !ranges.isEmpty,
                !understood.contains(where: { offered in ranges.contains { $0.matches(offered) && $0.q != 0 } })
            {
                return .reject(
                    SIPRejection(
                        status: 406,
                        detail: "the Accept header excludes \(policy.acceptedContentTypes.joined(separator: ", "))"))
            }
        }
        return .accept
    }

    /// §8.1.3.3: a response with more than one Via is discarded by a UAC; one without Via anywhere.
    /// The headers a request must have (§8.1.1), and those it may have once only (§7.3.1, §20).
    static let mandatory: [(UInt8, SIPHeaderName)] = [
        (KnownHeader.via, .via), (KnownHeader.from, .from), (KnownHeader.to, .to),
        (KnownHeader.callID, .callID), (KnownHeader.cseq, .cseq),
    ]
    static let single: [(UInt8, SIPHeaderName)] = [
        (KnownHeader.from, .from), (KnownHeader.to, .to), (KnownHeader.callID, .callID), (KnownHeader.cseq, .cseq),
        (KnownHeader.maxForwards, .maxForwards), (KnownHeader.contentLength, .contentLength),
        (KnownHeader.contentType, .contentType),
    ]

    static func validateResponse(_ m: SIPMessage, policy: SIPValidationPolicy) -> SIPVerdict {
        guard let e = m.essentials, e.viaCount > 0 else { return .drop("a response without Via") }
        if policy.role == .userAgent, e.viaCount > 1 {
            return .drop("a response with \(e.viaCount) Via values (§8.1.3.3)")
        }
        for name in [SIPHeaderName.from, .to, .callID, .cseq] where !m.headers.contains(name) {
            return .drop("a response without \(name.text)")
        }
        return .accept
    }

    /// The verdict for bytes off the network: parse them, and if that fails, decide whether the
    /// request can still be answered (its top Via's sent-protocol and sent-by parse, and it has a
    /// CSeq) — 505 for an unsupported version (§8.2.7? no: §21.5.6), 501 for an unknown method
    /// whose CSeq disagrees (RFC 4475 §3.1.2.18), 400 otherwise — or must be dropped.
    public static func validate(bytes: [UInt8], policy: SIPValidationPolicy = .userAgent, limits: SIPLimits = .default)
        -> (message: SIPMessage?, error: SIPParseError?, verdict: SIPVerdict)
    {
        do {
            let m = try SIPMessage(parsing: bytes, limits: limits)
            return (m, nil, validate(m, policy: policy))
        } catch {
            return (nil, error, verdictForUnparseable(bytes, error, policy: policy))
        }
    }

    /// A best-effort reading of a message that failed to parse, for answering it (RFC 4475 §3.1.2).
    public static func verdictForUnparseable(_ bytes: [UInt8], _ error: SIPParseError, policy: SIPValidationPolicy)
        -> SIPVerdict
    {
        guard
            let rough = try? MessageParser.parse(
                bytes, limits: .default, framing: .datagram, ignoreContentLength: true, lenient: true),
            case .request(let line) = rough.startLine
        else { return .drop("unparseable: \(error)") }
        guard let vi = rough.headers.firstIndex(known: KnownHeader.via) else { return .drop("no Via to answer to") }
        var s = rough.headers.scanner(at: vi)
        guard (try? HeaderGrammar.viaSentBy(&s)) != nil, rough.headers.contains(.cseq) else {
            return .drop("no usable Via or CSeq to answer to")
        }
        if error.kind == .unsupportedVersion { return reject(505, nil, error.detail) }
        if error.kind == .cseqMethodMismatch, !SIPMethod.standard.contains(line.method) {
            return .reject(
                SIPRejection(
                    status: 501, detail: "\(line.method) is not implemented",
                    headers: [
                        SIPHeaderField(
                            name: .allow, value: policy.allowedMethods.map(\.rawValue).joined(separator: ", "))
                    ]))
        }
        return reject(400, nil, error.description)
    }

    /// The response for bytes that failed to parse but can be answered, or nil.
    public static func rejectionResponse(
        for bytes: [UInt8], error: SIPParseError, policy: SIPValidationPolicy = .userAgent
    ) -> SIPMessage? {
        guard case .reject(let r) = verdictForUnparseable(bytes, error, policy: policy),
            let rough = try? MessageParser.parse(
                bytes, limits: .default, framing: .datagram, ignoreContentLength: true, lenient: true)
        else { return nil }
        return r.response(to: rough)
    }

    private static func reject(_ status: Int, _ reason: String?, _ detail: String) -> SIPVerdict {
        .reject(SIPRejection(status: status, reason: reason, detail: detail))
    }

    /// §8.2 / §21.4.1: a header the request needs here does not parse.
    private static func badHeader(_ name: SIPHeaderName) -> SIPVerdict {
        reject(400, "Bad \(name.text)", "the \(name.text) header does not parse")
    }
}
