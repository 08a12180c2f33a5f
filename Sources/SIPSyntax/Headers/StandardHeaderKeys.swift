// Typed keys for the rest of RFC 3261 §20 and the extension headers real traffic carries.

extension SIPHeaderKey where Value == MediaType {
    /// Content-Type (§20.15): one media-type, no wildcards.
    public static var contentType: SIPHeaderKey<MediaType> {
        SIPHeaderKey(.contentType, parse: MediaType.contentType, write: { $0.description })
    }
    /// Accept (§20.1), a list, possibly empty: media-ranges (`*/*`, `application/*` allowed) with
    /// accept-params (`q`).
    public static var accept: SIPHeaderKey<MediaType> {
        SIPHeaderKey(.accept, isList: true, allowsEmpty: true, parse: MediaType.acceptRange, write: { $0.description })
    }
}

extension SIPHeaderKey where Value == SIPMethod {
    /// Allow (§20.5), a list of methods, possibly empty.
    public static var allow: SIPHeaderKey<SIPMethod> {
        SIPHeaderKey(
            .allow, isList: true, allowsEmpty: true,
            parse: { (s: inout SIPScanner) throws(SIPParseError) -> SIPMethod in
                SIPMethod(s.string(try s.expectToken("a method")))
            }, write: { $0.rawValue })
    }
}

extension SIPHeaderKey where Value == String {
    /// A list header whose values are tokens (option tags, codings, event types…).
    public static func tokenList(_ name: SIPHeaderName, allowsEmpty: Bool = false) -> SIPHeaderKey<String> {
        SIPHeaderKey(
            name, isList: true, allowsEmpty: allowsEmpty,
            parse: { (s: inout SIPScanner) throws(SIPParseError) -> String in
                s.string(try s.expectToken("a token"))
            }, write: { $0 })
    }

    /// A header whose value is free UTF-8 text (TEXT-UTF8-TRIM, §25.1), unfolded.
    static func text(_ name: SIPHeaderName) -> SIPHeaderKey<String> {
        SIPHeaderKey(
            name, allowsEmpty: true,
            parse: { (s: inout SIPScanner) throws(SIPParseError) -> String in
                try HeaderGrammar.utf8Text(&s)
            }, write: { $0 })
    }

    /// A header whose value is `server-val *( LWS server-val )`, server-val = product / comment
    /// (§20.35, §20.41), kept as text.
    static func products(_ name: SIPHeaderName) -> SIPHeaderKey<String> {
        SIPHeaderKey(
            name,
            parse: { (s: inout SIPScanner) throws(SIPParseError) -> String in
                let start = s.position
                while true {
                    if s.peek() == ASCII.lParen {
                        _ = try HeaderGrammar.comment(&s)
                    } else {
                        // product = token [ SLASH product-version ]
                        _ = try s.expectToken("a product or a comment")
                        if s.separator(ASCII.slash) { _ = try s.expectToken("a product version") }
                    }
                    let save = s.position
                    s.skipLWS()
                    if s.isAtEnd { break }
                    // LPAREN = SWS "(" SWS: a comment needs no whitespace before it.
                    guard s.position > save || s.peek() == ASCII.lParen else {
                        throw s.error("unexpected '\(printable(s.bytes[s.position]))'")
                    }
                }
                guard String(validating: s.bytes[start..<s.position], as: UTF8.self) != nil else {
                    throw s.error("text is not UTF-8", at: start, kind: .invalidUTF8)
                }
                return unfoldedText(s.bytes, start..<s.position)
            }, write: { $0 })
    }

    /// Content-Encoding (§20.12), a list of content-codings.
    public static var contentEncoding: SIPHeaderKey<String> { tokenList(.contentEncoding) }
    /// Content-Language (§20.13), a list of language tags.
    public static var contentLanguage: SIPHeaderKey<String> {
        SIPHeaderKey(
            .contentLanguage, isList: true,
            parse: { (s: inout SIPScanner) throws(SIPParseError) -> String in
                let t = try s.expectToken("a language tag")
                guard isLanguageTag(s.bytes, t, allowStar: false) else {
                    throw s.error("bad language tag", at: t.lowerBound)
                }
                return s.string(t)
            }, write: { $0 })
    }
    /// Supported (§20.37), a list of option tags, possibly empty.
    public static var supported: SIPHeaderKey<String> { tokenList(.supported, allowsEmpty: true) }
    /// Require (§20.32), a list of option tags.
    public static var require: SIPHeaderKey<String> { tokenList(.require) }
    /// Proxy-Require (§20.29), a list of option tags.
    public static var proxyRequire: SIPHeaderKey<String> { tokenList(.proxyRequire) }
    /// Unsupported (§20.40), a list of option tags.
    public static var unsupported: SIPHeaderKey<String> { tokenList(.unsupported) }
    /// Allow-Events (RFC 6665 §8.2.2), a list of event types.
    public static var allowEvents: SIPHeaderKey<String> { tokenList(.allowEvents) }
    /// Request-Disposition (RFC 3841 §10), a list of directives (`proxy`, `no-fork`, `parallel`…).
    public static var requestDisposition: SIPHeaderKey<String> { tokenList(.requestDisposition) }
    /// In-Reply-To (§20.21), a list of Call-IDs.
    public static var inReplyTo: SIPHeaderKey<String> {
        SIPHeaderKey(
            .inReplyTo, isList: true,
            parse: { (s: inout SIPScanner) throws(SIPParseError) -> String in
                s.string(try HeaderGrammar.callIDWord(&s))
            }, write: { $0 })
    }
    /// Priority (§20.26): `emergency`, `urgent`, `normal`, `non-urgent` or an extension token.
    public static var priority: SIPHeaderKey<String> {
        SIPHeaderKey(
            .priority,
            parse: { (s: inout SIPScanner) throws(SIPParseError) -> String in
                s.string(try s.expectToken("a priority"))
            }, write: { $0 })
    }
    /// MIME-Version (§20.24): `1*DIGIT "." 1*DIGIT`.
    public static var mimeVersion: SIPHeaderKey<String> {
        SIPHeaderKey(
            .mimeVersion,
            parse: { (s: inout SIPScanner) throws(SIPParseError) -> String in
                let start = s.position
                guard !s.scan(while: ASCII.isDigit).isEmpty, s.consume(ASCII.dot), !s.scan(while: ASCII.isDigit).isEmpty
                else {
                    throw s.error("expected a MIME version such as 1.0", at: start)
                }
                return s.string(start..<s.position)
            }, write: { $0 })
    }
    /// Subject (§20.36): text, possibly empty.
    public static var subject: SIPHeaderKey<String> { text(.subject) }
    /// Organization (§20.25): text, possibly empty.
    public static var organization: SIPHeaderKey<String> { text(.organization) }
    /// Server (§20.35): products and comments (`SIPimp.org/0.2.5 (curses)`), as text.
    public static var server: SIPHeaderKey<String> { products(.server) }
    /// User-Agent (§20.41): products and comments, as text.
    public static var userAgent: SIPHeaderKey<String> { products(.userAgent) }
}

extension SIPHeaderKey where Value == [String] {
    /// Privacy (RFC 3323 §4.2): `priv-value *( ";" priv-value )`: `header`, `session`, `user`,
    /// `none`, `critical`, `id` (RFC 3325) or extension tokens.
    public static var privacy: SIPHeaderKey<[String]> {
        SIPHeaderKey(
            .privacy,
            parse: { (s: inout SIPScanner) throws(SIPParseError) -> [String] in
                var out: [String] = []
                repeat {
                    out.append(s.string(try s.expectToken("a priv-value")))
                } while s.separator(ASCII.semicolon)
                return out
            }, write: { $0.joined(separator: ";") })
    }
}

extension SIPHeaderKey where Value == ParameterizedValue {
    static func parameterized(
        _ name: SIPHeaderName, isList: Bool = false, allowsEmpty: Bool = false,
        _ shape: ParameterizedValue.Shape,
        _ rules: [ParamRule] = []
    ) -> SIPHeaderKey<ParameterizedValue> {
        SIPHeaderKey(
            name, isList: isList, allowsEmpty: allowsEmpty,
            parse: { (s: inout SIPScanner) throws(SIPParseError) -> ParameterizedValue in
                try ParameterizedValue.parse(&s, shape, rules)
            }, write: { $0.description })
    }

    /// A header whose value is `token *( SEMI generic-param )`, for extension headers.
    public static func tokenWithParameters(_ name: SIPHeaderName, isList: Bool = false) -> SIPHeaderKey<
        ParameterizedValue
    > {
        parameterized(name, isList: isList, .token)
    }

    /// Accept-Encoding (§20.2), a list, possibly empty: codings (or `*`) with accept-params.
    public static var acceptEncoding: SIPHeaderKey<ParameterizedValue> {
        parameterized(.acceptEncoding, isList: true, allowsEmpty: true, .token, [ParamRule("q", .qvalue)])
    }
    /// Accept-Language (§20.3), a list, possibly empty: language ranges (or `*`) with accept-params.
    public static var acceptLanguage: SIPHeaderKey<ParameterizedValue> {
        parameterized(.acceptLanguage, isList: true, allowsEmpty: true, .languageRange, [ParamRule("q", .qvalue)])
    }
    /// Content-Disposition (§20.11): `render`, `session`, `icon`, `alert` or a token, with `handling`.
    public static var contentDisposition: SIPHeaderKey<ParameterizedValue> {
        parameterized(.contentDisposition, .token, [ParamRule("handling", .token)])
    }
    /// Event (RFC 6665 §8.2.1): an event type with parameters (`presence;id=1`).
    public static var event: SIPHeaderKey<ParameterizedValue> {
        parameterized(.event, .token, [ParamRule("id", .token)])
    }
    /// Subscription-State (RFC 6665 §8.2.3): `active`, `pending`, `terminated` or a token, with
    /// `expires`, `retry-after` (delta-seconds) and `reason`.
    public static var subscriptionState: SIPHeaderKey<ParameterizedValue> {
        parameterized(
            .subscriptionState, .token,
            [
                ParamRule("expires", .deltaSeconds), ParamRule("retry-after", .deltaSeconds),
                ParamRule("reason", .token),
            ])
    }
    /// Session-Expires (RFC 4028 §4): delta-seconds with `refresher=uac|uas`.
    public static var sessionExpires: SIPHeaderKey<ParameterizedValue> {
        parameterized(.sessionExpires, .deltaSeconds, [ParamRule("refresher", .oneOf(["uac", "uas"]))])
    }
    /// Min-SE (RFC 4028 §5): delta-seconds with generic parameters.
    public static var minSE: SIPHeaderKey<ParameterizedValue> { parameterized(.minSE, .deltaSeconds) }
    /// Reason (RFC 3326 §2), a list: a protocol (`SIP`, `Q.850`) with `cause` (digits) and `text`
    /// (a quoted string).
    public static var reason: SIPHeaderKey<ParameterizedValue> {
        parameterized(.reason, isList: true, .token, [ParamRule("cause", .digits), ParamRule("text", .quoted)])
    }
    /// Replaces (RFC 3891 §6.1): a Call-ID with `to-tag`, `from-tag` and `early-only`.
    public static var replaces: SIPHeaderKey<ParameterizedValue> {
        parameterized(.replaces, .callID, [ParamRule("to-tag", .token), ParamRule("from-tag", .token)])
    }
    /// Accept-Contact (RFC 3841 §10), a list: `*` with feature parameters.
    public static var acceptContact: SIPHeaderKey<ParameterizedValue> {
        parameterized(.acceptContact, isList: true, .star)
    }
    /// Reject-Contact (RFC 3841 §10), a list: `*` with feature parameters.
    public static var rejectContact: SIPHeaderKey<ParameterizedValue> {
        parameterized(.rejectContact, isList: true, .star)
    }
}

extension SIPHeaderKey where Value == AuthValue {
    /// Authorization (§20.7): credentials, one set per field.
    public static var authorization: SIPHeaderKey<AuthValue> {
        SIPHeaderKey(.authorization, parse: AuthValue.parse, write: { $0.description })
    }
    /// Proxy-Authorization (§20.28): credentials, one set per field.
    public static var proxyAuthorization: SIPHeaderKey<AuthValue> {
        SIPHeaderKey(.proxyAuthorization, parse: AuthValue.parse, write: { $0.description })
    }
    /// WWW-Authenticate (§20.44): one challenge per field.
    public static var wwwAuthenticate: SIPHeaderKey<AuthValue> {
        SIPHeaderKey(.wwwAuthenticate, parse: AuthValue.parse, write: { $0.description })
    }
    /// Proxy-Authenticate (§20.27): one challenge per field.
    public static var proxyAuthenticate: SIPHeaderKey<AuthValue> {
        SIPHeaderKey(.proxyAuthenticate, parse: AuthValue.parse, write: { $0.description })
    }
}

extension SIPHeaderKey where Value == AuthenticationInfo {
    /// Authentication-Info (§20.6): auth-params without a scheme.
    public static var authenticationInfo: SIPHeaderKey<AuthenticationInfo> {
        SIPHeaderKey(.authenticationInfo, parse: AuthenticationInfo.parse, write: { $0.description })
    }
}

extension SIPHeaderKey where Value == InfoValue {
    static func info(_ name: SIPHeaderName, _ rules: [ParamRule] = []) -> SIPHeaderKey<InfoValue> {
        SIPHeaderKey(
            name, isList: true,
            parse: { (s: inout SIPScanner) throws(SIPParseError) -> InfoValue in
                try InfoValue.parse(&s, rules: rules)
            }, write: { $0.description })
    }
    /// Alert-Info (§20.4), a list of `<URI>;params`.
    public static var alertInfo: SIPHeaderKey<InfoValue> { info(.alertInfo) }
    /// Call-Info (§20.9), a list of `<URI>;purpose=…`.
    public static var callInfo: SIPHeaderKey<InfoValue> { info(.callInfo, [ParamRule("purpose", .token)]) }
    /// Error-Info (§20.18), a list of `<URI>;params`.
    public static var errorInfo: SIPHeaderKey<InfoValue> { info(.errorInfo) }
}

extension SIPHeaderKey where Value == SIPDate {
    /// Date (§20.17): an RFC 1123 date in GMT.
    public static var date: SIPHeaderKey<SIPDate> {
        SIPHeaderKey(.date, parse: SIPDate.parse, write: { $0.description })
    }
}

extension SIPHeaderKey where Value == SIPWarning {
    /// Warning (§20.43), a list.
    public static var warning: SIPHeaderKey<SIPWarning> {
        SIPHeaderKey(.warning, isList: true, parse: SIPWarning.parse, write: { $0.description })
    }
}

extension SIPHeaderKey where Value == RetryAfter {
    /// Retry-After (§20.33).
    public static var retryAfter: SIPHeaderKey<RetryAfter> {
        SIPHeaderKey(.retryAfter, parse: RetryAfter.parse, write: { $0.description })
    }
}

extension SIPHeaderKey where Value == SIPTimestamp {
    /// Timestamp (§20.38).
    public static var timestamp: SIPHeaderKey<SIPTimestamp> {
        SIPHeaderKey(.timestamp, parse: SIPTimestamp.parse, write: { $0.description })
    }
}

extension SIPHeaderKey where Value == RAck {
    /// RAck (RFC 3262 §7.2).
    public static var rack: SIPHeaderKey<RAck> { SIPHeaderKey(.rack, parse: RAck.parse, write: { $0.description }) }
}
