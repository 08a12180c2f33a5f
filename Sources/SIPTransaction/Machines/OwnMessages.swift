import SIPSyntax

/// Messages a transaction builds itself: the ACK for a non-2xx final response (RFC 3261
/// §17.1.1.3), the 100 (Trying) of an INVITE server (§17.2.1), the local 408 of a client timeout
/// (§8.1.3.1).
enum OwnMessages {
    /// No limit stands in the way of reading back bytes this process serialized itself.
    static let ownLimits = SIPLimits(
        maxMessageSize: .max, maxHeaderCount: .max, maxHeaderLineLength: .max,
        maxStartLineLength: .max, maxViaCount: .max, maxBodySize: .max)

    /// The bytes a transaction keeps to re-send, without the spare capacity serialization may leave
    /// (it reserves ahead and grows by doubling): a live transaction holds what it must retransmit
    /// and no more.
    static func kept(_ bytes: [UInt8]) -> [UInt8] {
        guard bytes.capacity - bytes.count > 32 else { return bytes }
        return [UInt8](unsafeUninitializedCapacity: bytes.count) { buffer, initialized in
            initialized = buffer.initialize(from: bytes).1
        }
    }

    /// Serializes a message to keep for retransmission (``kept(_:)``).
    static func bytes(of message: SIPMessage) -> [UInt8] { kept(message.serialized()) }

    /// Reads back a request this transaction serialized.
    static func parse(_ bytes: [UInt8]) -> SIPMessage? {
        try? SIPMessage(parsing: bytes, limits: ownLimits, framing: .datagram)
    }

    /// RFC 3261 §17.1.1.3: the ACK for a non-2xx final response to `invite`: the same Request-URI,
    /// Call-ID and From; the To of the response (with its tag); the CSeq number of the INVITE with
    /// the method ACK; only the top Via of the INVITE; the INVITE's Route header fields; and
    /// Max-Forwards (§8.1.1.6) as the INVITE had it, or 70.
    static func ack(for invite: SIPMessage, response: SIPMessage) -> SIPMessage? {
        guard let uri = invite.requestURI, let via = invite.topVia, let cseq = invite.cseq,
            let from = invite.headers[SIPHeaderName.from], let to = response.headers[SIPHeaderName.to],
            let callID = invite.headers[SIPHeaderName.callID]
        else { return nil }
        var ack = SIPMessage.request(method: .ack, uri: uri)
        ack.headers.append(SIPHeaderName.via, via.description)
        for route in invite.headers.values(SIPHeaderName.route) { ack.headers.append(SIPHeaderName.route, route) }
        ack.headers.append(SIPHeaderName.maxForwards, invite.headers[SIPHeaderName.maxForwards] ?? "70")
        ack.headers.append(SIPHeaderName.from, from)
        ack.headers.append(SIPHeaderName.to, to)
        ack.headers.append(SIPHeaderName.callID, callID)
        ack.headers.append(SIPHeaderName.cseq, "\(cseq.sequence) ACK")
        return ack
    }
}
