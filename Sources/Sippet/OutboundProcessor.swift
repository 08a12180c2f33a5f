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
        if let destination {
            uri = destination
        } else if !forwarding, let proxy = environment.configuration.outboundProxy {
            uri = proxy
        } else {
            uri = try Routing.targetURI(of: request)
        }
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
        if !request.headers.contains(.maxForwards) { request.headers.append(.maxForwards, bytes: Self.seventy) }
        // The bytes, written once; a Via the stack adds (about 100 bytes) goes in after the start
        // line without writing them again.
        let wire = request.serialized()
        let size = wire.count + (topVia == nil ? 100 : 0)
        let hop = try Routing.nextHop(for: uri, messageSize: size, available: environment.kinds)
        let key =
            method == .ack || stateless
            ? nil : ClientTransactionKey(branch: branch, method: method, loopHash: CallIDHash.of(request))
        let ready = OutgoingRequest(message: request, topVia: topVia, wire: wire, branch: branch, key: key)
        if let address = hop.address {
            try dispatch(ready, to: SIPServerCandidate(kind: hop.kind, address: address), then: [])
        } else {
            // RFC 3263 §4: a name is resolved off the event loop; the request goes to the first
            // candidate and fails over to the next ones (§4.3, in the transaction's shard).
            let environment = environment
            let available = environment.kinds
            Task { [self] in
                do {
                    let candidates = try await environment.resolver.locate(uri, available: available, messageSize: size)
                    guard let first = candidates.first else {
                        throw SIPStackError.unresolvable(host: hop.host, detail: "no address")
                    }
                    try dispatch(ready, to: first, then: candidates.dropFirst())
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

    /// Sends `outgoing` to `first`, or the first of `rest` the stack has a transport for; the
    /// others go with its client transaction, for failover (RFC 3263 §4.3). An ACK goes straight
    /// to the transport (RFC 3261 §17.1.1.3). (An address literal has no `rest`: no array is made
    /// for it.)
    private func dispatch(
        _ outgoing: OutgoingRequest, to first: SIPServerCandidate, then rest: ArraySlice<SIPServerCandidate>
    ) throws(SIPStackError) {
        var candidate = first
        var left = rest
        while true {
            let prepared: PreparedRequest
            do { prepared = try environment.prepare(outgoing, for: candidate) } catch {
                guard let next = left.popFirst() else { throw error }
                candidate = next
                continue
            }
            guard let key = outgoing.key else {
                prepared.route.transport.send(prepared.wire, to: prepared.route.target, completion: nil)
                return
            }
            let failover =
                left.isEmpty
                ? nil : Failover(outgoing: outgoing, current: candidate, remaining: left, coreKey: key, attempt: 0)
            let shard = shards.shard(forLoopHash: key.loopHash)
            let route = prepared.route
            guard key.method == .invite else {
                // A non-INVITE transaction keeps the final bytes and never reads the request back.
                let (message, wire) = (outgoing.message, prepared.wire)
                if shard.loop.inEventLoop {
                    shard.start(request: message, wire: wire, key: key, route: route, failover: failover)
                } else {
                    shard.loop.execute {
                        shard.start(request: message, wire: wire, key: key, route: route, failover: failover)
                    }
                }
                return
            }
            // An INVITE is kept parsed, for its CANCEL and ACKs (§9.1, §17.1.1.3): the final
            // bytes are parsed once.
            let message = (try? SIPMessage(parsing: prepared.wire, limits: .default)) ?? outgoing.message
            shard.run { shard.start(request: message, key: key, route: route, failover: failover) }
            return
        }
    }

    /// "70", the Max-Forwards of a request the core left without one (RFC 3261 §8.1.1.6), made once.
    static let seventy: [UInt8] = Array("70".utf8)

    /// Writes a Via with `transport`, sent-by `host`:`port`, `branch` and `rport` (RFC 3581 §3) as
    /// the first header field of the serialized message `wire`, right after its start line (RFC
    /// 3261 §8.1.1.7: the new Via goes on top). The field is written straight into `wire`: no
    /// `Via` value, no text made for it.
    static func insertTopVia(transport: String, host: String, port: Int, branch: String, into wire: inout [UInt8]) {
        let cr = UInt8(ascii: "\r")
        let lf = UInt8(ascii: "\n")
        var i = 0
        while i + 1 < wire.count, !(wire[i] == cr && wire[i + 1] == lf) { i += 1 }
        let at = min(i + 2, wire.count)
        let digits = String(port)  // at most 5 bytes: held in place
        let parts: (StaticString, StaticString, StaticString, StaticString) = (
            "Via: SIP/2.0/", ";branch=", ";rport\r\n", " "
        )
        let count =
            parts.0.utf8CodeUnitCount + transport.utf8.count + parts.3.utf8CodeUnitCount + host.utf8.count + 1
            + digits.utf8.count + parts.1.utf8CodeUnitCount + branch.utf8.count + parts.2.utf8CodeUnitCount
        wire.reserveCapacity(wire.count + count)
        wire.insert(contentsOf: repeatElement(0, count: count), at: at)
        wire.withUnsafeMutableBufferPointer { out in
            var k = at
            func put(_ s: StaticString) {
                s.withUTF8Buffer {
                    for b in $0 {
                        out[k] = b
                        k += 1
                    }
                }
            }
            func put(_ s: String) {
                for b in s.utf8 {
                    out[k] = b
                    k += 1
                }
            }
            put(parts.0)
            put(transport)
            put(parts.3)
            put(host)
            out[k] = UInt8(ascii: ":")
            k += 1
            put(digits)
            put(parts.1)
            put(branch)
            put(parts.2)
        }
    }
}

/// A request on its way out, before the transport is known: the message, its top Via as the core
/// wrote it (nil when the stack adds its own), its bytes, its branch and the key of its
/// transaction (nil for an ACK or a stateless forward).
struct OutgoingRequest: Sendable {
    var message: SIPMessage
    var topVia: Via?
    var wire: [UInt8]
    var branch: String
    var key: ClientTransactionKey?

    /// The same request under another branch, for a new client transaction to another candidate
    /// (RFC 3263 §4.3: "a new client transaction with a new branch").
    func rebranched(_ branch: String, method: SIPMethod) -> OutgoingRequest {
        var copy = self
        copy.branch = branch
        if var via = topVia {
            via.branch = branch
            copy.topVia = via
            copy.message.replaceTopVia(with: via)
            copy.wire = copy.message.serialized()
        }
        if let key {
            copy.key = ClientTransactionKey(branch: branch, method: method, loopHash: key.loopHash)
        }
        return copy
    }
}

/// A request ready for one candidate: its final bytes and where they go.
struct PreparedRequest: Sendable {
    var wire: [UInt8]
    var route: TransactionRoute
}

/// What a client transaction keeps to move its request to the next candidate (RFC 3263 §4.3)
/// when a transport error, a timeout or a 503 ends it.
struct Failover: Sendable {
    /// The request as the core gave it.
    var outgoing: OutgoingRequest
    /// The candidate the transaction is sending to.
    var current: SIPServerCandidate
    /// The ones left, in order.
    var remaining: ArraySlice<SIPServerCandidate>
    /// The key the core knows the request by; every attempt reports under it.
    var coreKey: ClientTransactionKey
    /// How many candidates were tried before this one.
    var attempt: Int
}

extension StackEnvironment {
    /// `outgoing` for `candidate`: the transport's Via put in place (RFC 3261 §18.1.1), and the
    /// transport and target it goes to.
    func prepare(_ outgoing: OutgoingRequest, for candidate: SIPServerCandidate) throws(SIPStackError)
        -> PreparedRequest
    {
        guard let transport = transport(kind: candidate.kind, family: candidate.address) else {
            throw .noTransport("no \(candidate.kind) transport for \(candidate.address)")
        }
        var wire = outgoing.wire
        let (host, port) = sentBy(of: transport)
        if var via = outgoing.topVia {
            // RFC 3261 §18.1.1: when the transport changes, the top Via says so; our own sent-by
            // follows the transport.
            if via.transport.uppercased() != candidate.kind.viaName {
                if state.isOurSentBy(host: via.host.text, port: via.port) {
                    via.host = SIPHost(host)
                    via.port = port
                }
                via.transport = candidate.kind.viaName
                var request = outgoing.message
                request.replaceTopVia(with: via)
                wire = request.serialized()
            }
        } else {
            // RFC 3261 §18.1.1, §8.1.1.7: the stack's Via, with the branch; RFC 3581 §3: rport.
            OutboundProcessor.insertTopVia(
                transport: candidate.kind.viaName, host: host, port: port, branch: outgoing.branch, into: &wire)
        }
        let target = SIPTransportTarget(address: candidate.address, hostName: candidate.hostName)
        return PreparedRequest(wire: wire, route: TransactionRoute(transport: transport, target: target))
    }
}
