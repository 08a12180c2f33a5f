import SIPSyntax
import SIPTransaction
import Testing

/// Every instant of every retransmission, on a virtual clock (RFC 3261 §17.1.1.2, §17.1.2.2,
/// §17.2.1). Each schedule is asserted twice: derived from T1 and T2 for both configurations, and
/// as the RFC's literal seconds for the default one.
@Suite("Retransmission timing")
struct RetransmissionTimingTests {

    // MARK: - INVITE client, Timer A and B

    @Test(
        "INVITE over UDP with no answer: sent at 0, T1, 3·T1, 7·T1, 15·T1, 31·T1, 63·T1; timeout at 64·T1",
        arguments: timerConfigurations)
    func inviteNoAnswer(timers: TransactionTimers) throws {
        var c = VirtualClock(
            try #require(
                InviteClientTransaction(
                    invite: try Fixtures.invite(), reliability: .unreliable,
                    timers: timers)))
        c.event { $0.start() }
        c.run(until: timers.t1 * 1000)
        #expect(c.sendTimes == (0...6).map { timers.t1 * ((1 << $0) - 1) })
        #expect(
            c.sendTimes
                == retransmissionInstants(
                    from: .zero, t1: timers.t1, t2: timers.t2, capped: false,
                    before: timers.b))
        #expect(Set(c.sends.map(\.bytes)).count == 1, "every retransmission is the same INVITE")
        #expect(c.errors.map(\.at) == [timers.t1 * 64])
        #expect(c.errors.map(\.error.reason) == [.timeout(.b)])
        #expect(c.terminatedAt == timers.t1 * 64)
    }

    @Test("INVITE over UDP with no answer, RFC values: sent at 0, 0.5, 1.5, 3.5, 7.5, 15.5, 31.5 s; times out at 32 s")
    func inviteNoAnswerRFCValues() throws {
        var c = VirtualClock(
            try #require(InviteClientTransaction(invite: try Fixtures.invite(), reliability: .unreliable)))
        c.event { $0.start() }
        c.run(until: s(100))
        #expect(c.sendTimes == [s(0), s(0.5), s(1.5), s(3.5), s(7.5), s(15.5), s(31.5)])
        #expect(c.errors.map(\.at) == [s(32)])
        #expect(c.terminatedAt == s(32))
    }

    // MARK: - Non-INVITE client, Timer E and F

    @Test(
        "non-INVITE over UDP: Timer E doubles from T1 up to T2 and stays there until Timer F at 64·T1",
        arguments: timerConfigurations)
    func nonInviteTimerE(timers: TransactionTimers) throws {
        var c = VirtualClock(
            try #require(
                NonInviteClientTransaction(
                    request: try Fixtures.request(), reliability: .unreliable,
                    timers: timers)))
        c.event { $0.start() }
        c.run(until: timers.t1 * 1000)
        let expected = retransmissionInstants(from: .zero, t1: timers.t1, t2: timers.t2, capped: true, before: timers.f)
        #expect(c.sendTimes == expected)
        let gaps = zip(c.sendTimes.dropFirst(), c.sendTimes).map { $0 - $1 }
        #expect(gaps.allSatisfy { $0 <= timers.t2 })
        #expect(gaps.suffix(3).allSatisfy { $0 == timers.t2 }, "at T2 it stays at T2")
        #expect(c.errors.map(\.at) == [timers.t1 * 64])
        #expect(c.errors.map(\.error.reason) == [.timeout(.f)])
    }

    @Test("non-INVITE over UDP, RFC values: sent at 0, 0.5, 1.5, 3.5, 7.5, 11.5, 15.5 … 31.5 s; Timer F at 32 s")
    func nonInviteTimerERFCValues() throws {
        var c = VirtualClock(
            try #require(NonInviteClientTransaction(request: try Fixtures.request(), reliability: .unreliable)))
        c.event { $0.start() }
        c.run(until: s(100))
        #expect(
            c.sendTimes == [s(0), s(0.5), s(1.5), s(3.5), s(7.5), s(11.5), s(15.5), s(19.5), s(23.5), s(27.5), s(31.5)])
        #expect(c.errors.map(\.at) == [s(32)])
        #expect(c.terminatedAt == s(32))
    }

    @Test(
        "non-INVITE over UDP after a provisional response: retransmitted every T2 until Timer F",
        arguments: timerConfigurations)
    func nonInviteAfterProvisional(timers: TransactionTimers) throws {
        let request = try Fixtures.request()
        var c = VirtualClock(
            try #require(
                NonInviteClientTransaction(
                    request: request, reliability: .unreliable,
                    timers: timers)))
        c.event { $0.start() }
        // The 100 arrives between the first retransmission (T1) and the second (3·T1).
        c.run(until: timers.t1 * 2)
        try c.receive(Fixtures.response(100, to: request))
        c.run(until: timers.t1 * 1000)
        var expected = [.zero, timers.t1, timers.t1 * 3]
        while let last = expected.last, last + timers.t2 < timers.f { expected.append(last + timers.t2) }
        #expect(c.sendTimes == expected)
        #expect(c.errors.map(\.at) == [timers.f])
    }

    @Test(
        "non-INVITE over UDP after a provisional at 1 s, RFC values: sent at 0, 0.5, 1.5, then every 4 s: 5.5 … 29.5 s")
    func nonInviteAfterProvisionalRFCValues() throws {
        let request = try Fixtures.request()
        var c = VirtualClock(try #require(NonInviteClientTransaction(request: request, reliability: .unreliable)))
        c.event { $0.start() }
        c.run(until: s(1))
        try c.receive(Fixtures.response(100, to: request))
        c.run(until: s(100))
        #expect(c.sendTimes == [s(0), s(0.5), s(1.5), s(5.5), s(9.5), s(13.5), s(17.5), s(21.5), s(25.5), s(29.5)])
        #expect(c.errors.map(\.at) == [s(32)])
    }

    // MARK: - INVITE server, Timer G and H

    @Test(
        "a non-2xx final from an INVITE server: re-sent at T1, 3·T1, 7·T1 … capped at T2, until Timer H at 64·T1",
        arguments: timerConfigurations)
    func inviteServerTimerG(timers: TransactionTimers) throws {
        var c = VirtualClock(
            try #require(
                InviteServerTransaction(
                    invite: try Fixtures.proxiedInvite(),
                    reliability: .unreliable, timers: timers)))
        c.event { $0.start() }
        c.respond(Fixtures.serverResponse(486, to: try Fixtures.proxiedInvite()))
        c.run(until: timers.t1 * 1000)
        #expect(
            c.sendTimes
                == retransmissionInstants(
                    from: .zero, t1: timers.t1, t2: timers.t2, capped: true,
                    before: timers.h))
        #expect(c.sentLines.allSatisfy { $0 == "SIP/2.0 486 Busy Here" }, "no 100 Trying after a final response")
        #expect(c.errors.map(\.at) == [timers.t1 * 64])
        #expect(c.errors.map(\.error.reason) == [.timeout(.h)])
    }

    @Test(
        "a non-2xx final from an INVITE server, RFC values: re-sent at 0.5, 1.5, 3.5, 7.5, 11.5 … 31.5 s; Timer H at 32 s"
    )
    func inviteServerTimerGRFCValues() throws {
        var c = VirtualClock(
            try #require(
                InviteServerTransaction(
                    invite: try Fixtures.proxiedInvite(),
                    reliability: .unreliable)))
        c.event { $0.start() }
        c.respond(Fixtures.serverResponse(486, to: try Fixtures.proxiedInvite()))
        c.run(until: s(100))
        #expect(
            c.sendTimes == [s(0), s(0.5), s(1.5), s(3.5), s(7.5), s(11.5), s(15.5), s(19.5), s(23.5), s(27.5), s(31.5)])
        #expect(c.errors.map(\.at) == [s(32)])
        #expect(c.terminatedAt == s(32))
    }

    @Test(
        "a non-2xx final from an INVITE server is re-sent until the ACK, then Timer I = T4 ends it",
        arguments: timerConfigurations)
    func inviteServerUntilAck(timers: TransactionTimers) throws {
        let invite = try Fixtures.proxiedInvite()
        var c = VirtualClock(
            try #require(InviteServerTransaction(invite: invite, reliability: .unreliable, timers: timers)))
        c.event { $0.start() }
        c.respond(Fixtures.serverResponse(486, to: invite))
        let ackAt = timers.t1 * 4  // between the retransmissions at 3·T1 and 7·T1
        c.run(until: ackAt)
        try c.receive(Fixtures.ack(for: invite, response: Fixtures.response(486, to: invite, toTag: "314159")))
        c.run(until: timers.t1 * 1000)
        #expect(c.sendTimes == [.zero, timers.t1, timers.t1 * 3])
        #expect(c.errors.isEmpty)
        #expect(c.terminatedAt == ackAt + timers.t4)
    }

    // MARK: - The automatic 100 Trying (§17.2.1)

    @Test(
        "the automatic 100 Trying goes at 200 ms when the TU has sent no provisional response",
        arguments: timerConfigurations)
    func automaticTrying(timers: TransactionTimers) throws {
        let invite = try Fixtures.proxiedInvite()
        var c = VirtualClock(
            try #require(InviteServerTransaction(invite: invite, reliability: .unreliable, timers: timers)))
        c.event { $0.start() }
        c.run(until: s(0.199))
        #expect(c.sends.isEmpty)
        c.run(until: s(0.2))
        #expect(c.sendTimes == [s(0.2)])
        #expect(c.sentLines == ["SIP/2.0 100 Trying"])
        // An INVITE retransmission gets the 100 again; a later 180 goes out once; no second 100.
        c.run(until: s(0.5))
        c.receive(invite)
        c.run(until: s(2))
        c.respond(Fixtures.serverResponse(180, to: invite))
        c.run(until: s(3))
        c.receive(invite)
        c.run(until: s(10))
        #expect(
            c.sentLines == ["SIP/2.0 100 Trying", "SIP/2.0 100 Trying", "SIP/2.0 180 Ringing", "SIP/2.0 180 Ringing"])
        #expect(c.sendTimes == [s(0.2), s(0.5), s(2), s(3)])
    }

    @Test(
        "no automatic 100 Trying when the TU sent a provisional response within 200 ms, and never after one",
        arguments: timerConfigurations)
    func noAutomaticTryingAfterProvisional(timers: TransactionTimers) throws {
        let invite = try Fixtures.proxiedInvite()
        var c = VirtualClock(
            try #require(InviteServerTransaction(invite: invite, reliability: .unreliable, timers: timers)))
        c.event { $0.start() }
        c.run(until: s(0.15))
        c.respond(Fixtures.serverResponse(180, to: invite))
        c.run(until: s(0.5))
        c.receive(invite)
        c.run(until: s(1.5))
        c.receive(invite)
        c.run(until: s(60))
        #expect(c.sentLines == ["SIP/2.0 180 Ringing", "SIP/2.0 180 Ringing", "SIP/2.0 180 Ringing"])
        #expect(c.sendTimes == [s(0.15), s(0.5), s(1.5)])
        #expect(!c.sentLines.contains("SIP/2.0 100 Trying"))
    }

    @Test(
        "no automatic 100 Trying when the TU answered with a final response within 200 ms",
        arguments: timerConfigurations)
    func noAutomaticTryingAfterFinal(timers: TransactionTimers) throws {
        let invite = try Fixtures.proxiedInvite()
        for status in [200, 486] {
            var c = VirtualClock(
                try #require(InviteServerTransaction(invite: invite, reliability: .unreliable, timers: timers)))
            c.event { $0.start() }
            c.run(until: s(0.05))
            c.respond(Fixtures.serverResponse(status, to: invite))
            c.run(until: s(0.3))
            #expect(!c.sentLines.contains("SIP/2.0 100 Trying"))
            #expect(c.sendTimes.first == s(0.05))
        }
    }

    // MARK: - Reliable transports: nothing twice, zero timers end at once

    @Test(
        "reliable transport: an unanswered INVITE is sent once and times out at 64·T1", arguments: timerConfigurations)
    func reliableInviteNoAnswer(timers: TransactionTimers) throws {
        var c = VirtualClock(
            try #require(
                InviteClientTransaction(
                    invite: try Fixtures.invite(transport: "TCP"),
                    reliability: .reliable, timers: timers)))
        let a = c.event { $0.start() }
        #expect(a.startedTimers.map(\.0) == [.b], "Timer A is not started on a reliable transport")
        c.run(until: timers.t1 * 1000)
        #expect(c.sendTimes == [.zero])
        #expect(c.errors.map(\.at) == [timers.b])
    }

    @Test(
        "reliable transport: an INVITE client acknowledges a 486 once and ends at once (Timer D = 0)",
        arguments: timerConfigurations)
    func reliableInviteRejected(timers: TransactionTimers) throws {
        let invite = try Fixtures.invite(transport: "TCP")
        var c = VirtualClock(
            try #require(InviteClientTransaction(invite: invite, reliability: .reliable, timers: timers)))
        c.event { $0.start() }
        c.run(until: s(1))
        let a = try c.receive(Fixtures.response(486, to: invite))
        #expect(a.sent.map(firstLine) == ["ACK sip:bob@biloxi.example.com SIP/2.0"])
        #expect(a.passedToTU.map(\.status) == [486])
        #expect(a.terminates)
        #expect(a.cancelledTimers == [.b])
        #expect(c.terminatedAt == s(1))
        #expect(c.sendTimes == [s(0), s(1)])
    }

    @Test(
        "reliable transport: a 2xx still keeps the INVITE client in Accepted for Timer M = 64·T1 (RFC 6026)",
        arguments: timerConfigurations)
    func reliableInviteAccepted(timers: TransactionTimers) throws {
        let invite = try Fixtures.invite(transport: "TCP")
        var c = VirtualClock(
            try #require(InviteClientTransaction(invite: invite, reliability: .reliable, timers: timers)))
        c.event { $0.start() }
        try c.receive(Fixtures.response(200, to: invite))
        c.run(until: timers.t1 * 1000)
        #expect(c.terminatedAt == timers.m)
    }

    @Test(
        "reliable transport: a non-INVITE is sent once; its final response ends it at once (Timer K = 0)",
        arguments: timerConfigurations)
    func reliableNonInvite(timers: TransactionTimers) throws {
        let request = try Fixtures.request()
        var c = VirtualClock(
            try #require(NonInviteClientTransaction(request: request, reliability: .reliable, timers: timers)))
        let a = c.event { $0.start() }
        #expect(a.startedTimers.map(\.0) == [.f], "Timer E is not started on a reliable transport")
        c.run(until: timers.t1 * 4)
        try c.receive(Fixtures.response(100, to: request))
        c.run(until: timers.t1 * 40)
        let done = try c.receive(Fixtures.response(200, to: request))
        #expect(done.terminates)
        #expect(c.terminatedAt == timers.t1 * 40)
        #expect(c.sendTimes == [.zero])

        var unanswered = VirtualClock(
            try #require(
                NonInviteClientTransaction(
                    request: request, reliability: .reliable,
                    timers: timers)))
        unanswered.event { $0.start() }
        unanswered.run(until: timers.t1 * 1000)
        #expect(unanswered.sendTimes == [.zero])
        #expect(unanswered.errors.map(\.at) == [timers.f])
    }

    @Test(
        "reliable transport: an INVITE server sends its 486 once; the ACK ends it at once (Timer I = 0)",
        arguments: timerConfigurations)
    func reliableInviteServer(timers: TransactionTimers) throws {
        let invite = try Fixtures.proxiedInvite()
        var c = VirtualClock(
            try #require(InviteServerTransaction(invite: invite, reliability: .reliable, timers: timers)))
        c.event { $0.start() }
        let a = c.respond(Fixtures.serverResponse(486, to: invite))
        #expect(a.startedTimers.map(\.0) == [.h], "Timer G is not started on a reliable transport")
        c.run(until: s(3))
        let ack = try c.receive(
            Fixtures.ack(for: invite, response: Fixtures.response(486, to: invite, toTag: "314159")))
        #expect(ack.terminates)
        #expect(c.terminatedAt == s(3))
        #expect(c.sendTimes == [.zero])

        var noAck = VirtualClock(
            try #require(InviteServerTransaction(invite: invite, reliability: .reliable, timers: timers)))
        noAck.event { $0.start() }
        noAck.respond(Fixtures.serverResponse(486, to: invite))
        noAck.run(until: timers.t1 * 1000)
        #expect(noAck.sendTimes == [.zero])
        #expect(noAck.errors.map(\.at) == [timers.h])
    }

    @Test(
        "reliable transport: a non-INVITE server ends as its final response goes out (Timer J = 0)",
        arguments: timerConfigurations)
    func reliableNonInviteServer(timers: TransactionTimers) throws {
        let request = try Fixtures.request()
        var c = VirtualClock(
            try #require(NonInviteServerTransaction(request: request, reliability: .reliable, timers: timers)))
        c.event { $0.start() }
        c.run(until: s(0.01))
        let a = c.respond(Fixtures.serverResponse(200, to: request))
        #expect(a.sent.map(firstLine) == ["SIP/2.0 200 OK"])
        #expect(a.terminates)
        #expect(a.startedTimers.isEmpty)
        #expect(c.terminatedAt == s(0.01))
    }

    // MARK: - Timer values

    @Test("timer values derive from T1, T2, T4 (RFC 3261 Table 4, RFC 6026)", arguments: timerConfigurations)
    func timerValues(timers: TransactionTimers) {
        let t1 = timers.t1
        #expect(timers.a == t1 && timers.e == t1 && timers.g == t1)
        #expect(timers.b == t1 * 64 && timers.f == t1 * 64 && timers.h == t1 * 64)
        #expect(timers.l == t1 * 64 && timers.m == t1 * 64)
        #expect(timers.j(.unreliable) == t1 * 64 && timers.j(.reliable) == .zero)
        #expect(timers.d(.unreliable) >= s(32) && timers.d(.reliable) == .zero)
        #expect(timers.i(.unreliable) == timers.t4 && timers.i(.reliable) == .zero)
        #expect(timers.k(.unreliable) == timers.t4 && timers.k(.reliable) == .zero)
        for retransmission in [TransactionTimer.a, .e, .g] {
            #expect(timers.initialValue(of: retransmission, on: .reliable) == nil)
            #expect(timers.initialValue(of: retransmission, on: .unreliable) == t1)
        }
    }

    @Test(
        "the RFC's timer values: A 0.5 s, B 32 s, D 32 s, E 0.5 s, F 32 s, G 0.5 s, H 32 s, I 5 s, J 32 s, K 5 s, L 32 s, M 32 s"
    )
    func rfcTimerValues() {
        let t = TransactionTimers()
        #expect([t.t1, t.t2, t.t4] == [s(0.5), s(4), s(5)])
        #expect(
            [t.a, t.b, t.d(.unreliable), t.e, t.f, t.g, t.h] == [s(0.5), s(32), s(32), s(0.5), s(32), s(0.5), s(32)])
        #expect([t.i(.unreliable), t.j(.unreliable), t.k(.unreliable), t.l, t.m] == [s(5), s(32), s(5), s(32), s(32)])
        #expect(t.tryingDelay == s(0.2))
    }
}

@Suite("Timer values")
struct TransactionTimersValueTests {
    @Test(
        "T1, T2, T4, Timer D and the Trying delay keep the value given, to the nanosecond, in a shared reference; a copy set apart keeps its own"
    )
    func valuesKept() {
        var t = TransactionTimers(
            t1: .microseconds(1_500), t2: .milliseconds(4_000), t4: .nanoseconds(5_000_000_001),
            timerDUnreliable: .seconds(32), tryingDelay: .zero)
        #expect(t.t1 == .microseconds(1_500) && t.t2 == .seconds(4) && t.t4 == .nanoseconds(5_000_000_001))
        #expect(t.timerDUnreliable == .seconds(32) && t.tryingDelay == .zero)
        #expect(t.b == .microseconds(96_000) && t.h == t.t1 * 64 && t.j(.unreliable) == .microseconds(96_000))
        t.t1 = .milliseconds(250)
        #expect(t.t1 == .milliseconds(250) && t != TransactionTimers.default)
        #expect(TransactionTimers.default == TransactionTimers(t1: .milliseconds(500)))
        #expect(MemoryLayout<TransactionTimers>.size == 8)
        var u = t
        u.t2 = .seconds(8)
        #expect(t.t2 == .seconds(4) && u.t2 == .seconds(8) && u.t1 == .milliseconds(250) && u != t)
        #expect(Set([t, u, t]).count == 2)
    }

    @Test(
        "a timer value beyond what 64 bits of nanoseconds hold (±292 years) is clamped, and a fraction of a nanosecond dropped"
    )
    func valuesClamped() {
        var t = TransactionTimers(t1: .seconds(Int64.max), t2: .seconds(Int64.min))
        #expect(t.t1 == .nanoseconds(Int64.max))
        #expect(t.t2 == .nanoseconds(Int64.min))
        t.t4 = .seconds(9_223_372_036) + .nanoseconds(854_775_807)
        #expect(t.t4 == .nanoseconds(Int64.max), "the largest value held is kept as is")
        t.tryingDelay = Duration(secondsComponent: 0, attosecondsComponent: 1_500_000_000)
        #expect(t.tryingDelay == .nanoseconds(1))
    }
}
