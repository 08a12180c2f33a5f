import ArgumentParser
import Logging
import SIPSyntax
import SIPTransaction
import ServiceLifecycle
import Sippet
import SippetAuth
import SippetProxy

/// `sippet proxy`: a registrar for its domains and a stateful proxy (``RegistrarProxyCore``),
/// until SIGINT or SIGTERM.
struct ProxyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "proxy",
        abstract: "Run a SIP registrar and stateful proxy (RFC 3261 §10.3, §16).",
        discussion: """
            With no listening option it listens on UDP and TCP 127.0.0.1:5060 and prints one line per \
            socket once ready. Phones register for the domains (--domain, default: the listening hosts) and \
            calls to a registered user go to every contact it registered, over the connection it registered \
            on. Other requests are routed by their Route or Request-URI. With --users, REGISTER needs \
            credentials (401) and so do the requests of its users that start a dialog (407).
            """
    )

    @OptionGroup var listen: ListenOptions
    @Option(help: ArgumentHelp("A domain this proxy is responsible for (repeatable).", valueName: "domain"))
    var domain: [String] = []
    @OptionGroup var auth: AuthOptions
    @Flag(name: .customLong("no-record-route"), help: "Do not stay on the path of the dialogs (no Record-Route).")
    var noRecordRoute = false
    @Option(name: .customLong("t1-ms"), help: "RFC 3261 timer T1.")
    var t1Ms: Int = 500
    @Option(help: "Event loops that hold transactions (default: one per core).")
    var threads: Int?
    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel: String = "notice"

    func validate() throws {
        guard t1Ms > 0, t1Ms <= 60_000 else { throw ValidationError("--t1-ms must be 1-60000") }
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1") }
        guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("unknown --log-level \(logLevel)") }
    }

    func run() async throws {
        let level = Logger.Level(rawValue: logLevel) ?? .notice
        LoggingSystem.bootstrap { label in
            var h = StreamLogHandler.standardError(label: label)
            h.logLevel = level
            return h
        }
        let logger = Logger(label: "sippet")
        let transports = try listen.transports(threads: threads)
        let t1 = Duration.milliseconds(t1Ms)
        var configuration = SIPStack.Configuration()
        configuration.timers = TransactionTimers(t1: t1, t2: max(.seconds(4), t1))
        configuration.shutdownGracePeriod = .seconds(2)
        configuration.transactionLoops = threads
        // A proxy passes on what it does not implement: every method reaches the core (§16.3).
        configuration.validation.allowedMethods = SIPMethod.standard
        configuration.validation.role = .proxy
        let stack = SIPStack(name: "proxy", configuration: configuration, transports: transports, logger: logger)
        var options = RegistrarProxyCore.Options()
        // Without --domain it serves the addresses it listens on (host and port, so that a contact
        // on the same host but another port is not taken for one of its users).
        options.domains = domain
        options.recordRoute = !noRecordRoute
        if let (authConfiguration, store) = try auth.make(
            defaultRealm: domain.first ?? listen.firstHost(), logger: logger)
        {
            options.credentials = store
            options.authentication = authConfiguration
            let realm = authConfiguration.realm
            options.knownUser = { user in
                [DigestAlgorithm.HashFunction.md5, .sha256, .sha512t256].contains {
                    store.ha1(user: user, realm: realm, hash: $0) != nil
                }
            }
        }
        stack.register(core: RegistrarProxyCore(stack: stack, options: options, loops: threads, logger: logger))
        do {
            try await stack.start()
        } catch {
            writeStderr("sippet proxy: cannot listen: \(error)")
            throw ExitCode(2)
        }
        sayListening(stack)
        let group = ServiceGroup(
            configuration: .init(services: [stack], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }
}
