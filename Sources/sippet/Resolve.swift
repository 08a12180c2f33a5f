import ArgumentParser
import NIOCore
import SIPSyntax
import SIPTransport
import Sippet
import SippetDNS

/// `--dns HOST:PORT`: the DNS server every command asks instead of those of `/etc/resolv.conf`.
struct DNSOptions: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            "The DNS server to ask (instead of /etc/resolv.conf's), for RFC 3263 NAPTR, SRV and A/AAAA lookups.",
            valueName: "host:port"))
    var dns: String?

    func validate() throws {
        if let dns, Self.address(dns) == nil { throw ValidationError("--dns: \(dns) is not HOST:PORT (an address)") }
    }

    /// `127.0.0.1:5353`, `[::1]:53` or an address alone (port 53).
    static func address(_ text: String) -> SocketAddress? {
        var host = text
        var port = 53
        if let colon = text.lastIndex(of: ":"), text.hasPrefix("[") || text.firstIndex(of: ":") == colon {
            host = String(text[..<colon])
            guard let p = Int(text[text.index(after: colon)...]), (1...65535).contains(p) else { return nil }
            port = p
        }
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        return try? SocketAddress(ipAddress: host, port: port)
    }

    /// The RFC 3263 resolver: `/etc/resolv.conf` and `/etc/hosts`, or the --dns server.
    func resolver() -> DNSResolver {
        DNSResolver(dns: dns.flatMap(Self.address))
    }
}

/// `sippet resolve URI`: the candidates RFC 3263 gives, in the order they would be tried.
struct ResolveCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "resolve",
        abstract: "Print where a request to URI would go (RFC 3263): one candidate per line, in order.",
        discussion: """
            Each line starts with the transport and the address (tcp 127.0.0.1:5080), then the records \
            that led there (NAPTR, SRV, A/AAAA). Exits 0 when there is at least one candidate, 2 otherwise.
            """
    )
    @Argument(help: "A sip: or sips: URI, e.g. sip:example.com.") var uri: String
    @Option(help: "The transports to consider (comma-separated: udp,tcp,tls,ws,wss).")
    var transports: String = "udp,tcp,tls"
    @OptionGroup var dns: DNSOptions

    func validate() throws {
        for name in transports.split(separator: ",") where SIPTransportKind(name: String(name)) == nil {
            throw ValidationError("unknown transport \(name)")
        }
    }

    func run() async throws {
        guard let sip = try URI(uri).sipURI else { throw ValidationError("\(uri) is not a sip: or sips: URI") }
        let available = Set(transports.split(separator: ",").compactMap { SIPTransportKind(name: String($0)) })
        let resolver = dns.resolver()
        defer { Task { await resolver.client.shutdown() } }
        let found: [SIPServerCandidate]
        do {
            found = try await resolver.locate(sip, available: available, messageSize: 0)
        } catch {
            writeStderr("sippet: cannot resolve \(uri): \(error)")
            throw ExitCode(2)
        }
        for candidate in found {
            say(([candidate.description] + candidate.records).joined(separator: "  "))
        }
        if found.isEmpty {
            writeStderr("sippet: \(uri): no candidate")
            throw ExitCode(2)
        }
    }
}
