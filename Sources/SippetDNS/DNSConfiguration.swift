import NIOCore

/// Where a ``DNSClient`` asks and how patiently: the settings of `resolv.conf(5)`.
public struct DNSConfiguration: Sendable, Hashable {
    /// The name servers, tried in order (at most three are read from `resolv.conf`, as glibc does).
    public var servers: [SocketAddress]
    /// How long one query waits for its answer (`options timeout:N`, 5 s by default).
    public var timeout: Duration = .seconds(5)
    /// How many rounds over the servers a query makes (`options attempts:N`, 2 by default).
    public var attempts: Int = 2
    /// The domains a relative name is tried in (`search`, or `domain`).
    public var search: [String] = []
    /// A name with at least this many dots is first tried as it is (`options ndots:N`, 1 by default).
    public var ndots: Int = 1
    /// The most answers the cache keeps, positive and negative.
    public var cacheSize: Int = 10_000
    /// The longest a record is cached, whatever its TTL (RFC 2181 §8 allows a cap).
    public var maxTTL: Duration = .seconds(86_400)
    /// The host names of `/etc/hosts`, consulted before DNS for A and AAAA (as glibc's `files
    /// dns` order does); empty for a client that asks DNS only.
    public var hosts: [String: [SocketAddress]] = [:]

    /// A client of `servers`, with the defaults of `resolv.conf(5)`.
    public init(servers: [SocketAddress]) {
        self.servers = servers
    }

    /// The system's settings: `/etc/resolv.conf` and `/etc/hosts`; 127.0.0.1:53 when the file
    /// names no server (as glibc does).
    public static func system() -> DNSConfiguration {
        var c = DNSConfiguration(resolvConf: readFile("/etc/resolv.conf") ?? "")
        c.hosts = Self.hosts(readFile("/etc/hosts") ?? "")
        return c
    }

    /// The settings in the text of a `resolv.conf` (`nameserver`, `search`, `domain`,
    /// `options timeout: attempts: ndots:`); unknown lines are ignored.
    public init(resolvConf text: String) {
        servers = []
        for raw in text.split(whereSeparator: \.isNewline) {
            let line = raw.prefix { $0 != "#" && $0 != ";" }
            let words = line.split { $0 == " " || $0 == "\t" }.map(String.init)
            guard let keyword = words.first else { continue }
            switch keyword {
            case "nameserver":
                if words.count > 1, servers.count < 3, let a = try? SocketAddress(ipAddress: words[1], port: 53) {
                    servers.append(a)
                }
            case "search": search = Array(words.dropFirst())
            case "domain": if words.count > 1 { search = [words[1]] }
            case "options":
                for option in words.dropFirst() {
                    let parts = option.split(separator: ":", maxSplits: 1)
                    guard parts.count == 2, let n = Int(parts[1]), n >= 0 else { continue }
                    switch parts[0] {
                    case "timeout": timeout = .seconds(max(1, min(n, 30)))
                    case "attempts": attempts = max(1, min(n, 5))
                    case "ndots": ndots = min(n, 15)
                    default: break
                    }
                }
            default: continue
            }
        }
        if servers.isEmpty, let local = try? SocketAddress(ipAddress: "127.0.0.1", port: 53) { servers = [local] }
    }

    /// The names of a `hosts(5)` file, lower-cased, each with its addresses in file order.
    public static func hosts(_ text: String) -> [String: [SocketAddress]] {
        var out: [String: [SocketAddress]] = [:]
        for raw in text.split(whereSeparator: \.isNewline) {
            let line = raw.prefix { $0 != "#" }
            let words = line.split { $0 == " " || $0 == "\t" }
            guard words.count > 1, let address = try? SocketAddress(ipAddress: String(words[0]), port: 0) else {
                continue
            }
            for name in words.dropFirst() { out[name.lowercased(), default: []].append(address) }
        }
        return out
    }

    /// The names to try for `name`, in order (resolv.conf(5)): an absolute name (a final dot)
    /// alone; a name with at least `ndots` dots as it is, then in each search domain; a shorter
    /// one in each search domain first.
    public func candidateNames(for name: String) -> [String] {
        if name.hasSuffix(".") { return [String(name.dropLast())] }
        let dots = name.utf8.count(where: { $0 == UInt8(ascii: ".") })
        let searched = search.map { "\(name).\($0)" }
        return dots >= ndots ? [name] + searched : searched + [name]
    }

    private static func readFile(_ path: String) -> String? {
        guard let f = fopen(path, "r") else { return nil }
        defer { fclose(f) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while bytes.count < 1 << 20 {
            let n = fread(&buffer, 1, buffer.count, f)
            if n <= 0 { break }
            bytes += buffer[0..<n]
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif
