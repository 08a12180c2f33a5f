import Foundation
import SIPSyntax
import SIPTransport
import Sippet
import SippetEndpoint
import SippetLocationPostgres
import SippetLocationSQLite
import SippetProxy
import Synchronization
import Testing

/// The location stores the registrar runs on. PostgreSQL is the one `scripts/test.sh` starts
/// (`scripts/postgres.sh`), named by `SIPPET_TEST_POSTGRES`; without it (a bare `swift test`)
/// its cases are not run, except in CI, where they fail.
enum Backend: String, CaseIterable, Sendable, CustomStringConvertible {
    case memory, sqlite, postgres

    var description: String { rawValue }

    static var postgresURL: String? { ProcessInfo.processInfo.environment["SIPPET_TEST_POSTGRES"] }

    /// The backends this run can test.
    static var available: [Backend] {
        postgresURL != nil || ProcessInfo.processInfo.environment["SIPPET_REQUIRE_INTEROP"] != nil
            ? allCases : [.memory, .sqlite]
    }

    /// The backends that keep their bindings when closed.
    static var durable: [Backend] { available.filter { $0 != .memory } }

    /// A store of this kind; `place` names its file or database for reopening (memory: ignored).
    func open(_ place: String) async throws -> any LocationStore {
        switch self {
        case .memory: return MemoryLocationStore()
        case .sqlite: return try await SQLiteLocationStore.open(path: place)
        case .postgres:
            guard let url = Backend.postgresURL else {
                throw Unavailable(description: "SIPPET_TEST_POSTGRES is not set (scripts/test.sh starts PostgreSQL)")
            }
            return try await PostgresLocationStore.open(url: url)
        }
    }

    struct Unavailable: Error, CustomStringConvertible { var description: String }

    /// A new place for a store: a file name under the temporary directory.
    static func place() -> String {
        NSTemporaryDirectory() + "sippet-location-\(getpid())-\(UUID().uuidString).sqlite"
    }

}

/// A clock the test moves (wall-clock milliseconds).
final class TestWallClock: Sendable {
    private let value = Atomic<UInt64>(1_800_000_000_000)
    var now: UInt64 { value.load(ordering: .relaxed) }
    func advance(seconds: UInt64) { value.add(seconds * 1000, ordering: .relaxed) }
}

/// REGISTERs for one address-of-record of its own (unique per test, so that tests sharing one
/// database never meet).
struct RegisterMaker {
    let user = "u" + UUID().uuidString.prefix(8).lowercased()
    var aor: String { "sip:\(user)@example.com" }

    func register(
        _ contacts: [String], callID: String = "reg-1", cseq: UInt32, expires: Int? = nil,
        extra: [(SIPHeaderName, String)] = []
    ) -> SIPMessage {
        var fields: [(SIPHeaderName, String)] = [
            (.via, "SIP/2.0/TCP 192.0.2.7:5062;branch=z9hG4bK\(callID)\(cseq);received=198.51.100.7;rport=40000"),
            (.to, "<\(aor)>"), (.from, "<\(aor)>;tag=r"), (.callID, callID), (.cseq, "\(cseq) REGISTER"),
        ]
        for c in contacts { fields.append((.contact, c)) }
        if let expires { fields.append((.expires, String(expires))) }
        return .request(method: .register, uri: try! URI("sip:example.com"), headers: fields + extra)
    }
}

@Suite("Location stores: the registrar's §10.3 rules on memory, SQLite and PostgreSQL")
struct LocationStoreTests {
    static func contacts(_ r: SIPMessage) -> [String] { r.headers.values(.contact).sorted() }

    @Test("Add, refresh, stale CSeq 500, remove by expires=0, Contact: * with Expires: 0", arguments: Backend.available)
    func rules(_ backend: Backend) async throws {
        let store = try await backend.open(Backend.place())
        let clock = TestWallClock()
        let registrar = StoredRegistrar(store: store, clock: { clock.now })
        let m = RegisterMaker()
        let first = await registrar.handle(
            m.register(
                ["<sip:a@192.0.2.7:5062;transport=tcp>", "<sip:b@192.0.2.8>;expires=120"], cseq: 1, expires: 600))
        #expect(first.status == 200)
        #expect(
            Self.contacts(first) == [
                "<sip:a@192.0.2.7:5062;transport=tcp>;expires=600", "<sip:b@192.0.2.8>;expires=120",
            ])
        clock.advance(seconds: 100)
        // §10.3 step 7: a higher CSeq of the same Call-ID refreshes; the other keeps its time left.
        let refreshed = await registrar.handle(m.register(["<sip:b@192.0.2.8>"], cseq: 2, expires: 300))
        #expect(
            Self.contacts(refreshed) == [
                "<sip:a@192.0.2.7:5062;transport=tcp>;expires=500", "<sip:b@192.0.2.8>;expires=300",
            ])
        #expect(await registrar.handle(m.register(["<sip:b@192.0.2.8>"], cseq: 2, expires: 300)).status == 500)
        let removed = await registrar.handle(m.register(["<sip:b@192.0.2.8>;expires=0"], cseq: 3))
        #expect(Self.contacts(removed) == ["<sip:a@192.0.2.7:5062;transport=tcp>;expires=500"])
        #expect(await registrar.handle(m.register(["*"], cseq: 4, expires: 30)).status == 400)
        let all = await registrar.handle(m.register(["*"], cseq: 5, expires: 0))
        #expect(all.status == 200 && all.headers.values(.contact).isEmpty)
        #expect(try await store.bindings(of: m.aor, now: clock.now).isEmpty)
        await store.close()
    }

    @Test(
        "All or nothing: a REGISTER with one bad contact changes nothing; 423 below Min-Expires",
        arguments: Backend.available)
    func allOrNothing(_ backend: Backend) async throws {
        let store = try await backend.open(Backend.place())
        let clock = TestWallClock()
        let registrar = StoredRegistrar(store: store, clock: { clock.now })
        let m = RegisterMaker()
        #expect(await registrar.handle(m.register(["<sip:a@192.0.2.7>"], cseq: 1, expires: 600)).status == 200)
        let bad = await registrar.handle(
            m.register(["<sip:b@192.0.2.8>", "<sip:c@192.0.2.9>;expires=soon"], cseq: 2, expires: 600))
        #expect(bad.status == 400)
        let short = await registrar.handle(m.register(["<sip:b@192.0.2.8>"], cseq: 3, expires: 30))
        #expect(short.status == 423 && short.headers[.minExpires] == "60")
        let held = try await store.bindings(of: m.aor, now: clock.now)
        #expect(held.map(\.contact.description) == ["<sip:a@192.0.2.7>"])
        await store.close()
    }

    @Test("Expiry: a binding past its time is not looked up, and expire() deletes it", arguments: Backend.available)
    func expiry(_ backend: Backend) async throws {
        let store = try await backend.open(Backend.place())
        let clock = TestWallClock()
        let registrar = StoredRegistrar(store: store, clock: { clock.now })
        let m = RegisterMaker()
        #expect(await registrar.handle(m.register(["<sip:a@192.0.2.7>;expires=60"], cseq: 1)).status == 200)
        #expect(await registrar.handle(m.register(["<sip:b@192.0.2.7>;expires=3600"], cseq: 2)).status == 200)
        clock.advance(seconds: 61)
        let live = try #require(await registrar.bindings(of: URI(m.aor)))
        #expect(live.map(\.contact.description) == ["<sip:b@192.0.2.7>"])
        #expect(try await store.expire(now: clock.now, atMost: 100_000) >= 1)
        #expect(try await store.bindings(of: m.aor, now: clock.now - 60_000).count == 1)
        await store.close()
    }

    @Test(
        "The registered flow is kept: transport, source, NAT, Path, instance and reg-id", arguments: Backend.available)
    func flow(_ backend: Backend) async throws {
        let store = try await backend.open(Backend.place())
        let clock = TestWallClock()
        let registrar = StoredRegistrar(store: store, clock: { clock.now })
        let m = RegisterMaker()
        let contact =
            "<sip:a@192.0.2.7:5062;transport=tcp>;+sip.instance=\"<urn:uuid:00000000-0000-1000-8000-000A95A0E128>\";reg-id=1"
        let ok = await registrar.handle(
            m.register(
                [contact], cseq: 1, expires: 600,
                extra: [(.path, "<sip:edge1.example.com;lr>"), (.path, "<sip:edge2.example.com;lr>")]))
        #expect(ok.status == 200 && ok.headers.values(.path).count == 2)
        let b = try #require(try await store.bindings(of: m.aor, now: clock.now).first)
        #expect(b.source == Registrar.Source(transport: "TCP", host: "198.51.100.7", port: 40000, isBehindNAT: true))
        #expect(b.path == ["<sip:edge1.example.com;lr>", "<sip:edge2.example.com;lr>"])
        #expect(b.contact.parameters.value("reg-id") == "1")
        #expect(b.contact.parameters.value("+sip.instance") == "<urn:uuid:00000000-0000-1000-8000-000A95A0E128>")
        #expect(b.expiresAt == clock.now + 600_000)
        await store.close()
    }

    @Test(
        "A store opened again holds every binding that got a 200, with its expiry",
        arguments: Backend.durable)
    func reopen(_ backend: Backend) async throws {
        let place = Backend.place()
        let clock = TestWallClock()
        let m = RegisterMaker()
        let first = try await backend.open(place)
        let registrar = StoredRegistrar(store: first, clock: { clock.now })
        for i in 0..<10 {
            #expect(
                await registrar.handle(m.register(["<sip:p\(i)@192.0.2.7>"], cseq: UInt32(i + 1), expires: 600 + i))
                    .status == 200)
        }
        await first.close()
        let again = try await backend.open(place)
        let held = try await again.bindings(of: m.aor, now: clock.now)
        #expect(held.count == 10)
        #expect(Set(held.map(\.expiresAt)) == Set((0..<10).map { clock.now + UInt64(600 + $0) * 1000 }))
        await again.close()
    }

    @Test(
        "Two registrars on one database, one address-of-record, 30 REGISTERs at once: none lost",
        arguments: Backend.durable)
    func concurrent(_ backend: Backend) async throws {
        let place = Backend.place()
        let clock = TestWallClock()
        let m = RegisterMaker()
        let stores = [try await backend.open(place), try await backend.open(place)]
        let registrars = stores.map { StoredRegistrar(store: $0, clock: { clock.now }) }
        let statuses = await withTaskGroup(of: Int.self) { group in
            for i in 0..<30 {
                group.addTask {
                    await registrars[i % 2].handle(
                        m.register(["<sip:c\(i)@192.0.2.7>"], callID: "c\(i)", cseq: 1, expires: 600)
                    ).status ?? 0
                }
            }
            return await group.reduce(into: [Int]()) { $0.append($1) }
        }
        #expect(statuses == Array(repeating: 200, count: 30))
        #expect(try await stores[0].bindings(of: m.aor, now: clock.now).count == 30)
        for s in stores { await s.close() }
    }

    /// A store that fails while `down` is set.
    final class FlakyStore: LocationStore {
        let inner = MemoryLocationStore()
        let down = Atomic<Bool>(false)
        /// Whether updates and look-ups wait (until cancelled) instead of answering.
        let hangs = Atomic<Bool>(false)
        struct Down: Error {}

        private func wait() async throws {
            guard hangs.load(ordering: .relaxed) else { return }
            try await Task.sleep(for: .seconds(60))
        }

        func update(
            _ aor: String, now: UInt64,
            _ change: @escaping @Sendable ([Registrar.Binding]) -> Result<[Registrar.Binding], SIPRejection>
        ) async throws -> Result<[Registrar.Binding], SIPRejection> {
            if down.load(ordering: .relaxed) { throw Down() }
            try await wait()
            return try await inner.update(aor, now: now, change)
        }
        func bindings(of aor: String, now: UInt64) async throws -> [Registrar.Binding] {
            if down.load(ordering: .relaxed) { throw Down() }
            try await wait()
            return try await inner.bindings(of: aor, now: now)
        }
        func all(now: UInt64) async throws -> [String: [Registrar.Binding]] { try await inner.all(now: now) }
        func expire(now: UInt64, atMost limit: Int) async throws -> Int {
            try await inner.expire(now: now, atMost: limit)
        }
        func count(now: UInt64) async throws -> Int { try await inner.count(now: now) }
    }

    @Test("Limits: maxBindings in all (the registrar's count and the memory store's own) and maxInFlight give 503")
    func limits() async throws {
        var policy = Registrar.Policy()
        policy.maxBindings = 2
        let registrar = StoredRegistrar(store: MemoryLocationStore(), policy: policy)
        let makers = (0..<3).map { _ in RegisterMaker() }
        #expect(await registrar.handle(makers[0].register(["<sip:a@192.0.2.7>"], cseq: 1, expires: 600)).status == 200)
        #expect(await registrar.handle(makers[1].register(["<sip:b@192.0.2.7>"], cseq: 1, expires: 600)).status == 200)
        let full = await registrar.handle(makers[2].register(["<sip:c@192.0.2.7>"], cseq: 1, expires: 600))
        #expect(full.status == 503 && full.headers[.retryAfter] == "60")
        // A refresh adds nothing: still taken.
        #expect(await registrar.handle(makers[0].register(["<sip:a@192.0.2.7>"], cseq: 2, expires: 600)).status == 200)
        // The memory store bounds itself too, whatever the registrar counts.
        let small = StoredRegistrar(store: MemoryLocationStore(maxBindings: 1))
        #expect(await small.handle(makers[0].register(["<sip:a@192.0.2.7>"], cseq: 1, expires: 600)).status == 200)
        #expect(await small.handle(makers[1].register(["<sip:b@192.0.2.7>"], cseq: 1, expires: 600)).status == 503)
        // One REGISTER waits on a store that does not answer; with maxInFlight 1 the next is refused.
        let store = FlakyStore()
        store.hangs.store(true, ordering: .relaxed)
        let busy = StoredRegistrar(store: store, maxInFlight: 1, storeTimeout: .seconds(2))
        let waiting = Task { await busy.handle(makers[0].register(["<sip:a@192.0.2.7>"], cseq: 1, expires: 600)) }
        try await Task.sleep(for: .milliseconds(100))
        let refused = await busy.handle(makers[1].register(["<sip:b@192.0.2.7>"], cseq: 1, expires: 600))
        #expect(refused.status == 503 && refused.headers[.retryAfter] == "5")
        #expect(await waiting.value.status == 500)
    }

    @Test("A store that does not answer (a database stopped under the pool) fails after storeTimeout: 500")
    func hang() async throws {
        let store = FlakyStore()
        store.hangs.store(true, ordering: .relaxed)
        let registrar = StoredRegistrar(store: store, storeTimeout: .milliseconds(200))
        let m = RegisterMaker()
        let refused = await registrar.handle(m.register(["<sip:a@192.0.2.7>"], cseq: 1, expires: 600))
        #expect(refused.status == 500 && refused.headers[.retryAfter] == "5")
        #expect(await registrar.bindings(of: try URI(m.aor)) == nil)
        #expect(registrar.failures == 2)
    }

    @Test("A store that fails: REGISTER 500 with Retry-After, look-ups nil, counted; back by itself")
    func outage() async throws {
        let store = FlakyStore()
        let registrar = StoredRegistrar(store: store)
        let m = RegisterMaker()
        #expect(await registrar.handle(m.register(["<sip:a@192.0.2.7>"], cseq: 1, expires: 600)).status == 200)
        store.down.store(true, ordering: .relaxed)
        let refused = await registrar.handle(m.register(["<sip:b@192.0.2.7>"], cseq: 2, expires: 600))
        #expect(refused.status == 500 && refused.headers[.retryAfter] == "5")
        #expect(await registrar.bindings(of: try URI(m.aor)) == nil)
        #expect(registrar.failures == 2)
        store.down.store(false, ordering: .relaxed)
        #expect(await registrar.handle(m.register(["<sip:b@192.0.2.7>"], cseq: 3, expires: 600)).status == 200)
        #expect(await registrar.bindings(of: try URI(m.aor))?.count == 2)
    }
}

@Suite("Two proxies on one location store")
struct SharedLocationProxyTests {
    @Test(
        "RFC 3327, RFC 5626: a WebSocket client registered through proxy A is reached, over A's connection, by a call that enters through proxy B"
    )
    func callThroughTheOtherProxy() async throws {
        let shared = MemoryLocationStore()
        func proxy(_ name: String, _ transports: [any SIPTransport]) async throws -> (SIPStack, RegistrarProxyCore) {
            let stack = SIPStack(name: name, configuration: testConfiguration(), transports: transports)
            var options = RegistrarProxyCore.Options()
            options.domains = ["example.test"]
            options.storedRegistrar = StoredRegistrar(store: shared)
            let core = RegistrarProxyCore(stack: stack, options: options)
            stack.register(core: core)
            try await stack.start()
            return (stack, core)
        }
        let (a, _) = try await proxy(
            "proxy-a", [UDPTransport(host: "127.0.0.1", port: 0), try WebSocketTransport(host: "127.0.0.1", port: 0)])
        let (b, _) = try await proxy("proxy-b", [UDPTransport(host: "127.0.0.1", port: 0)])
        let wsPort = try #require(a.transports[1].localAddress?.port)
        let bPort = try #require(b.transports[0].localAddress?.port)
        // The client: only a WebSocket transport, and a Contact no one can reach (RFC 7118 §5).
        let ws = try await WebSocketClient.start()
        let (client, callee) = (ws.stack, ws.callee)
        let register = ws.register("sip:bob@example.test", to: try URI("sip:example.test"))
        var toA = SIPURI(host: SIPHost("127.0.0.1"), port: wsPort)
        toA.parameters.set("transport", "ws")
        _ = try client.send(register, to: toA)
        let deadline = ContinuousClock.now + .seconds(5)
        while try await shared.count(now: wallClockMilliseconds()) == 0, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(5))
        }
        let binding = try #require(
            try await shared.bindings(of: "sip:bob@example.test", now: wallClockMilliseconds()).first)
        #expect(binding.path.count == 1 && binding.path[0].hasPrefix("<sip:sf-"))
        // The caller calls through B.
        let caller = SIPStack(
            name: "caller", configuration: testConfiguration(), transports: [UDPTransport(host: "127.0.0.1", port: 0)])
        let callerLog = EventLog(caller)
        try await caller.start()
        let invite = SIPMessage.request(
            method: .invite, uri: try URI("sip:bob@example.test"),
            headers: [
                (.from, "<sip:alice@example.test>;tag=a1"), (.to, "<sip:bob@example.test>"),
                (.callID, SIPIdentifiers.callID()), (.cseq, "1 INVITE"), (.contact, "<sip:alice@127.0.0.1>"),
            ])
        let called = try caller.send(invite, to: SIPURI(host: SIPHost("127.0.0.1"), port: bPort))
        callerLog.sentInvite(invite, key: called)
        #expect(await callerLog.finalStatuses(called).contains(200))
        #expect(callee.count(.invite) == 1)
        for s in [caller, client, a, b] { await s.shutdown() }
    }
}
