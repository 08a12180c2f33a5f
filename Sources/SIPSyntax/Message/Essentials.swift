/// The values that transaction matching and routing read from every message (RFC 3261 §17.1.3,
/// §17.2.3, §18): views of the received bytes, so reading them allocates nothing.
package struct MessageEssentials: Sendable {
    /// The received bytes, held once: each view is made when read, so that making, copying and
    /// dropping the essentials costs one retain and one release, not one per view.
    let source: [UInt8]
    let spans: Essentials
    /// The Request-URI's bytes, and its user and host in them.
    let uri: (bytes: [UInt8], user: Range<Int>?, host: Range<Int>?)?

    @inline(__always) func view(_ span: Span?) -> ByteView? { span.map { ByteView(source, $0.range) } }

    /// Top Via branch (may be absent in RFC 2543 messages).
    package var branch: ByteView? { view(spans.viaBranch) }
    /// Top Via transport, as written.
    package var transport: ByteView? { spans.hasTopVia ? view(spans.viaTransport) : nil }
    /// Top Via sent-by host, as written (IPv6 with brackets).
    package var sentByHost: ByteView? { spans.hasTopVia ? view(spans.viaHost) : nil }
    /// Top Via sent-by port, when given.
    package var sentByPort: Int? { spans.viaPort.map(Int.init) }
    /// Top Via `received`.
    package var received: ByteView? { view(spans.viaReceived) }
    /// Top Via has `rport`.
    package var hasRport: Bool { spans.viaHasRport }
    /// Top Via's `rport` value, when it has one (RFC 3581 §4: a server fills it in).
    package var rport: ByteView? { spans.viaRport.flatMap { $0.range.isEmpty ? nil : view($0) } }
    /// Top Via's `maddr` (RFC 3261 §18.2.2).
    package var maddr: ByteView? { view(spans.viaMaddr) }
    /// Top Via has `alias` (RFC 5923: the connection may be reused towards its sent-by).
    package var hasAlias: Bool { spans.viaHasAlias }
    /// The Call-ID, as written (§20.8).
    package var callID: ByteView? { view(spans.callID) }
    /// The CSeq sequence number (§20.16).
    package var cseqNumber: UInt32? { spans.cseqNumber }
    /// The CSeq method, as written (§20.16).
    package var cseqMethod: ByteView? { view(spans.cseqMethod) }
    /// The From `tag` (§19.3).
    package var fromTag: ByteView? { view(spans.fromTag) }
    /// The To `tag` (§19.3), absent from a request outside a dialog (§8.1.1.2).
    package var toTag: ByteView? { view(spans.toTag) }
    /// Max-Forwards (§20.22), when present.
    package var maxForwards: Int? { spans.maxForwards.map(Int.init) }
    /// Request-URI user and host, for a request.
    package var requestURIUser: ByteView? { uri.flatMap { u in u.user.map { ByteView(u.bytes, $0) } } }
    /// Request-URI host, for a request whose URI is `sip:` or `sips:`.
    package var requestURIHost: ByteView? { uri.flatMap { u in u.host.map { ByteView(u.bytes, $0) } } }
    /// Number of Via values.
    package var viaCount: Int { spans.viaCount }
}

extension SIPMessage {
    /// The top Via's branch and sent-by, Call-ID, CSeq, tags and Max-Forwards, without allocating on
    /// a parsed message. After the headers change it is read from them again (and nil when one of
    /// those headers no longer parses).
    package var essentials: MessageEssentials? {
        var e: Essentials
        let src: [UInt8]
        if let cache {
            e = cache
            src = headers.source
        } else {
            // Changed headers: serialize and read again.
            guard
                let again = try? MessageParser.parse(
                    serialized(canonical: false), limits: .default, framing: .datagram),
                let c = again.cache
            else { return nil }
            e = c
            src = again.headers.source
        }
        var uri: (bytes: [UInt8], user: Range<Int>?, host: Range<Int>?)?
        if case .request(let rl) = startLine {
            switch rl.storage {
            case .raw(let b, let r):
                uri = (b, r.user, (r.scheme == .sip || r.scheme == .sips) ? r.host : nil)
            case .typed(let u):
                if case .sip(let s) = u {
                    // user@host as bytes, with the two ranges in them.
                    let user = s.user.map { Array($0.utf8) } ?? []
                    let host = Array(s.host.text.utf8)
                    uri = (user + host, s.user == nil ? nil : 0..<user.count, user.count..<(user.count + host.count))
                }
            }
        }
        return MessageEssentials(source: src, spans: e, uri: uri)
    }

    /// ``essentials`` when the headers are as parsed; nil, rather than writing and parsing the
    /// message again, when they were changed or the message was built.
    package var parsedEssentials: MessageEssentials? { cache == nil ? nil : essentials }

    // Typed shortcuts for the headers every element reads.

    /// All Via values, top first.
    public var via: [Via] { (try? headers.all(.via)) ?? [] }
    /// The top Via.
    public var topVia: Via? { try? headers.first(.via) }
    /// The From value (§20.20); nil when absent or malformed.
    public var from: NameAddress? { try? headers.first(.from) }
    /// The To value (§20.39); nil when absent or malformed.
    public var to: NameAddress? { try? headers.first(.to) }
    /// The Call-ID (§20.8); nil when absent or malformed. Read from what the parser found when
    /// the headers are as parsed, so that no header is parsed again.
    public var callID: String? {
        if let c = cache { return c.callID.map { String(decoding: headers.source[$0.range], as: UTF8.self) } }
        return try? headers.first(.callID)
    }
    /// The CSeq (§20.16); nil when absent or malformed. From the parser's findings when it can.
    public var cseq: CSeq? {
        if let c = cache {
            guard let n = c.cseqNumber, let m = c.cseqMethod else { return nil }
            return CSeq(n, MessageParser.method(headers.source, m.range))
        }
        return try? headers.first(.cseq)
    }
    /// Max-Forwards (§20.22); nil when absent or malformed. From the parser's findings when it can.
    public var maxForwards: Int? {
        if let c = cache { return c.maxForwards.map(Int.init) }
        return try? headers.first(.maxForwards)
    }
    /// The From tag (§19.3); nil when absent. From the parser's findings when it can.
    public var fromTag: String? {
        if let c = cache { return c.fromTag.map { String(decoding: headers.source[$0.range], as: UTF8.self) } }
        return from?.tag
    }
    /// The To tag (§19.3): absent from a request outside a dialog (§8.1.1.2). From the parser's
    /// findings when it can.
    public var toTag: String? {
        if let c = cache { return c.toTag.map { String(decoding: headers.source[$0.range], as: UTF8.self) } }
        return to?.tag
    }
    /// Contact values (`*` or addresses).
    public var contact: [ContactValue] { (try? headers.all(.contact)) ?? [] }
}
