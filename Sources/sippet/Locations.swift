import ArgumentParser
import Logging
import SIPSyntax
import SippetEndpoint
import SippetLocationPostgres
import SippetLocationSQLite

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// `--db URL`: where `serve` and `proxy` keep their registrations (RFC 3261 §10.3's location
/// service), and where `sippet locations` reads them.
struct DatabaseOptions: ParsableArguments {
    @Option(
        name: .customLong("db"),
        help: ArgumentHelp(
            "Where registrations are kept: memory: (lost on exit), sqlite:PATH (durable, one server), or postgres://USER@HOST:PORT/DATABASE (shared by several servers).",
            valueName: "url"))
    var url = "memory:"

    func validate() throws {
        guard
            url == "memory:" || url.hasPrefix("sqlite:") || url.hasPrefix("postgres://")
                || url.hasPrefix("postgresql://")
        else { throw ValidationError("--db must be memory:, sqlite:PATH or postgres://…") }
        if url.hasPrefix("sqlite:"), url.dropFirst("sqlite:".count).isEmpty {
            throw ValidationError("--db sqlite: needs a path (sqlite:/var/lib/sippet/locations.db)")
        }
    }

    /// Whether the registrations stay in memory (the in-memory registrar, no store).
    var inMemory: Bool { url == "memory:" }

    /// The store of the URL, schema created or migrated: SQLite or PostgreSQL (a memory store
    /// for memory:).
    func open(logger: Logger) async throws -> any LocationStore {
        if url.hasPrefix("sqlite:") {
            return try await SQLiteLocationStore.open(path: String(url.dropFirst("sqlite:".count)), logger: logger)
        }
        if url.hasPrefix("postgres") { return try await PostgresLocationStore.open(url: url, logger: logger) }
        return MemoryLocationStore()
    }

    /// The registrar on the store, with its background expiry started; nil for memory: (the
    /// caller keeps its in-memory registrar). Exits 2 when the database cannot be opened.
    func registrar(policy: Registrar.Policy, logger: Logger, command: String) async throws -> StoredRegistrar? {
        guard !inMemory else { return nil }
        let store: any LocationStore
        do {
            store = try await open(logger: logger)
        } catch {
            writeStderr("sippet \(command): cannot open \(url): \(error)")
            throw ExitCode(2)
        }
        let registrar = StoredRegistrar(store: store, policy: policy, logger: logger)
        Task { await registrar.runExpiry() }
        return registrar
    }
}

/// `sippet locations --db URL [AOR]`: the bindings a registrar holds, with their seconds left.
struct LocationsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "locations",
        abstract: "List the registrations (bindings) kept in a database, with their seconds left.",
        discussion: """
            One line per binding: the address-of-record, the contact, its seconds left, and the flow it \
            registered on (transport and source address). With AOR, only its bindings. Exits 0, or 1 when \
            there is none, 2 when the database cannot be read.
            """
    )
    @OptionGroup var database: DatabaseOptions
    @Argument(help: "An address-of-record, e.g. sip:alice@example.com.") var aor: String?

    func validate() throws {
        guard !database.inMemory else {
            throw ValidationError("--db memory: is the registrar's own memory; give sqlite:PATH or postgres://…")
        }
    }

    func run() async throws {
        var logger = Logger(label: "sippet")
        logger.logLevel = .critical
        // A path that names no file is a typing error, not an empty location service.
        if database.url.hasPrefix("sqlite:"), access(String(database.url.dropFirst("sqlite:".count)), F_OK) != 0 {
            writeStderr("sippet locations: \(database.url.dropFirst("sqlite:".count)): no such file")
            throw ExitCode(2)
        }
        let now = wallClockMilliseconds()
        let table: [String: [Registrar.Binding]]
        do {
            let store = try await database.open(logger: logger)
            if let aor {
                let canonical = Registrar.canonicalAOR(try URI(aor))
                table = [canonical: try await store.bindings(of: canonical, now: now)].filter { !$0.value.isEmpty }
            } else {
                table = try await store.all(now: now)
            }
            await store.close()
        } catch {
            writeStderr("sippet locations: cannot read \(database.url): \(error)")
            throw ExitCode(2)
        }
        for aor in table.keys.sorted() {
            for b in table[aor] ?? [] {
                var line = "\(aor) \(b.contact) expires=\((b.expiresAt &- now + 999) / 1000)"
                if let s = b.source { line += " via \(s.transport) \(s.host):\(s.port)" }
                if !b.path.isEmpty { line += " path \(b.path.joined(separator: ","))" }
                say(line)
            }
        }
        if table.isEmpty { throw ExitCode(1) }
    }
}
