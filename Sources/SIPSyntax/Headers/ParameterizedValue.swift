/// A value followed by generic parameters, `value *( SEMI param )`: the shape of Content-Disposition
/// (RFC 3261 §20.11), Accept-Encoding (§20.2), Accept-Language (§20.3), Event and
/// Subscription-State (RFC 6665 §8.2), Session-Expires and Min-SE (RFC 4028 §4, §5), Reason
/// (RFC 3326 §2), Replaces (RFC 3891 §6.1), Accept-Contact and Reject-Contact (RFC 3841 §10).
///
/// Which values and parameters are valid depends on the header; the header's key checks them.
public struct ParameterizedValue: Sendable, Hashable, CustomStringConvertible {
    /// The leading value as written: a disposition type, coding, language range, event type,
    /// subscription state, delta-seconds, reason protocol, Call-ID or `*`.
    public var value: String
    /// Parameters in order, as written.
    public var parameters: SIPParameters

    /// A value with `parameters`, both as written on the wire.
    public init(_ value: String, parameters: SIPParameters = []) {
        self.value = value
        self.parameters = parameters
    }

    /// The value as delta-seconds (Session-Expires, Min-SE), when it is one.
    public var deltaSeconds: Int? {
        let b = Array(value.utf8)
        return isDeltaSeconds(b, 0..<b.count) ? Int(value) : nil
    }

    /// The `q` accept-param (§20.2, §20.3), 0 to 1, when present.
    public var q: Double? { parameters.value("q").flatMap { Double($0) } }

    /// `value;params` as on the wire.
    public var description: String { value + parameters.description }

    /// What the leading value must be.
    enum Shape: Sendable {
        /// token (`*` is a token character, so Accept-Encoding's `*` is one).
        case token
        /// language-range (§20.3), `*` included.
        case languageRange
        /// delta-seconds.
        case deltaSeconds
        /// callid (§25.1).
        case callID
        /// `*` exactly (RFC 3841 ac-value / rc-value).
        case star
    }

    static func parse(
        _ s: inout SIPScanner, _ shape: Shape,
        _ rules: [ParamRule]
    ) throws(SIPParseError) -> ParameterizedValue {
        let v: Range<Int>
        switch shape {
        case .token:
            v = try s.expectToken("a token")
        case .languageRange:
            v = try s.expectToken("a language range")
            guard isLanguageTag(s.bytes, v, allowStar: true) else {
                throw s.error("bad language range", at: v.lowerBound)
            }
        case .deltaSeconds:
            let start = s.position
            _ = try s.deltaSeconds("delta-seconds")
            v = start..<s.position
        case .callID:
            v = try HeaderGrammar.callIDWord(&s)
        case .star:
            v = s.position..<(s.position + 1)
            try s.expect(0x2A, "'*'")
        }
        let params = try HeaderGrammar.genericParams(&s, rules: rules)
        return ParameterizedValue(s.string(v), parameters: params)
    }
}
