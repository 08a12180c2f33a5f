import SIPSyntax
import SIPTransaction
import Testing

/// RFC 3261 §17.2.2, Figure 8.
@Suite("Non-INVITE server transaction")
struct NonInviteServerTransactionTests {
    typealias NIST = NonInviteServerTransaction

    func started(_ reliability: TransportReliability = .unreliable, timers: TransactionTimers = rfcTimers)
        throws -> VirtualClock<NIST>
    {
        let t = try #require(NIST(request: try Fixtures.request("REGISTER"), reliability: reliability, timers: timers))
        var c = VirtualClock(t)
        c.event { $0.start() }
        return c
    }

    var request: SIPMessage { get throws { try Fixtures.request("REGISTER") } }

    func response(_ status: Int) throws -> SIPMessage { Fixtures.serverResponse(status, to: try request) }

    // MARK: - Every transition of Figure 8

    @Test("NIST → Trying on request: request to TU, nothing sent")
    func initialToTrying() throws {
        var t = try #require(NIST(request: try request, reliability: .unreliable))
        let a = t.start()
        #expect(t.state == .trying)
        #expect(a.passedToTU.map(\.method) == [.register])
        #expect(a.sent.isEmpty && a.startedTimers.isEmpty)
    }

    @Test("NIST Trying absorbs request retransmissions")
    func tryingAbsorbs() throws {
        var c = try started()
        let a = try c.receive(request)
        #expect(a.isEmpty)
        #expect(c.machine.state == .trying)
    }

    @Test("NIST Trying → Proceeding on 1xx from TU: response sent")
    func tryingToProceeding() throws {
        var c = try started()
        let a = try c.respond(response(100))
        #expect(c.machine.state == .proceeding)
        #expect(a.sent.map(firstLine) == ["SIP/2.0 100 Trying"])
    }

    @Test("NIST Trying → Completed on 200-699 from TU: response sent, Timer J = 64·T1")
    func tryingToCompleted() throws {
        var c = try started()
        let a = try c.respond(response(200))
        #expect(c.machine.state == .completed)
        #expect(a.sent.map(firstLine) == ["SIP/2.0 200 OK"])
        #expect(a.startedTimers.map(\.0) == [.j])
        #expect(a.startedTimers.map(\.1) == [s(32)])
    }

    @Test("NIST Proceeding → Proceeding on 1xx from TU: response sent")
    func proceedingProvisional() throws {
        var c = try started()
        try c.respond(response(100))
        let a = try c.respond(response(183))
        #expect(c.machine.state == .proceeding)
        #expect(a.sent.map(firstLine) == ["SIP/2.0 183 Session Progress"])
    }

    @Test("NIST Proceeding → Proceeding on request: the latest provisional response is re-sent")
    func proceedingRetransmittedRequest() throws {
        var c = try started()
        try c.respond(response(100))
        try c.respond(response(183))
        let a = try c.receive(request)
        #expect(a.sent.map(firstLine) == ["SIP/2.0 183 Session Progress"])
        #expect(c.machine.state == .proceeding)
    }

    @Test("NIST Proceeding → Completed on 200-699 from TU: response sent")
    func proceedingToCompleted() throws {
        var c = try started()
        try c.respond(response(100))
        let a = try c.respond(response(403))
        #expect(c.machine.state == .completed)
        #expect(a.sent.map(firstLine) == ["SIP/2.0 403 Forbidden"])
        #expect(a.startedTimers.map(\.0) == [.j])
    }

    @Test("NIST Proceeding → Terminated on transport error: TU informed")
    func proceedingTransportError() throws {
        var c = try started()
        try c.respond(response(100))
        c.event { $0.transportError("connection closed") }
        #expect(c.machine.state == .terminated)
        #expect(c.errors.map(\.error.reason) == [.transportError("connection closed")])
    }

    @Test("NIST Completed → Completed on request: the final response is re-sent")
    func completedRetransmittedRequest() throws {
        var c = try started()
        try c.respond(response(200))
        c.run(until: s(3))
        let a = try c.receive(request)
        #expect(a.sent.map(firstLine) == ["SIP/2.0 200 OK"])
        #expect(a.sent.first == c.sends.first?.bytes)
        #expect(c.machine.state == .completed)
    }

    @Test("NIST Completed → Terminated on transport error: TU informed")
    func completedTransportError() throws {
        var c = try started()
        try c.respond(response(200))
        c.event { $0.transportError("") }
        #expect(c.machine.state == .terminated)
        #expect(c.errors.count == 1)
    }

    @Test("NIST Completed → Terminated on Timer J = 64·T1", arguments: timerConfigurations)
    func completedTimerJ(timers: TransactionTimers) throws {
        var c = try started(timers: timers)
        c.run(until: timers.t1)
        try c.respond(response(200))
        c.run(until: timers.t1 * 65 - .milliseconds(1))
        #expect(c.machine.state == .completed)
        c.run(until: timers.t1 * 100)
        #expect(c.terminatedAt == timers.t1 * 65)
        #expect(c.sendTimes == [timers.t1], "the transaction never retransmits on its own")
    }

    // MARK: - Details

    @Test("NIST ignores responses after the final one")
    func ignoresLateResponses() throws {
        var c = try started()
        try c.respond(response(200))
        let a = try c.respond(response(180))
        let b = try c.respond(response(500))
        #expect(a.isEmpty && b.isEmpty)
        #expect(
            c.machine.storedByteCount == c.sends[0].bytes.count, "it keeps the final response's bytes, and only those")
    }

    @Test("NIST refuses INVITE and ACK")
    func refuses() throws {
        #expect(NIST(request: try Fixtures.invite(), reliability: .unreliable) == nil)
        #expect(NIST(request: try Fixtures.request("ACK"), reliability: .unreliable) == nil)
    }
}
