import Logging
import Metrics
import MetricsTestKit
import NIOCore
import SIPSyntax
import SIPTransaction
import SIPTransport
import ServiceLifecycle
import Sippet
import Testing

/// The process's metrics backend for tests, bootstrapped once (swift-metrics allows one
/// bootstrap per process). Stacks made before it count into the no-op backend; the tests here
/// make theirs after and look only at their own stack's dimension.
let testMetrics: TestMetrics = {
    let m = TestMetrics()
    MetricsSystem.bootstrap(m)
    return m
}()

@Suite("Operations: metrics, logging, service life cycle")
struct OperationsTests {
    @Test("Counters by method and status, retransmissions, parse errors and live transactions, per stack")
    func metrics() async throws {
        let metrics = testMetrics
        // Names of their own: other tests' stacks count under "uac" and "uas".
        let pair = try await StackPair.start(.udp, host: "127.0.0.1", names: ("metrics-uac", "metrics-uas"))
        let key = try pair.uac.send(try Dialer(to: pair.target).request(.options, pair.target))
        #expect(await pair.log.finalStatuses(key) == [200])
        // A datagram that does not parse.
        let raw = UDPTransport(host: "127.0.0.1", port: 0)
        try await raw.start(delegate: RecordingDelegate())
        raw.send(
            Array("garbage\r\n\r\n".utf8),
            to: SIPTransportTarget(address: try #require(pair.uas.transports[0].localAddress)), completion: nil)
        #expect(
            await waitUntil(timeout: .seconds(2)) {
                (try? metrics.expectCounter("sippet_parse_errors", [("stack", "metrics-uas")]).totalValue) ?? 0 >= 1
            })
        #expect(
            try metrics.expectCounter("sippet_messages_in", [("stack", "metrics-uas"), ("method", "OPTIONS")])
                .totalValue == 1)
        #expect(
            try metrics.expectCounter("sippet_messages_out", [("stack", "metrics-uas"), ("status", "200")]).totalValue
                == 1)
        #expect(
            try metrics.expectCounter("sippet_messages_out", [("stack", "metrics-uac"), ("method", "OPTIONS")])
                .totalValue == 1)
        #expect(
            try metrics.expectCounter("sippet_messages_in", [("stack", "metrics-uac"), ("status", "200")]).totalValue
                == 1)
        #expect(try metrics.expectTimer("sippet_response_time", [("stack", "metrics-uac")]).values.count == 1)
        // Both transactions live on in Completed (Timer J, Timer K) until they end.
        let live = try metrics.expectMeter("sippet_transactions_live", [("stack", "metrics-uas")])
        #expect(live.lastValue == 1)
        await raw.shutdown()
        await pair.shutdown()
    }

    @Test("The stack is a ServiceLifecycle service: it runs in a ServiceGroup and shuts down gracefully")
    func service() async throws {
        let stack = SIPStack(
            name: "service", configuration: testConfiguration(),
            transports: [UDPTransport(host: "127.0.0.1", port: 0)])
        stack.register(core: TestUAS())
        let group = ServiceGroup(configuration: .init(services: [stack], logger: Logger(label: "test")))
        let running = Task { try await group.run() }
        #expect(await waitUntil(timeout: .seconds(5)) { stack.transports[0].localAddress != nil })
        // Running once send no longer says notRunning (a response without a Via is refused for
        // its own reason then).
        #expect(
            await waitUntil(timeout: .seconds(5)) {
                do { try stack.send(SIPMessage.response(status: 200)) } catch {
                    return error as? SIPStackError != .notRunning
                }
                return true
            })
        let uac = SIPStack(
            name: "uac", configuration: testConfiguration(), transports: [UDPTransport(host: "127.0.0.1", port: 0)])
        let log = EventLog(uac)
        try await uac.start()
        let target = "sip:bob@127.0.0.1:\(stack.transports[0].localAddress?.port ?? 0)"
        let key = try uac.send(try Dialer(to: target).request(.options, target))
        #expect(await log.finalStatuses(key) == [200])
        await group.triggerGracefulShutdown()
        try await running.value
        #expect(throws: SIPStackError.notRunning) { try stack.send(try Dialer(to: target).request(.options, target)) }
        await uac.shutdown()
    }
}
