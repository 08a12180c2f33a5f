import NIOCore
import SIPSyntax
import SIPTransaction
import SIPTransport
import Sippet
import Testing

/// Two stacks in one process talk over real sockets on loopback (RFC 3261 flows of §8, §9, §13,
/// §15, §17), over each transport, IPv4 and IPv6.
@Suite("Two stacks over loopback")
struct StackLoopbackTests {
    static let cases: [(TestTransport, String)] = TestTransport.allCases.flatMap { t in [(t, "127.0.0.1"), (t, "::1")] }

    @Test("OPTIONS gets its 200", arguments: cases)
    func options(transport: TestTransport, host: String) async throws {
        let pair = try await StackPair.start(transport, host: host)
        let key = try pair.uac.send(try Dialer(to: pair.target).request(.options, pair.target))
        #expect(key?.client?.method == .options)
        #expect(await pair.log.finalStatuses(key) == [200])
        #expect(pair.uasCore.count(.options) == 1)
        await pair.shutdown()
    }

    @Test("INVITE, 180, 200, ACK; then BYE and its 200", arguments: cases)
    func call(transport: TestTransport, host: String) async throws {
        let pair = try await StackPair.start(transport, host: host)
        let dialer = Dialer(to: pair.target)
        let invite = try dialer.request(.invite, pair.target)
        let key = try pair.uac.send(invite)
        pair.log.sentInvite(invite, key: key)
        let statuses = await pair.log.finalStatuses(key)
        #expect(statuses.first == 180)
        #expect(statuses.last == 200)
        // The UAC core's ACK (a transaction of its own, §13.2.2.4) reaches the UAS core.
        #expect(await pair.log.wait { _ in pair.uasCore.count(.ack) >= 1 })
        let ok = try #require(
            pair.log.events.lazy.compactMap { e -> SIPMessage? in
                if case .response(let r, _) = e, r.status == 200 { return r } else { return nil }
            }.first)
        let byeKey = try pair.uac.send(try dialer.bye(after: invite, ok: ok))
        #expect(await pair.log.finalStatuses(byeKey) == [200])
        #expect(pair.uasCore.count(.bye) == 1)
        #expect(pair.uasCore.count(.invite) == 1)
        await pair.shutdown()
    }

    @Test("CANCEL of a ringing INVITE: 200 to the CANCEL, 487 to the INVITE, and its ACK", arguments: cases)
    func cancel(transport: TestTransport, host: String) async throws {
        var options = TestUAS.Options()
        options.holdInvites = true
        // T4 of 1 s, so Timer I (§17.2.1) keeps the transaction in Confirmed for 1 s: an ACK
        // retransmitted for a retransmitted 487 (§17.1.1.3) would reach the core only if it came
        // later than that.
        var configuration = testConfiguration()
        configuration.timers.t4 = .seconds(1)
        let pair = try await StackPair.start(transport, host: host, uas: options, configuration: configuration)
        let invite = try Dialer(to: pair.target).request(.invite, pair.target)
        let key = try #require(try pair.uac.send(invite)?.client)
        #expect(await pair.log.wait { $0.statuses(.client(key)).contains(180) })
        let cancelKey = try pair.uac.cancel(key)
        #expect(await pair.log.finalStatuses(.client(cancelKey)) == [200])
        // Over UDP a retransmitted INVITE may bring the 180 again (§17.2.1); one final: the 487.
        let statuses = await pair.log.finalStatuses(.client(key))
        #expect(statuses.first == 180)
        #expect(statuses.filter { $0 >= 200 } == [487])
        // The INVITE client transaction acknowledged the 487 (§17.1.1.3): the UAS's INVITE server
        // transaction ends (Timer I, 1 s after the ACK) before Timer H (64·T1, 3.2 s) would.
        let received = try #require(pair.uasCore.requests.first { $0.method == .invite })
        let serverKey = try #require(ServerTransactionKey(request: received))
        #expect(await waitUntil(timeout: .milliseconds(2500)) { await !pair.uas.isAlive(.server(serverKey)) })
        #expect(pair.uasCore.count(.ack) == 0, "the ACK for a non-2xx stays in the transaction layer")
        await pair.shutdown()
    }

    @Test("A request nobody answers times out and the core hears of it (Timer F, Timer B)", arguments: cases)
    func timeout(transport: TestTransport, host: String) async throws {
        // A bare transport with no stack behind it reads the requests and never answers (not
        // even 100 Trying, which would stop Timer B, §17.1.1.2).
        let blackhole = try transport.make(host: host)
        let recorder = RecordingDelegate()
        try await blackhole.start(delegate: recorder)
        let pair = try await StackPair.start(transport, host: host)
        let a = try #require(blackhole.localAddress)
        let param = transport == .udp ? "" : ";transport=\(transport.rawValue)"
        let nowhere = "sip:nobody@\(a.sipHost ?? ""):\(a.port ?? 0)\(param)"
        let started = ContinuousClock.now
        let key = try pair.uac.send(try Dialer(to: nowhere).request(.options, nowhere))
        let inviteKey = try pair.uac.send(try Dialer(to: nowhere).request(.invite, nowhere))
        #expect(await pair.log.wait(timeout: .seconds(8)) { !$0.errors(key).isEmpty && !$0.errors(inviteKey).isEmpty })
        #expect(pair.log.errors(key) == [.timeout(.f)])
        #expect(pair.log.errors(inviteKey) == [.timeout(.b)])
        // Timers B and F are 64·T1 = 3.2 s with the tests' T1 of 50 ms.
        #expect(ContinuousClock.now - started >= .milliseconds(3200))
        // Over UDP the requests were retransmitted (Timers A and E); over TCP sent once.
        let copies = recorder.messages.count
        if transport == .udp { #expect(copies > 10) } else { #expect(copies == 2) }
        await pair.shutdown()
        await blackhole.shutdown()
    }

    @Test("A refused connection reaches the core as a transport error", arguments: ["127.0.0.1", "::1"])
    func connectionRefused(host: String) async throws {
        let pair = try await StackPair.start(.tcp, host: host)
        // A port held, bound and not listening, for the whole test: a connection to it is refused.
        let held = try HeldPort(.tcp, host: host)
        defer { withExtendedLifetime(held) {} }
        let port = held.port
        let bracketed = host.contains(":") ? "[\(host)]" : host
        let target = "sip:nobody@\(bracketed):\(port);transport=tcp"
        let key = try pair.uac.send(try Dialer(to: target).request(.options, target))
        #expect(await pair.log.wait(timeout: .seconds(5)) { !$0.errors(key).isEmpty })
        guard case .transport(let e)? = pair.log.errors(key).first else {
            Issue.record("expected a transport error, got \(pair.log.errors(key))")
            await pair.shutdown()
            return
        }
        #expect(e.kind == .connectionRefused)
        #expect(await !pair.uac.isAlive(try #require(key)))
        await pair.shutdown()
    }
}

/// Polls `condition` every 10 ms until it holds or `timeout` passes.
func waitUntil(timeout: Duration, _ condition: @Sendable () async -> Bool) async -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if await condition() { return true }
        try? await Task.sleep(for: .milliseconds(10))
    }
    return await condition()
}
