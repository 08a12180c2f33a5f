import SIPSyntax

extension SIPMessage {
    /// RFC 3261 §9.1: the CANCEL for this request (an INVITE): the same Request-URI, Call-ID, To,
    /// From, Route header fields and CSeq number, the method CANCEL, and only the top Via (so that
    /// it has the INVITE's branch). Nil when this is not a request or has no top Via.
    public func makeCancel() -> SIPMessage? {
        guard case .request(let line) = startLine, let via = topVia, let cseq else { return nil }
        var fields: [(SIPHeaderName, String)] = [(.via, via.description)]
        for name: SIPHeaderName in [.from, .to, .callID] {
            if let v = headers[name] { fields.append((name, v)) }
        }
        fields.append((.cseq, "\(cseq.sequence) CANCEL"))
        for r in headers.values(.route) { fields.append((.route, r)) }
        fields.append((.maxForwards, "70"))
        return .request(method: .cancel, uri: line.uri, headers: fields)
    }

    /// RFC 3261 §13.2.2.4: the ACK for a 2xx `response` to this INVITE. It goes to the remote
    /// target (the response's Contact, else this Request-URI), with the To (and tag) of the
    /// response, this request's From, Call-ID and CSeq number, and the method ACK. Its Route is
    /// the response's Record-Route reversed (§12.1.2). It has no Via: the stack adds one with a
    /// new branch, since the ACK for a 2xx is a transaction of its own. Nil when this is not a
    /// request or the response lacks a To.
    public func makeAck(for response: SIPMessage) -> SIPMessage? {
        guard case .request(let line) = startLine, let cseq, let to = response.headers[.to] else { return nil }
        var uri = line.uri
        if let contact = response.contact.first, case .address(let a) = contact { uri = a.uri }
        var fields: [(SIPHeaderName, String)] = []
        if let from = headers[.from] { fields.append((.from, from)) }
        fields.append((.to, to))
        if let callID = headers[.callID] { fields.append((.callID, callID)) }
        fields.append((.cseq, "\(cseq.sequence) ACK"))
        for r in ((try? response.headers.all(.recordRoute)) ?? []).reversed() { fields.append((.route, r.description)) }
        fields.append((.maxForwards, "70"))
        return .request(method: .ack, uri: uri, headers: fields)
    }
}

extension SIPMessage {
    /// Puts `via` in place of the top Via (RFC 3261 §18.2.1, §18.1.1 edit the top one only).
    mutating func replaceTopVia(with via: Via) {
        try? headers.removeFirst(.via)
        headers.prepend(.via, via)
    }
}
