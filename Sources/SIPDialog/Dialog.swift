import SIPSyntax

/// Why a dialog cannot be made from a request and its response, or a request made in it.
public enum DialogError: Error, Hashable, Sendable, CustomStringConvertible {
    /// A header the dialog needs is missing or does not parse: its name.
    case missingHeader(String)
    /// The response has no To tag: it makes no dialog (RFC 3261 §12.1).
    case noRemoteTag
    /// The response's status makes no dialog (only 101-199 with a tag and 2xx do).
    case noDialogStatus(Int)
    /// The dialog has ended.
    case terminated

    /// What is wrong.
    public var description: String {
        switch self {
        case .missingHeader(let h): "missing or invalid \(h)"
        case .noRemoteTag: "no To tag"
        case .noDialogStatus(let s): "a \(s) makes no dialog"
        case .terminated: "the dialog has ended"
        }
    }
}

/// A dialog (RFC 3261 §12): the peer-to-peer relationship an INVITE (or SUBSCRIBE, REFER…) and
/// its answer make, with what every request in it needs.
///
/// A value with no I/O, like the transaction machines: it is made from a request and its response
/// (``uac(request:response:secure:)``, §12.1.2; ``uas(request:response:secure:)``, §12.1.1), builds
/// the requests sent in it (``makeRequest(_:contact:headers:body:)``, §12.2.1.1, loose and strict
/// routing), checks the requests received in it (``receive(request:)``, §12.2.2) and takes the
/// responses to its own (``receive(response:to:)``, §12.2.1.2). It is `Codable`, so that a
/// restarted application can rebuild it and still send a BYE.
public struct Dialog: Sendable, Hashable, Codable {
    /// What identifies a dialog (§12): the Call-ID, the local tag and the remote tag.
    public struct ID: Hashable, Sendable, Codable, CustomStringConvertible {
        /// The Call-ID.
        public var callID: String
        /// This side's tag.
        public var localTag: String
        /// The other side's tag.
        public var remoteTag: String

        /// An ID of the three parts.
        public init(callID: String, localTag: String, remoteTag: String) {
            self.callID = callID
            self.localTag = localTag
            self.remoteTag = remoteTag
        }

        /// The dialog an incoming request belongs to, seen from its recipient (§12.2.2: the To tag
        /// is the local one); nil when the request has no To tag (it is outside any dialog).
        public init?(incoming request: SIPMessage) {
            guard let callID = request.callID, let local = request.toTag, let remote = request.fromTag else {
                return nil
            }
            self.init(callID: callID, localTag: local, remoteTag: remote)
        }

        /// The dialog a response belongs to, seen from the side that sent the request (the From
        /// tag is the local one); nil without both tags.
        public init?(response: SIPMessage) {
            guard let callID = response.callID, let local = response.fromTag, let remote = response.toTag else {
                return nil
            }
            self.init(callID: callID, localTag: local, remoteTag: remote)
        }

        /// `call-id;local;remote`.
        public var description: String { "\(callID);\(localTag);\(remoteTag)" }
    }

    /// A dialog's state (§12: early after a provisional response, confirmed after a 2xx).
    public enum State: String, Sendable, Hashable, Codable {
        /// Made by a provisional response with a To tag.
        case early
        /// Made, or confirmed, by a 2xx.
        case confirmed
        /// Ended (BYE, §15; a 481 or 408 to a request in it, §12.2.1.2; a failure ending an early
        /// dialog, §12.3).
        case terminated
    }

    /// Which side of the dialog this is.
    public enum Role: String, Sendable, Hashable, Codable {
        /// It sent the request that made the dialog.
        case uac
        /// It answered it.
        case uas
    }

    /// The dialog's ID.
    public var id: ID
    /// Which side this is.
    public let role: Role
    /// The state.
    public internal(set) var state: State
    /// The CSeq number of the last request this side sent in the dialog; nil while empty (a UAS
    /// that has sent none, §12.1.1).
    public internal(set) var localSequence: UInt32?
    /// The CSeq number of the last request received in the dialog; nil while empty (a UAC before
    /// the first request from the other side, §12.1.2).
    public internal(set) var remoteSequence: UInt32?
    /// This side's address (the From of its requests), without tag.
    public internal(set) var localURI: NameAddress
    /// The other side's address (the To of this side's requests), without tag.
    public internal(set) var remoteURI: NameAddress
    /// Where requests in the dialog go: the other side's Contact (§12.1), replaced by target
    /// refreshes (§12.2).
    public internal(set) var remoteTarget: URI
    /// The route set (§12.1): Record-Route as the UAS saw it in the request, reversed for the
    /// UAC from the response. Fixed once the dialog is confirmed.
    public internal(set) var routeSet: [NameAddress]
    /// Whether the dialog is secure (§12.1: a `sips:` Request-URI over TLS).
    public let isSecure: Bool

    // MARK: - Making one

    /// The UAC's dialog (§12.1.2) from the request it sent and a response with a To tag: 101-199
    /// (early) or 2xx (confirmed). `secure`: the request went over TLS to a `sips:` URI (by
    /// default, whether its Request-URI is `sips:`).
    public static func uac(request: SIPMessage, response: SIPMessage, secure: Bool? = nil) throws(DialogError)
        -> Dialog
    {
        let state = try state(for: response)
        guard let callID = request.callID else { throw .missingHeader("Call-ID") }
        guard let from = request.from, let localTag = from.tag else { throw .missingHeader("From tag") }
        guard let to = response.to else { throw .missingHeader("To") }
        guard let remoteTag = to.tag else { throw .noRemoteTag }
        guard let cseq = request.cseq else { throw .missingHeader("CSeq") }
        guard let requestURI = request.requestURI else { throw .missingHeader("Request-URI") }
        let records: [NameAddress]
        do { records = try response.headers.all(.recordRoute) } catch { throw .missingHeader("Record-Route") }
        return Dialog(
            id: ID(callID: callID, localTag: localTag, remoteTag: remoteTag), role: .uac, state: state,
            localSequence: cseq.sequence, remoteSequence: nil, localURI: from.withoutTag, remoteURI: to.withoutTag,
            remoteTarget: response.contact.first?.address?.uri ?? requestURI, routeSet: records.reversed(),
            isSecure: secure ?? requestURI.sipURI?.isSecure ?? false)
    }

    /// The UAS's dialog (§12.1.1) from the request it received and the response it sends with a
    /// To tag (101-199: early, 2xx: confirmed). The route set is the request's Record-Route in
    /// order; the response should carry the same Record-Route (§12.1.1).
    public static func uas(request: SIPMessage, response: SIPMessage, secure: Bool? = nil) throws(DialogError)
        -> Dialog
    {
        let state = try state(for: response)
        guard let callID = request.callID else { throw .missingHeader("Call-ID") }
        guard let from = request.from, let remoteTag = from.tag else { throw .missingHeader("From tag") }
        guard let to = response.to, let localTag = to.tag else { throw .missingHeader("To tag") }
        guard let cseq = request.cseq else { throw .missingHeader("CSeq") }
        guard let requestURI = request.requestURI else { throw .missingHeader("Request-URI") }
        guard let contact = request.contact.first?.address?.uri else { throw .missingHeader("Contact") }
        let records: [NameAddress]
        do { records = try request.headers.all(.recordRoute) } catch { throw .missingHeader("Record-Route") }
        return Dialog(
            id: ID(callID: callID, localTag: localTag, remoteTag: remoteTag), role: .uas, state: state,
            localSequence: nil, remoteSequence: cseq.sequence, localURI: to.withoutTag, remoteURI: from.withoutTag,
            remoteTarget: contact, routeSet: records, isSecure: secure ?? requestURI.sipURI?.isSecure ?? false)
    }

    private static func state(for response: SIPMessage) throws(DialogError) -> State {
        guard let status = response.status else { throw .missingHeader("status line") }
        switch status {
        case 101..<200: return .early
        case 200..<300: return .confirmed
        default: throw .noDialogStatus(status)
        }
    }

    /// A dialog of these values, as saved (``Codable``) or built by hand.
    public init(
        id: ID, role: Role, state: State, localSequence: UInt32?, remoteSequence: UInt32?, localURI: NameAddress,
        remoteURI: NameAddress, remoteTarget: URI, routeSet: [NameAddress], isSecure: Bool
    ) {
        self.id = id
        self.role = role
        self.state = state
        self.localSequence = localSequence
        self.remoteSequence = remoteSequence
        self.localURI = localURI
        self.remoteURI = remoteURI
        self.remoteTarget = remoteTarget
        self.routeSet = routeSet
        self.isSecure = isSecure
    }

    // MARK: - Requests sent in it (§12.2.1.1)

    /// A request in the dialog (§12.2.1.1): To the remote URI and tag, From the local URI and
    /// tag, the Call-ID, the next local CSeq number (an initial one when empty), and the
    /// Request-URI and Route from the remote target and the route set — loose routing when the
    /// first route has `lr` (Request-URI the remote target, Route the route set), strict routing
    /// otherwise (Request-URI the first route, stripped of what a Request-URI may not carry; Route
    /// the rest, then the remote target). `contact`: this side's target, for a target refresh
    /// (re-INVITE, UPDATE, §12.2.1.1 "MUST contain a Contact"). No Via: the stack adds it.
    ///
    /// For ACK and CANCEL use ``makeAck(cseq:headers:body:)``; a CANCEL copies its request
    /// (§9.1).
    public mutating func makeRequest(
        _ method: SIPMethod, contact: URI? = nil, headers extra: [(SIPHeaderName, String)] = [], body: [UInt8] = []
    ) throws(DialogError) -> SIPMessage {
        guard state != .terminated else { throw .terminated }
        let sequence = (localSequence ?? Self.initialSequence) &+ (localSequence == nil ? 0 : 1)
        localSequence = sequence
        return build(method, sequence: sequence, contact: contact, headers: extra, body: body)
    }

    /// The ACK for a 2xx to the INVITE of CSeq number `cseq` (§13.2.2.4): built as any request
    /// of the dialog, with the INVITE's CSeq number, leaving the local sequence as it is.
    public func makeAck(cseq: UInt32, headers extra: [(SIPHeaderName, String)] = [], body: [UInt8] = []) -> SIPMessage {
        build(.ack, sequence: cseq, contact: nil, headers: extra, body: body)
    }

    /// The CSeq number a UAS starts from when it sends its first request in a dialog (§12.2.1.1:
    /// any value below 2^31; 1 keeps traces readable and leaves the whole space).
    public static let initialSequence: UInt32 = 1

    private func build(
        _ method: SIPMethod, sequence: UInt32, contact: URI?, headers extra: [(SIPHeaderName, String)], body: [UInt8]
    ) -> SIPMessage {
        var requestURI = remoteTarget
        var routes = routeSet
        if let first = routeSet.first, first.uri.sipURI?.isLooseRouter != true {
            // §12.2.1.1, strict routing: the first route becomes the Request-URI, and the remote
            // target goes last in Route.
            requestURI = Self.requestURI(from: first.uri)
            routes = Array(routeSet.dropFirst()) + [NameAddress(uri: remoteTarget)]
        }
        var to = remoteURI
        to.parameters.set("tag", id.remoteTag)
        var from = localURI
        from.parameters.set("tag", id.localTag)
        var fields: [(SIPHeaderName, String)] = [
            (.to, to.description), (.from, from.description), (.callID, id.callID), (.cseq, "\(sequence) \(method)"),
        ]
        for r in routes { fields.append((.route, r.description)) }
        if let contact { fields.append((.contact, "<\(contact)>")) }
        fields += extra
        return .request(method: method, uri: requestURI, headers: fields, body: body)
    }

    /// A URI as a Request-URI may carry it (§19.1.1, Table 1): without the `method` parameter
    /// and without headers.
    static func requestURI(from uri: URI) -> URI {
        guard var sip = uri.sipURI else { return uri }
        sip.parameters.remove("method")
        sip.headers = []
        return .sip(sip)
    }

    // MARK: - Requests received in it (§12.2.2)

    /// What to do with a request received in the dialog.
    public enum RequestVerdict: Hashable, Sendable {
        /// Take it: it is in order. For a BYE the dialog has ended (§15.1.2: answer 200).
        case accept
        /// Answer it with this status and no more: 500 for a request out of order (§12.2.2),
        /// 481 in a dialog that has ended.
        case reject(status: Int)
    }

    /// Checks a request received in the dialog (§12.2.2): a CSeq number lower than the remote
    /// sequence number gets 500; otherwise it becomes the remote sequence number. A target
    /// refresh (re-INVITE, UPDATE; SUBSCRIBE, NOTIFY and REFER too) with a Contact replaces the
    /// remote target. A BYE ends the dialog (§15.1.2). ACK and CANCEL carry the CSeq of their
    /// INVITE and are not checked.
    public mutating func receive(request: SIPMessage) -> RequestVerdict {
        guard let method = request.method, let cseq = request.cseq else { return .reject(status: 400) }
        if method == .ack || method == .cancel { return .accept }
        guard state != .terminated else { return .reject(status: 481) }
        if let last = remoteSequence, cseq.sequence < last { return .reject(status: 500) }
        remoteSequence = cseq.sequence
        if Self.isTargetRefresh(method), let target = request.contact.first?.address?.uri { remoteTarget = target }
        if method == .bye { state = .terminated }
        return .accept
    }

    /// Whether `method` refreshes the remote target (RFC 3261 §12.2, RFC 3311 §5.1, RFC 6665
    /// §4.1.3, RFC 3515 §2.4.6).
    public static func isTargetRefresh(_ method: SIPMethod) -> Bool {
        switch method {
        case .invite, .update, .subscribe, .notify, .refer: return true
        default: return false
        }
    }

    // MARK: - Responses to its requests (§12.2.1.2)

    /// Takes a response to a request of the dialog (or, for the UAC of an early dialog, a
    /// later response to the INVITE that made it), `method` the request's.
    ///
    /// - A 2xx confirms an early dialog, and the UAC recomputes its route set from the 2xx's
    ///   Record-Route (§13.2.2.4); a 2xx to a target refresh replaces the remote target with its
    ///   Contact (§12.2.1.2).
    /// - A 481 or 408 ends the dialog (§12.2.1.2); so does a final failure to the INVITE of an
    ///   early dialog (§12.3).
    public mutating func receive(response: SIPMessage, to method: SIPMethod) {
        guard let status = response.status, state != .terminated else { return }
        if status == 481 || status == 408 {
            state = .terminated
            return
        }
        if status >= 300, method == .invite, state == .early {
            state = .terminated
            return
        }
        guard status >= 101 else { return }
        if status < 300, Self.isTargetRefresh(method), let target = response.contact.first?.address?.uri {
            remoteTarget = target
        }
        if status >= 200, status < 300, state == .early {
            state = .confirmed
            if role == .uac, let records = try? response.headers.all(.recordRoute) { routeSet = records.reversed() }
        }
    }

    /// Ends the dialog (a BYE sent, §15.1.1; a session that expired).
    public mutating func terminate() { state = .terminated }

    // MARK: - Codable

    private enum CodingKeys: String, CodingKey {
        case callID, localTag, remoteTag, role, state, localSequence, remoteSequence, localURI, remoteURI
        case remoteTarget, routeSet, isSecure
    }

    /// A dialog saved by ``encode(to:)``. The addresses are read back from their text.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        id = ID(
            callID: try c.decode(String.self, forKey: .callID), localTag: try c.decode(String.self, forKey: .localTag),
            remoteTag: try c.decode(String.self, forKey: .remoteTag))
        role = try c.decode(Role.self, forKey: .role)
        state = try c.decode(State.self, forKey: .state)
        localSequence = try c.decodeIfPresent(UInt32.self, forKey: .localSequence)
        remoteSequence = try c.decodeIfPresent(UInt32.self, forKey: .remoteSequence)
        localURI = try NameAddress(try c.decode(String.self, forKey: .localURI))
        remoteURI = try NameAddress(try c.decode(String.self, forKey: .remoteURI))
        remoteTarget = try URI(try c.decode(String.self, forKey: .remoteTarget))
        routeSet = try c.decode([String].self, forKey: .routeSet).map { try NameAddress($0) }
        isSecure = try c.decode(Bool.self, forKey: .isSecure)
    }

    /// Saves the dialog: its ID, state, sequence numbers, and its addresses as text.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id.callID, forKey: .callID)
        try c.encode(id.localTag, forKey: .localTag)
        try c.encode(id.remoteTag, forKey: .remoteTag)
        try c.encode(role, forKey: .role)
        try c.encode(state, forKey: .state)
        try c.encodeIfPresent(localSequence, forKey: .localSequence)
        try c.encodeIfPresent(remoteSequence, forKey: .remoteSequence)
        try c.encode(localURI.description, forKey: .localURI)
        try c.encode(remoteURI.description, forKey: .remoteURI)
        try c.encode(remoteTarget.description, forKey: .remoteTarget)
        try c.encode(routeSet.map(\.description), forKey: .routeSet)
        try c.encode(isSecure, forKey: .isSecure)
    }
}

extension NameAddress {
    /// The address without its `tag` parameter.
    var withoutTag: NameAddress {
        var copy = self
        copy.parameters.remove("tag")
        return copy
    }
}

extension SIPMessage {
    /// A response to this request that makes or confirms a dialog (RFC 3261 §12.1.1): the
    /// §8.2.6.2 response (Via, From, To with `toTag`, Call-ID, CSeq), the request's Record-Route
    /// copied in order, and `contact`, this UAS's target. Use the same `toTag` for every
    /// response of one dialog.
    public func makeDialogResponse(status: Int, toTag: String, contact: URI, reason: String? = nil) -> SIPMessage {
        var r = makeResponse(status: status, reason: reason, toTag: toTag)
        for value in headers.values(.recordRoute) { r.headers.append(.recordRoute, value) }
        r.headers.append(.contact, "<\(contact)>")
        return r
    }
}
