import Glibc
import NIOCore
import NIOPosix
import SippetDNS
import Synchronization

/// A real DNS server for tests: dnsmasq (Debian's `dnsmasq-base`, installed by `.ci/run`) on a
/// free loopback port, authoritative for `example.test`, with the records a test gives in
/// dnsmasq's option syntax (`--srv-host=…`, `--naptr-record=…`, `--host-record=…`). Being
/// authoritative, it puts the zone's SOA in negative answers (RFC 2308), its TTL and minimum
/// both `ttl`.
final class TestDNSServer: Sendable {
    let address: SocketAddress
    private let pid: pid_t

    private init(address: SocketAddress, pid: pid_t) {
        self.address = address
        self.pid = pid
    }

    struct StartFailure: Error, CustomStringConvertible {
        var description: String
    }

    /// Starts dnsmasq with `records`; waits until it answers.
    static func start(_ records: [String], ttl: Int = 5) async throws -> TestDNSServer {
        let paths = ["/usr/sbin/dnsmasq", "/usr/bin/dnsmasq"]
        guard let path = paths.first(where: { (p: String) in access(p, X_OK) == 0 }) else {
            throw StartFailure(description: "dnsmasq is not installed (apt-get install dnsmasq-base)")
        }
        var lastFailure = ""
        for _ in 0..<5 {
            let port = try await freePort()
            let log = "/tmp/sippet-dnsmasq-\(getpid())-\(port).log"
            defer { unlink(log) }
            let arguments =
                [
                    // -d: in the foreground, as the user who runs the tests, logging to standard error.
                    path, "-d", "--no-resolv", "--no-hosts", "--conf-file=/dev/null", "--port=\(port)",
                    "--listen-address=127.0.0.1", "--bind-interfaces",
                    "--auth-server=ns.example.test,127.0.0.1", "--auth-zone=example.test", "--auth-ttl=\(ttl)",
                    "--auth-soa=1,admin.example.test,1200,180,1209600", "--log-facility=/dev/null",
                ] + records
            let pid = try spawn(path, arguments, log: log)
            let server = TestDNSServer(address: try SocketAddress(ipAddress: "127.0.0.1", port: port), pid: pid)
            if await server.answers() { return server }
            server.stop()
            lastFailure = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        }
        throw StartFailure(description: "dnsmasq did not start: \(lastFailure)")
    }

    /// Starts `path` with `arguments` (the first its name), standard error to `log`, with no
    /// signal blocked. posix_spawn rather than Foundation's Process: dnsmasq closes the
    /// descriptors it inherits, which Foundation takes for the child's exit, and its process
    /// monitor then blocks in wait4 until dnsmasq really ends, holding up every other Process.
    private static func spawn(_ path: String, _ arguments: [String], log: String) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 2, log, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var none = sigset_t()
        sigemptyset(&none)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK))
        let argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        defer { for p in argv { free(p) } }
        var pid: pid_t = 0
        let status = posix_spawn(&pid, path, &actions, &attributes, argv, environ)
        guard status == 0 else { throw StartFailure(description: "posix_spawn \(path): \(status)") }
        return pid
    }

    /// Whether the server answers a query within 5 s.
    private func answers() async -> Bool {
        var c = DNSConfiguration(servers: [address])
        c.timeout = .milliseconds(100)
        c.attempts = 50
        let client = DNSClient(configuration: c)
        defer { Task { await client.shutdown() } }
        guard Glibc.kill(pid, 0) == 0 else { return false }
        return (try? await client.query("ns.example.test", .a)) != nil
    }

    /// A client of this server with a short timeout, its cache on `now`.
    func client(now: @escaping @Sendable () -> NIODeadline = { .now() }) -> DNSClient {
        var c = DNSConfiguration(servers: [address])
        c.timeout = .seconds(2)
        return DNSClient(configuration: c, now: now)
    }

    /// Kills the server and reaps it (a killed process ends at once).
    func stop() {
        _ = Glibc.kill(pid, SIGKILL)
        var status: Int32 = 0
        _ = waitpid(pid, &status, 0)
    }

    /// A loopback port free for both UDP and TCP just now.
    static func freePort() async throws -> Int {
        let udp = try await DatagramBootstrap(group: MultiThreadedEventLoopGroup.singleton).bind(
            host: "127.0.0.1", port: 0
        ).get()
        let port = udp.localAddress?.port ?? 0
        try await udp.close()
        return port
    }
}

/// A clock for a DNS cache that moves only when told.
final class VirtualClock: Sendable {
    private let base = NIODeadline.now()
    private let offset = Mutex<TimeAmount>(.zero)

    var now: @Sendable () -> NIODeadline {
        { [self] in base + offset.withLock { $0 } }
    }

    func advance(by amount: TimeAmount) { offset.withLock { $0 = $0 + amount } }
}

/// A seeded generator (SplitMix64), so that a draw over many picks is the same on every run.
final class SeededRandom: Sendable {
    private let state: Mutex<UInt64>

    init(seed: UInt64) { state = Mutex(seed) }

    /// A number in `0...upper`.
    func next(_ upper: UInt32) -> UInt32 {
        let x = state.withLock { s -> UInt64 in
            s &+= 0x9E37_79B9_7F4A_7C15
            var z = s
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        return UInt32(x % (UInt64(upper) + 1))
    }
}

/// A loopback port no other socket can take while a test holds it: a socket bound without
/// `SO_REUSEADDR` and never listened on or read. A TCP connection to it is refused (the kernel
/// answers RST); a datagram to it is queued and never answered. A port that was merely free a
/// moment ago is no such target: a test running beside this one may bind it in the meantime (a
/// stack's listener on port 0), and requests meant to fail then reach that other test's stack.
final class HeldPort: Sendable {
    let port: Int
    private let descriptor: Int32

    /// A TCP port (connections refused) or a UDP one (datagrams unanswered).
    enum Kind { case tcp, udp }

    /// Holds a `kind` port on `host` (an IPv4 or IPv6 literal).
    init(_ kind: Kind, host: String = "127.0.0.1") throws {
        let address = try SocketAddress(ipAddress: host, port: 0)
        let family = address.protocol == .inet6 ? AF_INET6 : AF_INET
        let type = kind == .tcp ? Int32(SOCK_STREAM.rawValue) : Int32(SOCK_DGRAM.rawValue)
        let fd = socket(family, type, 0)
        guard fd >= 0 else { throw IOError(errnoCode: errno, reason: "socket") }
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let bound = address.withSockAddr { pointer, size in Glibc.bind(fd, pointer, socklen_t(size)) }
        guard bound == 0,
            withUnsafeMutablePointer(
                to: &storage,
                {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
                }) == 0
        else {
            let code = errno
            Glibc.close(fd)
            throw IOError(errnoCode: code, reason: "bind")
        }
        let port =
            family == AF_INET6
            ? withUnsafePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { UInt16(bigEndian: $0.pointee.sin6_port) }
            }
            : withUnsafePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { UInt16(bigEndian: $0.pointee.sin_port) }
            }
        self.port = Int(port)
        self.descriptor = fd
    }

    deinit { Glibc.close(descriptor) }
}
