import Logging
import Metrics
import NIOCore
import SIPSyntax
import SIPTransaction
import SIPTransport

/// What the machines ask for, carried out on the shard's loop, and failover (RFC 3263 §4.3).
extension TransactionShard {
    /// The key the core knows a transaction by: its own, or for an attempt that replaced the
    /// core's transaction (RFC 3263 §4.3), the core's.
    func coreKey(of key: TransactionKey) -> TransactionKey {
        guard !attemptOwners.isEmpty, case .client(let k) = key, let owner = attemptOwners[k] else { return key }
        return .client(owner)
    }

    // MARK: - Failover (RFC 3263 §4.3)

    /// Moves the request of the ending client transaction `entry` to its next candidate, as a new
    /// client transaction with a new branch, when it has one and the core has not asked to
    /// cancel it. Returns false when there is none (the failure goes to the core).
    func failOver(_ entry: RouteEntry?, why: String) -> Bool {
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
    func handle(
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
    func completion(for key: TransactionKey, route: TransactionRoute) -> SIPSendCompletion? {
        guard route.transport.kind.isConnectionOriented else { return nil }
        // `self` held until the write completes, not weakly (see scheduleWakeUp()).
        return { [self] result in
            guard case .failure(let e) = result else { return }
            self.run { self.transportFailed(e, key: key) }
        }
    }

    func deliverToCore(_ message: SIPMessage, key: TransactionKey, entry: RouteEntry?) {
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

    func transportFailed(_ error: SIPTransportError, key: TransactionKey) {
        metrics.transportErrors.increment()
        transportErrors[key] = error
        let outcome = table.transportError(error.description, for: key)
        if outcome.actions.isEmpty { transportErrors[key] = nil }
        handle(outcome, for: key)
    }
}
