import Logging
import NIOCore
import PostgresNIO
import SIPSyntax
import SippetEndpoint

/// A location store in PostgreSQL (`--db postgres://USER[:PASSWORD]@HOST:PORT/DATABASE`), for
/// several servers sharing one location service.
///
/// Every ``update(_:now:_:)`` is one transaction that first takes a transaction-scoped advisory
/// lock on its address-of-record (`pg_advisory_xact_lock`), so that two servers registering the
/// same address-of-record at once take turns and neither overwrites the other's binding: the
/// §10.3 rules see the bindings the other committed. The commit returns once PostgreSQL has made
/// it durable (its default `synchronous_commit`), before the 200 is sent. There is no read cache:
/// every look-up reads the table, so a binding one server writes is seen at once by the others.
///
/// Connections come from postgres-nio's pool; a lost database makes operations throw (the
/// registrar answers 500 with Retry-After) until it is back, and the pool reconnects by itself.
public final class PostgresLocationStore: LocationStore {
    private let client: PostgresClient
    private let runner: Task<Void, Never>
    private let logger: Logger

    /// Why a database URL is refused.
    public struct InvalidURL: Error, CustomStringConvertible {
        /// What is wrong.
        public var description: String
    }

    /// Connects to the database of `url` (`postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE`,
    /// without TLS), and creates or migrates the schema.
    public static func open(url: String, logger: Logger = Logger(label: "sippet.location")) async throws
        -> PostgresLocationStore
    {
        let store = PostgresLocationStore(configuration: try configuration(url), logger: logger)
        do {
            try await store.migrate()
        } catch {
            await store.close()
            throw error
        }
        return store
    }

    /// The client configuration of `url`.
    static func configuration(_ url: String) throws -> PostgresClient.Configuration {
        guard let rest = url.split(separator: "://", maxSplits: 1).dropFirst().first,
            url.hasPrefix("postgres://") || url.hasPrefix("postgresql://")
        else { throw InvalidURL(description: "\(url) is not a postgres:// URL") }
        let (credentials, location) =
            rest.contains("@")
            ? (String(rest[..<rest.lastIndex(of: "@")!]), String(rest[rest.index(after: rest.lastIndex(of: "@")!)...]))
            : ("postgres", String(rest))
        let user = credentials.split(separator: ":", maxSplits: 1).first.map(String.init) ?? "postgres"
        let password = credentials.split(separator: ":", maxSplits: 1).dropFirst().first.map(String.init)
        let hostPort = location.split(separator: "/", maxSplits: 1).first.map(String.init) ?? ""
        let database = location.split(separator: "/", maxSplits: 1).dropFirst().first.map(String.init)
        let parts = hostPort.split(separator: ":", maxSplits: 1)
        guard let host = parts.first, !host.isEmpty else { throw InvalidURL(description: "\(url) names no host") }
        let port = parts.count > 1 ? Int(parts[1]) : 5432
        guard let port else { throw InvalidURL(description: "\(url) has a bad port") }
        return PostgresClient.Configuration(
            host: String(host), port: port, username: user, password: password, database: database, tls: .disable)
    }

    private init(configuration: PostgresClient.Configuration, logger: Logger) {
        var configuration = configuration
        configuration.options.connectTimeout = .seconds(3)
        // Set on every connection, whatever the server's defaults: READ COMMITTED, so that the
        // read after the advisory lock sees what the writer before committed; a durable commit
        // before the 200; and bounded waits, so that a server that died holding a lock cannot
        // hold every other one up.
        configuration.options.additionalStartupParameters = [
            ("default_transaction_isolation", "read committed"), ("synchronous_commit", "on"),
            ("lock_timeout", "2s"), ("statement_timeout", "5s"), ("idle_in_transaction_session_timeout", "10s"),
        ]
        let client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        self.client = client
        self.logger = logger
        runner = Task { await client.run() }
    }

    /// Closes the pool's connections.
    public func close() async { runner.cancel() }

    private func migrate() async throws {
        try await client.withTransaction(logger: logger) { c in
            // One migrator at a time across servers.
            try await c.query("SELECT pg_advisory_xact_lock(5060)", logger: logger)
            try await c.query("CREATE TABLE IF NOT EXISTS sippet_schema (version INTEGER NOT NULL)", logger: logger)
            var version = 0
            for try await v in try await c.query("SELECT version FROM sippet_schema", logger: logger).decode(Int.self) {
                version = v
            }
            if version < 1 {
                try await c.query(
                    """
                    CREATE TABLE bindings (aor TEXT NOT NULL, uri TEXT NOT NULL, contact TEXT NOT NULL,
                      call_id TEXT NOT NULL, cseq BIGINT NOT NULL, expires_at BIGINT NOT NULL,
                      transport TEXT NOT NULL, host TEXT NOT NULL, port BIGINT NOT NULL,
                      behind_nat BOOLEAN NOT NULL, path TEXT NOT NULL, instance TEXT NOT NULL,
                      reg_id BIGINT NOT NULL, PRIMARY KEY (aor, uri))
                    """, logger: logger)
                try await c.query("CREATE INDEX bindings_expiry ON bindings (expires_at)", logger: logger)
                try await c.query("DELETE FROM sippet_schema", logger: logger)
                try await c.query("INSERT INTO sippet_schema (version) VALUES (1)", logger: logger)
            }
        }
    }

    /// See ``LocationStore/update(_:now:_:)``.
    public func update(
        _ aor: String, now: UInt64,
        _ change: @escaping @Sendable ([Registrar.Binding]) -> Result<[Registrar.Binding], SIPRejection>
    ) async throws -> Result<[Registrar.Binding], SIPRejection> {
        let logger = self.logger
        return try await client.withTransaction(logger: logger) { c in
            try await c.query("SELECT pg_advisory_xact_lock(hashtextextended(\(aor), 0))", logger: logger)
            let current = try await Self.read(c, aor: aor, now: now, logger: logger)
            let result = change(current)
            guard case .success(let list) = result else { return result }
            // Only what changed is written: the bindings the request removed, then the ones it
            // added or changed (an expired row of the same contact is overwritten).
            let kept = Set(list.map { $0.contact.uri.description })
            let removed = current.map { $0.contact.uri.description }.filter { !kept.contains($0) }
            if !removed.isEmpty {
                try await c.query("DELETE FROM bindings WHERE aor = \(aor) AND uri = ANY(\(removed))", logger: logger)
            }
            for binding in list where !current.contains(binding) {
                let b = StoredBinding(binding, aor: aor)
                try await c.query(
                    """
                    INSERT INTO bindings (aor, uri, contact, call_id, cseq, expires_at, transport, host, port,
                      behind_nat, path, instance, reg_id) VALUES (\(b.aor), \(b.uri), \(b.contact), \(b.callID),
                      \(b.cseq), \(b.expiresAt), \(b.transport), \(b.host), \(b.port), \(b.behindNAT), \(b.path),
                      \(b.instance), \(b.regID))
                    ON CONFLICT (aor, uri) DO UPDATE SET contact = EXCLUDED.contact, call_id = EXCLUDED.call_id,
                      cseq = EXCLUDED.cseq, expires_at = EXCLUDED.expires_at, transport = EXCLUDED.transport,
                      host = EXCLUDED.host, port = EXCLUDED.port, behind_nat = EXCLUDED.behind_nat,
                      path = EXCLUDED.path, instance = EXCLUDED.instance, reg_id = EXCLUDED.reg_id
                    """, logger: logger)
            }
            return result
        }
    }

    /// See ``LocationStore/bindings(of:now:)``.
    public func bindings(of aor: String, now: UInt64) async throws -> [Registrar.Binding] {
        let logger = self.logger
        return try await client.withConnection { c in try await Self.read(c, aor: aor, now: now, logger: logger) }
    }

    /// The number of live bindings.
    public func count(now: UInt64) async throws -> Int {
        let logger = self.logger
        return try await client.withConnection { c in
            var n = 0
            let rows = try await c.query(
                "SELECT COUNT(*)::BIGINT FROM bindings WHERE expires_at > \(Int64(clamping: now))", logger: logger)
            for try await v in rows.decode(Int64.self) { n = Int(v) }
            return n
        }
    }

    /// See ``LocationStore/all(now:)``.
    public func all(now: UInt64) async throws -> [String: [Registrar.Binding]] {
        let logger = self.logger
        return try await client.withConnection { c in
            var out: [String: [Registrar.Binding]] = [:]
            let rows = try await c.query(
                "\(unescaped: Self.columns) FROM bindings WHERE expires_at > \(Int64(clamping: now)) ORDER BY aor, expires_at",
                logger: logger)
            for try await row in rows.decode(Row.self) {
                let stored = Self.stored(row)
                if let b = stored.binding { out[stored.aor, default: []].append(b) }
            }
            return out
        }
    }

    /// See ``LocationStore/expire(now:atMost:)``.
    @discardableResult
    public func expire(now: UInt64, atMost limit: Int) async throws -> Int {
        let logger = self.logger
        return try await client.withConnection { c in
            var n = 0
            let rows = try await c.query(
                """
                WITH due AS (SELECT aor, uri FROM bindings WHERE expires_at <= \(Int64(clamping: now))
                  ORDER BY expires_at LIMIT \(limit) FOR UPDATE SKIP LOCKED)
                DELETE FROM bindings b USING due WHERE b.aor = due.aor AND b.uri = due.uri RETURNING 1
                """, logger: logger)
            for try await _ in rows { n += 1 }
            return n
        }
    }

    private typealias Row = (
        String, String, String, String, Int64, Int64, String, String, Int64, Bool, String, String, Int64
    )
    private static let columns =
        "SELECT aor, uri, contact, call_id, cseq, expires_at, transport, host, port, behind_nat, path, instance, reg_id"

    private static func stored(_ r: Row) -> StoredBinding {
        StoredBinding(
            aor: r.0, uri: r.1, contact: r.2, callID: r.3, cseq: r.4, expiresAt: r.5, transport: r.6, host: r.7,
            port: r.8, behindNAT: r.9, path: r.10, instance: r.11, regID: r.12)
    }

    private static func read(_ c: PostgresConnection, aor: String, now: UInt64, logger: Logger) async throws
        -> [Registrar.Binding]
    {
        var out: [Registrar.Binding] = []
        let rows = try await c.query(
            "\(unescaped: columns) FROM bindings WHERE aor = \(aor) AND expires_at > \(Int64(clamping: now)) ORDER BY expires_at",
            logger: logger)
        for try await row in rows.decode(Row.self) {
            if let b = stored(row).binding { out.append(b) }
        }
        return out
    }
}
