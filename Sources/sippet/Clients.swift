import ArgumentParser
import SIPDialog
import SIPSyntax
import SIPTransport
import Sippet

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// What every client command takes.
struct ClientOptions: ParsableArguments {
    @Option(help: "udp, tcp, tls or ws, where the URI has no transport parameter.")
    var transport: String?
    @Option(help: ArgumentHelp("Trust roots (PEM) for --transport tls.", valueName: "pem"))
    var ca: String?
    @Option(help: "Run this many times, one after the other; exit 0 only if every run succeeded.")
    var count: Int = 1
    @Option(name: .customLong("t1-ms"), help: "RFC 3261 timer T1; Timer B and F are 64·T1.")
    var t1Ms: Int = 500
    @Option(help: "The user name for digest authentication: 401 and 407 are answered once per challenge.")
    var user: String?
    @Option(help: "The password for --user (or the SIPPET_PASSWORD environment variable, which `ps` does not show).")
    var password: String?
    @Option(
        name: .customLong("outbound-proxy"),
        help: ArgumentHelp(
            "Send every request to this proxy (RFC 3261 §8.1.2), located by RFC 3263 like any URI.", valueName: "uri"))
    var outboundProxy: String?
    @OptionGroup var dns: DNSOptions

    /// The password: --password, else SIPPET_PASSWORD.
    var resolvedPassword: String? {
        password ?? getenv("SIPPET_PASSWORD").map { String(cString: $0) }
    }

    func validate() throws {
        if let transport, SIPTransportKind(name: transport) == nil {
            throw ValidationError("unknown transport \(transport)")
        }
        guard count >= 1 else { throw ValidationError("--count must be at least 1") }
        guard t1Ms > 0 else { throw ValidationError("--t1-ms must be positive") }
        if user != nil, resolvedPassword == nil {
            throw ValidationError("--user needs --password or the SIPPET_PASSWORD environment variable")
        }
        if let outboundProxy, (try? URI(outboundProxy))?.sipURI == nil {
            throw ValidationError("--outbound-proxy: \(outboundProxy) is not a sip: or sips: URI")
        }
    }
}

/// The exit statuses of the client commands.
enum Outcome: Int32, Comparable {
    /// A 2xx.
    case success = 0
    /// A final failure response (3xx-6xx).
    case failure = 1
    /// A timeout or transport error.
    case error = 2

    static func < (a: Outcome, b: Outcome) -> Bool { a.rawValue < b.rawValue }
}

/// Runs `body` `count` times on one client and exits with the worst outcome.
func runClient(_ uri: String, _ options: ClientOptions, _ body: (Client, inout Client.Inbox) async -> Outcome)
    async throws
{
    let client: Client
    do {
        client = try await Client(uri: uri, options: options)
    } catch let e as ClientFailure {
        writeStderr("sippet: \(e)")
        throw ExitCode(Outcome.error.rawValue)
    }
    var inbox = client.events.makeAsyncIterator()
    var worst = Outcome.success
    for _ in 0..<options.count { worst = max(worst, await body(client, &inbox)) }
    await client.close()
    if worst != .success { throw ExitCode(worst.rawValue) }
}

/// The outcome of a final response or an error, with the error printed.
func outcome(_ result: Result<SIPMessage, SIPStackError>, _ what: String) -> Outcome {
    switch result {
    case .success(let r): return (200..<300).contains(r.status ?? 0) ? .success : .failure
    case .failure(let e):
        writeStderr("sippet: \(what): \(e)")
        return .error
    }
}

/// `sippet options URI`: one OPTIONS request (RFC 3261 §11).
struct OptionsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "options",
        abstract: "Send OPTIONS and print the status line of every response.",
        discussion: "Exits 0 on a 2xx, 1 on a failure response, 2 on a timeout or transport error."
    )
    @Argument(help: "The target, e.g. sip:127.0.0.1:5060.") var uri: String
    @OptionGroup var client: ClientOptions

    func run() async throws {
        try await runClient(uri, client) { c, inbox in
            let r = c.request(.options, extra: [(.accept, "application/sdp")])
            return outcome(await c.finalResponse(to: r, &inbox), "OPTIONS")
        }
    }
}

/// `sippet call URI [--duration S]`: INVITE, ACK, wait, BYE (RFC 3261 §13.2, §15.1).
struct CallCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "call",
        abstract: "Make a call: INVITE (with an SDP offer), ACK the 2xx, wait, BYE.",
        discussion:
            "Prints every status line. Exits 0 when the call was answered and ended, 1 on a failure response, 2 on a timeout or transport error."
    )
    @Argument(help: "The callee, e.g. sip:service@127.0.0.1:5060.") var uri: String
    @Option(help: "Seconds to stay in the call before the BYE.") var duration: Double = 1
    @OptionGroup var client: ClientOptions

    func validate() throws {
        guard duration >= 0, duration <= 86_400 else { throw ValidationError("--duration must be 0-86400 seconds") }
    }

    func run() async throws {
        let duration = self.duration
        try await runClient(uri, client) { c, inbox in
            let host = c.localHost
            let ip = host.contains(":") ? "IP6" : "IP4"
            let sdp =
                "v=0\r\no=sippet 1 1 IN \(ip) \(host)\r\ns=-\r\nc=IN \(ip) \(host)\r\nt=0 0\r\nm=audio 9 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n"
            // RFC 3262 and RFC 4028: reliable provisionals are PRACKed, and a session timer the
            // callee sets is honoured.
            let invite = c.request(
                .invite, extra: [(.contentType, "application/sdp"), (.supported, "100rel, timer")],
                body: Array(sdp.utf8))
            let result = await c.finalResponse(to: invite, &inbox)
            let o = outcome(result, "INVITE")
            guard o == .success, case .success(let ok) = result, let callID = invite.callID else { return o }
            // The core has sent the ACK (§13.2.2.4). Stay in the call, unless the callee hangs up;
            // refresh the session at half its interval when this side is the refresher (RFC 4028 §10).
            let timer = SessionTimer.fromResponse(ok).flatMap { $0.isRefresher(.uac) ? $0 : nil }
            var lastRefresh = ContinuousClock.now
            let deadline = ContinuousClock.now + .milliseconds(Int64(duration * 1000))
            while ContinuousClock.now < deadline {
                if c.hungUp.withLockedValue({ $0.contains(callID) }) {
                    say("BYE received")
                    return .success
                }
                if let timer, ContinuousClock.now >= lastRefresh + .seconds(Int64(timer.interval)) / 2 {
                    lastRefresh = ContinuousClock.now
                    let session = [(SIPHeaderName.sessionExpires, timer.headerValue), (.supported, "timer")]
                    if let update = c.requestInCall(callID, .update, headers: session) {
                        _ = outcome(await c.finalResponse(to: update, &inbox), "UPDATE")
                    }
                }
                try? await Task.sleep(for: min(.milliseconds(50), deadline - ContinuousClock.now))
            }
            // §15.1.1: the BYE, built by the dialog: the remote target along the route set.
            guard let bye = c.requestInCall(callID, .bye) else { return .error }
            return outcome(await c.finalResponse(to: bye, &inbox), "BYE")
        }
    }
}

/// `sippet register URI --contact URI [--expires N]` (RFC 3261 §10.2).
struct RegisterCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "register",
        abstract: "Register a contact for an address-of-record and print the bindings the registrar returns.",
        discussion: """
            URI is the address-of-record (sip:alice@127.0.0.1:5060); the REGISTER goes to its domain \
            (sip:127.0.0.1:5060). --contact '*' with --expires 0 removes every binding. Exits 0 on a 2xx, \
            1 on a failure response, 2 on a timeout or transport error.
            """
    )
    @Argument(help: "The address-of-record.") var uri: String
    @Option(help: "The contact to bind, or '*' (with --expires 0) to remove all; none just queries.") var contact:
        String?
    @Option(help: "The Expires header: seconds the binding should last (0 removes it).") var expires: Int?
    @OptionGroup var client: ClientOptions

    func run() async throws {
        let contact = self.contact
        let expires = self.expires
        try await runClient(uri, client) { c, inbox in
            // §10.2: the Request-URI names the domain (no user part); To and From are the AOR.
            guard var domain = c.target.sipURI else { return .error }
            domain.escapedUser = nil
            domain.escapedPassword = nil
            let aor = c.target.description
            var r = c.request(.register, uri: .sip(domain), to: aor)
            _ = r.headers.remove(.contact)
            if let contact {
                r.headers.append(.contact, contact == "*" ? "*" : (contact.hasPrefix("<") ? contact : "<\(contact)>"))
            }
            if let expires { r.headers.append(.expires, String(expires)) }
            let result = await c.finalResponse(to: r, &inbox)
            if case .success(let ok) = result {
                for v in ok.headers.values(.contact) { say("Contact: \(v)") }
                if let m = ok.headers[.minExpires] { say("Min-Expires: \(m)") }
            }
            return outcome(result, "REGISTER")
        }
    }
}
