import NIOCore
import NIOPosix
import SIPSyntax
import SIPTransport

/// Where a request goes next: RFC 3261 §18.1.1 and RFC 3263 §4 without NAPTR and SRV.
struct NextHop: Sendable, Hashable {
    /// The transport to use.
    var kind: SIPTransportKind
    /// The host to reach: an address literal (IPv6 without brackets) or a name.
    var host: String
    var port: Int
    /// Whether `host` is an address literal.
    var address: SocketAddress?
    /// Whether the URI named the transport (so the size rule may not change it).
    var transportIsExplicit: Bool
}

enum Routing {
    /// RFC 3261 §18.1.1: above this size a request goes over a congestion-controlled transport
    /// when the path MTU is unknown.
    static let udpSizeLimit = 1300

    /// The URI a request is sent to (RFC 3261 §8.1.2, §16.12): its first Route when that is a
    /// loose router (`lr`), else the Request-URI.
    static func targetURI(of request: SIPMessage) throws(SIPStackError) -> SIPURI {
        if request.headers.contains(.route) {
            let routes: [NameAddress]
            do { routes = try request.headers.all(.route) } catch {
                throw .invalidMessage("Route: \(error)")
            }
            if let first = routes.first, let uri = first.uri.sipURI, uri.isLooseRouter { return uri }
        }
        guard let uri = request.requestURI else { throw .invalidMessage("not a request") }
        guard let sip = uri.sipURI else {
            throw .noTransport("a \(uri.scheme): Request-URI needs a route to a SIP server")
        }
        return sip
    }

    /// RFC 3263 §4.1 (transport) and §4.2 (port) for a URI, without NAPTR and SRV: the
    /// `transport` parameter when present; else TLS for `sips:` and UDP for `sip:`, or TCP when the
    /// request is larger than 1300 bytes (RFC 3261 §18.1.1). `maddr` overrides the host (§19.1.1).
    /// The port is the URI's, else the transport's default (5060, 5061 for TLS).
    static func nextHop(for uri: SIPURI, messageSize: Int, available: Set<SIPTransportKind>) throws(SIPStackError)
        -> NextHop
    {
        var kind: SIPTransportKind
        var explicit = false
        if let param = uri.transport {
            guard let k = SIPTransportKind(name: param) else {
                throw .noTransport("transport=\(param) is not one the stack has")
            }
            explicit = true
            kind = k
            // RFC 3261 §26.2.2: a sips: URI needs TLS hop by hop; transport=tcp means TLS.
            if uri.isSecure {
                if k == .tcp {
                    kind = .tls
                } else if k == .ws {
                    kind = .wss
                } else if k == .udp {
                    throw .noTransport("a sips: URI cannot use UDP")
                }
            }
        } else if uri.isSecure {
            kind = .tls
        } else {
            kind = .udp
            if messageSize > udpSizeLimit || !available.contains(.udp) { kind = .tcp }
        }
        guard available.contains(kind) else {
            throw .noTransport("no \(kind) transport for \(uri)")
        }
        var host = uri.maddr ?? uri.host.text
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        let port = uri.port ?? kind.defaultPort
        return NextHop(
            kind: kind, host: host, port: port, address: try? SocketAddress(ipAddress: host, port: port),
            transportIsExplicit: explicit)
    }

    /// RFC 3261 §18.2.2 and RFC 3581 §4: where the responses to a request received from `source`
    /// go. On a connection-oriented transport, back on its connection, or when that is closed, to
    /// the source IP (the `received` value) and the sent-by port. Over UDP, to `maddr` when the
    /// Via has one; to the source address when the Via asks for `rport`; else to the source IP
    /// and the sent-by port (5060 when absent, §18.2.2).
    static func responseTarget(
        topVia via: ViaSummary, source: SocketAddress, connection: SIPConnectionHandle?,
        kind: SIPTransportKind
    ) -> SIPTransportTarget {
        let port: Int
        if via.hasRport {
            port = source.port ?? kind.defaultPort
        } else {
            port = via.port ?? kind.defaultPort
        }
        if !kind.isConnectionOriented, let maddr = via.maddr,
            let a = try? SocketAddress(ipAddress: maddr, port: via.port ?? kind.defaultPort)
        {
            return SIPTransportTarget(address: a)
        }
        var address = source
        if address.port != port, let ip = source.numericHost, let a = try? SocketAddress(ipAddress: ip, port: port) {
            address = a
        }
        return SIPTransportTarget(address: address, connection: connection)
    }

    /// RFC 3261 §18.2.2 for a response that has no server transaction (sent statelessly): the
    /// top Via's `maddr` (UDP), else its `received` (or sent-by host), with its `rport` value (or
    /// sent-by port). The port is nil when the Via names none: for a host name, RFC 3263 §5 then
    /// asks SRV.
    static func statelessResponseHop(_ response: SIPMessage) throws(SIPStackError) -> (
        kind: SIPTransportKind, host: String, port: Int?
    ) {
        guard let via = response.topVia else { throw .invalidMessage("a response needs a Via") }
        guard let kind = SIPTransportKind(name: via.transport) else {
            throw .noTransport("Via transport \(via.transport)")
        }
        var port = via.port
        if case .some(.some(let p)) = via.rport { port = p }
        if !kind.isConnectionOriented, let maddr = via.maddr { return (kind, maddr, port) }
        var host = via.received ?? via.host.address
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        return (kind, host, port)
    }
}

/// What the stack reads of a top Via on the hot path, without building a `Via`.
struct ViaSummary {
    var host: String
    var port: Int?
    var hasRport: Bool
    var maddr: String?
}
