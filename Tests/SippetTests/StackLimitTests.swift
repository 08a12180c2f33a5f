import NIOCore
import SIPSyntax
import SIPTransport
import Sippet
import Testing

/// The stack's own limits, each at its edge.
@Suite("Stack limits")
struct StackLimitTests {
    @Test(
        "At the transaction limit a new request gets 503 with Retry-After (RFC 3261 §21.5.4); its retransmission still finds its transaction"
    )
    func transactionLimit() async throws {
        var configuration = testConfiguration()
        configuration.maxTransactionsPerLoop = 1
        configuration.transactionLoops = 1
        var silent = TestUAS.Options()
        silent.silent = true
        let rig = try await StackRoutingTests.Rig.start(configuration: configuration, core: silent)
        let via = { "SIP/2.0/UDP 127.0.0.1:\(rig.raw.localAddress?.port ?? 0);branch=\(StackRoutingTests.branch())" }
        let first = StackRoutingTests.request(via: via())
        rig.send(first)
        #expect(await waitUntil(timeout: .seconds(5)) { rig.core.requests.count == 1 })
        rig.send(StackRoutingTests.request(via: via()))
        let got = await rig.rawLog.waitForMessages(1)
        let response = try SIPMessage(parsing: try #require(got.first).bytes)
        #expect(response.status == 503)
        #expect(response.headers.contains(.retryAfter))
        // The first request's retransmission is absorbed by its transaction, not refused.
        rig.send(first)
        try await Task.sleep(for: .milliseconds(100))
        #expect(rig.rawLog.messages.count == 1)
        #expect(rig.core.requests.count == 1)
        await rig.stop()
    }

    @Test("A TCP connection idle for longer than idleTimeout is closed, and the event is counted")
    func idleTimeout() async throws {
        var settings = SIPStreamSettings()
        settings.idleTimeout = .milliseconds(300)
        let tcp = try TCPTransport(host: "127.0.0.1", port: 0, settings: settings)
        let recorder = RecordingDelegate()
        try await tcp.start(delegate: recorder)
        let opened = ContinuousClock.now
        let connection = try await LossAndHostileTests.connect(try #require(tcp.localAddress))
        #expect(await waitUntil(timeout: .seconds(3)) { !connection.isActive })
        #expect(ContinuousClock.now - opened >= .milliseconds(300))
        #expect(recorder.events.contains { if case .idleConnectionClosed = $0 { return true } else { return false } })
        #expect(await waitUntil(timeout: .seconds(5)) { tcp.connectionCount == 0 })
        await tcp.shutdown()
    }
}
