import SIPSyntax

/// Why the table refused a message or a request to send.
public enum TransactionTableError: Error, Sendable, Hashable, CustomStringConvertible {
    /// RFC 3261 §17.1: an ACK has no client transaction; the TU sends an ACK for a 2xx itself, and
    /// the INVITE client transaction sends the ACK for a non-2xx.
    case ackHasNoTransaction
    /// The request cannot start a transaction: not a request, or no top Via branch (RFC 3261
    /// §8.1.1.7 requires a unique branch starting with `z9hG4bK`).
    case missingBranch
    /// The message lacks what matching reads (RFC 3261 §17.2.3: top Via with sent-by; for an
    /// RFC 2543 request also Call-ID and CSeq).
    case unmatchable
    /// A live transaction already has this key.
    case duplicateKey(TransactionKey)
    /// The table holds as many live transactions as its configuration allows; a server answers
    /// such a request 503 statelessly.
    case tooManyTransactions(live: Int, maximum: Int)

    /// What went wrong, in words.
    public var description: String {
        switch self {
        case .ackHasNoTransaction: return "an ACK has no client transaction"
        case .missingBranch: return "the request has no top Via branch"
        case .unmatchable: return "the message lacks the fields transaction matching reads"
        case .duplicateKey(let k): return "a live transaction has the key \(k)"
        case .tooManyTransactions(let live, let max): return "too many transactions: \(live) live, at most \(max)"
        }
    }
}

/// How the table makes transactions.
public struct TransactionTableConfiguration: Sendable, Hashable {
    /// Timer values for every transaction (RFC 3261 §17.1.1.1).
    public var timers: TransactionTimers
    /// What a client TU gets when Timer B or F fires.
    public var timeoutReport: ClientTimeoutReport
    /// The most live transactions (client and server) the table holds.
    public var maxTransactions: Int

    /// The RFC's timers, timeouts as errors, at most one million live transactions.
    public init(
        timers: TransactionTimers = .default, timeoutReport: ClientTimeoutReport = .error,
        maxTransactions: Int = 1_000_000
    ) {
        self.timers = timers
        self.timeoutReport = timeoutReport
        self.maxTransactions = maxTransactions
    }
}

/// The live transactions of one event loop, found by key in O(1) (RFC 3261 §17.1.3, §17.2.3).
///
/// The table routes every event to its machine and applies the rules that live above one machine:
/// it matches incoming messages (responses to client transactions, requests to server
/// transactions, the ACK for a non-2xx to its INVITE's transaction; an ACK for a 2xx matches
/// nothing and goes to the core as is), creates a server transaction for each new request other
/// than ACK, and removes a transaction as soon as its machine terminates.
///
/// It holds no clock and does no I/O: each call returns the machine's actions, and the driver
/// applies them (a ``TransactionTimerQueue`` takes the timer actions).
///
/// `Context` is what the driver keeps with each transaction (its route and timers, say), given
/// when the transaction is made and dropped with it: one table entry per transaction, not one
/// here and one in a map of the driver's own, which a busy server would insert into and remove
/// from for every one. Every event hands back the context of the transaction it reached, also
/// when the event ended it and the table has already dropped it.
public struct TransactionTable<Context: Sendable>: Sendable {
    /// How the table makes transactions.
    public typealias Configuration = TransactionTableConfiguration

    /// What became of a message from the transport (``receive(_:reliability:)``).
    public enum Received: Sendable {
        /// A response matched a live client transaction (RFC 3261 §17.1.3); apply the actions.
        case client(ClientTransactionKey, Outcome)
        /// A request matched a live server transaction (a retransmission, or an ACK for a
        /// non-2xx), or created a new one, whose actions pass the request to the TU (§17.2.3).
        case server(ServerTransactionKey, Outcome, isNew: Bool)
        /// Nothing matched and nothing was made: an ACK for a 2xx (§17.2.3: it is not part of the
        /// INVITE transaction; the core gets it), or a response with no client transaction (RFC
        /// 6026 §7.2, §8.9: a UAC core discards it, a proxy forwards it statelessly).
        case unmatched
        /// The message could not be matched, or the table is full.
        case rejected(TransactionTableError)
    }

    /// The configuration every new transaction gets.
    public let configuration: Configuration

    /// What an event did to a transaction: the machine's actions, and the context the transaction
    /// was made with (nil when it was made with none, or when no transaction was live).
    public struct Outcome: Sendable {
        /// The machine's actions, in order.
        public var actions: TransactionActions
        /// The transaction's context, handed back also when the event ended it.
        public var context: Context?

        /// An outcome of `actions` for a transaction with `context`.
        @inlinable public init(actions: TransactionActions, context: Context?) {
            self.actions = actions
            self.context = context
        }

        /// Nothing done: no transaction was live.
        @inlinable public static var none: Outcome { Outcome(actions: [], context: nil) }
    }

    /// A live transaction's machine and its driver's context.
    @usableFromInline
    struct Slot<Machine: Sendable>: Sendable {
        @usableFromInline var machine: Machine
        @usableFromInline let context: Context?

        @inlinable init(machine: Machine, context: Context?) {
            self.machine = machine
            self.context = context
        }
    }

    @usableFromInline var inviteClients: [ClientTransactionKey: Slot<InviteClientTransaction>] = [:]
    @usableFromInline var nonInviteClients: [ClientTransactionKey: Slot<NonInviteClientTransaction>] = [:]
    @usableFromInline var inviteServers: [ServerTransactionKey.Digest: Slot<InviteServerTransaction>] = [:]
    @usableFromInline var nonInviteServers: [ServerTransactionKey.Digest: Slot<NonInviteServerTransaction>] = [:]
    /// RFC 3261 §17.2.3, RFC 2543 rules: the key an ACK computes (To tag of the final response) →
    /// the INVITE transaction's key, and back, for INVITEs whose response added a To tag.
    @usableFromInline var rfc2543Acks: [ServerTransactionKey: ServerTransactionKey] = [:]
    @usableFromInline var rfc2543AckOf: [ServerTransactionKey: ServerTransactionKey] = [:]

    /// An empty table.
    @inlinable public init(configuration: Configuration = Configuration()) {
        self.configuration = configuration
    }

    /// The number of live transactions.
    @inlinable public var count: Int {
        inviteClients.count + nonInviteClients.count + inviteServers.count + nonInviteServers.count
    }

    /// Whether a live transaction has `key`.
    @inlinable public func contains(_ key: TransactionKey) -> Bool {
        switch key {
        case .client(let k): return k.method == .invite ? inviteClients[k] != nil : nonInviteClients[k] != nil
        case .server(let k):
            return k.isInvite ? inviteServers[k.digest] != nil : nonInviteServers[k.digest] != nil
        }
    }

    /// The live INVITE client transaction with `key`.
    @inlinable public func inviteClient(_ key: ClientTransactionKey) -> InviteClientTransaction? {
        inviteClients[key]?.machine
    }
    /// The live non-INVITE client transaction with `key`.
    @inlinable public func nonInviteClient(_ key: ClientTransactionKey) -> NonInviteClientTransaction? {
        nonInviteClients[key]?.machine
    }
    /// The live INVITE server transaction with `key`.
    @inlinable public func inviteServer(_ key: ServerTransactionKey) -> InviteServerTransaction? {
        inviteServers[key.digest]?.machine
    }
    /// The live non-INVITE server transaction with `key`.
    @inlinable public func nonInviteServer(_ key: ServerTransactionKey) -> NonInviteServerTransaction? {
        nonInviteServers[key.digest]?.machine
    }

    /// The context the live transaction `key` was made with (``receive(_:reliability:serverKey:context:)``,
    /// ``send(request:reliability:context:)``); nil when it is not live or has none. Events hand
    /// back the context of the transaction they reach (``Outcome``) without a second look-up.
    @inlinable public func context(of key: TransactionKey) -> Context? {
        let live: Context??
        switch key {
        case .client(let k):
            live = k.method == .invite ? inviteClients[k].map(\.context) : nonInviteClients[k].map(\.context)
        case .server(let k):
            live =
                k.isInvite ? inviteServers[k.digest].map(\.context) : nonInviteServers[k.digest].map(\.context)
        }
        return live ?? nil
    }

    // MARK: - Matching

    /// The live transaction an incoming message belongs to, or nil (RFC 3261 §17.1.3, §17.2.3).
    ///
    /// A response matches the client transaction with its top Via branch and CSeq method. A
    /// request matches the server transaction with its key; an ACK matches the INVITE's, which
    /// for an ACK acknowledging a non-2xx shares its branch (RFC 2543 rules: its To tag is the
    /// final response's), while an ACK for a 2xx has a branch of its own and matches nothing. A
    /// CANCEL has its own key (``ServerTransactionKey/cancelledInvite`` names the INVITE's).
    @inlinable public func match(_ message: SIPMessage) -> TransactionKey? {
        if message.isResponse {
            guard let k = ClientTransactionKey(response: message), contains(.client(k)) else { return nil }
            return .client(k)
        }
        guard let k = serverKey(of: message) else { return nil }
        return .server(k)
    }

    /// The live server transaction a request belongs to.
    @inlinable func serverKey(of request: SIPMessage) -> ServerTransactionKey? {
        guard let k = ServerTransactionKey(request: request) else { return nil }
        if contains(.server(k)) { return k }
        if request.method == .ack, let invite = rfc2543Acks[k], inviteServers[invite.digest] != nil { return invite }
        return nil
    }

    /// RFC 3261 §9.2: the live INVITE server transaction a CANCEL with key `cancel` cancels.
    @inlinable public func inviteTransaction(cancelledBy cancel: ServerTransactionKey) -> ServerTransactionKey? {
        guard let k = cancel.cancelledInvite, inviteServers[k.digest] != nil else { return nil }
        return k
    }

    // MARK: - Events

    /// A message from the transport (RFC 3261 §17.1.3, §17.2.3; §18.1.2 and §18.2.1 hand it over).
    ///
    /// A response goes to its client transaction. A request goes to its server transaction; a new
    /// request other than ACK gets a new one on the transport it came on (`reliability`), whose
    /// actions pass it to the TU.
    ///
    /// `serverKey`, for a request, is its key (``ServerTransactionKey/init(request:)``) when the
    /// caller has computed it already; the table then does not compute it again. `context` goes
    /// with a server transaction the request makes (``context(of:)``), and is dropped otherwise.
    @inlinable public mutating func receive(
        _ message: SIPMessage, reliability: TransportReliability,
        serverKey: ServerTransactionKey? = nil, context: Context? = nil
    ) -> Received {
        if message.isResponse {
            guard let k = ClientTransactionKey(response: message) else { return .rejected(.unmatchable) }
            let outcome =
                k.method == .invite
                ? Self.run(k, in: &inviteClients) { $0.received(message) }
                : Self.run(k, in: &nonInviteClients) { $0.received(message) }
            guard let outcome else { return .unmatched }
            return .client(k, outcome)
        }
        guard let method = message.method, let computed = serverKey ?? ServerTransactionKey(request: message) else {
            return .rejected(.unmatchable)
        }
        var k = computed
        if method == .ack, !rfc2543Acks.isEmpty, inviteServers[k.digest] == nil, let invite = rfc2543Acks[k] {
            k = invite
        }
        // A request other than ACK is most often new: it is put in at once, one look-up in a
        // table of hundreds of thousands rather than a miss and then an insertion, and in the
        // rarer case of a retransmission the live transaction is put back and gets it.
        if method != .ack, count < configuration.maxTransactions {
            let timers = configuration.timers
            if method == .invite {
                var t = InviteServerTransaction(validated: message, reliability: reliability, timers: timers)
                let actions = t.start()
                guard let live = inviteServers.updateValue(Slot(machine: t, context: context), forKey: k.digest) else {
                    return .server(k, Outcome(actions: actions, context: context), isNew: true)
                }
                inviteServers[k.digest] = live
            } else {
                var t = NonInviteServerTransaction(validated: message, reliability: reliability, timers: timers)
                let actions = t.start()
                guard let live = nonInviteServers.updateValue(Slot(machine: t, context: context), forKey: k.digest)
                else {
                    return .server(k, Outcome(actions: actions, context: context), isNew: true)
                }
                nonInviteServers[k.digest] = live
            }
        }
        if k.isInvite {
            if let outcome = Self.run(k.digest, in: &inviteServers, { $0.received(message) }) {
                if outcome.actions.terminates { forgetRFC2543Ack(of: k) }
                return .server(k, outcome, isNew: false)
            }
        } else if let outcome = Self.run(k.digest, in: &nonInviteServers, { $0.received(message) }) {
            return .server(k, outcome, isNew: false)
        }
        if method == .ack { return .unmatched }
        return .rejected(.tooManyTransactions(live: count, maximum: configuration.maxTransactions))
    }

    /// The TU sends a request: a new client transaction for it (RFC 3261 §17.1), started on the
    /// transport it goes out on, with `context` kept for it (``context(of:)``). Returns its key and
    /// first actions (send, start timers).
    @inlinable public mutating func send(
        request: SIPMessage, reliability: TransportReliability, context: Context? = nil
    )
        throws(TransactionTableError) -> (key: ClientTransactionKey, actions: TransactionActions)
    {
        guard let method = request.method else { throw .missingBranch }
        if method == .ack { throw .ackHasNoTransaction }
        guard let k = ClientTransactionKey(request: request) else { throw .missingBranch }
        return try send(request: request, key: k, reliability: reliability, context: context)
    }

    /// ``send(request:reliability:context:)`` for a driver that already made the request's key
    /// (the stack makes it once, when the request goes out): it is not made again. With `wire`,
    /// the request's bytes as they go out, a non-INVITE transaction keeps them without writing
    /// the request again.
    @inlinable package mutating func send(
        request: SIPMessage, wire: [UInt8]? = nil, key k: ClientTransactionKey, reliability: TransportReliability,
        context: Context? = nil
    )
        throws(TransactionTableError) -> (key: ClientTransactionKey, actions: TransactionActions)
    {
        guard let method = request.method else { throw .missingBranch }
        if method == .ack { throw .ackHasNoTransaction }
        if contains(.client(k)) { throw .duplicateKey(.client(k)) }
        guard count < configuration.maxTransactions else {
            throw .tooManyTransactions(live: count, maximum: configuration.maxTransactions)
        }
        let c = configuration
        if method == .invite {
            guard
                var t = InviteClientTransaction(
                    invite: request, reliability: reliability, timers: c.timers,
                    timeoutReport: c.timeoutReport)
            else { throw .missingBranch }
            let actions = t.start()
            inviteClients[k] = Slot(machine: t, context: context)
            return (k, actions)
        }
        let made =
            wire.map {
                NonInviteClientTransaction(
                    bytes: $0, reliability: reliability, timers: c.timers, timeoutReport: c.timeoutReport)
            }
            ?? NonInviteClientTransaction(
                request: request, reliability: reliability, timers: c.timers, timeoutReport: c.timeoutReport)
        guard var t = made else { throw .missingBranch }
        let actions = t.start()
        nonInviteClients[k] = Slot(machine: t, context: context)
        return (k, actions)
    }

    /// The TU sends a response on the server transaction `key` (RFC 3261 §17.2.1, §17.2.2). Nil
    /// when no such transaction is live: the caller then sends the response statelessly (§16.11)
    /// or drops it.
    @inlinable public mutating func send(response: SIPMessage, on key: ServerTransactionKey) -> Outcome? {
        guard key.isInvite else {
            return Self.run(key.digest, in: &nonInviteServers) { $0.send(response) }
        }
        guard let outcome = Self.run(key.digest, in: &inviteServers, { $0.send(response) }) else { return nil }
        if outcome.actions.terminates {
            forgetRFC2543Ack(of: key)
        } else if !outcome.actions.sent.isEmpty, key.isRFC2543 {
            noteRFC2543Response(response, on: key)
        }
        return outcome
    }

    /// A timer the transaction `key` started fired. ``Outcome/none`` when the transaction is gone.
    @inlinable public mutating func timerFired(_ timer: TransactionTimer, for key: TransactionKey) -> Outcome {
        perform(.timerFired(timer), on: key) ?? .none
    }

    /// RFC 3261 §17.1.4, §17.2.4: the transport could not send a message of the transaction `key`.
    @inlinable public mutating func transportError(_ reason: String, for key: TransactionKey) -> Outcome {
        perform(.transportError(reason), on: key) ?? .none
    }

    /// Ends the transaction `key` at once, whatever its state (``SIPStack``'s `terminate`), and removes it.
    /// Returns ``TransactionAction/terminated`` so the driver drops its timers; ``Outcome/none``
    /// when it was not live.
    @inlinable public mutating func terminate(_ key: TransactionKey) -> Outcome {
        perform(.terminate, on: key) ?? .none
    }

    // MARK: - Internals

    /// Runs `operation` on the machine of `key`, in place, and removes the transaction if that
    /// terminated it; nil when no such transaction is live.
    @inlinable mutating func perform(_ operation: Operation, on key: TransactionKey) -> Outcome? {
        switch key {
        case .client(let k):
            if k.method == .invite {
                return Self.run(k, in: &inviteClients) { $0.perform(operation) }
            }
            return Self.run(k, in: &nonInviteClients) { $0.perform(operation) }
        case .server(let k):
            if k.isInvite {
                let outcome = Self.run(k.digest, in: &inviteServers) { $0.perform(operation) }
                if outcome?.actions.terminates == true { forgetRFC2543Ack(of: k) }
                return outcome
            }
            return Self.run(k.digest, in: &nonInviteServers) { $0.perform(operation) }
        }
    }

    /// Runs `event` on the machine of `k` in `map`, in place, and removes the transaction if that
    /// terminated it: one look-up for the event and the removal (a timer ending a transaction, the
    /// usual end under load, finds it once). The context comes back either way. Nil when no such
    /// transaction is live.
    @inlinable static func run<K: Hashable, M>(
        _ k: K, in map: inout [K: Slot<M>], _ event: (inout M) -> TransactionActions
    ) -> Outcome? {
        guard let i = map.index(forKey: k) else { return nil }
        let actions = event(&map.values[i].machine)
        if actions.terminates { return Outcome(actions: actions, context: map.remove(at: i).value.context) }
        return Outcome(actions: actions, context: map.values[i].context)
    }

    /// RFC 3261 §17.2.3: the RFC 2543 ACK key of an INVITE transaction that ended goes with it.
    @inlinable mutating func forgetRFC2543Ack(of key: ServerTransactionKey) {
        guard !rfc2543AckOf.isEmpty, let ack = rfc2543AckOf.removeValue(forKey: key) else { return }
        rfc2543Acks[ack] = nil
    }

    /// RFC 3261 §17.2.3: under RFC 2543 rules an ACK carries the To tag of the final response it
    /// acknowledges; remember the key such an ACK computes.
    @inlinable mutating func noteRFC2543Response(_ response: SIPMessage, on key: ServerTransactionKey) {
        guard let status = response.status, status >= 200, let tag = response.to?.tag, tag != key.rfc2543?.toTag,
            let ackKey = key.withToTag(tag)
        else { return }
        if let old = rfc2543AckOf[key] { rfc2543Acks[old] = nil }
        rfc2543Acks[ackKey] = key
        rfc2543AckOf[key] = ackKey
    }
}

/// An event every machine takes, for ``TransactionTable`` to route without knowing the machine's type.
@usableFromInline
enum Operation {
    case timerFired(TransactionTimer)
    case transportError(String)
    case terminate
}

extension TransactionStateMachine {
    @inlinable mutating func perform(_ operation: Operation) -> TransactionActions {
        switch operation {
        case .timerFired(let t): return timerFired(t)
        case .transportError(let why): return transportError(why)
        case .terminate: return terminate()
        }
    }
}
