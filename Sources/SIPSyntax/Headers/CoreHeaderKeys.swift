// Typed keys for the headers the stack itself reads (RFC 3261 §20).

extension SIPHeaderKey where Value == Via {
    /// Via (§20.42), a list.
    public static var via: SIPHeaderKey<Via> {
        SIPHeaderKey(
            .via, isList: true,
            parse: { (s: inout SIPScanner) throws(SIPParseError) in
                Via(ranges: try HeaderGrammar.via(&s), bytes: s.bytes)
            }, write: { $0.description })
    }
}

extension SIPHeaderKey where Value == NameAddress {
    static func nameAddress(_ name: SIPHeaderName, list: Bool) -> SIPHeaderKey<NameAddress> {
        SIPHeaderKey(name, isList: list, parse: NameAddress.key, write: { $0.description })
    }
    /// From (§20.20).
    public static var from: SIPHeaderKey<NameAddress> { nameAddress(.from, list: false) }
    /// To (§20.39).
    public static var to: SIPHeaderKey<NameAddress> { nameAddress(.to, list: false) }
    /// Route (§20.34), a list.
    public static var route: SIPHeaderKey<NameAddress> { nameAddress(.route, list: true) }
    /// Record-Route (§20.30), a list.
    public static var recordRoute: SIPHeaderKey<NameAddress> { nameAddress(.recordRoute, list: true) }
    /// Reply-To (§20.31).
    public static var replyTo: SIPHeaderKey<NameAddress> { nameAddress(.replyTo, list: false) }
    /// Path (RFC 3327), a list.
    public static var path: SIPHeaderKey<NameAddress> { nameAddress(.path, list: true) }
    /// Service-Route (RFC 3608), a list.
    public static var serviceRoute: SIPHeaderKey<NameAddress> { nameAddress(.serviceRoute, list: true) }
    /// P-Asserted-Identity (RFC 3325), a list.
    public static var pAssertedIdentity: SIPHeaderKey<NameAddress> { nameAddress(.pAssertedIdentity, list: true) }
    /// P-Preferred-Identity (RFC 3325), a list.
    public static var pPreferredIdentity: SIPHeaderKey<NameAddress> { nameAddress(.pPreferredIdentity, list: true) }
    /// Refer-To (RFC 3515).
    public static var referTo: SIPHeaderKey<NameAddress> { nameAddress(.referTo, list: false) }
    /// Referred-By (RFC 3892).
    public static var referredBy: SIPHeaderKey<NameAddress> { nameAddress(.referredBy, list: false) }
}

extension SIPHeaderKey where Value == ContactValue {
    /// Contact (§20.10): `*` or a list of addresses.
    public static var contact: SIPHeaderKey<ContactValue> {
        SIPHeaderKey(
            .contact, isList: true,
            parse: { (s: inout SIPScanner) throws(SIPParseError) -> ContactValue in
                s.skipLWS()
                if s.peek() == 0x2A {
                    s.position += 1
                    return .wildcard
                }
                return .address(NameAddress(ranges: try HeaderGrammar.nameAddr(&s), bytes: s.bytes))
            }, write: { $0.description })
    }
}

extension SIPHeaderKey where Value == CSeq {
    /// CSeq (§20.16).
    public static var cseq: SIPHeaderKey<CSeq> {
        SIPHeaderKey(
            .cseq,
            parse: { (s: inout SIPScanner) throws(SIPParseError) -> CSeq in
                let c = try HeaderGrammar.cseq(&s)
                return CSeq(c.number, SIPMethod(s.string(c.method)))
            }, write: { $0.description })
    }
}

extension SIPHeaderKey where Value == String {
    /// Call-ID (§20.8): `word [ "@" word ]`.
    public static var callID: SIPHeaderKey<String> {
        SIPHeaderKey(
            .callID,
            parse: { (s: inout SIPScanner) throws(SIPParseError) -> String in
                s.string(try HeaderGrammar.callID(&s))
            }, write: { $0 })
    }
}

extension SIPHeaderKey where Value == Int {
    /// A header whose value is one decimal number not above `max`.
    public static func number(_ name: SIPHeaderName, max: UInt64) -> SIPHeaderKey<Int> {
        SIPHeaderKey(
            name,
            parse: { (s: inout SIPScanner) throws(SIPParseError) -> Int in
                s.skipLWS()
                return Int(try s.number(max: max, what: name.text))
            }, write: { String($0) })
    }
    /// Max-Forwards (§20.22): 0–255.
    public static var maxForwards: SIPHeaderKey<Int> { number(.maxForwards, max: 255) }
    /// Content-Length (§20.14).
    public static var contentLength: SIPHeaderKey<Int> { number(.contentLength, max: UInt64(Int32.max)) }
    /// Expires (§20.19): delta-seconds, at most 2**32-1.
    public static var expires: SIPHeaderKey<Int> { number(.expires, max: UInt64(UInt32.max)) }
    /// Min-Expires (§20.23).
    public static var minExpires: SIPHeaderKey<Int> { number(.minExpires, max: UInt64(UInt32.max)) }
    /// RSeq (RFC 3262 §7.1): 1 to 2**32-1.
    public static var rseq: SIPHeaderKey<Int> { number(.rseq, max: UInt64(UInt32.max)) }
}
