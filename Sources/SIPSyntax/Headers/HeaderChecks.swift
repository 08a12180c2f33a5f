// Strict checking of every header this library knows by name, with the grammar of its typed key.

/// The typed key of each known header, as a check that parses a field and drops the values.
enum HeaderChecks {
    typealias Check = @Sendable (inout SIPScanner) throws(SIPParseError) -> Void

    /// What the checks know about one header's key, for tests.
    struct Entry: Sendable {
        let name: SIPHeaderName
        let isList: Bool
        let allowsEmpty: Bool
        let check: Check
    }

    static func entry<V>(_ key: SIPHeaderKey<V>) -> Entry {
        Entry(
            name: key.name, isList: key.isList, allowsEmpty: key.allowsEmpty,
            check: { (s: inout SIPScanner) throws(SIPParseError) in _ = try key.parseField(&s) })
    }

    /// Known headers whose values this library does not type: any value is accepted.
    /// Identity (RFC 8224) is a signed token with parameters; Identity-Info (RFC 4474) is obsolete.
    static let untyped: [SIPHeaderName] = [.identity, .identityInfo]

    // swift-format-ignore
    static let entries: [Entry] = [
        entry(.accept), entry(.acceptContact), entry(.acceptEncoding), entry(.acceptLanguage), entry(.alertInfo),
        entry(.allow), entry(.allowEvents), entry(.authenticationInfo), entry(.authorization), entry(.callID),
        entry(.callInfo), entry(.contact), entry(.contentDisposition), entry(.contentEncoding), entry(.contentLanguage),
        entry(.contentLength), entry(.contentType), entry(.cseq), entry(.date), entry(.errorInfo), entry(.event),
        entry(.expires), entry(.from), entry(.inReplyTo), entry(.maxForwards), entry(.mimeVersion), entry(.minExpires),
        entry(.minSE), entry(.organization), entry(.pAssertedIdentity), entry(.pPreferredIdentity), entry(.path),
        entry(.priority), entry(.privacy), entry(.proxyAuthenticate), entry(.proxyAuthorization), entry(.proxyRequire),
        entry(.rack), entry(.reason), entry(.recordRoute), entry(.referTo), entry(.referredBy), entry(.rejectContact),
        entry(.replaces), entry(.replyTo), entry(.requestDisposition), entry(.require), entry(.retryAfter), entry(.route),
        entry(.rseq), entry(.server), entry(.serviceRoute), entry(.sessionExpires), entry(.subject),
        entry(.subscriptionState), entry(.supported), entry(.timestamp), entry(.to), entry(.unsupported),
        entry(.userAgent), entry(.via), entry(.warning), entry(.wwwAuthenticate),
    ]

    /// The check for each known header, indexed by its id minus one; nil for an untyped one.
    static let byID: [Check?] = {
        var t = [Check?](repeating: nil, count: KnownHeader.all.count)
        for e in entries where e.name.known != 0 { t[Int(e.name.known) - 1] = e.check }
        return t
    }()
}

extension SIPHeaders {
    /// Parses every field whose name is a known header with that header's typed key; throws the
    /// first error, which names the header.
    func checkKnownHeaders() throws(SIPParseError) {
        for i in fields.indices {
            let id = Int(fields[i].id)
            guard id > 0, id <= HeaderChecks.byID.count, let check = HeaderChecks.byID[id - 1] else { continue }
            var s = scanner(at: i)
            try check(&s)
        }
    }

    /// Checks the value of every header this library knows by name against its grammar (RFC 3261
    /// §20 and §25.1, and the extension RFCs cited on each key), the way reading it with its typed
    /// key would: Accept, Date, Warning, Retry-After, Authorization, Supported… Unknown extension
    /// headers, and known ones whose values are not typed (Identity), are not checked.
    ///
    /// Parsing a message checks only the headers every element needs (Via, From, To, Call-ID,
    /// CSeq, Max-Forwards, Content-Length); a UAS calls this to answer a request with any other
    /// malformed header with 400 (§8.2, §21.4.1), as RFC 4475 §3.1.2.12 (a Date in EST) expects.
    ///
    /// - Throws: the first ``SIPParseError``, its ``SIPParseError/headerName`` naming the header.
    public func validateKnownHeaders() throws(SIPParseError) {
        try checkKnownHeaders()
    }
}
