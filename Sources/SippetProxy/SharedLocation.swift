import SIPSyntax
import SIPTransport
import Sippet
import SippetEndpoint

/// Several proxies on one location store (`--db postgres://…`): the Path entry a proxy records
/// for the bindings it registers, with the flow it holds, and how another proxy reaches them
/// through it (RFC 3327, RFC 5626 §5.2).
extension RegistrarProxyCore {
    /// This proxy's own URI, with `lr`: the Path entry other proxies sharing the store route
    /// through (RFC 3327 §5.2).
    /// Its user part is a flow token: the transport and source address of the REGISTER, so that
    /// a request routed back here by another proxy goes over the same flow (RFC 5626 §5.2 does
    /// the same with its own token format).
    ///
    /// The URI is this proxy's over UDP, TCP or TLS (the first it has), which the other proxies
    /// speak, whatever transport the phone registered over (WebSocket, say).
    static func ownRoute(for request: SIPMessage, stack: SIPStack) -> String? {
        let own = [SIPTransportKind.udp, .tcp, .tls].lazy.compactMap { stack.localURI(for: $0) }.first
        let registered = request.topVia.flatMap { SIPTransportKind(name: $0.transport) }.flatMap {
            stack.localURI(for: $0)
        }
        guard var uri = own ?? registered else { return nil }
        if let source = Registrar.Source(of: request) { uri.escapedUser = FlowToken.encode(source) }
        uri.parameters.set("lr", nil)
        return "<\(uri)>"
    }

    /// The flow a request's top Route names when that Route is this proxy's with a flow token:
    /// where the phone is reached (its connection, or its NAT's address); nil otherwise, or when
    /// the contact's own address reaches it (UDP, no NAT).
    static func flow(routedBy request: SIPMessage, stack: SIPStack) -> SIPURI? {
        guard let route = try? request.headers.first(.route), let uri = route.uri.sipURI,
            stack.isLocal(host: uri.host.text, port: uri.port), let token = uri.user,
            let source = FlowToken.decode(token), source.transport != "UDP" || source.isBehindNAT
        else { return nil }
        return source.uri
    }

    /// Where a binding read from a shared store is reached: through the proxy that registered it
    /// when that is another one (the first Path entry; the flow is that proxy's, not this one's),
    /// else as ``target(_:)`` says, without this proxy's own Path entry.
    static func target(_ b: Registrar.Binding, stack: SIPStack) -> ProxyTarget {
        var binding = b
        if let first = b.path.first, let uri = try? NameAddress(first).uri.sipURI {
            if stack.isLocal(host: uri.host.text, port: uri.port) {
                binding.path.removeFirst()
            } else {
                binding.source = nil
            }
        }
        return target(binding)
    }
}

/// The flow token in the Path entry a proxy records (``RegistrarProxyCore/ownRoute(for:stack:)``):
/// `sf-` and the hexadecimal of `TRANSPORT|HOST|PORT|NAT`, characters a URI's user part takes as
/// they are.
enum FlowToken {
    static func encode(_ s: Registrar.Source) -> String {
        let text = "\(s.transport)|\(s.host)|\(s.port)|\(s.isBehindNAT ? 1 : 0)"
        return "sf-"
            + text.utf8.map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }
            .joined()
    }

    static func decode(_ token: String) -> Registrar.Source? {
        guard token.hasPrefix("sf-"), token.count <= 3 + 2 * 128 else { return nil }
        let hex = Array(token.utf8.dropFirst(3))
        guard hex.count.isMultiple(of: 2) else { return nil }
        var bytes: [UInt8] = []
        for i in stride(from: 0, to: hex.count, by: 2) {
            guard let b = UInt8(String(decoding: hex[i..<i + 2], as: UTF8.self), radix: 16) else { return nil }
            bytes.append(b)
        }
        let parts = String(decoding: bytes, as: UTF8.self).split(separator: "|", omittingEmptySubsequences: false)
        guard parts.count == 4, let port = Int(parts[2]), (1...65535).contains(port), !parts[1].isEmpty else {
            return nil
        }
        return Registrar.Source(
            transport: String(parts[0]), host: String(parts[1]), port: port, isBehindNAT: parts[3] == "1")
    }
}
