import SIPSyntax
import SIPTransaction
import Testing

/// RFC 3261 §17.1.1, Figure 5 as amended by RFC 6026 §8.4.
@Suite("INVITE client transaction")
struct InviteClientTransactionTests {
    typealias ICT = InviteClientTransaction

    func started(
        _ reliability: TransportReliability = .unreliable, timers: TransactionTimers = rfcTimers,
        timeoutReport: ClientTimeoutReport = .error
    ) throws -> VirtualClock<ICT> {
        let ict = try #require(
            ICT(
                invite: try Fixtures.invite(), reliability: reliability, timers: timers,
                timeoutReport: timeoutReport))
        var c = VirtualClock(ict)
        c.event { $0.start() }
        return c
    }

    // MARK: - Every transition of Figure 5 (RFC 6026)

    @Test("ICT → Calling on INVITE from TU: INVITE sent, Timer A = T1, Timer B = 64·T1")
    func initialToCalling() throws {
        var ict = try #require(ICT(invite: try Fixtures.invite(), reliability: .unreliable))
        let a = ict.start()
        #expect(ict.state == .calling)
        #expect(a.sent.map(firstLine) == ["INVITE sip:bob@biloxi.example.com SIP/2.0"])
        #expect(a.startedTimers.map(\.0) == [.a, .b])
        #expect(a.startedTimers.map(\.1) == [s(0.5), s(32)])
        #expect(ict.start().isEmpty, "a second start does nothing")
    }

    @Test("ICT Calling → Calling on Timer A: INVITE re-sent, A reset to twice its value")
    func callingTimerA() throws {
        var c = try started()
        c.run(until: s(0.5))
        #expect(c.machine.state == .calling)
        #expect(c.sendTimes == [s(0), s(0.5)])
        #expect(c.sends[1].bytes == c.sends[0].bytes, "a retransmission is the same bytes")
        #expect(c.log.last.map { "\($0.action)" } == "start(Timer A, 1.0 seconds)")
    }

    @Test("ICT Calling → Terminated on Timer B: TU informed of the timeout, no ACK")
    func callingTimerB() throws {
        var c = try started()
        c.run(until: s(40))
        #expect(c.machine.state == .terminated)
        #expect(c.errors.map(\.error.reason) == [.timeout(.b)])
        #expect(c.errors.first?.at == s(32))
        #expect(c.terminatedAt == s(32))
        #expect(!c.sentLines.contains { $0.hasPrefix("ACK") })
    }

    @Test("ICT Calling → Terminated on transport error: TU informed")
    func callingTransportError() throws {
        var c = try started()
        c.event { $0.transportError("ICMP port unreachable") }
        #expect(c.machine.state == .terminated)
        #expect(c.errors.map(\.error.reason) == [.transportError("ICMP port unreachable")])
        #expect(c.terminatedAt == s(0))
    }

    @Test("ICT Calling → Proceeding on 1xx: 1xx to TU, retransmissions stop")
    func callingToProceeding() throws {
        var c = try started()
        let invite = try Fixtures.invite()
        c.run(until: s(0.2))
        let a = try c.receive(Fixtures.response(180, to: invite))
        #expect(c.machine.state == .proceeding)
        #expect(a.passedToTU.map(\.status) == [180])
        #expect(Set(a.cancelledTimers) == [.a, .b])
        c.run(until: s(300))
        #expect(c.sendTimes == [s(0)], "no retransmission in Proceeding, no Timer B")
        #expect(c.machine.state == .proceeding, "Proceeding waits for the final response (or terminate)")
    }

    @Test("ICT Calling → Completed on 300-699: ACK sent, response to TU, Timer D")
    func callingToCompleted() throws {
        var c = try started()
        let invite = try Fixtures.invite()
        let a = try c.receive(Fixtures.response(486, to: invite))
        #expect(c.machine.state == .completed)
        #expect(a.sent.map(firstLine) == ["ACK sip:bob@biloxi.example.com SIP/2.0"])
        #expect(a.passedToTU.map(\.status) == [486])
        #expect(Set(a.cancelledTimers) == [.a, .b])
        #expect(a.startedTimers.map(\.0) == [.d])
        #expect(a.startedTimers.map(\.1) == [s(32)])
    }

    @Test("ICT Calling → Accepted on 2xx: 2xx to TU, Timer M = 64·T1 (RFC 6026)")
    func callingToAccepted() throws {
        var c = try started()
        let a = try c.receive(Fixtures.response(200, to: Fixtures.invite()))
        #expect(c.machine.state == .accepted)
        #expect(a.passedToTU.map(\.status) == [200])
        #expect(a.sent.isEmpty, "the TU acknowledges a 2xx, not the transaction")
        #expect(a.startedTimers.map(\.0) == [.m])
        #expect(a.startedTimers.map(\.1) == [s(32)])
    }

    @Test("ICT Proceeding → Proceeding on 1xx: 1xx to TU")
    func proceedingProvisional() throws {
        var c = try started()
        let invite = try Fixtures.invite()
        try c.receive(Fixtures.response(100, to: invite))
        let a = try c.receive(Fixtures.response(183, to: invite))
        #expect(c.machine.state == .proceeding)
        #expect(a.passedToTU.map(\.status) == [183])
        #expect(c.passedSummary == ["100", "183"])
    }

    @Test("ICT Proceeding → Completed on 300-699: ACK sent, response to TU")
    func proceedingToCompleted() throws {
        var c = try started()
        let invite = try Fixtures.invite()
        try c.receive(Fixtures.response(180, to: invite))
        let a = try c.receive(Fixtures.response(603, to: invite))
        #expect(c.machine.state == .completed)
        #expect(a.sent.map(firstLine) == ["ACK sip:bob@biloxi.example.com SIP/2.0"])
        #expect(a.passedToTU.map(\.status) == [603])
    }

    @Test("ICT Proceeding → Accepted on 2xx: 2xx to TU (RFC 6026)")
    func proceedingToAccepted() throws {
        var c = try started()
        let invite = try Fixtures.invite()
        try c.receive(Fixtures.response(180, to: invite))
        let a = try c.receive(Fixtures.response(200, to: invite))
        #expect(c.machine.state == .accepted)
        #expect(a.passedToTU.map(\.status) == [200])
        #expect(a.startedTimers.map(\.0) == [.m])
    }

    @Test("ICT Completed → Completed on 300-699: the ACK is re-sent, the TU is not told again")
    func completedRetransmission() throws {
        var c = try started()
        let invite = try Fixtures.invite()
        let busy = try Fixtures.response(486, to: invite)
        c.receive(busy)
        c.run(until: s(1))
        let a = c.receive(busy)
        #expect(c.machine.state == .completed)
        #expect(a.passedToTU.isEmpty)
        #expect(
            c.sentLines == [
                "INVITE sip:bob@biloxi.example.com SIP/2.0", "ACK sip:bob@biloxi.example.com SIP/2.0",
                "ACK sip:bob@biloxi.example.com SIP/2.0",
            ])
        #expect(c.sends[2].bytes == c.sends[1].bytes, "the same ACK")
    }

    @Test("ICT Completed → Terminated on transport error: TU informed")
    func completedTransportError() throws {
        var c = try started()
        try c.receive(Fixtures.response(486, to: Fixtures.invite()))
        c.event { $0.transportError("connection reset") }
        #expect(c.machine.state == .terminated)
        #expect(c.errors.map(\.error.reason) == [.transportError("connection reset")])
    }

    @Test("ICT Completed → Terminated on Timer D (32 s over UDP)", arguments: timerConfigurations)
    func completedTimerD(timers: TransactionTimers) throws {
        var c = try started(timers: timers)
        c.run(until: s(0.1))
        try c.receive(Fixtures.response(486, to: Fixtures.invite()))
        c.run(until: s(0.1) + s(32) - .milliseconds(1))
        #expect(c.machine.state == .completed)
        c.run(until: s(100))
        #expect(c.machine.state == .terminated)
        #expect(c.terminatedAt == s(32.1), "Timer D is at least 32 s whatever T1 (RFC 3261 §17.1.1.2)")
        #expect(c.errors.isEmpty)
    }

    @Test("ICT Accepted → Accepted on 2xx: every 2xx, retransmissions included, to TU (RFC 6026 §7.2)")
    func acceptedRetransmitted2xx() throws {
        var c = try started()
        let invite = try Fixtures.invite()
        let ok = try Fixtures.response(200, to: invite)
        c.receive(ok)
        c.run(until: s(0.5))
        let a = c.receive(ok)
        let forked = try c.receive(Fixtures.response(200, to: invite, toTag: "other-fork"))
        #expect(c.machine.state == .accepted)
        #expect(a.passedToTU.map(\.status) == [200])
        #expect(forked.passedToTU.first?.to?.tag == "other-fork")
        #expect(c.sendTimes == [s(0)], "the transaction sends no ACK for a 2xx")
        let late = try c.receive(Fixtures.response(180, to: invite))
        #expect(late.isEmpty, "a provisional after a 2xx is dropped")
    }

    @Test("ICT Accepted → Terminated on Timer M = 64·T1 (RFC 6026)", arguments: timerConfigurations)
    func acceptedTimerM(timers: TransactionTimers) throws {
        var c = try started(timers: timers)
        c.run(until: timers.t1)
        try c.receive(Fixtures.response(200, to: Fixtures.invite()))
        c.run(until: timers.t1 * 65 - .milliseconds(1))
        #expect(c.machine.state == .accepted)
        c.run(until: timers.t1 * 100)
        #expect(c.terminatedAt == timers.t1 * 65)
    }

    // MARK: - The ACK (§17.1.1.3)

    @Test(
        "ICT builds the ACK of §17.1.1.3: Request-URI, Call-ID, From, CSeq number of the INVITE; To of the response; only the top Via; the Route"
    )
    func ackContents() throws {
        let invite = try Fixtures.invite()
        var ict = try #require(ICT(invite: invite, reliability: .unreliable))
        _ = ict.start()
        let busy = try Fixtures.response(486, to: invite, toTag: "busy-tag")
        let sent = try #require(ict.received(busy).sent.first)
        let ack = try SIPMessage(parsing: sent)
        #expect(ack.method == .ack)
        #expect(ack.requestURI == invite.requestURI)
        #expect(ack.via == [try #require(invite.topVia)])
        #expect(ack.headers.values(.route) == invite.headers.values(.route))
        #expect(ack.from == invite.from)
        #expect(ack.to == busy.to)
        #expect(ack.to?.tag == "busy-tag")
        #expect(ack.callID == invite.callID)
        #expect(ack.cseq == CSeq(1, .ack))
        #expect(ack.maxForwards == 70)
        #expect(ack.body.isEmpty)
        #expect(!ack.headers.contains(.contact))
        #expect(!ack.headers.contains(.contentType))
    }

    @Test("ICT's ACK keeps only the top Via of an INVITE with several")
    func ackTopViaOnly() throws {
        let invite = try Fixtures.proxiedInvite()
        var ict = try #require(ICT(invite: invite, reliability: .unreliable))
        _ = ict.start()
        let sent = try #require(ict.received(try Fixtures.response(404, to: invite)).sent.first)
        let ack = try SIPMessage(parsing: sent)
        #expect(ack.via.count == 1)
        #expect(ack.topVia?.branch == "z9hG4bK2d4790.1")
        #expect(ack.maxForwards == 69)
    }

    // MARK: - Options and termination

    @Test("ICT Timer B yields a locally made 408 when the user prefers responses to errors")
    func timeoutAs408() throws {
        var c = try started(timeoutReport: .response408)
        c.run(until: s(40))
        #expect(c.errors.isEmpty)
        #expect(c.passed.map(\.message.status) == [408])
        #expect(c.passed.first?.at == s(32))
        #expect(c.passed.first?.message.cseq == CSeq(1, .invite))
        #expect(c.passed.first?.message.callID == "3848276298220188511@atlanta.example.com")
        #expect(c.machine.state == .terminated)
    }

    @Test("terminate() ends an ICT in Proceeding at once")
    func terminateProceeding() throws {
        var c = try started()
        try c.receive(Fixtures.response(180, to: Fixtures.invite()))
        let a = c.event { $0.terminate() }
        #expect(a.terminates)
        #expect(c.machine.state == .terminated)
        let again = c.event { $0.terminate() }
        #expect(again.isEmpty)
        let late = try c.receive(Fixtures.response(200, to: Fixtures.invite()))
        #expect(late.isEmpty)
    }

    @Test("ICT ignores timers of other states")
    func staleTimers() throws {
        var c = try started()
        #expect(c.machine.timerFired(.d).isEmpty)
        #expect(c.machine.timerFired(.m).isEmpty)
        try c.receive(Fixtures.response(180, to: Fixtures.invite()))
        #expect(c.machine.timerFired(.a).isEmpty)
        #expect(c.machine.timerFired(.b).isEmpty)
        #expect(c.machine.state == .proceeding)
    }

    @Test("ICT refuses a request that is not an INVITE or has no branch")
    func refuses() throws {
        #expect(ICT(invite: try Fixtures.request(), reliability: .unreliable) == nil)
        var noBranch = try Fixtures.invite()
        noBranch.headers.set(.via, "SIP/2.0/UDP client.atlanta.example.com")
        #expect(ICT(invite: noBranch, reliability: .unreliable) == nil)
    }
}
