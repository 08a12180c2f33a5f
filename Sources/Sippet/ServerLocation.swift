import NIOCore
import NIOPosix
import SIPSyntax
import SIPTransport
import SippetDNS
import Synchronization

/// One place a request may be sent (RFC 3263 §4): a transport and an address, with how it was
/// found.
public struct SIPServerCandidate: Sendable, Hashable, CustomStringConvertible {
    /// The transport.
    public var kind: SIPTransportKind
    /// The address and port.
    public var address: SocketAddress
    /// The host the URI named, for TLS server identity (RFC 5922 §4.1); nil for an address
    /// literal.
    public var hostName: String?
    /// The records that led here, in order (`NAPTR …`, `SRV …`, `A …`), in zone-file form.
    public var records: [String]

    /// A candidate of `kind` at `address`.
    public init(kind: SIPTransportKind, address: SocketAddress, hostName: String? = nil, records: [String] = []) {
        self.kind = kind
        self.address = address
        self.hostName = hostName
        self.records = records
    }

    /// `tcp 127.0.0.1:5080`: the transport and the address, as `sippet resolve` prints it.
    public var description: String {
        let host = address.ipAddress.map { address.protocol == .inet6 ? "[\($0)]" : $0 } ?? "?"
        return "\(kind.uriParameter) \(host):\(address.port ?? 0)"
    }
}

/// Finds where a request goes (RFC 3263 §4): the transport, then the addresses in the order they
/// are tried. The stack asks it for a URI whose host is a name, and fails over from one
/// candidate to the next (§4.3); address literals need no resolver.
public protocol SIPResolver: Sendable {
    /// The candidates for `uri`, best first, on the transports in `available`. `messageSize` is
    /// the request's size, for the RFC 3261 §18.1.1 rule (over 1300 bytes, not UDP). Throws when
    /// the name cannot be resolved; an empty result means it resolved to nothing usable.
    func locate(_ uri: SIPURI, available: Set<SIPTransportKind>, messageSize: Int) async throws -> [SIPServerCandidate]

    /// `candidate` just failed (a transport error, a timeout, a 503): a resolver may try it
    /// last for a while (RFC 3263 §4.3).
    func failed(_ candidate: SIPServerCandidate)
}

extension SIPResolver {
    /// Does nothing.
    public func failed(_ candidate: SIPServerCandidate) {}
}

/// The system resolver (`getaddrinfo`, with `/etc/hosts` and nsswitch), run on NIO's blocking
/// thread pool: A and AAAA only, no NAPTR or SRV. The transport is the URI's, else UDP (TLS
/// for `sips:`), and the port the URI's or the transport's default.
public struct SystemResolver: SIPResolver {
    /// The system resolver.
    public init() {}

    /// The first address `getaddrinfo` gives for the URI's host.
    public func locate(_ uri: SIPURI, available: Set<SIPTransportKind>, messageSize: Int) async throws
        -> [SIPServerCandidate]
    {
        let hop = try Routing.nextHop(for: uri, messageSize: messageSize, available: available)
        let address = try await NIOThreadPool.singleton.runIfActive {
            try SocketAddress.makeAddressResolvingHost(hop.host, port: hop.port)
        }
        return [SIPServerCandidate(kind: hop.kind, address: address, hostName: hop.host)]
    }
}

/// RFC 3263 over DNS: NAPTR (RFC 3403), SRV (RFC 2782), then A and AAAA, through a
/// ``SippetDNS/DNSClient`` (and `/etc/hosts` for A and AAAA, when its configuration has it).
///
/// - §4.1: the transport of an explicit `transport` parameter, of a numeric host or an explicit
///   port (UDP, TLS for `sips:`); otherwise NAPTR, with the services `SIP+D2U`, `SIP+D2T`,
///   `SIPS+D2T`, `SIP+D2W` and `SIPS+D2W` (RFC 7118), only `SIPS+` ones for a `sips:` URI, those
///   of the transports the stack has, by order and preference; no NAPTR: SRV for each transport
///   the stack has; no SRV: A and AAAA on the default port.
/// - §4.2: SRV targets by priority, then weight as RFC 2782 prescribes (randomised); every
///   address of every target, in order.
/// - §4.3: a candidate that failed is tried after the others for ``failureMemory``.
public final class DNSResolver: SIPResolver {
    /// The most NAPTR rules followed for one URI. An answer is network input: a server could
    /// send hundreds, each an SRV query and each of their targets two more.
    public static let maxRules = 8
    /// The most SRV records of one answer that are ordered, and the most targets of it that are
    /// resolved.
    public static let maxServiceRecords = 64
    /// See ``maxServiceRecords``.
    public static let maxTargetsPerService = 16
    /// The most candidates one URI gives.
    public static let maxCandidates = 32

    /// The DNS client.
    public let client: DNSClient
    /// How long a candidate that failed is tried last; zero: not remembered.
    public let failureMemory: Duration
    private let failures = Mutex<[SIPServerCandidate.Key: ContinuousClock.Instant]>([:])
    private let random: @Sendable (UInt32) -> UInt32

    /// A resolver asking `client`. `random(n)` gives a number in `0...n` for the SRV weight
    /// draw (a test gives a seeded one).
    public init(
        client: DNSClient, failureMemory: Duration = .seconds(30),
        random: @escaping @Sendable (UInt32) -> UInt32 = { UInt32.random(in: 0...$0) }
    ) {
        self.client = client
        self.failureMemory = failureMemory
        self.random = random
    }

    /// A resolver with the system's settings (`/etc/resolv.conf`, `/etc/hosts`), or with the
    /// server `dns` (`HOST:PORT`) when given.
    public convenience init(dns: SocketAddress? = nil) {
        var configuration = DNSConfiguration.system()
        if let dns { configuration.servers = [dns] }
        self.init(client: DNSClient(configuration: configuration))
    }

    /// The candidates for `uri` (RFC 3263 §4.1, §4.2), those that failed lately last.
    public func locate(_ uri: SIPURI, available: Set<SIPTransportKind>, messageSize: Int) async throws
        -> [SIPServerCandidate]
    {
        var found = try await candidates(uri, available: available, messageSize: messageSize)
        if failureMemory > .zero {
            let now = ContinuousClock.now
            let failed = failures.withLock { table in
                table = table.filter { $0.value > now }
                return Set(table.keys)
            }
            if !failed.isEmpty {
                let fresh = found.filter { !failed.contains($0.key) }
                found = fresh + found.filter { failed.contains($0.key) }
            }
        }
        return found
    }

    /// The most candidates remembered as failed; when full, those whose time is up are dropped,
    /// and if none is, all are.
    public static let maxRememberedFailures = 4096

    /// Remembers `candidate` as failed for ``failureMemory`` (at most
    /// ``maxRememberedFailures``).
    public func failed(_ candidate: SIPServerCandidate) {
        guard failureMemory > .zero else { return }
        let until = ContinuousClock.now + failureMemory
        failures.withLock { table in
            if table.count >= Self.maxRememberedFailures {
                let now = ContinuousClock.now
                table = table.filter { $0.value > now }
                if table.count >= Self.maxRememberedFailures { table.removeAll() }
            }
            table[candidate.key] = until
        }
    }

    private func candidates(_ uri: SIPURI, available: Set<SIPTransportKind>, messageSize: Int) async throws
        -> [SIPServerCandidate]
    {
        var host = uri.maddr ?? uri.host.text
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        let secure = uri.isSecure
        // §4.1: an explicit transport, a numeric host or an explicit port choose the transport
        // without NAPTR.
        if uri.transport != nil || uri.port != nil || (try? SocketAddress(ipAddress: host, port: 0)) != nil {
            let hop = try Routing.nextHop(for: uri, messageSize: messageSize, available: available)
            if let address = hop.address { return [SIPServerCandidate(kind: hop.kind, address: address)] }
            if let port = uri.port {
                return try await addresses(of: host, port: port, kind: hop.kind, hostName: host, records: [])
            }
            return try await service(hop.kind, secure: secure, host: host, messageSize: messageSize)
        }
        // §4.1: NAPTR.
        let naptr = try await client.lookup(host, .naptr)
        var rules:
            [(order: UInt16, preference: UInt16, kind: SIPTransportKind, replacement: String, record: DNSRecord)] =
                []
        for record in naptr.records {
            guard case .naptr(let order, let preference, let flags, let services, _, let replacement) = record.data,
                flags.lowercased() == "s", !replacement.isEmpty,
                let (kind, sipsService) = Self.transport(ofService: services), available.contains(kind),
                !secure || sipsService
            else { continue }
            rules.append((order, preference, kind, replacement, record))
        }
        rules.sort { ($0.order, $0.preference) < ($1.order, $1.preference) }
        if !rules.isEmpty {
            var out: [SIPServerCandidate] = []
            for rule in rules.prefix(Self.maxRules) where out.count < Self.maxCandidates {
                let srv = try await client.lookup(rule.replacement, .srv)
                out += try await targets(
                    of: srv, kind: rule.kind, hostName: host, records: ["\(rule.record)"])
            }
            return Array(out.prefix(Self.maxCandidates))
        }
        // §4.1: no NAPTR: SRV for each transport the stack has, in the order a request of this
        // size prefers them.
        var kinds: [SIPTransportKind] = secure ? [.tls] : [.udp, .tcp, .tls]
        if !secure, messageSize > Routing.udpSizeLimit { kinds = [.tcp, .tls, .udp] }
        var out: [SIPServerCandidate] = []
        for kind in kinds where available.contains(kind) && out.count < Self.maxCandidates {
            let srv = try await client.lookup(Self.srvName(kind, secure: secure, host: host), .srv)
            out += try await targets(of: srv, kind: kind, hostName: host, records: [])
        }
        if !out.isEmpty { return Array(out.prefix(Self.maxCandidates)) }
        // §4.2: no SRV: the host's addresses on the default port.
        let hop = try Routing.nextHop(for: uri, messageSize: messageSize, available: available)
        return try await addresses(of: host, port: hop.kind.defaultPort, kind: hop.kind, hostName: host, records: [])
    }

    /// §4.1 with a transport chosen: its SRV records, else the host's addresses on the
    /// transport's default port.
    private func service(_ kind: SIPTransportKind, secure: Bool, host: String, messageSize: Int) async throws
        -> [SIPServerCandidate]
    {
        let srv = try await client.lookup(Self.srvName(kind, secure: secure, host: host), .srv)
        let out = try await targets(of: srv, kind: kind, hostName: host, records: [])
        if !out.isEmpty || !srv.records.isEmpty { return out }
        return try await addresses(of: host, port: kind.defaultPort, kind: kind, hostName: host, records: [])
    }

    /// `_sip._udp.HOST`, `_sips._tcp.HOST` for TLS (RFC 3263 §4.1), `_sip._ws`/`_sips._ws` for
    /// WebSocket (RFC 7118 §5.2).
    static func srvName(_ kind: SIPTransportKind, secure: Bool, host: String) -> String {
        switch kind {
        case .tls: "_sips._tcp.\(host)"
        case .tcp: "_sip._tcp.\(host)"
        case .ws: "_sip._ws.\(host)"
        case .wss: "_sips._ws.\(host)"
        default: "_sip._udp.\(host)"
        }
    }

    /// The transport of a NAPTR service field (RFC 3263 §4.1, RFC 7118 §5.2), and whether it is
    /// a `SIPS+` one.
    static func transport(ofService field: String) -> (SIPTransportKind, Bool)? {
        switch field.uppercased() {
        case "SIP+D2U": (.udp, false)
        case "SIP+D2T": (.tcp, false)
        case "SIPS+D2T": (.tls, true)
        case "SIP+D2W": (.ws, false)
        case "SIPS+D2W": (.wss, true)
        default: nil
        }
    }

    /// The targets of an SRV answer in RFC 2782 order, each with its addresses: the first
    /// ``maxTargetsPerService`` of its first ``maxServiceRecords`` records.
    private func targets(of srv: DNSAnswer, kind: SIPTransportKind, hostName: String, records: [String]) async throws
        -> [SIPServerCandidate]
    {
        var out: [SIPServerCandidate] = []
        let ordered = Self.order(Array(srv.records.prefix(Self.maxServiceRecords)), random: random)
        for record in ordered.prefix(Self.maxTargetsPerService) {
            guard case .srv(_, _, let port, let target) = record.data else { continue }
            out += try await addresses(
                of: target, port: Int(port), kind: kind, hostName: hostName, records: records + ["\(record)"])
        }
        return out
    }

    /// RFC 2782 "Usage rules": by priority, lowest first; within a priority, repeatedly the
    /// record whose running weight sum first reaches a random number in 0...sum, records of
    /// weight 0 placed first. A target of "." means the service is not offered there: left out.
    public static func order(_ records: [DNSRecord], random: (UInt32) -> UInt32) -> [DNSRecord] {
        var byPriority: [UInt16: [DNSRecord]] = [:]
        for r in records {
            guard case .srv(let priority, _, _, let target) = r.data, !target.isEmpty, target != "." else { continue }
            byPriority[priority, default: []].append(r)
        }
        var out: [DNSRecord] = []
        for (_, group) in byPriority.sorted(by: { $0.key < $1.key }) {
            var left = group.sorted { weight($0) == 0 && weight($1) != 0 }
            while !left.isEmpty {
                let sum = left.reduce(UInt32(0)) { $0 + UInt32(weight($1)) }
                let pick = random(sum)
                var running: UInt32 = 0
                var chosen = left.count - 1
                for (i, r) in left.enumerated() {
                    running += UInt32(weight(r))
                    if running >= pick {
                        chosen = i
                        break
                    }
                }
                out.append(left.remove(at: chosen))
            }
        }
        return out
    }

    private static func weight(_ r: DNSRecord) -> UInt16 {
        if case .srv(_, let w, _, _) = r.data { return w }
        return 0
    }

    /// The A, then AAAA, addresses of `name` (`/etc/hosts` first, when the configuration has
    /// it), each at `port`.
    private func addresses(of name: String, port: Int, kind: SIPTransportKind, hostName: String, records: [String])
        async throws -> [SIPServerCandidate]
    {
        if let literal = try? SocketAddress(ipAddress: name, port: port) {
            return [SIPServerCandidate(kind: kind, address: literal, hostName: hostName, records: records)]
        }
        if let local = client.configuration.hosts[name.lowercased()] {
            return local.compactMap { a in
                guard let ip = a.ipAddress, let address = try? SocketAddress(ipAddress: ip, port: port) else {
                    return nil
                }
                return SIPServerCandidate(
                    kind: kind, address: address, hostName: hostName, records: records + ["hosts \(ip)"])
            }
        }
        var out: [SIPServerCandidate] = []
        for type in [DNSRecordType.a, .aaaa] {
            let answer = try await client.lookup(name, type)
            for r in answer.records {
                if let ip = r.addressText, let address = try? SocketAddress(ipAddress: ip, port: port) {
                    out.append(
                        SIPServerCandidate(
                            kind: kind, address: address, hostName: hostName, records: records + ["\(r)"]))
                }
            }
        }
        return out
    }
}

extension SIPServerCandidate {
    /// What identifies a candidate for the failure memory: its transport and address.
    struct Key: Hashable, Sendable {
        var kind: SIPTransportKind
        var address: SocketAddress
    }

    var key: Key { Key(kind: kind, address: address) }
}
