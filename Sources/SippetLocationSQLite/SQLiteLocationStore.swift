import Logging
import NIOCore
import SIPSyntax
import SQLiteNIO
import SippetEndpoint
import Synchronization

/// A location store in an SQLite file (`sippet serve --db sqlite:PATH`): the embedded default
/// for a registrar that must survive a restart.
///
/// The file is in WAL mode with `synchronous=FULL`: a REGISTER's transaction is on disk when
/// ``update(_:now:_:)`` returns, before the 200 is sent, so a crash of the process or of the
/// machine loses no binding that was acknowledged. The schema is created, or migrated to
/// ``StoredBinding/schemaVersion``, when the store opens. Several processes may open one file
/// (each transaction takes the database's write lock, waiting up to ``busyTimeoutMilliseconds``);
/// within a process, one connection runs one transaction at a time.
public final class SQLiteLocationStore: LocationStore {
    /// How long a transaction waits for another process's write lock.
    public static let busyTimeoutMilliseconds = 5000
    private let connection: SQLiteConnection
    private let turn = AsyncTurns()

    private init(connection: SQLiteConnection) { self.connection = connection }

    /// Opens (or creates) the store at `path`, and creates or migrates its schema.
    public static func open(path: String, logger: Logger = Logger(label: "sippet.location")) async throws
        -> SQLiteLocationStore
    {
        let connection = try await SQLiteConnection.open(storage: .file(path: path), logger: logger)
        _ = try await connection.query("PRAGMA journal_mode=WAL")
        _ = try await connection.query("PRAGMA synchronous=FULL")
        _ = try await connection.query("PRAGMA busy_timeout=\(busyTimeoutMilliseconds)")
        let store = SQLiteLocationStore(connection: connection)
        try await store.transaction { c in
            _ = try await c.query("CREATE TABLE IF NOT EXISTS sippet_schema (version INTEGER NOT NULL)")
            let version = try await c.query("SELECT version FROM sippet_schema").first?.column("version")?.integer ?? 0
            if version < 1 {
                _ = try await c.query(
                    """
                    CREATE TABLE bindings (aor TEXT NOT NULL, uri TEXT NOT NULL, contact TEXT NOT NULL,
                      call_id TEXT NOT NULL, cseq INTEGER NOT NULL, expires_at INTEGER NOT NULL,
                      transport TEXT NOT NULL, host TEXT NOT NULL, port INTEGER NOT NULL,
                      behind_nat INTEGER NOT NULL, path TEXT NOT NULL, instance TEXT NOT NULL,
                      reg_id INTEGER NOT NULL, PRIMARY KEY (aor, uri))
                    """)
                _ = try await c.query("CREATE INDEX bindings_expiry ON bindings (expires_at)")
                _ = try await c.query("DELETE FROM sippet_schema")
                _ = try await c.query("INSERT INTO sippet_schema (version) VALUES (?)", [.integer(1)])
            }
        }
        return store
    }

    /// Closes the file.
    public func close() async { try? await connection.close() }

    /// See ``LocationStore/update(_:now:_:)``.
    public func update(
        _ aor: String, now: UInt64,
        _ change: @escaping @Sendable ([Registrar.Binding]) -> Result<[Registrar.Binding], SIPRejection>
    ) async throws -> Result<[Registrar.Binding], SIPRejection> {
        try await transaction { c in
            let current = try await Self.read(c, aor: aor, now: now)
            let result = change(current)
            guard case .success(let list) = result else { return result }
            _ = try await c.query("DELETE FROM bindings WHERE aor = ?", [.text(aor)])
            for b in list { try await Self.insert(c, StoredBinding(b, aor: aor)) }
            return result
        }
    }

    /// See ``LocationStore/bindings(of:now:)``.
    public func bindings(of aor: String, now: UInt64) async throws -> [Registrar.Binding] {
        try await turn.run { try await Self.read(self.connection, aor: aor, now: now) }
    }

    /// See ``LocationStore/all(now:)``.
    public func all(now: UInt64) async throws -> [String: [Registrar.Binding]] {
        try await turn.run {
            let rows = try await self.connection.query(
                "SELECT * FROM bindings WHERE expires_at > ? ORDER BY aor, expires_at", [.integer(Int(now))])
            var out: [String: [Registrar.Binding]] = [:]
            for row in rows {
                let stored = Self.decode(row)
                if let b = stored.binding { out[stored.aor, default: []].append(b) }
            }
            return out
        }
    }

    /// See ``LocationStore/expire(now:atMost:)``.
    @discardableResult
    public func expire(now: UInt64, atMost limit: Int) async throws -> Int {
        try await transaction { c in
            let due = try await c.query(
                "SELECT COUNT(*) AS n FROM (SELECT 1 FROM bindings WHERE expires_at <= ? LIMIT ?)",
                [.integer(Int(now)), .integer(limit)])
            _ = try await c.query(
                "DELETE FROM bindings WHERE rowid IN (SELECT rowid FROM bindings WHERE expires_at <= ? LIMIT ?)",
                [.integer(Int(now)), .integer(limit)])
            return due.first?.column("n")?.integer ?? 0
        }
    }

    /// Runs `body` in a write transaction (`BEGIN IMMEDIATE`: the write lock first, so that two
    /// processes updating one address-of-record take turns), committed when it returns and rolled
    /// back when it throws. It runs in a task of its own: the caller's cancellation cannot stop it
    /// between BEGIN and COMMIT or ROLLBACK (sqlite-nio refuses queries from a cancelled task),
    /// which would leave the connection inside a transaction.
    private func transaction<T: Sendable>(_ body: @escaping @Sendable (SQLiteConnection) async throws -> T)
        async throws -> T
    {
        let connection = self.connection
        return try await turn.run {
            try await Task {
                _ = try await connection.query("BEGIN IMMEDIATE")
                do {
                    let value = try await body(connection)
                    _ = try await connection.query("COMMIT")
                    return value
                } catch {
                    _ = try? await connection.query("ROLLBACK")
                    throw error
                }
            }.value
        }
    }

    /// The number of live bindings.
    public func count(now: UInt64) async throws -> Int {
        try await turn.run {
            let rows = try await self.connection.query(
                "SELECT COUNT(*) AS n FROM bindings WHERE expires_at > ?", [.integer(Int(now))])
            return rows.first?.column("n")?.integer ?? 0
        }
    }

    private static func read(_ c: SQLiteConnection, aor: String, now: UInt64) async throws -> [Registrar.Binding] {
        try await c.query(
            "SELECT * FROM bindings WHERE aor = ? AND expires_at > ? ORDER BY rowid", [.text(aor), .integer(Int(now))]
        ).compactMap { decode($0).binding }
    }

    private static func insert(_ c: SQLiteConnection, _ b: StoredBinding) async throws {
        _ = try await c.query(
            """
            INSERT INTO bindings (aor, uri, contact, call_id, cseq, expires_at, transport, host, port,
              behind_nat, path, instance, reg_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """,
            [
                .text(b.aor), .text(b.uri), .text(b.contact), .text(b.callID), .integer(Int(b.cseq)),
                .integer(Int(b.expiresAt)), .text(b.transport), .text(b.host), .integer(Int(b.port)),
                .integer(b.behindNAT ? 1 : 0), .text(b.path), .text(b.instance), .integer(Int(b.regID)),
            ])
    }

    private static func decode(_ row: SQLiteRow) -> StoredBinding {
        func text(_ name: String) -> String { row.column(name)?.string ?? "" }
        func int(_ name: String) -> Int64 { Int64(row.column(name)?.integer ?? 0) }
        return StoredBinding(
            aor: text("aor"), uri: text("uri"), contact: text("contact"), callID: text("call_id"), cseq: int("cseq"),
            expiresAt: int("expires_at"), transport: text("transport"), host: text("host"), port: int("port"),
            behindNAT: int("behind_nat") != 0, path: text("path"), instance: text("instance"), regID: int("reg_id"))
    }
}

/// Takes turns: one body at a time, in the order they asked, across suspension points (an
/// actor would let a second transaction begin while the first awaits its queries).
final class AsyncTurns: Sendable {
    private let state = Mutex<(busy: Bool, waiting: [CheckedContinuation<Void, Never>])>((false, []))

    func run<T: Sendable>(_ body: @Sendable () async throws -> T) async throws -> T {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let now = state.withLock { s -> Bool in
                if s.busy {
                    s.waiting.append(c)
                    return false
                }
                s.busy = true
                return true
            }
            if now { c.resume() }
        }
        defer {
            let next = state.withLock { s -> CheckedContinuation<Void, Never>? in
                if s.waiting.isEmpty {
                    s.busy = false
                    return nil
                }
                return s.waiting.removeFirst()
            }
            next?.resume()
        }
        return try await body()
    }
}
