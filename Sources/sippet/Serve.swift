import ArgumentParser
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import SIPSyntax
import SIPTransaction
import SIPTransport
import ServiceLifecycle
import Sippet
import SippetAuth
import SippetEndpoint
import UnixSignals

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// `sippet serve`: a UAS and registrar (``EndpointCore``) on a stack, until SIGINT or SIGTERM.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a SIP user agent server and registrar.",
        discussion: """
            With no listening option it listens on UDP and TCP 127.0.0.1:5060. It prints one line per \
            listening socket once ready ("listening udp 127.0.0.1:5060") and shuts down gracefully on \
            SIGINT and SIGTERM. OPTIONS gets 200; REGISTER is handled as a registrar (RFC 3261 §10.3); \
            INVITE gets 180 after --ring-after-ms (if given) and the --answer response after \
            --answer-after-ms; CANCEL, ACK and BYE are handled as RFC 3261 says. With --users, REGISTER and \
            out-of-dialog INVITE, MESSAGE and SUBSCRIBE need digest credentials (RFC 3261 §22, RFC 7616); \
            the file is read again on SIGHUP.
            """
    )

    @OptionGroup var listen: ListenOptions
    @Option(help: "The final response to an INVITE (a 2xx carries an SDP answer).")
    var answer: Int = 200
    @Option(
        name: .customLong("ring-after-ms"),
        help: "Send 180 Ringing this long after an INVITE arrives (default: no 180).")
    var ringAfterMs: Int?
    @Option(name: .customLong("answer-after-ms"), help: "Send the final response this long after an INVITE arrives.")
    var answerAfterMs: Int = 0
    @Option(
        name: .customLong("min-se"),
        help: "RFC 4028 Min-SE: an INVITE whose Session-Expires is below it gets 422 (at least 90).")
    var minSE: UInt32 = 90
    @OptionGroup var server: ServerOptions
    @OptionGroup var auth: AuthOptions
    @OptionGroup var dns: DNSOptions
    @OptionGroup var database: DatabaseOptions

    func validate() throws {
        guard (200...699).contains(answer) else {
            throw ValidationError("--answer must be a final status code, 200-699")
        }
        guard answerAfterMs >= 0, (ringAfterMs ?? 0) >= 0 else { throw ValidationError("delays must not be negative") }
        guard minSE >= 90 else { throw ValidationError("--min-se must be at least 90 (RFC 4028 §4)") }
    }

    func run() async throws {
        let logger = server.bootstrapLogging()
        let transports = try listen.transports(threads: server.threads)
        let t1 = server.t1
        var configuration = server.stackConfiguration()
        // RFC 3261 §8.2: a request is authenticated before its method is inspected, so every
        // known method reaches the core, which challenges first and answers 405 after.
        configuration.validation.allowedMethods = SIPMethod.standard
        // RFC 3262 and RFC 4028: a caller may require reliable provisionals and session timers
        // (a Require: 100rel or timer gets no 420).
        configuration.validation.supportedExtensions.formUnion(EndpointCore.supportedExtensions)
        let stack = SIPStack(
            name: "serve", configuration: configuration, transports: transports, resolver: dns.resolver(),
            logger: logger)
        var options = EndpointCore.Options()
        options.answer = answer
        options.ringAfter = ringAfterMs.map { .milliseconds($0) }
        options.answerAfter = .milliseconds(answerAfterMs)
        options.t1 = t1
        options.t2 = max(.seconds(4), t1)
        options.minSE = minSE
        if let (configuration, store) = try auth.make(defaultRealm: try listen.firstHost(), logger: logger) {
            options.authenticator = DigestAuthenticator(configuration: configuration, credentials: store)
        }
        options.storedRegistrar = try await database.registrar(
            policy: options.registrar, logger: logger, command: "serve")
        stack.register(core: EndpointCore(options: options, loops: server.threads, logger: logger))

        do {
            try await stack.start()
        } catch {
            writeStderr("sippet serve: cannot listen: \(error)")
            throw ExitCode(2)
        }
        sayListening(stack)
        let group = ServiceGroup(
            configuration: .init(services: [stack], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }
}

/// The options of `serve` and `proxy` that shape the stack: T1, the loops, the log level.
struct ServerOptions: ParsableArguments {
    @Option(
        name: .customLong("t1-ms"),
        help: "RFC 3261 timer T1 (the round-trip estimate all retransmission timers derive from).")
    var t1Ms: Int = 500
    @Option(
        help:
            "Event loops that hold transactions (default: one per core). 1 keeps every transaction on the loop that reads the UDP socket."
    )
    var threads: Int?
    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel: String = "notice"

    func validate() throws {
        guard t1Ms > 0, t1Ms <= 60_000 else { throw ValidationError("--t1-ms must be 1-60000") }
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1") }
        guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("unknown --log-level \(logLevel)") }
    }

    /// T1 (RFC 3261 §17.1.1.1).
    var t1: Duration { .milliseconds(t1Ms) }

    /// Logs to standard error at the chosen level; the command's logger.
    func bootstrapLogging() -> Logger {
        let level = Logger.Level(rawValue: logLevel) ?? .notice
        LoggingSystem.bootstrap { label in
            var h = StreamLogHandler.standardError(label: label)
            h.logLevel = level
            return h
        }
        return Logger(label: "sippet")
    }

    /// The stack's configuration: T1, T2 (at least 4 s), a 2 s shutdown grace period, the loops.
    func stackConfiguration() -> SIPStack.Configuration {
        var configuration = SIPStack.Configuration()
        configuration.timers = TransactionTimers(t1: t1, t2: max(.seconds(4), t1))
        configuration.shutdownGracePeriod = .seconds(2)
        configuration.transactionLoops = threads
        return configuration
    }
}

/// The digest authentication options of `serve` and `proxy`.
struct AuthOptions: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            "A users file (USER:REALM:ALGORITHM:HA1 lines, see `sippet passwd`): require digest credentials.",
            valueName: "file"))
    var users: String?
    @Option(help: "The realm of the challenges (default: the host of the first listening address).")
    var realm: String?
    @Option(name: .customLong("nonce-ttl-s"), help: "Seconds a nonce stays valid.")
    var nonceTTL: Int = 30
    @Option(
        name: .customLong("auth-algorithms"),
        help: ArgumentHelp(
            "The challenges, in order of preference: MD5, SHA-256, SHA-512-256 (each also -sess). Clients that read only the first challenge and know only MD5 (sipp, older phones) need MD5 first.",
            valueName: "list"))
    var authAlgorithms: String = "SHA-256,MD5"

    func validate() throws {
        guard nonceTTL >= 1, nonceTTL <= 86_400 else { throw ValidationError("--nonce-ttl-s must be 1-86400") }
        _ = try algorithms()
    }

    /// With --users: the authenticator's settings and the users, read again on SIGHUP (a file
    /// that does not read leaves the users as they were); nil without.
    func make(defaultRealm: String, logger: Logger) throws -> (
        DigestAuthenticator.Configuration, ReloadableCredentialStore
    )? {
        guard let users else { return nil }
        var configuration = DigestAuthenticator.Configuration(realm: realm ?? defaultRealm)
        configuration.algorithms = try algorithms()
        configuration.nonceLifetime = .seconds(nonceTTL)
        let store = ReloadableCredentialStore(try Self.readUsers(users))
        Task.detached {
            for await _ in await UnixSignalsSequence(trapping: .sighup) {
                do {
                    store.replace(with: try Self.readUsers(users))
                    logger.notice("users file read again", metadata: ["file": "\(users)"])
                } catch {
                    logger.error("users file not read again: \(error)", metadata: ["file": "\(users)"])
                }
            }
        }
        return (configuration, store)
    }

    /// `--auth-algorithms` read.
    func algorithms() throws -> [DigestAlgorithm] {
        let list = try authAlgorithms.split(separator: ",").map { name in
            let trimmed = String(name.drop { $0 == " " }.reversed().drop { $0 == " " }.reversed())
            guard let a = DigestAlgorithm(name: trimmed) else {
                throw ValidationError("unknown algorithm \(trimmed) in --auth-algorithms")
            }
            return a
        }
        guard !list.isEmpty else { throw ValidationError("--auth-algorithms is empty") }
        return list
    }

    /// The users file, read; a line that does not read is an error naming it.
    static func readUsers(_ path: String) throws -> DigestUsersFile {
        let text = String(decoding: try readAll(path), as: UTF8.self)
        do {
            return try DigestUsersFile(text: text)
        } catch {
            throw ValidationError("\(path): \(error)")
        }
    }
}

/// `sippet passwd USER --realm REALM`: the users file's lines for a password read from standard
/// input.
struct Passwd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract:
            "Print the users-file lines (MD5, SHA-256, SHA-512-256) of a user, the password read from standard input.",
        discussion:
            "The first line of standard input is the password. Append the output to the file given to `sippet serve --users`."
    )
    @Argument(help: "The user name.") var user: String
    @Option(help: "The realm (sippet serve's --realm, by default the host it listens on).") var realm: String

    func validate() throws {
        guard !user.isEmpty, !user.contains(":") else {
            throw ValidationError("the user name must not be empty or contain ':'")
        }
    }

    func run() async throws {
        let input = String(decoding: try readAll(nil), as: UTF8.self)
        let password =
            input.split(separator: "\n", maxSplits: 1, omittingEmptySubsequences: false).first.map {
                String($0.hasSuffix("\r") ? $0.dropLast() : $0)
            } ?? ""
        for line in DigestUsersFile.lines(user: user, realm: realm, password: password) { say(line) }
    }
}

/// The listening options of `serve` and `proxy`.
struct ListenOptions: ParsableArguments {
    @Option(
        name: .customLong("udp"), help: ArgumentHelp("Listen on UDP HOST:PORT (repeatable).", valueName: "host:port"))
    var udp: [String] = []
    @Option(
        name: .customLong("tcp"), help: ArgumentHelp("Listen on TCP HOST:PORT (repeatable).", valueName: "host:port"))
    var tcp: [String] = []
    @Option(
        name: .customLong("tls"),
        help: ArgumentHelp("Listen on TLS HOST:PORT (repeatable; needs --cert and --key).", valueName: "host:port"))
    var tls: [String] = []
    @Option(
        name: .customLong("ws"),
        help: ArgumentHelp("Listen on WebSocket HOST:PORT (RFC 7118; repeatable).", valueName: "host:port"))
    var ws: [String] = []
    @Option(
        name: .customLong("wss"),
        help: ArgumentHelp(
            "Listen on secure WebSocket HOST:PORT (repeatable; needs --cert and --key).", valueName: "host:port"))
    var wss: [String] = []
    @Option(help: ArgumentHelp("The PEM certificate chain for --tls and --wss.", valueName: "pem"))
    var cert: String?
    @Option(help: ArgumentHelp("The PEM private key for --tls and --wss.", valueName: "pem"))
    var key: String?

    func validate() throws {
        if !(tls.isEmpty && wss.isEmpty), cert == nil || key == nil {
            throw ValidationError("--tls and --wss need --cert and --key")
        }
    }

    /// The transports: UDP and TCP 127.0.0.1:5060 when none is given. A UDP address gets one
    /// socket per loop unless `threads` is 1.
    func transports(threads: Int?) throws -> [any SIPTransport] {
        var transports: [any SIPTransport] = []
        let noneGiven = udp.isEmpty && tcp.isEmpty && tls.isEmpty && ws.isEmpty && wss.isEmpty
        for a in noneGiven ? ["127.0.0.1:5060"] : udp {
            let (h, p) = try hostPort(a)
            // One socket per loop: every loop reads, and each sends on its own socket.
            var udpConfiguration = UDPTransport.Configuration()
            udpConfiguration.socketPerLoop = threads != 1
            transports.append(UDPTransport(host: h, port: p, configuration: udpConfiguration))
        }
        for a in noneGiven ? ["127.0.0.1:5060"] : tcp {
            let (h, p) = try hostPort(a)
            transports.append(try TCPTransport(host: h, port: p))
        }
        let secure = try cert.flatMap { c in
            try key.map { k in try SIPTLSConfiguration.pem(certificateChain: c, privateKey: k) }
        }
        for a in tls {
            let (h, p) = try hostPort(a)
            transports.append(try TCPTransport(host: h, port: p, tls: secure))
        }
        for a in ws {
            let (h, p) = try hostPort(a)
            transports.append(try WebSocketTransport(host: h, port: p))
        }
        for a in wss {
            let (h, p) = try hostPort(a)
            transports.append(try WebSocketTransport(host: h, port: p, tls: secure))
        }
        return transports
    }

    /// The host of the first listening address (127.0.0.1 when none is given).
    func firstHost() throws -> String {
        try hostPort((udp + tcp + tls + ws + wss).first ?? "127.0.0.1:5060").0
    }

    /// Every host listened on.
    func hosts() throws -> [String] {
        let all = udp + tcp + tls + ws + wss
        return try (all.isEmpty ? ["127.0.0.1:5060"] : all).map { try hostPort($0).0 }
    }
}

/// Prints one "listening KIND HOST:PORT" line per socket of `stack`.
func sayListening(_ stack: SIPStack) {
    for t in stack.transports {
        guard let a = t.localAddress, let host = a.sipHost, let port = a.port else { continue }
        say("listening \(t.kind.uriParameter) \(host):\(port)")
    }
}

/// "HOST:PORT", "[V6]:PORT" or "HOST" (port 5060).
func hostPort(_ s: String) throws -> (String, Int) {
    if s.hasPrefix("[") {
        guard let close = s.firstIndex(of: "]") else { throw ValidationError("bad address \(s)") }
        let host = String(s[s.index(after: s.startIndex)..<close])
        let rest = s[s.index(after: close)...]
        if rest.isEmpty { return (host, 5060) }
        guard rest.hasPrefix(":"), let port = Int(rest.dropFirst()), (0...65_535).contains(port) else {
            throw ValidationError("bad port in \(s)")
        }
        return (host, port)
    }
    let parts = s.split(separator: ":", omittingEmptySubsequences: false)
    if parts.count == 1 { return (s, 5060) }
    guard parts.count == 2, let port = Int(parts[1]), (0...65_535).contains(port), !parts[0].isEmpty else {
        throw ValidationError("bad address \(s) (HOST:PORT, or [IPv6]:PORT)")
    }
    return (String(parts[0]), port)
}
