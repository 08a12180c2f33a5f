import SIPSyntax
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// Where a registrar keeps its bindings (RFC 3261 §10.3's location service): in memory
/// (``MemoryLocationStore``), in an SQLite file (`SippetLocationSQLite`), or in PostgreSQL,
/// shared by several servers (`SippetLocationPostgres`).
///
/// Times are milliseconds of the wall clock (Unix time), so that an expiry means the same after
/// a restart and on another server. A store answers only for what it has written: a method that
/// throws has changed nothing the caller can rely on, and ``StoredRegistrar`` answers 500 with
/// Retry-After for it.
public protocol LocationStore: Sendable {
    /// Reads the live bindings of `aor` (canonical form, ``Registrar/canonicalAOR(_:)``) at `now`,
    /// gives them to `change`, and when it succeeds puts what it returns in their place — all in
    /// one transaction, durable when this returns, and safe against another writer changing the
    /// same address-of-record at once (it waits for it). Returns `change`'s result.
    func update(
        _ aor: String, now: UInt64,
        _ change: @escaping @Sendable ([Registrar.Binding]) -> Result<[Registrar.Binding], SIPRejection>
    ) async throws -> Result<[Registrar.Binding], SIPRejection>

    /// The live bindings of `aor` at `now`.
    func bindings(of aor: String, now: UInt64) async throws -> [Registrar.Binding]

    /// Every live binding at `now`, by address-of-record.
    func all(now: UInt64) async throws -> [String: [Registrar.Binding]]

    /// Deletes at most `limit` bindings that expired before `now`; returns how many it deleted
    /// (`limit` means more may be due).
    @discardableResult
    func expire(now: UInt64, atMost limit: Int) async throws -> Int

    /// The number of live bindings at `now`.
    func count(now: UInt64) async throws -> Int

    /// Closes the store's file or connections; it is not used after.
    func close() async
}

extension LocationStore {
    /// Adds or refreshes `binding` for `aor` (the one with the same contact URI is replaced).
    public func put(_ binding: Registrar.Binding, for aor: String, now: UInt64) async throws {
        _ = try await update(aor, now: now) { current in
            .success(current.filter { $0.contact.uri != binding.contact.uri } + [binding])
        }
    }

    /// Removes the binding of `aor` whose contact is `uri`.
    public func remove(_ uri: URI, from aor: String, now: UInt64) async throws {
        _ = try await update(aor, now: now) { current in .success(current.filter { $0.contact.uri != uri }) }
    }

    /// Removes every binding of `aor`.
    public func removeAll(_ aor: String, now: UInt64) async throws {
        _ = try await update(aor, now: now) { _ in .success([]) }
    }
}

/// Milliseconds since 1970 on the system's wall clock: the time of ``LocationStore``s.
public func wallClockMilliseconds() -> UInt64 {
    var t = timespec()
    clock_gettime(CLOCK_REALTIME, &t)
    return UInt64(t.tv_sec) * 1000 + UInt64(t.tv_nsec) / 1_000_000
}

/// A binding as a database row holds it: text and integers, written and read by the SQL stores.
public struct StoredBinding: Sendable, Hashable {
    /// The address-of-record, canonical.
    public var aor: String
    /// The contact URI, the binding's key within its address-of-record (§10.3 step 7).
    public var uri: String
    /// The contact as registered (name-addr, without `expires`).
    public var contact: String
    /// The Call-ID of the REGISTER that last changed it.
    public var callID: String
    /// Its CSeq number.
    public var cseq: Int64
    /// When it expires, Unix milliseconds.
    public var expiresAt: Int64
    /// The registered flow: transport, source host and port, whether behind a NAT (empty
    /// transport: unknown).
    public var transport: String
    /// The flow's source host.
    public var host: String
    /// The flow's source port.
    public var port: Int64
    /// Whether the REGISTER came through a NAT.
    public var behindNAT: Bool
    /// The Path values (RFC 3327), one per line.
    public var path: String
    /// The contact's `+sip.instance` (RFC 5626 §4.1), or empty.
    public var instance: String
    /// The contact's `reg-id` (RFC 5626 §4.2), or -1.
    public var regID: Int64

    /// The row of `binding` under `aor`.
    public init(_ binding: Registrar.Binding, aor: String) {
        self.aor = aor
        uri = binding.contact.uri.description
        contact = binding.contact.description
        callID = binding.callID
        cseq = Int64(binding.cseq)
        expiresAt = Int64(clamping: binding.expiresAt)
        transport = binding.source?.transport ?? ""
        host = binding.source?.host ?? ""
        port = Int64(binding.source?.port ?? 0)
        behindNAT = binding.source?.isBehindNAT ?? false
        path = binding.path.joined(separator: "\n")
        instance = binding.contact.parameters.value("+sip.instance") ?? ""
        regID = binding.contact.parameters.value("reg-id").flatMap { Int64($0) } ?? -1
    }

    /// A row of these values, as read.
    public init(
        aor: String, uri: String, contact: String, callID: String, cseq: Int64, expiresAt: Int64, transport: String,
        host: String, port: Int64, behindNAT: Bool, path: String, instance: String, regID: Int64
    ) {
        self.aor = aor
        self.uri = uri
        self.contact = contact
        self.callID = callID
        self.cseq = cseq
        self.expiresAt = expiresAt
        self.transport = transport
        self.host = host
        self.port = port
        self.behindNAT = behindNAT
        self.path = path
        self.instance = instance
        self.regID = regID
    }

    /// The binding it holds; nil when its contact no longer parses.
    public var binding: Registrar.Binding? {
        guard let address = try? NameAddress(contact) else { return nil }
        let source =
            transport.isEmpty
            ? nil
            : Registrar.Source(transport: transport, host: host, port: Int(port), isBehindNAT: behindNAT)
        return Registrar.Binding(
            contact: address, callID: callID, cseq: UInt32(clamping: cseq), expiresAt: UInt64(clamping: expiresAt),
            source: source, path: path.isEmpty ? [] : path.split(separator: "\n").map(String.init))
    }

    /// The schema's version, the same for every SQL store: kept in the table `sippet_schema` and
    /// raised by each migration.
    public static let schemaVersion = 1
}

extension LocationStore {
    /// Nothing to close (a store in memory).
    public func close() async {}
}

/// A location store in memory, for tests and for `--db memory:`: lost when the process ends.
/// Its ``maxBindings`` bounds it; a REGISTER past it is refused 503.
public final class MemoryLocationStore: LocationStore {
    private let table = Mutex<(bindings: [String: [Registrar.Binding]], count: Int)>(([:], 0))
    /// The most bindings held.
    public let maxBindings: Int

    /// An empty store of at most `maxBindings` bindings.
    public init(maxBindings: Int = Registrar.Policy().maxBindings) { self.maxBindings = maxBindings }

    /// See ``LocationStore/update(_:now:_:)``.
    public func update(
        _ aor: String, now: UInt64,
        _ change: @escaping @Sendable ([Registrar.Binding]) -> Result<[Registrar.Binding], SIPRejection>
    ) async throws -> Result<[Registrar.Binding], SIPRejection> {
        table.withLock { t in
            let held = t.bindings[aor] ?? []
            let result = change(held.filter { $0.expiresAt > now })
            guard case .success(let list) = result else { return result }
            if list.count > held.count, t.count - held.count + list.count > maxBindings {
                return .failure(Registrar.Registration.full)
            }
            t.count += list.count - held.count
            t.bindings[aor] = list.isEmpty ? nil : list
            return result
        }
    }

    /// See ``LocationStore/bindings(of:now:)``.
    public func bindings(of aor: String, now: UInt64) async throws -> [Registrar.Binding] {
        table.withLock { $0.bindings[aor]?.filter { $0.expiresAt > now } ?? [] }
    }

    /// See ``LocationStore/all(now:)``.
    public func all(now: UInt64) async throws -> [String: [Registrar.Binding]] {
        table.withLock { $0.bindings.compactMapValues { l in l.contains { $0.expiresAt > now } ? l : nil } }
    }

    /// See ``LocationStore/count(now:)``.
    public func count(now: UInt64) async throws -> Int {
        table.withLock { $0.bindings.values.reduce(0) { n, l in n + l.filter { $0.expiresAt > now }.count } }
    }

    /// See ``LocationStore/expire(now:atMost:)``.
    @discardableResult
    public func expire(now: UInt64, atMost limit: Int) async throws -> Int {
        table.withLock { t in
            var removed = 0
            for (aor, list) in t.bindings where removed < limit {
                let live = list.filter { $0.expiresAt > now }
                guard live.count < list.count else { continue }
                removed += list.count - live.count
                t.count -= list.count - live.count
                t.bindings[aor] = live.isEmpty ? nil : live
            }
            return removed
        }
    }
}
