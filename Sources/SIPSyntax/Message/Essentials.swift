/// The values that transaction matching and routing read from every message (RFC 3261 §17.1.3,
/// §17.2.3, §18): views of the received bytes, so reading them allocates nothing.
public struct MessageEssentials: Sendable {
    /// Top Via branch (may be absent in RFC 2543 messages).
    public var branch: ByteView?
    /// Top Via transport, as written.
    public var transport: ByteView?
    /// Top Via sent-by host, as written (IPv6 with brackets).
    public var sentByHost: ByteView?
    /// Top Via sent-by port, when given.
    public var sentByPort: Int?
    /// Top Via `received`.
    public var received: ByteView?
    /// Top Via has `rport`.
    public var hasRport: Bool
    public var callID: ByteView?
    public var cseqNumber: UInt32?
    public var cseqMethod: ByteView?
    public var fromTag: ByteView?
    public var toTag: ByteView?
    public var maxForwards: Int?
    /// Request-URI user and host, for a request.
    public var requestURIUser: ByteView?
    public var requestURIHost: ByteView?
    /// Number of Via values.
    public var viaCount: Int
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
            guard let again = try? MessageParser.parse(serialized(canonical: false), limits: .default, framing: .datagram),
                  let c = again.cache else { return nil }
            e = c
            src = again.headers.source
        }
        func v(_ r: Span?) -> ByteView? { r.map { ByteView(src, $0.range) } }
        var ruriUser: ByteView? = nil, ruriHost: ByteView? = nil
        if case .request(let rl) = startLine {
            switch rl.storage {
            case .raw(let b, let r):
                ruriUser = r.user.map { ByteView(b, $0) }
                ruriHost = (r.scheme == .sip || r.scheme == .sips) ? ByteView(b, r.host) : nil
            case .typed(let u):
                if case .sip(let s) = u {
                    ruriUser = s.user.map(ByteView.init)
                    ruriHost = ByteView(s.host.text)
                }
            }
        }
        let via = e.hasTopVia
        // Built in one go, in the return slot (a `var` changed afterwards costs a copy).
        return MessageEssentials(
            branch: v(e.viaBranch), transport: via ? v(e.viaTransport) : nil, sentByHost: via ? v(e.viaHost) : nil,
            sentByPort: e.viaPort.map(Int.init), received: v(e.viaReceived), hasRport: e.viaHasRport,
            callID: v(e.callID), cseqNumber: e.cseqNumber, cseqMethod: v(e.cseqMethod), fromTag: v(e.fromTag),
            toTag: v(e.toTag), maxForwards: e.maxForwards.map(Int.init), requestURIUser: ruriUser, requestURIHost: ruriHost,
            viaCount: e.viaCount)
    }

    // Typed shortcuts for the headers every element reads.

    /// All Via values, top first.
    public var via: [Via] { (try? headers.all(.via)) ?? [] }
    /// The top Via.
    public var topVia: Via? { try? headers.first(.via) }
    public var from: NameAddress? { try? headers.first(.from) }
    public var to: NameAddress? { try? headers.first(.to) }
    public var callID: String? { try? headers.first(.callID) }
    public var cseq: CSeq? { try? headers.first(.cseq) }
    public var maxForwards: Int? { try? headers.first(.maxForwards) }
    /// Contact values (`*` or addresses).
    public var contact: [ContactValue] { (try? headers.all(.contact)) ?? [] }
}
