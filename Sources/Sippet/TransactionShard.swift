import Logging
import Metrics
import NIOCore
import SIPSyntax
import SIPTransaction
import SIPTransport

/// Where the messages of one transaction go: the transport and target of a client
/// transaction's requests, or of a server transaction's responses (RFC 3261 §18.2.2).
struct TransactionRoute: Sendable {
    var transport: any SIPTransport
    var target: SIPTransportTarget
}

/// What the shard keeps with a transaction, in its entry in the table
/// (``TransactionTable/context(of:)``): its key, its route, its pending timers (the shard's
/// ``OwnedTimerQueue`` reads them here, with no index of its own), and for a client transaction
/// what only that needs.
// @unchecked: `timerPlaces` is read and written on the shard's loop only.
final class RouteEntry: TimerOwner, @unchecked Sendable {
    let key: TransactionKey
    let route: TransactionRoute
    var timerPlaces = TimerPlaces()
    /// Nil for a server transaction, the bulk of a server's table, whose entries stay small.
    let client: ClientContext?

    init(key: TransactionKey, route: TransactionRoute, client: ClientContext? = nil) {
        self.key = key
        self.route = route
        self.client = client
    }
}

/// What a client transaction keeps besides where it sends.
final class ClientContext: Sendable {
    /// When the transaction started, for the response-time timer.
    let started: NIODeadline
    /// The INVITE of an INVITE client transaction, from which its CANCEL is made (RFC 3261 §9.1).
    let invite: SIPMessage?

    init(started: NIODeadline, invite: SIPMessage?) {
        self.started = started
        self.invite = invite
    }
}

/// The transactions of one event loop: a table, its timers, and the routes of its transactions.
///
/// Everything here runs on `loop` (DESIGN.md: a transaction lives on one loop, chosen by hashing
/// its key, so that its table needs no lock). Entry points from elsewhere hop with ``run(_:)``.
// @unchecked: the mutable state is confined to `loop`; every method asserts it runs there.
final class TransactionShard: @unchecked Sendable {
    let loop: any EventLoop
    /// The stack, set once right after it is made.
    weak var stack: SIPStack?
    private var table: TransactionTable
    /// The timers of the transactions, each pointing at its transaction's entry, which holds
    /// which of them are pending and hands back the key when one falls due.
    private var timers = OwnedTimerQueue<RouteEntry>()
    /// The transport error behind a `.transportError` event, to give the core the full error.
    private var transportErrors: [TransactionKey: SIPTransportError] = [:]
    /// INVITE client transactions whose CANCEL waits for a provisional response (RFC 3261 §9.1).
    private var pendingCancels: Set<ClientTransactionKey> = []
    private let origin = NIODeadline.now()
    private var wakeUp: (deadline: NIODeadline, task: Scheduled<Void>)?
    /// Set while ``fire()`` runs the due timers: it schedules the next wake-up once, at the end,
    /// rather than each handled timer scheduling one for a deadline already past.
    private var firing = false
    var core: (any SIPCore)?
    /// The stack's sent-by values (RFC 3261 §18.1.2), this loop's copy.
    var sentBy: [(host: String, port: Int)] = []
    private let metrics: StackMetrics
    private var counters: MessageCounters

    init(loop: any EventLoop, configuration: TransactionTable.Configuration, metrics: StackMetrics) {
        self.loop = loop
        self.table = TransactionTable(configuration: configuration)
        self.metrics = metrics
        self.counters = MessageCounters(metrics: metrics)
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
    func received(
        request: SIPMessage, key: ServerTransactionKey, route: TransactionRoute, validate: Bool,
        refuseNew: Bool
    ) {
        assert(loop.inEventLoop)
        guard let stack else { return }
        if refuseNew, table.match(request) == nil {
            // Shutting down: a new transaction is not started.
            refuse(request, route: route, stack: stack)
            return
        }
        let reliability: TransportReliability = route.transport.kind.isReliable ? .reliable : .unreliable
        // An ACK makes no transaction (RFC 3261 §17.2.3): it needs no entry.
        let entry = request.method == .ack ? nil : RouteEntry(key: .server(key), route: route)
        switch table.receive(request, reliability: reliability, serverKey: key, context: entry) {
        case .server(let key, let actions, let isNew):
            let k = TransactionKey.server(key)
            guard isNew else {
                if !actions.sent.isEmpty { metrics.retransmissions.increment(by: actions.sent.count) }
                handle(actions, for: k, advanceClock: true)
                return
            }
            guard entry != nil else { return }
            metrics.liveTransactions.increment()
            let verdict = validate ? SIPValidator.validate(request, policy: stack.configuration.validation) : .accept
            switch verdict {
            case .accept:
                // RFC 3261 §9.2: a CANCEL that matches no INVITE server transaction gets 481.
                if request.method == .cancel, table.inviteTransaction(cancelledBy: key) == nil {
                    handle(actions, for: k, advanceClock: true, deliver: false)
                    respond(request.makeResponse(status: 481), on: key)
                    return
                }
                handle(actions, for: k, advanceClock: true)
            case .reject(let rejection):
                metrics.rejected.increment()
                stack.logger.debug(
                    "rejecting request",
                    metadata: [
                        "sip.status": "\(rejection.status)",
                        "sip.why": "\(rejection.detail)",
                    ])
                handle(actions, for: k, advanceClock: true, deliver: false)
                respond(rejection.response(to: request, agent: stack.configuration.userAgent), on: key)
            case .drop(let why):
                metrics.dropped.increment()
                stack.logger.debug("dropping request", metadata: ["sip.why": "\(why)"])
                handle(table.terminate(k), for: k, advanceClock: true, deliver: false)
            }
        case .unmatched:
            // An ACK for a 2xx (RFC 3261 §17.2.3): no transaction; straight to the core.
            core?.receiveRequest(request, key: nil, stack: stack)
        case .client:
            break
        case .rejected(.tooManyTransactions(let live, let max)):
            metrics.dropped.increment()
            stack.logger.warning("transaction limit reached", metadata: ["sip.live": "\(live)", "sip.max": "\(max)"])
            refuse(request, route: route, stack: stack)
        case .rejected(let e):
            metrics.dropped.increment()
            stack.logger.debug("dropping unmatchable request", metadata: ["sip.why": "\(e)"])
        }
    }

    /// RFC 3261 §21.5.4: 503 (Service Unavailable) with a Retry-After (§20.33), sent statelessly,
    /// for a request the stack will not take now (full, or shutting down).
    private func refuse(_ request: SIPMessage, route: TransactionRoute, stack: SIPStack) {
        var busy = request.makeResponse(status: 503)
        busy.headers.append(.retryAfter, "5")
        stack.sendStateless(busy, route: route)
    }

    private func respond(_ response: SIPMessage, on key: ServerTransactionKey) {
        assert(loop.inEventLoop)
        guard let actions = table.send(response: response, on: key) else { return }
        counters.countOut(response)
        handle(actions, for: .server(key), advanceClock: true)
    }

    /// A response arrived (RFC 3261 §17.1.3 matching).
    func received(response: SIPMessage) {
        assert(loop.inEventLoop)
        switch table.receive(response, reliability: .unreliable) {
        case .client(let key, let actions):
            handle(actions, for: .client(key), advanceClock: true)
        case .unmatched:
            guard let stack else { return }
            core?.receiveResponse(response, key: nil, stack: stack)
        case .server, .rejected:
            metrics.dropped.increment()
        }
    }

    // MARK: - From the core

    /// A new client transaction for `request` (RFC 3261 §17.1), sending over `route`.
    func start(request: SIPMessage, key: ClientTransactionKey, route: TransactionRoute) {
        assert(loop.inEventLoop)
        let reliability: TransportReliability = route.transport.kind.isReliable ? .reliable : .unreliable
        let k = TransactionKey.client(key)
        do {
            let entry = RouteEntry(
                key: k, route: route,
                client: ClientContext(started: .now(), invite: key.method == .invite ? request : nil))
            let (_, actions) = try table.send(request: request, reliability: reliability, context: entry)
            metrics.liveTransactions.increment()
            counters.countOut(request)
            handle(actions, for: k, advanceClock: true)
        } catch {
            guard let stack else { return }
            core?.receiveError(.transaction(error), key: k, stack: stack)
        }
    }

    /// RFC 3261 §9.1: cancels the INVITE client transaction `key`: a CANCEL with the INVITE's
    /// Request-URI, Call-ID, From, To, CSeq number and top Via goes to where the INVITE went, once
    /// a provisional response has arrived (at once if one has). After a final response, nothing.
    func cancel(_ key: ClientTransactionKey) {
        assert(loop.inEventLoop)
        guard let state = table.inviteClient(key)?.state else { return }
        switch state {
        case .calling: pendingCancels.insert(key)
        case .proceeding: sendCancel(key)
        case .accepted, .completed, .terminated: break
        }
    }

    private func sendCancel(_ key: ClientTransactionKey) {
        guard let entry = entry(.client(key)), let cancel = entry.client?.invite?.makeCancel() else { return }
        start(request: cancel, key: ClientTransactionKey(branch: key.branch, method: .cancel), route: entry.route)
    }

    /// The core's response on the server transaction `key`; statelessly when it has none (§8.2.6,
    /// §16.11).
    func send(response: SIPMessage, key: ServerTransactionKey) {
        assert(loop.inEventLoop)
        counters.countOut(response)
        if let actions = table.send(response: response, on: key) {
            handle(actions, for: .server(key), advanceClock: true)
            return
        }
        guard let stack else { return }
        do {
            let (kind, target) = try Routing.statelessResponseTarget(response)
            guard let transport = stack.transport(kind: kind, family: target.address) else {
                throw SIPStackError.noTransport("no \(kind) transport for a stateless response")
            }
            stack.sendStateless(response, route: TransactionRoute(transport: transport, target: target))
        } catch {
            stack.logger.debug("cannot send a stateless response", metadata: ["sip.why": "\(error)"])
        }
    }

    /// A failure the core should hear of before the transaction exists (name resolution).
    func report(_ error: SIPStackError, key: TransactionKey) {
        assert(loop.inEventLoop)
        guard let stack else { return }
        core?.receiveError(error, key: key, stack: stack)
    }

    /// Sippet's `terminate`: ends the transaction now.
    func terminate(_ key: TransactionKey) {
        assert(loop.inEventLoop)
        handle(table.terminate(key), for: key, advanceClock: true, deliver: false)
    }

    // MARK: - Actions

    /// The route the table keeps with the transaction `key` (also right after the event that ended it).
    private func entry(_ key: TransactionKey) -> RouteEntry? {
        table.contextInPlace(of: key).map { unsafeDowncast($0, to: RouteEntry.self) }
    }

    /// Applies what a machine asked for: timers first (so that a core answering inline cannot see
    /// a timer of the event before its own), then sends, deliveries and termination in order.
    ///
    /// The one exception is the 200 ms timer of a new INVITE (RFC 3261 §17.2.1): it starts after
    /// the core had the INVITE, and only if the core has not answered it inline. A core that
    /// answers at once then leaves no cancelled timer behind in the queue.
    /// `known` is the transaction's entry when the caller has it (a timer due), else it is read
    /// from the table.
    private func handle(
        _ actions: TransactionActions, for key: TransactionKey, advanceClock: Bool,
        deliver: Bool = true, entry known: RouteEntry? = nil
    ) {
        if actions.isEmpty { return }
        // Read before anything else touches the table: after an event that ended the
        // transaction the table has its route only until the next event.
        let entry = known ?? self.entry(key)
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
                deliverToCore(message, key: key)
            case .informTU(let e):
                let error: SIPStackError
                switch e.reason {
                case .timeout(let t):
                    error = .timeout(t)
                    metrics.timeouts.increment()
                case .transportError(let why):
                    error = .transport(transportErrors.removeValue(forKey: key) ?? SIPTransportError(.ioError, why))
                }
                if let stack { core?.receiveError(error, key: key, stack: stack) }
            case .terminated:
                if case .client(let k) = key, !pendingCancels.isEmpty { pendingCancels.remove(k) }
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

    private func deliverToCore(_ message: SIPMessage, key: TransactionKey) {
        guard let stack else { return }
        switch key {
        case .server(let k):
            counters.countIn(message)
            core?.receiveRequest(message, key: k, stack: stack)
        case .client(let k):
            counters.countIn(message)
            if let status = message.status, status >= 200, let started = entry(key)?.client?.started {
                metrics.responseTime.recordNanoseconds((NIODeadline.now() - started).nanoseconds)
            }
            if !pendingCancels.isEmpty, pendingCancels.contains(k) {
                pendingCancels.remove(k)
                if let status = message.status, status < 200 { sendCancel(k) }
            }
            core?.receiveResponse(message, key: k, stack: stack)
        }
    }

    private func transportFailed(_ error: SIPTransportError, key: TransactionKey) {
        metrics.transportErrors.increment()
        transportErrors[key] = error
        let actions = table.transportError(error.description, for: key)
        if actions.isEmpty { transportErrors[key] = nil }
        handle(actions, for: key, advanceClock: true)
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
        // runtime's slow path. A shard whose stack is gone stops at its next wake-up.
        wakeUp = (deadline, loop.scheduleTask(deadline: deadline) { [self] in fire() })
    }

    private func fire() {
        wakeUp = nil
        guard stack != nil else { return }
        let limit = clock()
        firing = true
        defer {
            firing = false
            scheduleWakeUp()
        }
        while let due = timers.popNext(notAfter: limit) {
            let key = due.owner.key
            let actions = table.timerFired(due.timer, for: key)
            if !actions.sent.isEmpty, due.timer != .trying { metrics.retransmissions.increment(by: actions.sent.count) }
            handle(actions, for: key, advanceClock: false, entry: due.owner)
        }
    }
}
