import SIPSyntax
import SIPTransaction
import Testing

/// RFC 3261 §17.1.2, Figure 6.
@Suite("Non-INVITE client transaction")
struct NonInviteClientTransactionTests {
    typealias NICT = NonInviteClientTransaction

    func started(
        _ reliability: TransportReliability = .unreliable, timers: TransactionTimers = rfcTimers,
        timeoutReport: ClientTimeoutReport = .error
    ) throws -> VirtualClock<NICT> {
        let t = try #require(
            NICT(
                request: try Fixtures.request(), reliability: reliability, timers: timers,
                timeoutReport: timeoutReport))
        var c = VirtualClock(t)
        c.event { $0.start() }
        return c
    }

    // MARK: - Every transition of Figure 6

    @Test("NICT → Trying on request from TU: request sent, Timer E = T1, Timer F = 64·T1")
    func initialToTrying() throws {
        var t = try #require(NICT(request: try Fixtures.request(), reliability: .unreliable))
        let a = t.start()
        #expect(t.state == .trying)
        #expect(a.sent.map(firstLine) == ["OPTIONS sip:carol@chicago.example.com SIP/2.0"])
        #expect(a.startedTimers.map(\.0) == [.e, .f])
        #expect(a.startedTimers.map(\.1) == [s(0.5), s(32)])
    }

    @Test("NICT Trying → Trying on Timer E: request re-sent, E reset to MIN(2·E, T2)")
    func tryingTimerE() throws {
        var c = try started()
        c.run(until: s(0.5))
        #expect(c.machine.state == .trying)
        #expect(c.sendTimes == [s(0), s(0.5)])
        #expect(c.log.last.map { "\($0.action)" } == "start(Timer E, 1.0 seconds)")
    }

    @Test("NICT Trying → Terminated on Timer F: TU informed of the timeout")
    func tryingTimerF() throws {
        var c = try started()
        c.run(until: s(40))
        #expect(c.machine.state == .terminated)
        #expect(c.errors.map(\.error.reason) == [.timeout(.f)])
        #expect(c.errors.first?.at == s(32))
    }

    @Test("NICT Trying → Terminated on transport error: TU informed")
    func tryingTransportError() throws {
        var c = try started()
        c.event { $0.transportError("no route to host") }
        #expect(c.machine.state == .terminated)
        #expect(c.errors.map(\.error.reason) == [.transportError("no route to host")])
        #expect(c.terminatedAt == s(0))
    }

    @Test("NICT Trying → Proceeding on 1xx: response to TU")
    func tryingToProceeding() throws {
        var c = try started()
        let a = try c.receive(Fixtures.response(100, to: Fixtures.request()))
        #expect(c.machine.state == .proceeding)
        #expect(a.passedToTU.map(\.status) == [100])
        #expect(a.cancelledTimers.isEmpty, "Timer E keeps running in Proceeding")
    }

    @Test("NICT Trying → Completed on 200-699: response to TU, Timer K = T4")
    func tryingToCompleted() throws {
        var c = try started()
        let a = try c.receive(Fixtures.response(200, to: Fixtures.request()))
        #expect(c.machine.state == .completed)
        #expect(a.passedToTU.map(\.status) == [200])
        #expect(Set(a.cancelledTimers) == [.e, .f])
        #expect(a.startedTimers.map(\.0) == [.k])
        #expect(a.startedTimers.map(\.1) == [s(5)])
    }

    @Test("NICT Proceeding → Proceeding on Timer E: request re-sent, E reset to T2")
    func proceedingTimerE() throws {
        var c = try started()
        try c.receive(Fixtures.response(100, to: Fixtures.request()))
        c.run(until: s(0.5))
        #expect(c.machine.state == .proceeding)
        #expect(c.sendTimes == [s(0), s(0.5)])
        #expect(c.log.last.map { "\($0.action)" } == "start(Timer E, 4.0 seconds)")
    }

    @Test("NICT Proceeding → Proceeding on 1xx: response to TU")
    func proceedingProvisional() throws {
        var c = try started()
        try c.receive(Fixtures.response(100, to: Fixtures.request()))
        let a = try c.receive(Fixtures.response(180, to: Fixtures.request()))
        #expect(c.machine.state == .proceeding)
        #expect(a.passedToTU.map(\.status) == [180])
    }

    @Test("NICT Proceeding → Terminated on Timer F: TU informed of the timeout")
    func proceedingTimerF() throws {
        var c = try started()
        try c.receive(Fixtures.response(100, to: Fixtures.request()))
        c.run(until: s(40))
        #expect(c.machine.state == .terminated)
        #expect(c.errors.map(\.error.reason) == [.timeout(.f)])
        #expect(c.terminatedAt == s(32))
    }

    @Test("NICT Proceeding → Terminated on transport error: TU informed")
    func proceedingTransportError() throws {
        var c = try started()
        try c.receive(Fixtures.response(100, to: Fixtures.request()))
        c.event { $0.transportError("") }
        #expect(c.machine.state == .terminated)
        #expect(c.errors.map(\.error.reason) == [.transportError("")])
    }

    @Test("NICT Proceeding → Completed on 200-699: response to TU")
    func proceedingToCompleted() throws {
        var c = try started()
        try c.receive(Fixtures.response(100, to: Fixtures.request()))
        let a = try c.receive(Fixtures.response(404, to: Fixtures.request()))
        #expect(c.machine.state == .completed)
        #expect(a.passedToTU.map(\.status) == [404])
        #expect(a.startedTimers.map(\.0) == [.k])
    }

    @Test("NICT Completed → Terminated on Timer K = T4; retransmitted responses are absorbed")
    func completedTimerK() throws {
        var c = try started()
        c.run(until: s(1))
        let ok = try Fixtures.response(200, to: Fixtures.request())
        c.receive(ok)
        let again = c.receive(ok)
        #expect(again.isEmpty, "Completed buffers response retransmissions")
        c.run(until: s(5.999))
        #expect(c.machine.state == .completed)
        c.run(until: s(10))
        #expect(c.terminatedAt == s(6))
        #expect(c.passedSummary == ["200"])
        #expect(c.sendTimes == [s(0), s(0.5)], "no retransmission after the final response")
    }

    // MARK: - Options and termination

    @Test("NICT Timer F yields a locally made 408 when the user prefers responses to errors")
    func timeoutAs408() throws {
        var c = try started(timeoutReport: .response408)
        c.run(until: s(40))
        #expect(c.errors.isEmpty)
        #expect(c.passed.map(\.message.status) == [408])
        #expect(c.passed.first?.message.cseq == CSeq(63104, .options))
        #expect(c.passed.first?.at == s(32))
    }

    @Test("NICT refuses INVITE, ACK and requests without a branch")
    func refuses() throws {
        #expect(NICT(request: try Fixtures.invite(), reliability: .unreliable) == nil)
        #expect(NICT(request: try Fixtures.request("ACK"), reliability: .unreliable) == nil)
        var noBranch = try Fixtures.request()
        noBranch.headers.set(.via, "SIP/2.0/UDP pc33.atlanta.example.com")
        #expect(NICT(request: noBranch, reliability: .unreliable) == nil)
    }

    @Test("terminate() ends a NICT at once")
    func terminate() throws {
        var c = try started()
        let a = c.event { $0.terminate() }
        #expect(a.terminates)
        #expect(c.machine.isTerminated)
        c.run(until: s(60))
        #expect(c.sendTimes == [s(0)])
        #expect(c.errors.isEmpty)
    }
}
