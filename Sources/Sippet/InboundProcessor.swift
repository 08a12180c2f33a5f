import Logging
import NIOCore
import SIPSyntax
import SIPTransaction
import SIPTransport

/// Inbound processing (RFC 3261 §18.2.1, §18.1.2): what a stack does with each message its
/// transports read. A request gets `received` and `rport` in its top Via (RFC 3581), its
/// server transaction key and the route of its responses (§18.2.2), and goes to the shard of its
/// transaction; a response goes to its client transaction's shard if its top Via is ours; a
/// message that does not parse is answered when RFC 3261 prescribes an answer, else dropped and
/// counted. The transports' delegate: it runs on the loop that read the message.
final class InboundProcessor: SIPTransportDelegate, Sendable {
    let environment: StackEnvironment
    let shards: TransactionShards

    init(environment: StackEnvironment, shards: TransactionShards) {
        self.environment = environment
        self.shards = shards
    }

    func transport(_ transport: any SIPTransport, received m: SIPReceivedMessage) {
        let message: SIPMessage
        do {
            message = try SIPMessage(parsing: m.bytes, limits: environment.configuration.limits)
        } catch {
            unparseable(m, error: error, transport: transport)
            return
        }
        if message.isRequest {
            received(request: message, m, transport: transport)
        } else {
            received(response: message, m)
        }
    }

    func transport(_ transport: any SIPTransport, observed event: SIPTransportEvent) {
        switch event {
        case .connectionDropped, .connectionLimitReached, .error:
            environment.metrics.transportErrors.increment()
            environment.logger.notice(
                "transport event", metadata: ["sip.transport": "\(transport.kind)", "sip.event": "\(event)"])
        case .discarded:
            environment.metrics.dropped.increment()
            environment.logger.debug(
                "transport event", metadata: ["sip.transport": "\(transport.kind)", "sip.event": "\(event)"])
        default:
            environment.logger.trace(
                "transport event", metadata: ["sip.transport": "\(transport.kind)", "sip.event": "\(event)"])
        }
    }

    /// RFC 3261 §18.2.1, RFC 3581 §4, RFC 5923: a request's top Via gets `received` when its
    /// sent-by host is not the source address (or it has `rport`), and `rport` its value when
    /// asked, edited in place (``SIPMessage/stampTopVia(received:rport:)``: nothing written or
    /// parsed again); then the request goes to its transaction's loop.
    private func received(request message: consuming SIPMessage, _ m: SIPReceivedMessage, transport: any SIPTransport) {
        var request = message
        guard let e = request.essentials, let sentByHost = e.sentByHost,
            let key = ServerTransactionKey(request: request, essentials: e)
        else {
            environment.metrics.dropped.increment()
            return
        }
        // The source address as text only when the numeric reading cannot tell, or received is written.
        let numeric = Self.isIPv4(sentByHost, of: m.source)
        var sourceText = numeric == nil ? m.source.numericHost ?? "" : nil
        let sameHost = numeric ?? Self.sameHost(sentByHost, sourceText ?? "")
        if !sameHost || e.hasRport {
            let sourceIP = sourceText ?? m.source.numericHost ?? ""
            sourceText = sourceIP
            // RFC 3581 §4: with rport, received is added even when it equals sent-by.
            let received = e.received.map { $0 == sourceIP } == true ? nil : sourceIP
            let rport = e.hasRport && e.rport == nil ? m.source.port : nil
            if received != nil || rport != nil, !request.stampTopVia(received: received, rport: rport) {
                environment.metrics.dropped.increment()
                return
            }
        }
        // RFC 5923: a connection may be reused towards the sent-by of a Via with `alias`.
        if let connection = m.connection, e.hasAlias,
            let a = try? SocketAddress(
                ipAddress: sourceText ?? m.source.numericHost ?? "", port: e.sentByPort ?? transport.kind.defaultPort)
        {
            transport.addAlias(a, for: connection)
        }
        let via = ViaSummary(host: "", port: e.sentByPort, hasRport: e.hasRport, maddr: e.maddr?.string)
        let target = Routing.responseTarget(
            topVia: via, source: m.source, connection: m.connection, kind: transport.kind)
        let route = TransactionRoute(transport: transport, target: target)
        // Shutting down: no new transactions (503); retransmissions still find theirs.
        let refuseNew = !environment.state.isRunning && request.method != .ack
        shards.deliver(
            HandOver(
                request: request, key: key, route: route, validate: environment.configuration.validatesRequests,
                refuseNew: refuseNew),
            to: shards.index(forLoopHash: key.loopHash))
    }

    /// RFC 3261 §18.1.2: a response whose top Via sent-by is not ours is discarded; the others go
    /// to their transaction's loop.
    private func received(response: SIPMessage, _ m: SIPReceivedMessage) {
        guard let e = response.essentials, let host = e.sentByHost, e.branch != nil else {
            environment.metrics.dropped.increment()
            return
        }
        let shard = shards.shard(forLoopHash: e.callID.map { CallIDHash.of($0) } ?? 0)
        let port = e.sentByPort
        // On the shard's loop (the usual case with a socket per loop): no closure to allocate.
        if shard.loop.inEventLoop {
            deliver(response, sentBy: host, port: port, to: shard)
        } else {
            shard.loop.execute { [self] in deliver(response, sentBy: host, port: port, to: shard) }
        }
    }

    /// Hands a response to its transaction's shard, on that shard's loop, if its top Via's sent-by
    /// is one of ours.
    private func deliver(_ response: SIPMessage, sentBy host: ByteView, port: Int?, to shard: TransactionShard) {
        guard shard.sentBy.contains(where: { Self.sameHost(host, $0.host) && (port == nil || port == $0.port) })
        else {
            environment.metrics.dropped.increment()
            environment.logger.debug(
                "dropping a response whose top Via is not ours", metadata: ["sip.sent-by": "\(host)"])
            return
        }
        shard.received(response: response)
    }

    /// A message that does not parse: a request that can still be answered gets the response RFC
    /// 3261 prescribes (400, 505, …) with a Warning saying why; the rest is dropped and counted.
    private func unparseable(_ m: SIPReceivedMessage, error: SIPParseError, transport: any SIPTransport) {
        environment.metrics.parseErrors.increment()
        guard
            let response = SIPValidator.rejectionResponse(
                for: m.bytes, error: error, policy: environment.configuration.validation),
            let via = response.topVia
        else {
            environment.logger.debug("dropping an unparseable message", metadata: ["sip.why": "\(error)"])
            return
        }
        let summary = ViaSummary(host: via.host.text, port: via.port, hasRport: via.rport != nil, maddr: via.maddr)
        let target = Routing.responseTarget(
            topVia: summary, source: m.source, connection: m.connection, kind: transport.kind)
        environment.logger.debug(
            "answering an unparseable request",
            metadata: ["sip.status": "\(response.status ?? 0)", "sip.why": "\(error)"])
        environment.metrics.rejected.increment()
        transport.send(response.serialized(), to: target, completion: nil)
    }

    /// Whether a sent-by host, written as a dotted-quad IPv4 address, is `source`'s address, read
    /// without formatting the address (the usual case of RFC 3261 §18.2.1). Nil when this cannot
    /// tell: another family, a name, or an unusual spelling (leading zeros).
    static func isIPv4(_ sentBy: ByteView, of source: SocketAddress) -> Bool? {
        guard case .v4(let a) = source else { return nil }
        var value: UInt32 = 0
        var octet: UInt32 = 0
        var digits = 0
        var dots = 0
        for b in sentBy {
            switch b {
            case UInt8(ascii: "0")...UInt8(ascii: "9"):
                if digits > 0, octet == 0 { return nil }
                octet = octet * 10 + UInt32(b - UInt8(ascii: "0"))
                digits += 1
                if octet > 255 { return nil }
            case UInt8(ascii: "."):
                guard digits > 0, dots < 3 else { return nil }
                value = value << 8 | octet
                octet = 0
                digits = 0
                dots += 1
            default:
                return nil
            }
        }
        guard dots == 3, digits > 0 else { return nil }
        return (value << 8 | octet) == UInt32(bigEndian: a.address.sin_addr.s_addr)
    }

    /// Whether a sent-by host names the address `ip` (IPv6 in brackets or not, any case).
    static func sameHost(_ sentBy: ByteView, _ ip: String) -> Bool {
        if sentBy == ip { return true }
        var s = sentBy.string.lowercased()
        if s.hasPrefix("["), s.hasSuffix("]") { s = String(s.dropFirst().dropLast()) }
        var i = ip.lowercased()
        if i.hasPrefix("["), i.hasSuffix("]") { i = String(i.dropFirst().dropLast()) }
        if s == i { return true }
        // Different spellings of one IPv6 address.
        guard s.contains(":"), let a = try? SocketAddress(ipAddress: s, port: 0),
            let b = try? SocketAddress(ipAddress: i, port: 0)
        else { return false }
        return a.ipAddress == b.ipAddress
    }
}
