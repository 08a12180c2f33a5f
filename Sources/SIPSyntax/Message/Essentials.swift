/// The values that transaction matching and routing read from every message (RFC 3261 §17.1.3,
/// §17.2.3, §18): views of the received bytes, so reading them allocates nothing.
public struct MessageEssentials: Sendable {
    /// The received bytes, held once: each view is made when read, so that making, copying and
    /// dropping the essentials costs one retain and one release, not one per view.
    let source: [UInt8]
    let spans: Essentials
    /// The Request-URI's bytes, and its user and host in them.
    let uri: (bytes: [UInt8], user: Range<Int>?, host: Range<Int>?)?

    @inline(__always) func view(_ span: Span?) -> ByteView? { span.map { ByteView(source, $0.range) } }

    /// Top Via branch (may be absent in RFC 2543 messages).
    public var branch: ByteView? { view(spans.viaBranch) }
    /// Top Via transport, as written.
    public var transport: ByteView? { spans.hasTopVia ? view(spans.viaTransport) : nil }
    /// Top Via sent-by host, as written (IPv6 with brackets).
    public var sentByHost: ByteView? { spans.hasTopVia ? view(spans.viaHost) : nil }
    /// Top Via sent-by port, when given.
    public var sentByPort: Int? { spans.viaPort.map(Int.init) }
    /// Top Via `received`.
    public var received: ByteView? { view(spans.viaReceived) }
    /// Top Via has `rport`.
    public var hasRport: Bool { spans.viaHasRport }
    /// The Call-ID, as written (§20.8).
    public var callID: ByteView? { view(spans.callID) }
    /// The CSeq sequence number (§20.16).
    public var cseqNumber: UInt32? { spans.cseqNumber }
    /// The CSeq method, as written (§20.16).
    public var cseqMethod: ByteView? { view(spans.cseqMethod) }
    /// The From `tag` (§19.3).
    public var fromTag: ByteView? { view(spans.fromTag) }
    /// The To `tag` (§19.3), absent from a request outside a dialog (§8.1.1.2).
    public var toTag: ByteView? { view(spans.toTag) }
    /// Max-Forwards (§20.22), when present.
    public var maxForwards: Int? { spans.maxForwards.map(Int.init) }
    /// Request-URI user and host, for a request.
    public var requestURIUser: ByteView? { uri.flatMap { u in u.user.map { ByteView(u.bytes, $0) } } }
    /// Request-URI host, for a request whose URI is `sip:` or `sips:`.
    public var requestURIHost: ByteView? { uri.flatMap { u in u.host.map { ByteView(u.bytes, $0) } } }
    /// Number of Via values.
    public var viaCount: Int { spans.viaCount }
}

extension SIPMessage {
    /// The top Via's branch and sent-by, Call-ID, CSeq, tags and Max-Forwards, without allocating on
    /// a parsed message. After the headers change it is read from them again (and nil when one of
    /// those headers no longer parses).
    public var essentials: MessageEssentials? {
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

    // Typed shortcuts for the headers every element reads.

    /// All Via values, top first.
    public var via: [Via] { (try? headers.all(.via)) ?? [] }
    /// The top Via.
    public var topVia: Via? { try? headers.first(.via) }
    /// The From value (§20.20); nil when absent or malformed.
    public var from: NameAddress? { try? headers.first(.from) }
    /// The To value (§20.39); nil when absent or malformed.
    public var to: NameAddress? { try? headers.first(.to) }
    /// The Call-ID (§20.8); nil when absent or malformed.
    public var callID: String? { try? headers.first(.callID) }
    /// The CSeq (§20.16); nil when absent or malformed.
    public var cseq: CSeq? { try? headers.first(.cseq) }
    /// Max-Forwards (§20.22); nil when absent or malformed.
    public var maxForwards: Int? { try? headers.first(.maxForwards) }
    /// Contact values (`*` or addresses).
    public var contact: [ContactValue] { (try? headers.all(.contact)) ?? [] }
}
