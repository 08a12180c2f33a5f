import SIPSyntax

extension Registrar {
    /// What one REGISTER asks of the location service (RFC 3261 §10.3 steps 5 and 6), read once,
    /// and the rules of steps 6 to 8 that turn an address-of-record's bindings into the new ones.
    ///
    /// The same rules serve every location store — memory, SQLite, PostgreSQL — so that a REGISTER
    /// gets the same answer from each: the store reads the address-of-record's live bindings,
    /// calls ``apply(to:now:policy:)`` and writes what it returns, in one transaction.
    public struct Registration: Sendable {
        /// The address-of-record in canonical form (step 5, ``Registrar/canonicalAOR(_:)``).
        public var aor: String
        /// The request's Call-ID and CSeq number (step 7's ordering).
        public var callID: String
        /// The CSeq number.
        public var sequence: UInt32
        /// The Contact values (a `*` alone, or addresses).
        public var contacts: [ContactValue]
        /// The Expires header, if the request has one.
        public var headerExpires: Int?
        /// Where the request came from.
        public var source: Source?
        /// Its Path values (RFC 3327), in order.
        public var path: [String]

        /// The rejection of a full location service: 503 with Retry-After (RFC 3261 §21.5.4).
        public static let full = SIPRejection(
            status: 503, detail: "the location service is full",
            headers: [SIPHeaderField(name: .retryAfter, value: "60")])

        /// Reads a REGISTER: 404 when the To is not a SIP or SIPS address-of-record (step 5), 400
        /// when a Call-ID, CSeq, Contact or Expires does not parse.
        public static func read(_ request: SIPMessage) -> Result<Registration, SIPRejection> {
            guard let to = request.to, to.uri.sipURI != nil else {
                return .failure(
                    SIPRejection(status: 404, detail: "the To header is not a SIP or SIPS address-of-record"))
            }
            guard let callID = request.callID, let cseq = request.cseq else {
                return .failure(SIPRejection(status: 400, detail: "the request has no Call-ID or CSeq"))
            }
            guard let contacts = try? request.headers.all(.contact) else {
                return .failure(SIPRejection(status: 400, detail: "a Contact header does not parse"))
            }
            var headerExpires: Int?
            if request.headers.contains(.expires) {
                guard let e = try? request.headers.first(.expires) else {
                    return .failure(SIPRejection(status: 400, detail: "the Expires header is not delta-seconds"))
                }
                headerExpires = e
            }
            return .success(
                Registration(
                    aor: Registrar.canonicalAOR(to.uri), callID: callID, sequence: cseq.sequence, contacts: contacts,
                    headerExpires: headerExpires, source: Source(of: request), path: request.headers.values(.path)))
        }

        /// Steps 6 and 7 on `current`, the address-of-record's live bindings at `now`
        /// (milliseconds): the bindings it has after this request, or why the request is refused —
        /// 400 for `*` misuse or a bad `expires`, 423 with Min-Expires for too short an interval, 500
        /// for a request older than a binding it changes, 403 past
        /// ``Registrar/Policy/maxBindingsPerAOR``. All of the request or none of it.
        public func apply(to current: [Binding], now: UInt64, policy: Policy) -> Result<[Binding], SIPRejection> {
            var list = current
            // Step 6: `Contact: *` must come alone and with Expires: 0.
            if contacts.contains(.wildcard) {
                guard contacts.count == 1, headerExpires == 0 else {
                    return .failure(
                        SIPRejection(status: 400, detail: "Contact: * needs Expires: 0 and no other Contact"))
                }
                // Step 7: each binding goes unless it was made by this Call-ID with a later CSeq.
                if list.contains(where: { $0.callID == callID && $0.cseq >= sequence }) {
                    return .failure(
                        SIPRejection(status: 500, detail: "the request is older than a binding it removes (CSeq)"))
                }
                return .success([])
            }
            for contact in contacts {
                guard let address = contact.address else { continue }
                // Step 6: the contact's expires parameter, else the Expires header, else the default.
                var seconds: UInt32
                if let p = address.parameters.value("expires") {
                    guard let v = UInt32(p) else {
                        return .failure(SIPRejection(status: 400, detail: "the expires parameter is not delta-seconds"))
                    }
                    seconds = v
                } else if let h = headerExpires {
                    seconds = UInt32(clamping: h)
                } else {
                    seconds = policy.defaultExpires
                }
                if seconds > 0, seconds < policy.minExpires {
                    return .failure(
                        SIPRejection(
                            status: 423, detail: "an interval of \(seconds) s is below the minimum",
                            headers: [SIPHeaderField(name: .minExpires, value: String(policy.minExpires))]))
                }
                seconds = min(seconds, policy.maxExpires)
                // Step 7: a binding for the same URI (compared by §19.1.4) is updated or removed,
                // unless this request is older than the one that made it.
                var bound = address
                bound.parameters.elements.removeAll { $0.name.lowercased() == "expires" }
                let binding = Binding(
                    contact: bound, callID: callID, cseq: sequence, expiresAt: now + UInt64(seconds) * 1000,
                    source: source, path: path)
                // (Compared with the binding before this request, so that a contact listed twice in
                // it is not refused for the CSeq it just gave the first copy.)
                let before = current.first { $0.contact.uri == address.uri }
                if let i = list.firstIndex(where: { $0.contact.uri == address.uri }) {
                    if let before, before.callID == callID, before.cseq >= sequence {
                        return .failure(
                            SIPRejection(status: 500, detail: "the request is older than the binding it updates (CSeq)")
                        )
                    }
                    if seconds == 0 { list.remove(at: i) } else { list[i] = binding }
                } else if seconds > 0 {
                    list.append(binding)
                }
            }
            if list.count > current.count, list.count > policy.maxBindingsPerAOR {
                return .failure(
                    SIPRejection(
                        status: 403, detail: "more than \(policy.maxBindingsPerAOR) contacts for one address-of-record")
                )
            }
            return .success(list)
        }

        /// Step 8: 200 with every binding in force and the seconds it has left, and the Path
        /// recorded, echoed (RFC 3327 §5.3).
        public func response(to request: SIPMessage, bindings list: [Binding], now: UInt64) -> SIPMessage {
            var ok = request.makeResponse(status: 200)
            for p in path { ok.headers.append(.path, p) }
            for b in list {
                var c = b.contact
                c.parameters.set("expires", String((b.expiresAt &- now &+ 999) / 1000))
                ok.headers.append(.contact, c.description)
            }
            return ok
        }
    }
}
