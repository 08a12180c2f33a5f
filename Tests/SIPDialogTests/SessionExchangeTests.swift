import SIPDialog
import SIPSyntax
import Testing

/// Requests and responses of a confirmed dialog, with or without a session description.
private enum Session {
    static func request(_ method: SIPMethod, cseq: UInt32) -> SIPMessage {
        .request(
            method: method, uri: try! URI("sip:bob@192.0.2.4"),
            headers: [
                (.via, "SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK\(method)\(cseq)"), (.to, "<sip:bob@b.example>;tag=b"),
                (.from, "<sip:alice@a.example>;tag=a"), (.callID, "exchanges-1"), (.cseq, "\(cseq) \(method)"),
            ])
    }

    static func response(_ status: Int, to method: SIPMethod, cseq: UInt32) -> SIPMessage {
        request(method, cseq: cseq).makeResponse(status: status)
    }
}

@Suite("Offer/answer and overlapping requests (RFC 3261 §14, RFC 3264, RFC 3311)")
struct SessionExchangeTests {
    @Test("§14.2: an INVITE while this side's INVITE is in progress gets 491; after its final response it is taken")
    func glare() {
        var s = SessionExchanges()
        #expect(s.canSendOffer)
        s.sent(Session.request(.invite, cseq: 2), hasOffer: true)
        #expect(!s.canSendOffer && s.offer == .localOffer && s.outgoingInvite == 2)
        #expect(s.receive(Session.request(.invite, cseq: 7), hasOffer: true) == .reject(status: 491, retryAfter: nil))
        // The other side answers this side's INVITE 491 too: both back to where they were.
        s.received(Session.response(491, to: .invite, cseq: 2), hasBody: false)
        #expect(s.offer == .stable && s.outgoingInvite == nil && s.canSendOffer)
        #expect(s.receive(Session.request(.invite, cseq: 8), hasOffer: true) == .accept)
        #expect(s.offer == .remoteOffer && s.incomingInvite == 8)
    }

    @Test("§14.2: an INVITE before the final response to the last one gets 500 with Retry-After 0 to 10 s")
    func overlap() {
        var s = SessionExchanges()
        #expect(s.receive(Session.request(.invite, cseq: 3), hasOffer: false) == .accept)
        #expect(
            s.receive(Session.request(.invite, cseq: 4), hasOffer: true, random: { $0 })
                == .reject(status: 500, retryAfter: 10))
        #expect(
            s.receive(Session.request(.invite, cseq: 4), hasOffer: false, random: { _ in 0 })
                == .reject(status: 500, retryAfter: 0))
        // The 2xx to the offerless INVITE carries this side's offer; the ACK answers it.
        s.sent(Session.response(200, to: .invite, cseq: 3), hasBody: true)
        #expect(s.incomingInvite == nil && s.offer == .localOffer)
        #expect(s.receive(Session.request(.ack, cseq: 3), hasOffer: true) == .accept)
        #expect(s.offer == .stable)
        #expect(s.receive(Session.request(.invite, cseq: 5), hasOffer: true) == .accept)
    }

    @Test("RFC 3311 §5.2: an UPDATE offer crossing this side's gets 491; one before this side answered gets 500")
    func update() {
        var s = SessionExchanges()
        s.sent(Session.request(.update, cseq: 2), hasOffer: true)
        #expect(s.receive(Session.request(.update, cseq: 9), hasOffer: true) == .reject(status: 491, retryAfter: nil))
        // An UPDATE with no offer (a session refresh, RFC 4028) is not an offer: taken.
        #expect(s.receive(Session.request(.update, cseq: 9), hasOffer: false) == .accept)
        s.received(Session.response(200, to: .update, cseq: 2), hasBody: true)
        #expect(s.offer == .stable)
        #expect(s.receive(Session.request(.update, cseq: 10), hasOffer: true) == .accept)
        #expect(s.offer == .remoteOffer)
        #expect(
            s.receive(Session.request(.update, cseq: 11), hasOffer: true, random: { _ in 4 })
                == .reject(status: 500, retryAfter: 4))
        // Rejecting the offer puts the session back (RFC 3311 §5.2).
        s.sent(Session.response(488, to: .update, cseq: 10), hasBody: false)
        #expect(s.offer == .stable && s.canSendOffer)
    }

    @Test("RFC 3264 §4: an offerless re-INVITE's 2xx is the other side's offer, answered in the ACK")
    func offerInResponse() {
        var s = SessionExchanges()
        s.sent(Session.request(.invite, cseq: 2), hasOffer: false)
        #expect(s.offer == .stable && !s.canSendOffer)
        s.received(Session.response(200, to: .invite, cseq: 2), hasBody: true)
        #expect(s.offer == .remoteOffer && s.outgoingInvite == nil)
        s.sent(Session.request(.ack, cseq: 2), hasOffer: true)
        #expect(s.offer == .stable && s.canSendOffer)
    }
}

@Suite("2xx retransmission (RFC 3261 §13.3.1.4)")
struct AnswerRetransmissionTests {
    @Test("Sent at 0: again at T1, 3·T1, 7·T1, then every T2, and BYE at 64·T1 without an ACK")
    func instants() {
        var r = AnswerRetransmission(sentAt: .zero, t1: .milliseconds(500), t2: .seconds(4))
        var sends: [Duration] = []
        var gaveUp: Duration?
        while let due = r.nextDeadline {
            #expect(r.timerFired(now: due - .milliseconds(1)) == nil)
            switch r.timerFired(now: due) {
            case .retransmit?: sends.append(due)
            case .giveUp?: gaveUp = due
            case nil: Issue.record("nothing at \(due)")
            }
        }
        #expect(
            sends == [500, 1500, 3500, 7500, 11_500, 15_500, 19_500, 23_500, 27_500, 31_500].map { .milliseconds($0) })
        #expect(gaveUp == .seconds(32))
    }

    @Test("The ACK stops it; a late timer does nothing")
    func acknowledged() {
        var r = AnswerRetransmission(sentAt: .seconds(10), t1: .milliseconds(100), t2: .seconds(4))
        #expect(r.nextDeadline == .milliseconds(10_100))
        #expect(r.timerFired(now: .milliseconds(10_100)) == .retransmit)
        #expect(r.nextDeadline == .milliseconds(10_300))
        r.acknowledged()
        #expect(r.nextDeadline == nil)
        #expect(r.timerFired(now: .seconds(20)) == nil)
    }
}
