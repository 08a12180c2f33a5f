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
    private let environment: StackEnvironment
    private var table: TransactionTable<RouteEntry>
    /// The timers of the transactions, each pointing at its transaction's entry, which holds
    /// which of them are pending and hands back the key when one falls due.
    private var timers = OwnedTimerQueue<RouteEntry>()
    /// The transport error behind a `.transportError` event, to give the core the full error.
    private var transportErrors: [TransactionKey: SIPTransportError] = [:]
    /// INVITE client transactions whose CANCEL waits for a provisional response (RFC 3261 §9.1).
    private var pendingCancels: Set<ClientTransactionKey> = []
    /// RFC 3263 §4.3: the client transactions that replaced one the core started (each attempt's
    /// key to the core's), and the other way (the core's key to its current attempt). Empty
    /// unless a request failed over.
    private var attemptOwners: [ClientTransactionKey: ClientTransactionKey] = [:]
    private var currentAttempts: [ClientTransactionKey: ClientTransactionKey] = [:]
    private let origin = NIODeadline.now()
    private var wakeUp: (deadline: NIODeadline, task: Scheduled<Void>)?
    /// Set while ``fire()`` runs the due timers: it schedules the next wake-up once, at the end,
    /// rather than each handled timer scheduling one for a deadline already past.
    private var firing = false
    /// Where requests, responses and errors go; nil before a core is registered and after
    /// shutdown.
    var binding: CoreBinding?
    /// The stack's sent-by values (RFC 3261 §18.1.2), this loop's copy.
    var sentBy: [(host: String, port: Int)] = []
    private var counters: MessageCounters
    private var metrics: StackMetrics { environment.metrics }

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
    private func receivedStatelessly(_ incoming: HandOver) {
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
    private func refuse(_ request: SIPMessage, route: TransactionRoute) {
        var busy = request.makeResponse(status: 503)
        busy.headers.append(.retryAfter, "5")
        environment.sendStateless(busy, route: route)
    }

    private func respond(_ response: SIPMessage, on key: ServerTransactionKey) {
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
    func start(request: SIPMessage, key: ClientTransactionKey, route: TransactionRoute, failover: Failover? = nil) {
        assert(loop.inEventLoop)
        let reliability: TransportReliability = route.transport.kind.isReliable ? .reliable : .unreliable
        let k = TransactionKey.client(key)
        do {
            let invite = key.method == .invite ? request : nil
            let client = ClientContext(started: .now(), invite: invite, failover: failover)
            let entry = RouteEntry(key: k, route: route, client: client)
            let (_, actions) = try table.send(request: request, reliability: reliability, context: entry)
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

    private func sendCancel(_ key: ClientTransactionKey) {
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

    private func sendStateless(_ response: SIPMessage, kind: SIPTransportKind, to target: SIPTransportTarget) {
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

    /// The key the core knows a transaction by: its own, or for an attempt that replaced the
    /// core's transaction (RFC 3263 §4.3), the core's.
    private func coreKey(of key: TransactionKey) -> TransactionKey {
        guard !attemptOwners.isEmpty, case .client(let k) = key, let owner = attemptOwners[k] else { return key }
        return .client(owner)
    }

    // MARK: - Failover (RFC 3263 §4.3)

    /// Moves the request of the ending client transaction `entry` to its next candidate, as a new
    /// client transaction with a new branch, when it has one and the core has not asked to
    /// cancel it. Returns false when there is none (the failure goes to the core).
    private func failOver(_ entry: RouteEntry?, why: String) -> Bool {
        guard let entry, case .client(let key) = entry.key, var failover = entry.client?.failover,
            !failover.remaining.isEmpty, !pendingCancels.contains(key)
        else { return false }
        environment.resolver.failed(failover.current)
        while let next = failover.remaining.popFirst() {
            failover.attempt += 1
            let outgoing = failover.outgoing.rebranched(
                "\(failover.outgoing.branch).\(failover.attempt)", method: key.method)
            guard let attemptKey = outgoing.key, let prepared = try? environment.prepare(outgoing, for: next) else {
                continue
            }
            environment.logger.debug(
                "failing over", metadata: ["sip.from": "\(failover.current)", "sip.to": "\(next)", "sip.why": "\(why)"])
            failover.current = next
            attemptOwners[attemptKey] = failover.coreKey
            currentAttempts[failover.coreKey] = attemptKey
            let message = (try? SIPMessage(parsing: prepared.wire, limits: .default)) ?? outgoing.message
            start(
                request: message, key: attemptKey, route: prepared.route,
                failover: failover.remaining.isEmpty ? nil : failover)
            return true
        }
        return false
    }

    // MARK: - Actions

    /// Applies what a machine asked for: timers first (so that a core answering inline cannot see
    /// a timer of the event before its own), then sends, deliveries and termination in order.
    /// The outcome carries the transaction's entry, also when the event ended it.
    ///
    /// The one exception is the 200 ms timer of a new INVITE (RFC 3261 §17.2.1): it starts after
    /// the core had the INVITE, and only if the core has not answered it inline. A core that
    /// answers at once then leaves no cancelled timer behind in the queue.
    /// `advanceClock` is false for the timers ``fire()`` runs, which move the clock themselves.
    private func handle(
        _ outcome: TransactionTable<RouteEntry>.Outcome, for key: TransactionKey, advanceClock: Bool = true,
        deliver: Bool = true
    ) {
        let actions = outcome.actions
        if actions.isEmpty { return }
        let entry = outcome.context
        var trying: Duration?
        if let entry {
            if advanceClock { timers.advance(to: clock()) }
            trying = timers.apply(actions, for: entry, holding: deliver ? .trying : nil)
        }
        for action in actions {
            switch action {
            case .send(let bytes):
                guard let route = entry?.route else { continue }
                route.transport.send(bytes, to: route.target, completion: completion(for: key, route: route))
            case .passToTU(let message):
                guard deliver else { continue }
                // RFC 3263 §4.3: a 503 moves the request to the next candidate.
                if message.status == 503, entry?.client?.failover != nil, failOver(entry, why: "503") { continue }
                deliverToCore(message, key: key, entry: entry)
            case .informTU(let e):
                if entry?.client?.failover != nil, failOver(entry, why: "\(e.reason)") { continue }
                let error: SIPStackError
                switch e.reason {
                case .timeout(let t):
                    error = .timeout(t)
                    metrics.timeouts.increment()
                case .transportError(let why):
                    error = .transport(transportErrors.removeValue(forKey: key) ?? SIPTransportError(.ioError, why))
                }
                report(error, key: key)
            case .terminated:
                if case .client(let k) = key {
                    if !pendingCancels.isEmpty { pendingCancels.remove(k) }
                    if !attemptOwners.isEmpty, let owner = attemptOwners.removeValue(forKey: k),
                        currentAttempts[owner] == k
                    {
                        currentAttempts[owner] = nil
                    }
                }
                if !transportErrors.isEmpty { transportErrors[key] = nil }
                metrics.liveTransactions.decrement()
            case .startTimer, .cancelTimer:
                break
            }
        }
        if let trying, let entry, case .server(let k) = key, table.inviteServer(k)?.isTryingDue == true {
            timers.start(.trying, for: entry, after: trying)
        }
        scheduleWakeUp()
    }

    /// What a send's failure does: over a connection, tell the transaction (RFC 3261 §17.1.4,
    /// §17.2.4). Over UDP nothing is reported per datagram, and no closure is made.
    private func completion(for key: TransactionKey, route: TransactionRoute) -> SIPSendCompletion? {
        guard route.transport.kind.isConnectionOriented else { return nil }
        // `self` held until the write completes, not weakly (see scheduleWakeUp()).
        return { [self] result in
            guard case .failure(let e) = result else { return }
            self.run { self.transportFailed(e, key: key) }
        }
    }

    private func deliverToCore(_ message: SIPMessage, key: TransactionKey, entry: RouteEntry?) {
        switch key {
        case .server(let k):
            counters.countIn(message)
            if let binding { binding.core.receiveRequest(message, key: k, stack: binding.stack) }
        case .client(let k):
            counters.countIn(message)
            if let status = message.status, status >= 200, let started = entry?.client?.started {
                metrics.responseTime.recordNanoseconds((NIODeadline.now() - started).nanoseconds)
            }
            if !pendingCancels.isEmpty, pendingCancels.contains(k) {
                pendingCancels.remove(k)
                if let status = message.status, status < 200 { sendCancel(k) }
            }
            let owner = attemptOwners.isEmpty ? k : attemptOwners[k] ?? k
            if let binding { binding.core.receiveResponse(message, key: owner, stack: binding.stack) }
        }
    }

    private func transportFailed(_ error: SIPTransportError, key: TransactionKey) {
        metrics.transportErrors.increment()
        transportErrors[key] = error
        let outcome = table.transportError(error.description, for: key)
        if outcome.actions.isEmpty { transportErrors[key] = nil }
        handle(outcome, for: key)
    }

    // MARK: - Timers

    /// The shard's clock, as the timer queue counts it.
    private func clock() -> Duration { .nanoseconds((NIODeadline.now() - origin).nanoseconds) }

    /// Keeps one scheduled NIO task, for the earliest pending timer.
    private func scheduleWakeUp() {
        guard !firing, let next = timers.nextDeadline() else { return }
        let deadline = origin + .nanoseconds(next.wholeNanoseconds)
        if let w = wakeUp, w.deadline <= deadline { return }
        wakeUp?.task.cancel()
        // `self` held until the task runs or is replaced, not weakly: a weak reference would give
        // the shard a side table, and every retain of it (several per message) would take the
        // runtime's slow path.
        wakeUp = (deadline, loop.scheduleTask(deadline: deadline) { [self] in fire() })
    }

    private func fire() {
        wakeUp = nil
        let limit = clock()
        firing = true
        defer {
            firing = false
            scheduleWakeUp()
        }
        while let due = timers.popNext(notAfter: limit) {
            let key = due.owner.key
            let outcome = table.timerFired(due.timer, for: key)
            let sent = outcome.actions.sent.count
            if sent > 0, due.timer != .trying { metrics.retransmissions.increment(by: sent) }
            handle(outcome, for: key, advanceClock: false)
        }
    }
}
