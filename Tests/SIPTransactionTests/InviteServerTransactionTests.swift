import SIPSyntax
import SIPTransaction
import Testing

/// RFC 3261 §17.2.1, Figure 7 as amended by RFC 6026 §8.7.
@Suite("INVITE server transaction")
struct InviteServerTransactionTests {
    typealias IST = InviteServerTransaction

    func started(_ reliability: TransportReliability = .unreliable, timers: TransactionTimers = rfcTimers)
        throws -> VirtualClock<IST>
    {
        let t = try #require(IST(invite: try Fixtures.proxiedInvite(), reliability: reliability, timers: timers))
        var c = VirtualClock(t)
        c.event { $0.start() }
        return c
    }

    var invite: SIPMessage { get throws { try Fixtures.proxiedInvite() } }

    func response(_ status: Int) throws -> SIPMessage { Fixtures.serverResponse(status, to: try invite) }

    func ack(for status: Int) throws -> SIPMessage {
        try Fixtures.ack(for: invite, response: Fixtures.response(status, to: invite, toTag: "314159"))
    }

    // MARK: - Every transition of Figure 7 (RFC 6026)

    @Test("IST → Proceeding on INVITE: INVITE to TU, 100 Trying timer of 200 ms started")
    func initialToProceeding() throws {
        var t = try #require(IST(invite: try invite, reliability: .unreliable))
        let a = t.start()
        #expect(t.state == .proceeding)
        #expect(a.passedToTU.map(\.method) == [.invite])
        #expect(a.sent.isEmpty)
        #expect(a.startedTimers.map(\.0) == [.trying])
        #expect(a.startedTimers.map(\.1) == [s(0.2)])
    }

    @Test("IST Proceeding → Proceeding on INVITE: the latest provisional response is re-sent")
    func proceedingRetransmittedInvite() throws {
        var c = try started()
        c.run(until: s(0.1))
        try c.respond(response(180))
        c.run(until: s(0.3))
        try c.respond(response(183))
        c.run(until: s(0.5))
        let a = try c.receive(invite)
        #expect(c.machine.state == .proceeding)
        #expect(a.sent.map(firstLine) == ["SIP/2.0 183 Session Progress"])
        #expect(c.passed.count == 1, "a retransmission does not reach the TU")
    }

    @Test("IST Proceeding → Proceeding on 101-199 from TU: response sent")
    func proceedingProvisional() throws {
        var c = try started()
        let a = try c.respond(response(180))
        #expect(c.machine.state == .proceeding)
        #expect(a.sent.map(firstLine) == ["SIP/2.0 180 Ringing"])
        #expect(a.cancelledTimers == [.trying])
        c.run(until: s(60))
        #expect(c.sendTimes == [s(0)], "a provisional response is not retransmitted by the transaction")
    }

    @Test("IST Proceeding → Proceeding on transport error: TU informed (RFC 6026 Figure 7)")
    func proceedingTransportError() throws {
        var c = try started()
        try c.respond(response(180))
        c.event { $0.transportError("connection refused") }
        #expect(c.machine.state == .proceeding)
        #expect(c.errors.map(\.error.reason) == [.transportError("connection refused")])
    }

    @Test("IST Proceeding → Completed on 300-699 from TU: response sent, Timer G = T1, Timer H = 64·T1")
    func proceedingToCompleted() throws {
        var c = try started()
        let a = try c.respond(response(486))
        #expect(c.machine.state == .completed)
        #expect(a.sent.map(firstLine) == ["SIP/2.0 486 Busy Here"])
        #expect(a.startedTimers.map(\.0) == [.g, .h])
        #expect(a.startedTimers.map(\.1) == [s(0.5), s(32)])
    }

    @Test("IST Proceeding → Accepted on 2xx from TU: response sent, Timer L = 64·T1 (RFC 6026)")
    func proceedingToAccepted() throws {
        var c = try started()
        let a = try c.respond(response(200))
        #expect(c.machine.state == .accepted)
        #expect(a.sent.map(firstLine) == ["SIP/2.0 200 OK"])
        #expect(a.startedTimers.map(\.0) == [.l])
        #expect(a.startedTimers.map(\.1) == [s(32)])
        c.run(until: s(31))
        #expect(c.sendTimes == [s(0)], "the transaction does not retransmit a 2xx; the TU does")
    }

    @Test("IST Completed → Completed on INVITE: the final response is re-sent")
    func completedRetransmittedInvite() throws {
        var c = try started()
        try c.respond(response(486))
        c.run(until: s(0.2))
        let a = try c.receive(invite)
        #expect(c.machine.state == .completed)
        #expect(a.sent.map(firstLine) == ["SIP/2.0 486 Busy Here"])
        #expect(a.sent.first == c.sends.first?.bytes)
    }

    @Test("IST Completed → Completed on Timer G: response re-sent, G reset to MIN(2·G, T2)")
    func completedTimerG() throws {
        var c = try started()
        try c.respond(response(486))
        c.run(until: s(0.5))
        #expect(c.sendTimes == [s(0), s(0.5)])
        #expect(c.log.last.map { "\($0.action)" } == "start(Timer G, 1.0 seconds)")
        c.run(until: s(7.5))
        #expect(c.log.last.map { "\($0.action)" } == "start(Timer G, 4.0 seconds)", "capped at T2")
    }

    @Test("IST Completed → Completed on transport error: TU informed (RFC 6026 Figure 7)")
    func completedTransportError() throws {
        var c = try started()
        try c.respond(response(486))
        c.event { $0.transportError("") }
        #expect(c.machine.state == .completed)
        #expect(c.errors.count == 1)
    }

    @Test("IST Completed → Confirmed on ACK: G and H cancelled, Timer I = T4")
    func completedToConfirmed() throws {
        var c = try started()
        try c.respond(response(486))
        c.run(until: s(0.6))
        let a = try c.receive(ack(for: 486))
        #expect(c.machine.state == .confirmed)
        #expect(a.passedToTU.isEmpty, "the ACK for a non-2xx stays in the transaction")
        #expect(Set(a.cancelledTimers) == [.g, .h])
        #expect(a.startedTimers.map(\.0) == [.i])
        #expect(a.startedTimers.map(\.1) == [s(5)])
    }

    @Test("IST Completed → Terminated on Timer H: TU informed that no ACK came")
    func completedTimerH() throws {
        var c = try started()
        try c.respond(response(500))
        c.run(until: s(100))
        #expect(c.machine.state == .terminated)
        #expect(c.errors.map(\.error.reason) == [.timeout(.h)])
        #expect(c.errors.first?.at == s(32))
        #expect(c.terminatedAt == s(32))
    }

    @Test("IST Confirmed → Terminated on Timer I; ACK retransmissions are absorbed")
    func confirmedTimerI() throws {
        var c = try started()
        try c.respond(response(486))
        c.run(until: s(1))
        try c.receive(ack(for: 486))
        c.run(until: s(2))
        let a = try c.receive(ack(for: 486))
        let b = try c.receive(invite)
        #expect(a.isEmpty && b.isEmpty)
        c.run(until: s(5.999))
        #expect(c.machine.state == .confirmed)
        c.run(until: s(20))
        #expect(c.terminatedAt == s(6))
        #expect(c.sendTimes == [s(0), s(0.5)])
    }

    @Test("IST Accepted → Accepted on INVITE: the retransmission is absorbed (RFC 6026)")
    func acceptedAbsorbsInvite() throws {
        var c = try started()
        try c.respond(response(200))
        c.run(until: s(0.5))
        let a = try c.receive(invite)
        #expect(a.isEmpty)
        #expect(c.machine.state == .accepted)
        #expect(c.passed.count == 1)
    }

    @Test("IST Accepted → Accepted on ACK: ACK to TU (RFC 6026)")
    func acceptedAckToTU() throws {
        var c = try started()
        try c.respond(response(200))
        let a = try c.receive(ack(for: 200))
        #expect(c.machine.state == .accepted)
        #expect(a.passedToTU.map(\.method) == [.ack])
    }

    @Test("IST Accepted → Accepted on 2xx from TU: the retransmission is sent (RFC 6026)")
    func acceptedSends2xx() throws {
        var c = try started()
        let ok = try response(200)
        c.respond(ok)
        c.run(until: s(0.5))
        let a = c.respond(ok)
        #expect(c.machine.state == .accepted)
        #expect(a.sent.map(firstLine) == ["SIP/2.0 200 OK"])
        let late = try c.respond(response(486))
        #expect(late.isEmpty, "no non-2xx after a 2xx")
    }

    @Test("IST Accepted → Accepted on transport error: TU informed (RFC 6026)")
    func acceptedTransportError() throws {
        var c = try started()
        try c.respond(response(200))
        c.event { $0.transportError("") }
        #expect(c.machine.state == .accepted)
        #expect(c.errors.count == 1)
    }

    @Test("IST Accepted → Terminated on Timer L = 64·T1 (RFC 6026)", arguments: timerConfigurations)
    func acceptedTimerL(timers: TransactionTimers) throws {
        var c = try started(timers: timers)
        try c.respond(response(200))
        c.run(until: timers.t1 * 64 - .milliseconds(1))
        #expect(c.machine.state == .accepted)
        c.run(until: timers.t1 * 100)
        #expect(c.terminatedAt == timers.t1 * 64)
        #expect(c.errors.isEmpty)
    }

    // MARK: - Details

    @Test("IST's 100 Trying copies Via, From, To (no tag), Call-ID, CSeq and Timestamp (§8.2.6, §17.2.1)")
    func tryingContents() throws {
        var c = try started()
        c.run(until: s(0.2))
        let trying = try SIPMessage(parsing: try #require(c.sends.first?.bytes))
        let inv = try invite
        #expect(trying.status == 100)
        #expect(trying.via == inv.via)
        #expect(trying.from == inv.from)
        #expect(trying.to == inv.to)
        #expect(trying.to?.tag == nil, "§17.2.1: the 100 SHOULD NOT add a To tag")
        #expect(trying.callID == inv.callID)
        #expect(trying.cseq == inv.cseq)
        #expect(trying.headers[.timestamp] == "54")
    }

    @Test("IST with a zero 100 Trying delay sends the 100 at once")
    func immediateTrying() throws {
        var timers = rfcTimers
        timers.tryingDelay = .zero
        var t = try #require(IST(invite: try invite, reliability: .unreliable, timers: timers))
        let a = t.start()
        #expect(a.sent.map(firstLine) == ["SIP/2.0 100 Trying"])
        #expect(a.startedTimers.isEmpty)
    }

    @Test("terminate() ends an IST at once")
    func terminate() throws {
        var c = try started()
        try c.respond(response(486))
        c.event { $0.terminate() }
        #expect(c.machine.isTerminated)
        c.run(until: s(60))
        #expect(c.sendTimes == [s(0)])
        #expect(c.errors.isEmpty)
    }

    @Test("IST ignores a second final response and provisional responses after a final")
    func ignoresLateResponses() throws {
        var c = try started()
        try c.respond(response(486))
        let a = try c.respond(response(180))
        let b = try c.respond(response(500))
        #expect(a.isEmpty && b.isEmpty)
    }
}
