import Logging
import NIOCore
import SIPSyntax
import SIPTransaction
import SIPTransport

/// Outbound processing of requests (RFC 3261 §18.1.1, RFC 3263 §4): where a request goes, the
/// stack's Via on it, its bytes written once, and its client transaction started on the shard
/// that owns it (an ACK goes straight to the transport: §17.1.1.3).
struct OutboundProcessor: Sendable {
    let environment: StackEnvironment
    let shards: TransactionShards

    /// Sends `message`, a request: see ``SIPStack/send(_:)``. Returns the client transaction's
    /// key, nil for an ACK.
    ///
    /// Forwarding (``SIPStack/forward(_:branch:to:stateless:)``): the request's Vias are the
    /// previous hops', so the stack's Via goes on top of them, with `branch` (or a new one);
    /// `destination`, when given, is where it goes instead of what its Route or Request-URI says;
    /// `stateless`: no client transaction.
    func send(
        request message: SIPMessage, forwarding: Bool = false, destination: SIPURI? = nil,
        branch forwardBranch: String? = nil, stateless: Bool = false
    ) throws(SIPStackError) -> TransactionKey? {
        guard let method = message.method else { throw .invalidMessage("not a request") }
        var request = message
        let uri: SIPURI
        if let destination { uri = destination } else { uri = try Routing.targetURI(of: request) }
        var topVia: Via?
        if !forwarding {
            do { topVia = try request.headers.first(.via) } catch { throw .invalidMessage("Via: \(error)") }
        }
        let branch = forwardBranch ?? topVia?.branch ?? SIPIdentifiers.branch()
        if topVia != nil, topVia?.branch == nil {
            topVia?.branch = branch
            if let via = topVia { request.replaceTopVia(with: via) }
        }
        // §8.1.1.6: 70 unless the core chose.
        if !request.headers.contains(.maxForwards) { request.headers.append(.maxForwards, "70") }
        // The bytes, written once; a Via the stack adds (about 100 bytes) goes in after the start
        // line without writing them again.
        let wire = request.serialized()
        let hop = try Routing.nextHop(
            for: uri, messageSize: wire.count + (topVia == nil ? 100 : 0), available: environment.kinds)
        let key =
            method == .ack || stateless
            ? nil : ClientTransactionKey(branch: branch, method: method, loopHash: CallIDHash.of(request))
        let ready = OutgoingRequest(message: request, topVia: topVia, wire: wire, branch: branch, key: key)
        if let address = hop.address {
            try dispatch(ready, hop: hop, address: address)
        } else {
            let environment = environment
            Task { [self] in
                do {
                    let addresses = try await environment.resolver.resolve(
                        host: hop.host, port: hop.port, kind: hop.kind)
                    guard let address = addresses.first else {
                        throw SIPStackError.unresolvable(host: hop.host, detail: "no address")
                    }
                    try dispatch(ready, hop: hop, address: address)
                } catch {
                    let e = error as? SIPStackError ?? .unresolvable(host: hop.host, detail: "\(error)")
                    environment.logger.debug("cannot send request", metadata: ["sip.why": "\(e)"])
                    if let key {
                        let shard = shards.shard(forLoopHash: key.loopHash)
                        shard.run { shard.report(e, key: .client(key)) }
                    }
                }
            }
        }
        return key.map { .client($0) }
    }

    /// A request on its way out: the message, its top Via as parsed, its bytes, its branch and
    /// the key of its transaction (nil for an ACK).
    private struct OutgoingRequest: Sendable {
        var message: SIPMessage
        var topVia: Via?
        var wire: [UInt8]
        var branch: String
        var key: ClientTransactionKey?
    }

    /// Puts the transport's Via in place and hands the request to its transaction (or, for an
    /// ACK, to the transport).
    private func dispatch(_ outgoing: OutgoingRequest, hop: NextHop, address: SocketAddress) throws(SIPStackError) {
        guard let transport = environment.transport(kind: hop.kind, family: address) else {
            throw .noTransport("no \(hop.kind) transport for \(address)")
        }
        var wire = outgoing.wire
        let (host, port) = environment.sentBy(of: transport)
        if var via = outgoing.topVia {
            // RFC 3261 §18.1.1: when the transport changes, the top Via says so; our own sent-by
            // follows the transport.
            if via.transport.uppercased() != hop.kind.viaName {
                if environment.state.isOurSentBy(host: via.host.text, port: via.port) {
                    via.host = SIPHost(host)
                    via.port = port
                }
                via.transport = hop.kind.viaName
                var request = outgoing.message
                request.replaceTopVia(with: via)
                wire = request.serialized()
            }
        } else {
            // RFC 3261 §18.1.1, §8.1.1.7: the stack's Via, with a new branch; RFC 3581 §3: rport.
            var via = Via(transport: hop.kind.viaName, host: SIPHost(host), port: port, branch: outgoing.branch)
            via.parameters.append("rport")
            Self.insertTopVia(via, into: &wire)
        }
        let target = SIPTransportTarget(address: address, hostName: hop.address == nil ? hop.host : nil)
        guard let key = outgoing.key else {
            transport.send(wire, to: target, completion: nil)
            return
        }
        let shard = shards.shard(forLoopHash: key.loopHash)
        let route = TransactionRoute(transport: transport, target: target)
        // Parse the final bytes once: matching and the transaction then read the hot headers from
        // the parse instead of writing and reading the message again for each.
        let ready = (try? SIPMessage(parsing: wire, limits: .default)) ?? outgoing.message
        shard.run { shard.start(request: ready, key: key, route: route) }
    }

    /// Writes `via` as the first header field of the serialized message `wire`, right after its
    /// start line (RFC 3261 §8.1.1.7: the new Via goes on top).
    static func insertTopVia(_ via: Via, into wire: inout [UInt8]) {
        let cr = UInt8(ascii: "\r")
        let lf = UInt8(ascii: "\n")
        var i = 0
        while i + 1 < wire.count, !(wire[i] == cr && wire[i + 1] == lf) { i += 1 }
        wire.insert(contentsOf: "Via: \(via)\r\n".utf8, at: min(i + 2, wire.count))
    }
}
