import Logging
import NIOCore
import NIOPosix
import SIPSyntax
import SIPTransaction
import SIPTransport
import Sippet
import SippetAuth
import SippetEndpoint

/// The classic SIP server on ``SIPProxy``: a registrar for its domains and a proxy, the core of
/// `sippet proxy`.
///
/// - REGISTER for one of its domains: digest authentication when configured (401, RFC 3261
///   §22.1), then the location service (§10.3).
/// - A request for an address-of-record of its domains goes to every contact registered for it
///   (§16.5), by q-value; a contact registered over a connection, or from behind a NAT, is reached
///   where its REGISTER came from (RFC 5626, RFC 7118 §5). 404 when there is no such user, 480
///   when the user has no binding.
/// - A request that starts a dialog from one of its own users needs credentials (407, §22.3);
///   from a stranger toward another domain it is refused (403: no open relay) when there are
///   users.
/// - Requests routed through it (a Route naming it: in-dialog requests it record-routed) go on
///   where their next Route or Request-URI says; an ACK for a 2xx is forwarded statelessly
///   (§16.11).
/// - OPTIONS to the proxy itself (no user part): 200.
public final class RegistrarProxyCore: SIPCore {
    /// What the server serves and asks.
    public struct Options: Sendable {
        /// The domains it is responsible for (host names, compared in lower case, any port); its
        /// own addresses (host and port) always count.
        public var domains: [String] = []
        /// Digest authentication of REGISTER (401) and, in the proxy role, of dialog-starting
        /// requests from its users (407); nil asks for none.
        public var credentials: (any DigestCredentialStore)?
        /// The digest settings (realm, algorithms, nonce lifetime) when ``credentials`` is set.
        public var authentication = DigestAuthenticator.Configuration(realm: "sippet")
        /// Whether users it does not know (with ``credentials``: not in the store) get 404 rather
        /// than 480.
        public var knownUser: (@Sendable (_ user: String) -> Bool)?
        /// Whether it stays on the path of the dialogs (Record-Route).
        public var recordRoute = true
        /// The registrar's limits.
        public var registrar = Registrar.Policy()
        /// A registrar on a durable or shared store (`--db sqlite:…`, `postgres://…`): REGISTER
        /// and look-ups go there instead of to the in-memory location service. Each binding
        /// registered here records this proxy in its Path (RFC 3327), so that a proxy sharing the
        /// store reaches the contact through this one, which holds its flow.
        public var storedRegistrar: StoredRegistrar?

        /// No domain but its own addresses, no authentication, Record-Route.
        public init() {}
    }

    /// The settings.
    public let options: Options
    /// The proxy engine it drives.
    public let proxy: SIPProxy
    /// Its location service.
    public let location: LocationService
    let registrarAuth: DigestAuthenticator?
    let proxyAuth: DigestAuthenticator?
    let logger: Logger
    private let domains: Set<String>

    /// A registrar and proxy on `stack`, its proxy state on the loops of `group` (the first
    /// `loops`, the stack's transaction loops).
    public init(
        stack: SIPStack, options: Options = Options(),
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        loops: Int? = nil, logger: Logger = Logger(label: "sippet.proxy")
    ) {
        self.options = options
        self.logger = logger
        proxy = SIPProxy(stack: stack, group: group, loops: loops, logger: logger)
        location = LocationService(policy: options.registrar)
        domains = Set(options.domains.map { $0.lowercased() })
        if let store = options.credentials {
            registrarAuth = DigestAuthenticator(
                configuration: options.authentication, credentials: store, role: .server)
            proxyAuth = DigestAuthenticator(configuration: options.authentication, credentials: store, role: .proxy)
        } else {
            registrarAuth = nil
            proxyAuth = nil
        }
    }

    /// Whether `host` (with `port`) is one of its domains or its own address.
    func isOurs(_ uri: SIPURI, stack: SIPStack) -> Bool {
        domains.contains(uri.host.text.lowercased()) || stack.isLocal(host: uri.host.text, port: uri.port)
    }

    // MARK: - SIPCore

    /// Registers, proxies, or answers: see the type's description.
    public func receiveRequest(_ received: SIPMessage, key: ServerTransactionKey?, stack: SIPStack) {
        guard let method = received.method else { return }
        let isLocal: (String, Int?) -> Bool = { stack.isLocal(host: $0, port: $1) }
        if method == .cancel {
            if let key { proxy.cancel(received, key: key) }
            return
        }
        if method == .ack {
            forwardStatelessACK(received, stack: stack)
            return
        }
        if let rejection = ProxyRules.check(received, isLocal: isLocal) {
            send(rejection, key, stack)
            return
        }
        var request = received
        let flow = Self.flow(routedBy: request, stack: stack)
        let routed = ProxyRules.processRoutes(&request, isLocal: isLocal)
        guard let uri = request.requestURI?.sipURI else {
            send(SIPRejection(status: 416, detail: "not a SIP URI").response(to: request), key, stack)
            return
        }
        // More Route: it goes where the next one says (§16.4, §16.6 item 10) — over the flow
        // its Route to this proxy names, when another proxy sends it a call for one of the phones
        // registered here.
        if request.headers.contains(.route) || (routed && !isOurs(uri, stack: stack)) {
            let target = ProxyTarget(uri: .sip(uri), destination: request.headers.contains(.route) ? nil : flow)
            relay(request, key: key, to: [target], recordRoute: request.toTag == nil, stack: stack)
            return
        }
        if !isOurs(uri, stack: stack) {
            // Toward another domain: only for its own users, authenticated (no open relay).
            if proxyAuth != nil {
                guard let from = request.from?.uri.sipURI, isOurs(from, stack: stack) else {
                    send(SIPRejection(status: 403, detail: "relaying is not allowed").response(to: request), key, stack)
                    return
                }
                guard authenticate(request, key: key, proxy: true, stack: stack) else { return }
            }
            relay(request, key: key, to: [ProxyTarget(uri: .sip(uri))], recordRoute: request.toTag == nil, stack: stack)
            return
        }
        if method == .register {
            guard authenticate(request, key: key, proxy: false, stack: stack) else { return }
            if let stored = options.storedRegistrar {
                let route = Self.ownRoute(for: request, stack: stack)
                Task { send(await stored.handle(request, route: route), key, stack) }
            } else {
                send(location.register(request), key, stack)
            }
            return
        }
        guard uri.escapedUser != nil else {
            // The proxy itself (a keepalive).
            let status = method == .options ? 200 : 404
            send(request.makeResponse(status: status), key, stack)
            return
        }
        if request.toTag == nil, Self.startsDialogOrStandsAlone(method), let from = request.from?.uri.sipURI,
            isOurs(from, stack: stack)
        {
            guard authenticate(request, key: key, proxy: true, stack: stack) else { return }
        }
        var aor = uri
        aor.parameters = []
        aor.headers = []
        aor.escapedPassword = nil
        if let stored = options.storedRegistrar {
            Task {
                var found: [Registrar.Binding] = []
                for form in Self.forms(of: aor, stack: stack) {
                    guard let bindings = await stored.bindings(of: .sip(form)) else {
                        // RFC 3261 §21.5.1: the location service cannot be read.
                        let retry = SIPHeaderField(name: .retryAfter, value: String(StoredRegistrar.retryAfter))
                        send(
                            SIPRejection(status: 500, detail: "the location service is unavailable", headers: [retry])
                                .response(to: request), key, stack)
                        return
                    }
                    found = bindings
                    if !found.isEmpty { break }
                }
                route(request, key: key, uri: uri, to: found.map { Self.target($0, stack: stack) }, stack: stack)
            }
            return
        }
        route(request, key: key, uri: uri, to: lookUp(aor, stack: stack).map(Self.target), stack: stack)
    }

    /// Proxies `request` to the targets of its callee's bindings: 404 for a user that does not
    /// exist, 480 for one with no contact registered (§16.5).
    private func route(
        _ request: SIPMessage, key: ServerTransactionKey?, uri: SIPURI, to targets: [ProxyTarget], stack: SIPStack
    ) {
        guard !targets.isEmpty else {
            let unknown = options.knownUser.map { !$0(uri.user ?? "") } ?? false
            let status = unknown ? 404 : 480
            send(
                SIPRejection(status: status, detail: unknown ? "no such user" : "the user has no contact registered")
                    .response(to: request), key, stack)
            return
        }
        relay(request, key: key, to: targets, recordRoute: options.recordRoute, stack: stack)
    }

    /// Responses of the branches go to the proxy.
    public func receiveResponse(_ response: SIPMessage, key: ClientTransactionKey?, stack: SIPStack) {
        proxy.receiveResponse(response, key: key)
    }

    /// Errors of the branches go to the proxy.
    public func receiveError(_ error: SIPStackError, key: TransactionKey, stack: SIPStack) {
        if !proxy.receiveError(error, key: key) {
            logger.debug("transaction failed", metadata: ["sip.transaction": "\(key)", "sip.error": "\(error)"])
        }
    }

    // MARK: - parts

    /// The bindings of `aor`, in the first of its ``forms(of:stack:)`` that has any.
    private func lookUp(_ aor: SIPURI, stack: SIPStack) -> [Registrar.Binding] {
        for form in Self.forms(of: aor, stack: stack) {
            let found = location.bindings(of: .sip(form))
            if !found.isEmpty { return found }
        }
        return []
    }

    /// The forms an address-of-record is looked up in: as it is, and, at one of this proxy's own
    /// addresses, with or without the port (phones register `sip:bob@host` and are called at
    /// `sip:bob@host:5060`, or the other way round).
    static func forms(of aor: SIPURI, stack: SIPStack) -> [SIPURI] {
        guard stack.isLocal(host: aor.host.text, port: aor.port) else { return [aor] }
        var other = aor
        if aor.port != nil {
            other.port = nil
            return [aor, other]
        }
        return [aor]
            + Set(stack.transports.compactMap { $0.localAddress?.port }).sorted().map { port in
                other.port = port
                return other
            }
    }

    private func relay(
        _ request: SIPMessage, key: ServerTransactionKey?, to targets: [ProxyTarget], recordRoute: Bool, stack: SIPStack
    ) {
        var o = ProxyOptions()
        o.recordRoute = recordRoute && options.recordRoute
        logger.info(
            "proxying",
            metadata: [
                "sip.method": "\(request.method?.rawValue ?? "")",
                "sip.uri": "\(request.requestURI?.description ?? "")",
                "sip.targets": "\(targets.map { $0.destination?.description ?? $0.uri.description })",
            ])
        proxy.proxy(request, key: key, to: targets, options: o)
    }

    /// RFC 3261 §16.11: an ACK for a 2xx goes on without a transaction, Max-Forwards one less:
    /// where its Route or Request-URI says, or, when it names one of this proxy's users (a caller
    /// that ignored the Record-Route), to that user's first contact.
    private func forwardStatelessACK(_ received: SIPMessage, stack: SIPStack) {
        var ack = received
        let flow = Self.flow(routedBy: ack, stack: stack)
        let routed = ProxyRules.processRoutes(&ack) { stack.isLocal(host: $0, port: $1) }
        guard var uri = ack.requestURI?.sipURI else { return }
        if let mf = ack.maxForwards, mf <= 0 { return }
        var destination: SIPURI?
        if !routed, !ack.headers.contains(.route), isOurs(uri, stack: stack) {
            uri.parameters = []
            uri.headers = []
            guard uri.escapedUser != nil else { return }
            if let stored = options.storedRegistrar {
                // The location service is a database: the ACK waits for its look-up.
                let aor = uri
                Task {
                    var found: Registrar.Binding?
                    for form in Self.forms(of: aor, stack: stack) {
                        found = await stored.bindings(of: .sip(form))?.first
                        if found != nil { break }
                    }
                    guard let binding = found else { return }
                    let target = Self.target(binding, stack: stack)
                    _ = try? stack.forward(
                        ProxyRules.copy(of: ack, to: target.uri, route: target.route), to: target.destination)
                }
                return
            }
            guard let target = lookUp(uri, stack: stack).first.map(Self.target) else { return }
            ack = ProxyRules.copy(of: ack, to: target.uri, route: target.route)
            destination = target.destination
        } else {
            if !ack.headers.contains(.route) { destination = flow }
            ack.headers.set(.maxForwards, String(max(0, (ack.maxForwards ?? 71) - 1)))
        }
        _ = try? stack.forward(ack, to: destination)
    }

    /// Where a binding is reached (§16.5): its contact, over its flow or past its NAT when it
    /// registered over a connection or from behind one (RFC 5626, RFC 3581), along its Path.
    public static func target(_ b: Registrar.Binding) -> ProxyTarget {
        let viaSource = b.source.flatMap { s in s.transport != "UDP" || s.isBehindNAT ? s.uri : nil }
        var contact = b.contact.uri
        if case .sip(var u) = contact {
            u.headers = []
            contact = .sip(u)
        }
        return ProxyTarget(
            uri: contact, destination: viaSource, route: b.path,
            q: b.contact.parameters.value("q").flatMap(Double.init) ?? 1)
    }

    /// Whether credentials are right, sending the challenge or refusal when they are not.
    private func authenticate(_ request: SIPMessage, key: ServerTransactionKey?, proxy: Bool, stack: SIPStack) -> Bool {
        guard let auth = proxy ? proxyAuth : registrarAuth else { return true }
        switch auth.authenticate(request, source: DigestAuthenticator.sourceAddress(of: request)) {
        case .authorized, .exempt: return true
        case .challenge(let r), .forbidden(let r):
            send(r, key, stack)
            return false
        }
    }

    /// Methods whose out-of-dialog requests need a user's credentials (Kamailio's default
    /// configuration asks them of every request from a local user but ACK and CANCEL).
    static func startsDialogOrStandsAlone(_ m: SIPMethod) -> Bool {
        m == .invite || m == .message || m == .subscribe || m == .refer || m == .publish
    }

    private func send(_ response: SIPMessage, _ key: ServerTransactionKey?, _ stack: SIPStack) {
        do {
            if let key { try stack.send(response, for: key) } else { try stack.send(response) }
        } catch {
            logger.debug("response not sent", metadata: ["sip.error": "\(error)"])
        }
    }
}
