import SIPSyntax
import SIPTransport
import Sippet

/// The endpoint's own address as a request reached it: the host for its SDP's c= line and the
/// URI of its Contact (RFC 3261 §8.1.1.8, §12.1.1: the remote target of the dialogs it makes).
///
/// It is the transport of the request's top Via, at its advertised or bound host (the
/// Request-URI's host when bound to a wildcard address). Kept per Via transport once worked out,
/// unless the host came from the Request-URI. Not thread-safe: each of the endpoint's loops keeps
/// its own.
struct LocalContact {
    /// The user part of the Contact.
    let user: String
    private var known: [String: (host: String, contact: String)] = [:]

    init(user: String) { self.user = user }

    /// The host and Contact URI for a request that came over the transport its Via names
    /// (`viaTransport`, or read from the request).
    mutating func address(for request: SIPMessage, viaTransport written: String? = nil, stack: SIPStack)
        -> (host: String, contact: String)
    {
        let viaTransport = (written ?? request.essentials?.transport?.string ?? "UDP").uppercased()
        if let cached = known[viaTransport] { return cached }
        let transport = stack.transports.first { $0.kind.viaName == viaTransport } ?? stack.transports.first
        var host = transport?.advertisedHost ?? transport?.localAddress?.sipHost ?? "127.0.0.1"
        let wildcard = host == "0.0.0.0" || host == "[::]"
        if wildcard, let uriHost = request.requestURI?.sipURI?.host.text { host = uriHost }
        var contact = "sip:\(user)@\(host)"
        if let port = transport?.localAddress?.port { contact += ":\(port)" }
        if let kind = transport?.kind, kind != .udp { contact += ";transport=\(kind.uriParameter)" }
        if !wildcard, transport?.localAddress != nil { known[viaTransport] = (host, contact) }
        return (host, contact)
    }
}
