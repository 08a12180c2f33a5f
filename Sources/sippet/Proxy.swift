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
            credentials (401) and so do the requests of its users that start a dialog (407). With --db \
            postgres://…, several proxies share one location service: a call that enters through one \
            reaches a phone registered through another, through that one.
            """
    )

    @OptionGroup var listen: ListenOptions
    @Option(help: ArgumentHelp("A domain this proxy is responsible for (repeatable).", valueName: "domain"))
    var domain: [String] = []
    @OptionGroup var auth: AuthOptions
    @Flag(name: .customLong("no-record-route"), help: "Do not stay on the path of the dialogs (no Record-Route).")
    var noRecordRoute = false
    @OptionGroup var server: ServerOptions
    @OptionGroup var dns: DNSOptions
    @OptionGroup var database: DatabaseOptions

    func run() async throws {
        let logger = server.bootstrapLogging()
        let transports = try listen.transports(threads: server.threads)
        var configuration = server.stackConfiguration()
        // A proxy passes on what it does not implement: every method reaches the core (§16.3).
        configuration.validation.allowedMethods = SIPMethod.standard
        configuration.validation.role = .proxy
        let stack = SIPStack(
            name: "proxy", configuration: configuration, transports: transports, resolver: dns.resolver(),
            logger: logger)
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
        options.storedRegistrar = try await database.registrar(
            policy: options.registrar, logger: logger, command: "proxy")
        stack.register(core: RegistrarProxyCore(stack: stack, options: options, loops: server.threads, logger: logger))
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
