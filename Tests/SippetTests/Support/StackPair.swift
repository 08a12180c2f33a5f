import NIOCore
import NIOPosix
import SIPSyntax
import SIPTransaction
import SIPTransport
import Sippet

/// The transports the loopback tests run over.
enum TestTransport: String, CaseIterable, Sendable, CustomStringConvertible {
    case udp, tcp, tls, ws, wss

    var description: String { rawValue }

    /// A transport of this kind on `host`, any free port. TLS and WSS present the test CA's
    /// server certificate and trust only that CA.
    func make(host: String, settings: SIPStreamSettings = SIPStreamSettings()) throws -> any SIPTransport {
        switch self {
        case .udp: return UDPTransport(host: host, port: 0)
        case .tcp: return try TCPTransport(host: host, port: 0, settings: settings)
        case .tls: return try TCPTransport(host: host, port: 0, tls: try TestPKI.shared.serverTLS(), settings: settings)
        case .ws: return try WebSocketTransport(host: host, port: 0, settings: settings)
        case .wss:
            return try WebSocketTransport(host: host, port: 0, tls: try TestPKI.shared.serverTLS(), settings: settings)
        }
    }
}

/// Timers short enough for tests: T1 50 ms (Timer B and F 3.2 s), T4 100 ms.
let testTimers = TransactionTimers(t1: .milliseconds(50), t2: .milliseconds(400), t4: .milliseconds(100))

func testConfiguration() -> SIPStack.Configuration {
    var c = SIPStack.Configuration()
    c.timers = testTimers
    c.shutdownGracePeriod = .milliseconds(200)
    return c
}

/// Two stacks in one process over loopback: a UAC (events read as an async sequence) and a UAS
/// (a synchronous core).
struct StackPair {
    let uac: SIPStack
    let uas: SIPStack
    let log: EventLog
    let uasCore: TestUAS
    let transport: TestTransport
    /// A Request-URI that reaches the UAS over the transport under test.
    let target: String

    static func start(
        _ transport: TestTransport, host: String, uas options: TestUAS.Options = TestUAS.Options(),
        configuration: SIPStack.Configuration = testConfiguration(),
        names: (uac: String, uas: String) = ("uac", "uas")
    ) async throws -> StackPair {
        let uas = SIPStack(name: names.uas, configuration: configuration, transports: [try transport.make(host: host)])
        let core = TestUAS(options)
        uas.register(core: core)
        try await uas.start()
        let uac = SIPStack(name: names.uac, configuration: configuration, transports: [try transport.make(host: host)])
        let log = EventLog(uac)
        try await uac.start()
        guard let a = uas.transports[0].localAddress, let h = a.sipHost, let port = a.port else {
            throw SIPStackError.notRunning
        }
        let param = transport == .udp ? "" : ";transport=\(transport.rawValue)"
        return StackPair(
            uac: uac, uas: uas, log: log, uasCore: core, transport: transport,
            target: "sip:bob@\(h):\(port)\(param)")
    }

    func shutdown() async {
        await uac.shutdown()
        await uas.shutdown()
    }
}
