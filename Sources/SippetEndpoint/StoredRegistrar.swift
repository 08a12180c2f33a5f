import Logging
import SIPSyntax
import Synchronization

/// A registrar (RFC 3261 §10.3) on a ``LocationStore``: each REGISTER is one transaction of the
/// store, and its 200 goes out only once the store has committed it, so that a binding
/// acknowledged survives a crash of the process (with a durable store).
///
/// The rules are ``Registrar/Registration``'s, the same as the in-memory ``Registrar``'s. When
/// the store fails (the database is unreachable, the disk is full), the REGISTER is answered 500
/// with Retry-After (§21.5.1, §20.33), the failure is logged and counted
/// (``failures``), and the next REGISTER tries the store again: service comes back by itself when
/// the database does.
public final class StoredRegistrar: Sendable {
    /// The store.
    public let store: any LocationStore
    /// The intervals and limits: per address-of-record, and ``Registrar/Policy/maxBindings`` in
    /// all, checked against a count of the store's bindings that each expiry round refreshes and
    /// each accepted REGISTER moves (several servers on one store each count their own additions
    /// between rounds, so the bound is approximate there).
    public let policy: Registrar.Policy
    private let approximateCount = Atomic<Int>(0)
    /// Seconds a client is told to wait when the store fails.
    public static let retryAfter = 5
    /// The longest a REGISTER or a look-up waits for the store: a database that does not answer
    /// (stopped, unreachable, its connection pool still trying) counts as failed after it.
    public let storeTimeout: Duration
    /// The most REGISTERs waiting for the store at once; more are answered 503 with Retry-After
    /// at once, so that a slow database cannot make the server hold requests without bound.
    public let maxInFlight: Int
    private let inFlight = Atomic<Int>(0)
    private let logger: Logger
    private let clock: @Sendable () -> UInt64
    private let failureCount = Atomic<Int>(0)

    /// A registrar on `store`. `clock` gives the wall-clock time in milliseconds (a test gives
    /// its own).
    public init(
        store: any LocationStore, policy: Registrar.Policy = Registrar.Policy(),
        logger: Logger = Logger(label: "sippet.registrar"), maxInFlight: Int = 1000,
        storeTimeout: Duration = .seconds(4),
        clock: @escaping @Sendable () -> UInt64 = wallClockMilliseconds
    ) {
        self.store = store
        self.maxInFlight = maxInFlight
        self.storeTimeout = storeTimeout
        self.policy = policy
        self.logger = logger
        self.clock = clock
    }

    /// How many times the store failed.
    public var failures: Int { failureCount.load(ordering: .relaxed) }

    /// Processes one REGISTER (steps 5 to 8) and returns the response, after the store committed
    /// it. `route`: this server's own URI, recorded first in the binding's Path (RFC 3327) but not
    /// echoed, so that another server sharing the store reaches the contact through this one (a
    /// contact on a connection this server holds).
    public func handle(_ request: SIPMessage, route: String? = nil) async -> SIPMessage {
        var asked: Registrar.Registration
        switch Registrar.Registration.read(request) {
        case .success(let r): asked = r
        case .failure(let rejection): return rejection.response(to: request)
        }
        guard inFlight.add(1, ordering: .relaxed).newValue <= maxInFlight else {
            inFlight.subtract(1, ordering: .relaxed)
            return SIPRejection(
                status: 503, detail: "too many registrations at once",
                headers: [SIPHeaderField(name: .retryAfter, value: String(Self.retryAfter))]
            ).response(to: request)
        }
        defer { inFlight.subtract(1, ordering: .relaxed) }
        let echoed = asked.path
        if let route { asked.path = [route] + asked.path }
        let now = clock()
        let policy = self.policy
        let stored = asked
        let held = approximateCount.load(ordering: .relaxed)
        let added = Added()
        do {
            let store = self.store
            let result = try await bounded {
                try await store.update(stored.aor, now: now) { current in
                    let applied = stored.apply(to: current, now: now, policy: policy)
                    guard case .success(let list) = applied else { return applied }
                    if list.count > current.count, held >= policy.maxBindings {
                        return .failure(Registrar.Registration.full)
                    }
                    added.count.store(list.count - current.count, ordering: .relaxed)
                    return applied
                }
            }
            if case .success = result { approximateCount.add(added.count.load(ordering: .relaxed), ordering: .relaxed) }
            switch result {
            case .success(let list):
                asked.path = echoed
                return asked.response(to: request, bindings: list, now: now)
            case .failure(let rejection): return rejection.response(to: request)
            }
        } catch {
            failed("REGISTER for \(asked.aor)", error)
            return SIPRejection(
                status: 500, detail: "the location service is unavailable",
                headers: [SIPHeaderField(name: .retryAfter, value: String(Self.retryAfter))]
            ).response(to: request)
        }
    }

    /// The live bindings of `aor` (any form of it); nil when the store fails (the caller answers
    /// 500, or 480 for a callee it cannot look up).
    public func bindings(of aor: URI) async -> [Registrar.Binding]? {
        do {
            let (store, now) = (self.store, clock())
            return try await bounded { try await store.bindings(of: Registrar.canonicalAOR(aor), now: now) }
        } catch {
            failed("look-up of \(Registrar.canonicalAOR(aor))", error)
            return nil
        }
    }

    /// Deletes expired bindings in the background until the task is cancelled: every `interval`,
    /// batches of `batch` until none is left (bounded work per query). A failing store is retried
    /// at the next interval.
    public func runExpiry(every interval: Duration = .seconds(10), batch: Int = 1000) async {
        while !Task.isCancelled {
            do {
                while try await store.expire(now: clock(), atMost: batch) == batch, !Task.isCancelled {}
                approximateCount.store(try await store.count(now: clock()), ordering: .relaxed)
            } catch {
                failed("expiry", error)
            }
            try? await Task.sleep(for: interval)
        }
    }

    /// The store did not answer within ``storeTimeout``.
    struct StoreTimeout: Error, CustomStringConvertible {
        var description: String { "the location store did not answer in time" }
    }

    /// `operation`'s result, or ``StoreTimeout`` after ``storeTimeout`` (the operation is then
    /// cancelled, and its result, if it comes, dropped).
    private func bounded<T: Sendable>(_ operation: @escaping @Sendable () async throws -> T) async throws -> T {
        let outcome = Outcome<T>()
        let timeout = storeTimeout
        return try await withCheckedThrowingContinuation { continuation in
            outcome.continuation.withLock { $0 = continuation }
            let work = Task {
                do { outcome.finish(.success(try await operation())) } catch { outcome.finish(.failure(error)) }
            }
            Task {
                try? await Task.sleep(for: timeout)
                if outcome.finish(.failure(StoreTimeout())) { work.cancel() }
            }
        }
    }

    /// The continuation of ``bounded(_:)``, resumed once.
    private final class Outcome<T: Sendable>: Sendable {
        let continuation = Mutex<CheckedContinuation<T, any Error>?>(nil)

        @discardableResult
        func finish(_ result: Result<T, any Error>) -> Bool {
            guard
                let c = continuation.withLock({ c -> CheckedContinuation<T, any Error>? in
                    defer { c = nil }
                    return c
                })
            else { return false }
            c.resume(with: result)
            return true
        }
    }

    /// How many bindings a REGISTER's transaction added (negative: removed).
    private final class Added: Sendable {
        let count = Atomic<Int>(0)
    }

    private func failed(_ what: String, _ error: any Error) {
        failureCount.add(1, ordering: .relaxed)
        logger.error("location store failed", metadata: ["sip.location": "\(what)", "error": "\(error)"])
    }
}
