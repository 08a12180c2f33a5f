import Logging
import Metrics
import NIOCore
import SIPSyntax
import SIPTransaction
import SIPTransport

/// The transactions of one event loop: a table, its timers, and the routes of its transactions.
///
/// Everything here runs on `loop`: a transaction lives on one loop, chosen by hashing its key
/// (``TransactionShards``), so that its table needs no lock. Entry points from elsewhere hop with
/// ``run(_:)``. It reads the stack's ``StackEnvironment`` and never calls back into the stack.
// @unchecked: the mutable state is confined to `loop`; every method asserts it runs there.
final class TransactionShard: @unchecked Sendable {
    let loop: any EventLoop
    let environment: StackEnvironment
    var table: TransactionTable<RouteEntry>
    /// The timers of the transactions, each pointing at its transaction's entry, which holds
    /// which of them are pending and hands back the key when one falls due.
    var timers = TransactionTimerQueue<RouteEntry>()
    /// The transport error behind a `.transportError` event, to give the core the full error.
    var transportErrors: [TransactionKey: SIPTransportError] = [:]
    /// INVITE client transactions whose CANCEL waits for a provisional response (RFC 3261 §9.1).
    var pendingCancels: Set<ClientTransactionKey> = []
    /// RFC 3263 §4.3: the client transactions that replaced one the core started (each attempt's
    /// key to the core's), and the other way (the core's key to its current attempt). Empty
    /// unless a request failed over.
    var attemptOwners: [ClientTransactionKey: ClientTransactionKey] = [:]
    var currentAttempts: [ClientTransactionKey: ClientTransactionKey] = [:]
    let origin = NIODeadline.now()
    var wakeUp: (deadline: NIODeadline, task: Scheduled<Void>)?
    /// Set while ``fire()`` runs the due timers: it schedules the next wake-up once, at the end,
    /// rather than each handled timer scheduling one for a deadline already past.
    var firing = false
    /// Where requests, responses and errors go; nil before a core is registered and after
    /// shutdown.
    var binding: CoreBinding?
    /// The stack's sent-by values (RFC 3261 §18.1.2), this loop's copy.
    var sentBy: [(host: String, port: Int)] = []
    var counters: MessageCounters
    var metrics: StackMetrics { environment.metrics }

    init(loop: any EventLoop, environment: StackEnvironment) {
        self.loop = loop
        self.environment = environment
        let c = environment.configuration
        self.table = TransactionTable(configuration: .init(timers: c.timers, maxTransactions: c.maxTransactionsPerLoop))
        self.counters = MessageCounters(metrics: environment.metrics)
    }

    /// Runs `body` on the shard's loop: at once when already there (no hop), else queued.
    @inline(__always)
    func run(_ body: @escaping @Sendable () -> Void) {
        if loop.inEventLoop { body() } else { loop.execute(body) }
    }

    /// The number of live transactions.
    var count: Int {
        assert(loop.inEventLoop)
        return table.count
    }

    /// Whether the transaction `key` is alive.
    func contains(_ key: TransactionKey) -> Bool {
        assert(loop.inEventLoop)
        return table.contains(key)
    }

    // MARK: - From the transport

    /// A request arrived (RFC 3261 §17.2.3 matching, §8.2 validation of a new one).
    func received(_ incoming: HandOver) {
        assert(loop.inEventLoop)
        let request = incoming.request
        let route = incoming.route
        if incoming.refuseNew, table.match(request) == nil {
            // Shutting down: a new transaction is not started.
            refuse(request, route: route)
            return
        }
        if environment.configuration.statelessRequests {
            receivedStatelessly(incoming)
            return
        }
        let reliability: TransportReliability = route.transport.kind.isReliable ? .reliable : .unreliable
        // An ACK makes no transaction (RFC 3261 §17.2.3): it needs no entry.
        let entry = request.method == .ack ? nil : RouteEntry(key: .server(incoming.key), route: route)
        switch table.receive(request, reliability: reliability, serverKey: incoming.key, context: entry) {
        case .server(let key, let outcome, let isNew):
            let k = TransactionKey.server(key)
            guard isNew else {
                let sent = outcome.actions.sent.count
                if sent > 0 { metrics.retransmissions.increment(by: sent) }
                handle(outcome, for: k)
                return
            }
            guard entry != nil else { return }
            metrics.liveTransactions.increment()
            let verdict =
                incoming.validate
                ? SIPValidator.validate(request, policy: environment.configuration.validation) : .accept
            switch verdict {
            case .accept:
                // RFC 3261 §9.2: a CANCEL that matches no INVITE server transaction gets 481.
                if request.method == .cancel, table.inviteTransaction(cancelledBy: key) == nil {
                    handle(outcome, for: k, deliver: false)
                    respond(request.makeResponse(status: 481), on: key)
                    return
                }
                handle(outcome, for: k)
            case .reject(let rejection):
                metrics.rejected.increment()
                environment.logger.debug(
                    "rejecting request",
                    metadata: ["sip.status": "\(rejection.status)", "sip.why": "\(rejection.detail)"])
                handle(outcome, for: k, deliver: false)
                respond(rejection.response(to: request, agent: environment.configuration.userAgent), on: key)
            case .drop(let why):
                metrics.dropped.increment()
                environment.logger.debug("dropping request", metadata: ["sip.why": "\(why)"])
                handle(table.terminate(k), for: k, deliver: false)
            }
        case .unmatched:
            // An ACK for a 2xx (RFC 3261 §17.2.3): no transaction; straight to the core.
            if let binding { binding.core.receiveRequest(request, key: nil, stack: binding.stack) }
        case .client:
            break
        case .rejected(.tooManyTransactions(let live, let max)):
            metrics.dropped.increment()
            environment.logger.warning(
                "transaction limit reached", metadata: ["sip.live": "\(live)", "sip.max": "\(max)"])
            refuse(request, route: route)
        case .rejected(let e):
            metrics.dropped.increment()
            environment.logger.debug("dropping unmatchable request", metadata: ["sip.why": "\(e)"])
        }
    }

    /// RFC 3261 §16.11: with ``SIPStack/Configuration/statelessRequests``, a request (each
    /// retransmission too) goes to the core with no key once validation lets it through; a
    /// rejection is sent statelessly.
    func receivedStatelessly(_ incoming: HandOver) {
        let request = incoming.request
        if incoming.validate, request.method != .ack {
            switch SIPValidator.validate(request, policy: environment.configuration.validation) {
            case .accept: break
            case .reject(let rejection):
                metrics.rejected.increment()
                environment.sendStateless(
                    rejection.response(to: request, agent: environment.configuration.userAgent), route: incoming.route)
                return
            case .drop(let why):
                metrics.dropped.increment()
                environment.logger.debug("dropping request", metadata: ["sip.why": "\(why)"])
                return
            }
        }
        if let binding { binding.core.receiveRequest(request, key: nil, stack: binding.stack) }
    }

    /// RFC 3261 §21.5.4: 503 (Service Unavailable) with a Retry-After (§20.33), sent statelessly,
    /// for a request the stack will not take now (full, or shutting down).
    func refuse(_ request: SIPMessage, route: TransactionRoute) {
        var busy = request.makeResponse(status: 503)
        busy.headers.append(.retryAfter, "5")
        environment.sendStateless(busy, route: route)
    }

    func respond(_ response: SIPMessage, on key: ServerTransactionKey) {
        assert(loop.inEventLoop)
        guard let outcome = table.send(response: response, on: key) else { return }
        counters.countOut(response)
        handle(outcome, for: .server(key))
    }

    /// A response arrived (RFC 3261 §17.1.3 matching).
    func received(response: SIPMessage) {
        assert(loop.inEventLoop)
        switch table.receive(response, reliability: .unreliable) {
        case .client(let key, let outcome):
            handle(outcome, for: .client(key))
        case .unmatched:
            if let binding { binding.core.receiveResponse(response, key: nil, stack: binding.stack) }
        case .server, .rejected:
            metrics.dropped.increment()
        }
    }

    // MARK: - From the core

    /// A new client transaction for `request` (RFC 3261 §17.1), sending over `route`.
    /// `failover`: the candidates to move to when this one fails (RFC 3263 §4.3).
    /// `wire`: the request's bytes as they go out (the stack's Via in them), when `request` is the
    /// message the core gave and not their parse.
    func start(
        request: SIPMessage, wire: [UInt8]? = nil, key: ClientTransactionKey, route: TransactionRoute,
        failover: Failover? = nil
    ) {
        assert(loop.inEventLoop)
        let reliability: TransportReliability = route.transport.kind.isReliable ? .reliable : .unreliable
        let k = TransactionKey.client(key)
        do {
            let invite = key.method == .invite ? request : nil
            let client = ClientContext(started: .now(), invite: invite, failover: failover)
            let entry = RouteEntry(key: k, route: route, client: client)
            let (_, actions) = try table.send(
                request: request, wire: wire, key: key, reliability: reliability, context: entry)
            metrics.liveTransactions.increment()
            counters.countOut(request)
            handle(.init(actions: actions, context: entry), for: k)
        } catch {
            report(.transaction(error), key: k)
        }
    }

    /// RFC 3261 §9.1: cancels the INVITE client transaction `key`: a CANCEL with the INVITE's
    /// Request-URI, Call-ID, From, To, CSeq number and top Via goes to where the INVITE went, once
    /// a provisional response has arrived (at once if one has). After a final response, nothing.
    func cancel(_ requested: ClientTransactionKey) {
        assert(loop.inEventLoop)
        let key = currentAttempts.isEmpty ? requested : currentAttempts[requested] ?? requested
        guard let state = table.inviteClient(key)?.state else { return }
        switch state {
        case .calling: pendingCancels.insert(key)
        case .proceeding: sendCancel(key)
        case .accepted, .completed, .terminated: break
        }
    }

    func sendCancel(_ key: ClientTransactionKey) {
        guard let entry = table.context(of: .client(key)), let cancel = entry.client?.invite?.makeCancel() else {
            return
        }
        if !attemptOwners.isEmpty, let owner = attemptOwners[key] {
            // The CANCEL of an attempt that replaced the core's INVITE (RFC 3263 §4.3) reports
            // under the key the core was given for it.
            attemptOwners[ClientTransactionKey(branch: key.branch, method: .cancel, loopHash: key.loopHash)] =
                ClientTransactionKey(branch: owner.branch, method: .cancel, loopHash: owner.loopHash)
        }
        start(
            request: cancel, key: ClientTransactionKey(branch: key.branch, method: .cancel, loopHash: key.loopHash),
            route: entry.route)
    }

    /// The core's response on the server transaction `key`; statelessly when it has none (§8.2.6,
    /// §16.11).
    func send(response: SIPMessage, key: ServerTransactionKey) {
        assert(loop.inEventLoop)
        counters.countOut(response)
        if let outcome = table.send(response: response, on: key) {
            handle(outcome, for: .server(key))
            return
        }
        let kind: SIPTransportKind
        let host: String
        let port: Int?
        do { (kind, host, port) = try Routing.statelessResponseHop(response) } catch {
            environment.logger.debug("cannot send a stateless response", metadata: ["sip.why": "\(error)"])
            return
        }
        if let address = try? SocketAddress(ipAddress: host, port: port ?? kind.defaultPort) {
            sendStateless(response, kind: kind, to: SIPTransportTarget(address: address))
            return
        }
        // RFC 3263 §5: a sent-by that is a name: SRV for its transport when the Via has no port,
        // else its addresses.
        var uri = SIPURI(host: SIPHost(host), port: port)
        uri.parameters.set("transport", kind.uriParameter)
        let environment = environment
        Task { [self] in
            do {
                let found = try await environment.resolver.locate(uri, available: [kind], messageSize: 0)
                guard let first = found.first else {
                    throw SIPStackError.unresolvable(host: host, detail: "no address")
                }
                self.run { self.sendStateless(response, kind: kind, to: SIPTransportTarget(address: first.address)) }
            } catch {
                environment.logger.debug("cannot send a stateless response", metadata: ["sip.why": "\(error)"])
            }
        }
    }

    func sendStateless(_ response: SIPMessage, kind: SIPTransportKind, to target: SIPTransportTarget) {
        guard let transport = environment.transport(kind: kind, family: target.address) else {
            environment.logger.debug("cannot send a stateless response", metadata: ["sip.why": "no \(kind) transport"])
            return
        }
        environment.sendStateless(response, route: TransactionRoute(transport: transport, target: target))
    }

    /// A failure the core should hear of: before the transaction exists (name resolution, a
    /// refused transaction), or the end of one.
    func report(_ error: SIPStackError, key: TransactionKey) {
        assert(loop.inEventLoop)
        if let binding { binding.core.receiveError(error, key: coreKey(of: key), stack: binding.stack) }
    }

    /// Ends the transaction now (``SIPStack/terminate(_:)``).
    func terminate(_ requested: TransactionKey) {
        assert(loop.inEventLoop)
        var key = requested
        if case .client(let k) = requested, let attempt = currentAttempts[k] { key = .client(attempt) }
        handle(table.terminate(key), for: key, deliver: false)
    }
}
