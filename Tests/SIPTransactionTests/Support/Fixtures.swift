import SIPSyntax
import SIPTransaction
import Testing

/// Messages for the tests, after the examples of RFC 3261 §24 and RFC 4475.
enum Fixtures {
    static let inviteBranch = "z9hG4bK74bf9"

    /// An INVITE as Alice's UA sends it: one Via, a Route, a body.
    static func invite(
        branch: String = inviteBranch, cseq: UInt32 = 1, via host: String = "client.atlanta.example.com:5060",
        transport: String = "UDP"
    ) throws -> SIPMessage {
        try SIPMessage(
            wire: """
                INVITE sip:bob@biloxi.example.com SIP/2.0
                Via: SIP/2.0/\(transport) \(host);branch=\(branch)
                Max-Forwards: 70
                Route: <sip:ss1.atlanta.example.com;lr>
                From: Alice <sip:alice@atlanta.example.com>;tag=9fxced76sl
                To: Bob <sip:bob@biloxi.example.com>
                Call-ID: 3848276298220188511@atlanta.example.com
                CSeq: \(cseq) INVITE
                Contact: <sip:alice@client.atlanta.example.com;transport=udp>
                Content-Type: application/sdp

                v=0
                o=alice 2890844526 2890844526 IN IP4 client.atlanta.example.com
                s=-
                c=IN IP4 192.0.2.101
                t=0 0
                m=audio 49172 RTP/AVP 0

                """)
    }

    /// The same INVITE as a proxy forwards it: the proxy's Via on top.
    static func proxiedInvite(branch: String = "z9hG4bK2d4790.1") throws -> SIPMessage {
        try SIPMessage(
            wire: """
                INVITE sip:bob@client.biloxi.example.com SIP/2.0
                Via: SIP/2.0/UDP ss1.biloxi.example.com:5060;branch=\(branch)
                Via: SIP/2.0/UDP client.atlanta.example.com:5060;branch=z9hG4bK74bf9;received=192.0.2.101
                Max-Forwards: 69
                From: Alice <sip:alice@atlanta.example.com>;tag=9fxced76sl
                To: Bob <sip:bob@biloxi.example.com>
                Call-ID: 3848276298220188511@atlanta.example.com
                CSeq: 1 INVITE
                Contact: <sip:alice@client.atlanta.example.com;transport=udp>
                Timestamp: 54

                """)
    }

    /// A non-INVITE request (OPTIONS unless told).
    static func request(
        _ method: String = "OPTIONS", branch: String = "z9hG4bKnashds7", cseq: UInt32 = 63104,
        callID: String = "a84b4c76e66710", via host: String = "pc33.atlanta.example.com"
    ) throws -> SIPMessage {
        try SIPMessage(
            wire: """
                \(method) sip:carol@chicago.example.com SIP/2.0
                Via: SIP/2.0/UDP \(host);branch=\(branch)
                Max-Forwards: 70
                To: <sip:carol@chicago.example.com>
                From: Alice <sip:alice@atlanta.example.com>;tag=1928301774
                Call-ID: \(callID)
                CSeq: \(cseq) \(method)
                Contact: <sip:alice@pc33.atlanta.example.com>
                Accept: application/sdp

                """)
    }

    /// A CANCEL for `invite` (RFC 3261 §9.1: same Request-URI, Call-ID, To, From, top Via with the
    /// same branch, CSeq number).
    static func cancel(for invite: SIPMessage) throws -> SIPMessage {
        let via = try #require(invite.topVia)
        let cseq = try #require(invite.cseq)
        return try SIPMessage(
            wire: """
                CANCEL \(try #require(invite.requestURI)) SIP/2.0
                Via: \(via)
                Max-Forwards: 70
                From: \(try #require(invite.headers[.from]))
                To: \(try #require(invite.headers[.to]))
                Call-ID: \(try #require(invite.callID))
                CSeq: \(cseq.sequence) CANCEL

                """)
    }

    /// A response to `request` as the far end sends it, read back from the wire.
    static func response(_ status: Int, to request: SIPMessage, toTag: String? = "8321234356") throws -> SIPMessage {
        try SIPMessage(parsing: request.makeResponse(status: status, toTag: toTag).serialized())
    }

    /// A response of realistic size for the server side: what a UAS core hands to its transaction.
    static func serverResponse(_ status: Int, to request: SIPMessage, toTag: String = "314159") -> SIPMessage {
        var r = request.makeResponse(status: status, toTag: toTag)
        if status == 200 { r.headers.append(.contact, "<sip:bob@192.0.2.4>") }
        return r
    }

    /// RFC 3261 §17.1.1.3: the ACK for a non-2xx final response as the client transaction builds it.
    static func ack(for invite: SIPMessage, response: SIPMessage) throws -> SIPMessage {
        try SIPMessage(
            wire: """
                ACK \(try #require(invite.requestURI)) SIP/2.0
                Via: \(try #require(invite.topVia))
                Max-Forwards: 70
                From: \(try #require(invite.headers[.from]))
                To: \(try #require(response.headers[.to]))
                Call-ID: \(try #require(invite.callID))
                CSeq: \(try #require(invite.cseq).sequence) ACK

                """)
    }

    /// RFC 3261 §13.2.2.4: the ACK for a 2xx, a new transaction with a branch of its own.
    static func ackFor2xx(invite: SIPMessage, response: SIPMessage, branch: String = "z9hG4bKnew2xxack") throws
        -> SIPMessage
    {
        try SIPMessage(
            wire: """
                ACK sip:bob@192.0.2.4 SIP/2.0
                Via: SIP/2.0/UDP client.atlanta.example.com:5060;branch=\(branch)
                Max-Forwards: 70
                From: \(try #require(invite.headers[.from]))
                To: \(try #require(response.headers[.to]))
                Call-ID: \(try #require(invite.callID))
                CSeq: \(try #require(invite.cseq).sequence) ACK

                """)
    }

    /// RFC 4475 §3.4.1 `inv2543`: an RFC 2543 INVITE (no branch, no From tag, no Max-Forwards).
    static func inv2543() throws -> SIPMessage {
        try SIPMessage(
            wire: """
                INVITE sip:UserB@example.com SIP/2.0
                Via: SIP/2.0/UDP iftgw.example.com
                From: <sip:+13035551111@ift.client.example.net;user=phone>
                Record-Route: <sip:UserB@example.com;maddr=ss1.example.com>
                To: sip:+16505552222@ss1.example.net;user=phone
                Call-ID: inv2543.1717@ift.client.example.com
                CSeq: 56 INVITE
                Content-Type: application/sdp

                v=0
                o=mhandley 29739 7272939 IN IP4 192.0.2.5
                s=-
                c=IN IP4 192.0.2.5
                t=0 0
                m=audio 49217 RTP/AVP 0

                """)
    }

    /// The RFC 2543 ACK for a final response to ``inv2543()`` with To tag `toTag` (§17.1.1.3 and
    /// RFC 2543: same Request-URI, From, Call-ID, CSeq number and top Via).
    static func ack2543(toTag: String) throws -> SIPMessage {
        try SIPMessage(
            wire: """
                ACK sip:UserB@example.com SIP/2.0
                Via: SIP/2.0/UDP iftgw.example.com
                From: <sip:+13035551111@ift.client.example.net;user=phone>
                To: sip:+16505552222@ss1.example.net;user=phone;tag=\(toTag)
                Call-ID: inv2543.1717@ift.client.example.com
                CSeq: 56 ACK

                """)
    }

    /// RFC 4475 §3.2.1 `badbranch`: the branch is only the magic cookie.
    static func badbranch(callID: String = "badbranch.sadonfo23i420jv0as0derf3j3n") throws -> SIPMessage {
        try SIPMessage(
            wire: """
                OPTIONS sip:user@example.com SIP/2.0
                To: sip:user@example.com
                From: sip:caller@example.org;tag=33242
                Max-Forwards: 3
                Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK
                Accept: application/sdp
                Call-ID: \(callID)
                CSeq: 8 OPTIONS
                l: 0

                """)
    }
}
