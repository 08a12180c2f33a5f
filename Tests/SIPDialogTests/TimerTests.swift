import SIPDialog
import SIPSyntax
import Testing

/// A generator that gives back the numbers it is told to, in turn.
final class Scripted {
    var values: [UInt32]
    init(_ values: [UInt32]) { self.values = values }
    func next(_ upper: UInt32) -> UInt32 { min(values.removeFirst(), upper) }
}

@Suite("RFC 3262 reliable provisionals, RFC 4028 session timers, §14.1 glare — on a virtual clock")
struct DialogTimerTests {
    static let t1 = Duration.milliseconds(500)

    static func ringing() -> SIPMessage { Call.response(180) }

    @Test(
        "RFC 3262 §3: a reliable 180 is sent at 0 and again at T1, 3·T1, 7·T1 … until 64·T1, then the INVITE gets 504")
    func retransmissionInstants() {
        var r = ReliableProvisionals(t1: Self.t1, firstRSeq: 988_789)
        let first = r.send(Self.ringing(), now: .zero)
        guard case .send(let sent)? = first.first else {
            Issue.record("nothing sent")
            return
        }
        #expect(sent.headers[.rseq] == "988789" && sent.headers.values(.require).contains("100rel"))
        var instants: [Duration] = [.zero]
        var gaveUp: SIPMessage?
        while let due = r.nextDeadline {
            // Nothing is due a millisecond early.
            #expect(r.timerFired(now: due - .milliseconds(1), invite: Call.invitedAtBob).isEmpty)
            for action in r.timerFired(now: due, invite: Call.invitedAtBob) {
                switch action {
                case .send: instants.append(due)
                case .giveUp(let response): gaveUp = response
                }
            }
            if gaveUp != nil {
                #expect(due == Self.t1 * 64)
                break
            }
        }
        #expect(instants == [0, 1, 3, 7, 15, 31, 63].map { Self.t1 * $0 })
        #expect(gaveUp?.status == 504 && gaveUp?.toTag == "a6c85cf")
        #expect(!r.isWaiting)
    }

    @Test("RFC 3262 §3: the PRACK must match RSeq, CSeq and method; a second provisional waits for the first's PRACK")
    func prackMatching() throws {
        var r = ReliableProvisionals(t1: Self.t1, firstRSeq: 1)
        _ = r.send(Self.ringing(), now: .zero)
        #expect(r.send(Call.response(183), now: .milliseconds(10)).isEmpty, "queued behind the 180")
        #expect(
            r.receivePRACK(RAck(responseNumber: 2, cseq: 314159, method: .invite), inviteCSeq: 314159, now: .seconds(1))
                .isNoMatch
        )
        #expect(
            r.receivePRACK(RAck(responseNumber: 1, cseq: 314158, method: .invite), inviteCSeq: 314159, now: .seconds(1))
                .isNoMatch
        )
        let rack = try #require(try SIPHeaderKey.rack.parse("1 314159 INVITE").first)
        guard case .acknowledged(let actions) = r.receivePRACK(rack, inviteCSeq: 314159, now: .seconds(1)),
            case .send(let next)? = actions.first
        else {
            Issue.record("the PRACK did not acknowledge the 180")
            return
        }
        #expect(next.status == 183 && next.headers[.rseq] == "2")
        #expect(r.nextDeadline == .seconds(1) + Self.t1, "the 183's own timer starts when it is sent")
        r.finish()
        #expect(r.nextDeadline == nil)
    }

    @Test("RFC 3262 §4: the UAC PRACKs each reliable provisional once, in RSeq order, per early dialog")
    func prackSender() {
        var s = PRACKSender()
        var p = Call.response(180)
        p.headers.append(.require, "100rel")
        p.headers.append(.rseq, "5")
        #expect(s.rack(for: p) == RAck(responseNumber: 5, cseq: 314159, method: .invite))
        #expect(s.rack(for: p) == nil, "a retransmission is not PRACKed again")
        p.headers.set(.rseq, "7")
        #expect(s.rack(for: p) == nil, "out of order: RSeq 6 is missing")
        p.headers.set(.rseq, "6")
        #expect(s.rack(for: p)?.responseNumber == 6)
        var other = Call.response(180, tag: "fork2")
        other.headers.append(.require, "100rel")
        other.headers.append(.rseq, "100")
        #expect(s.rack(for: other)?.responseNumber == 100, "another early dialog counts its own RSeq")
        #expect(s.rack(for: Call.response(180)) == nil, "not reliable: no RSeq")
        #expect((try? SIPHeaderKey.rack.parse("1 2")) == nil)
        #expect((try? SIPHeaderKey.rack.parse("1 2 INVITE"))?.first?.description == "1 2 INVITE")
    }

    static func invite(_ extra: [(SIPHeaderName, String)]) -> SIPMessage {
        var m = Call.invite
        for (n, v) in extra { m.headers.append(n, v) }
        return m
    }

    @Test("RFC 4028 §9: below Min-SE → 422; the refresher asked or chosen; Require: timer only if the UAC supports it")
    func negotiation() {
        #expect(SessionTimer.negotiate(Self.invite([]), minimum: 90) == .none)
        #expect(SessionTimer.negotiate(Self.invite([(.sessionExpires, "60")]), minimum: 90) == .tooSmall(minimum: 90))
        #expect(
            SessionTimer.negotiate(Self.invite([(.sessionExpires, "100")]), minimum: 30)
                == .timer(SessionTimer(interval: 100, refresher: .uas), requireInResponse: false),
            "Min-SE is never below 90")
        #expect(
            SessionTimer.negotiate(
                Self.invite([(.sessionExpires, "1800"), (.supported, "100rel, timer")]), minimum: 90)
                == .timer(SessionTimer(interval: 1800, refresher: .uac), requireInResponse: true))
        #expect(
            SessionTimer.negotiate(
                Self.invite([(.sessionExpires, "1800;refresher=uas"), (.supported, "timer")]), minimum: 90)
                == .timer(SessionTimer(interval: 1800, refresher: .uas), requireInResponse: true))
        #expect(
            SessionTimer.negotiate(Self.invite([(.sessionExpires, "1800;refresher=uac")]), minimum: 90)
                == .timer(SessionTimer(interval: 1800, refresher: .uas), requireInResponse: false),
            "a UAC without the extension cannot refresh")
        var ok = Call.response(200)
        ok.headers.append(.sessionExpires, "1800;refresher=uac")
        #expect(SessionTimer.fromResponse(ok) == SessionTimer(interval: 1800, refresher: .uac))
        #expect(SessionTimer.fromResponse(ok)?.isRefresher(.uac) == true)
        #expect(SessionTimer.fromResponse(ok)?.isRefresher(.uas) == false)
    }

    @Test("RFC 4028 §10: the refresh at half the interval; the BYE at the interval less min(32 s, a third)")
    func refreshAndExpiry() {
        let long = SessionTimer(interval: 1800, refresher: .uac)
        #expect(long.refreshDue(after: .seconds(100)) == .seconds(1000))
        #expect(long.expiryDue(after: .seconds(100)) == .seconds(100 + 1800 - 32))
        let short = SessionTimer(interval: 90, refresher: .uas)
        #expect(short.refreshDue(after: .zero) == .seconds(45))
        #expect(short.expiryDue(after: .zero) == .seconds(60))
        #expect(long.headerValue == "1800;refresher=uac")
    }

    @Test("§14.1: after a 491 the Call-ID's owner waits 2.1 to 4 s, the other side 0 to 2 s, in 10 ms units")
    func glare() {
        let low = Scripted([0, 0])
        let high = Scripted([1000, 1000])
        #expect(GlareRetry.delay(ownsCallID: true, random: low.next) == .milliseconds(2100))
        #expect(GlareRetry.delay(ownsCallID: false, random: low.next) == .zero)
        #expect(GlareRetry.delay(ownsCallID: true, random: high.next) == .milliseconds(4000))
        #expect(GlareRetry.delay(ownsCallID: false, random: high.next) == .milliseconds(2000))
        for _ in 0..<100 {
            let d = GlareRetry.delay(ownsCallID: true)
            #expect(d >= .milliseconds(2100) && d <= .milliseconds(4000))
        }
    }
}
