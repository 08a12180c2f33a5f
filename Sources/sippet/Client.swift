import ArgumentParser
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL
import SIPDialog
import SIPSyntax
import SIPTransaction
import SIPTransport
import Sippet
import SippetAuth

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// A UAC on a stack of its own for one command: it sends requests and reads their responses in
/// order. Its core acknowledges every 2xx to an INVITE (RFC 3261 §13.2.2.4, retransmissions
/// included) and answers a BYE from the other side (§15.1.2).
final class Client: SIPCore {
    enum Event: Sendable {
        case response(SIPMessage)
        case error(SIPStackError)
    }

    let stack: SIPStack
    let target: URI
    let localHost: String
    /// Answers 401 and 407 when --user is given (RFC 3261 §22.2).
    let digest: DigestClient?
    /// The user of --user, for From.
    let user: String?
    let events: AsyncStream<(TransactionKey, Event)>
    private let continuation: AsyncStream<(TransactionKey, Event)>.Continuation
    /// The calls by Call-ID: the dialogs of the last INVITE sent (RFC 3261 §13.2.2.4, forks
    /// included) and the reliable provisionals acknowledged (RFC 3262 §4).
    private let calls = NIOLockedValueBox<[String: (dialogs: DialogSet, pracks: PRACKSender)]>([:])
    /// Call-IDs the other side hung up.
    let hungUp = NIOLockedValueBox<Set<String>>([])

    init(uri: String, options: ClientOptions) async throws {
        var uri = try URI(uri)
        guard var sip = uri.sipURI else { throw ValidationError("\(uri) is not a sip: or sips: URI") }
        if sip.transport == nil, let t = options.transport?.lowercased(), t != "udp" {
            sip.parameters.set("transport", t)
            uri = .sip(sip)
        }
        target = uri
        user = options.user
        digest = options.user.map { DigestClient(username: $0, password: options.resolvedPassword ?? "") }
        // RFC 3263: where the requests go (the outbound proxy when there is one), and so which
        // transports the client needs and the local address it sends from.
        let proxy = try options.outboundProxy.flatMap { try URI($0).sipURI }
        let resolver = options.dns.resolver()
        let destination = proxy ?? sip
        let candidates: [SIPServerCandidate]
        do {
            candidates = try await resolver.locate(destination, available: [.udp, .tcp, .tls, .ws], messageSize: 1000)
        } catch {
            throw ClientFailure("cannot resolve \(destination): \(error)")
        }
        guard let first = candidates.first else { throw ClientFailure("\(destination) resolves to no address") }
        localHost = sourceAddress(toward: first.address) ?? (first.address.protocol == .inet6 ? "::" : "0.0.0.0")
        var kinds: [SIPTransportKind] = []
        for c in candidates where !kinds.contains(c.kind) { kinds.append(c.kind) }
        var transports: [any SIPTransport] = []
        for kind in kinds {
            switch kind {
            case .udp: transports.append(UDPTransport(host: localHost, port: 0))
            case .tcp: transports.append(try TCPTransport(host: localHost, port: 0))
            case .ws: transports.append(try WebSocketTransport(host: localHost, port: 0))
            case .tls:
                let roots: NIOSSLTrustRoots = options.ca.map { .file($0) } ?? .default
                transports.append(try TCPTransport(host: localHost, port: 0, tls: .clientOnly(trustRoots: roots)))
            default: throw ClientFailure("transport \(kind) is not supported by the client commands")
            }
        }
        var configuration = SIPStack.Configuration()
        configuration.timers = TransactionTimers(
            t1: .milliseconds(options.t1Ms), t2: max(.seconds(4), .milliseconds(options.t1Ms)))
        configuration.shutdownGracePeriod = .zero
        configuration.outboundProxy = proxy
        // What the callee may send in the call (the core answers them, in the dialog).
        configuration.validation.allowedMethods = [.invite, .ack, .bye, .cancel, .options, .update, .info]
        var logger = Logger(label: "sippet")
        logger.logLevel = .critical
        stack = SIPStack(
            name: "client", configuration: configuration, transports: transports, resolver: resolver, logger: logger)
        (events, continuation) = AsyncStream.makeStream(of: (TransactionKey, Event).self)
        stack.register(core: self)
        do {
            try await stack.start()
        } catch {
            throw ClientFailure("cannot open a socket on \(localHost): \(error)")
        }
    }

    /// The local host as a URI writes it (RFC 3261 §25.1: an IPv6 reference in brackets).
    var localHostReference: String { localHost.contains(":") ? "[\(localHost)]" : localHost }

    /// Our address for From and Contact: `sip:sippet@HOST:PORT` with the transport parameter.
    var contact: String {
        let t = stack.transports[0]
        var host = localHostReference
        if let port = t.localAddress?.port { host += ":\(port)" }
        return "sip:sippet@\(host)" + (t.kind == .udp ? "" : ";transport=\(t.kind.uriParameter)")
    }

    /// Sends a request; its responses and errors arrive in ``events``.
    private func send(_ request: SIPMessage) throws(SIPStackError) -> TransactionKey {
        if request.method == .invite, request.toTag == nil, let id = request.callID {
            calls.withLockedValue { $0[id] = (DialogSet(invite: request), PRACKSender()) }
        }
        guard let key = try stack.send(request) else { throw .invalidMessage("no transaction was made") }
        return key
    }

    typealias Inbox = AsyncStream<(TransactionKey, Event)>.Iterator

    /// Sends `request`, prints every response to it and returns the final one, or the error that
    /// ended it (a send refused at once included). Events of other transactions (a late
    /// retransmission) are skipped. With --user, the request carries the credentials of earlier
    /// challenges, and a 401 or 407 is answered by sending it again with credentials, once per
    /// challenge (RFC 3261 §22.2): a wrong password ends in the 401.
    func finalResponse(to request: SIPMessage, _ inbox: inout Inbox) async -> Result<SIPMessage, SIPStackError> {
        var request = request
        digest?.authorize(&request)
        // Two challenges at most: a stale nonce, then a new one; a third is not answered.
        for attempt in 0..<3 {
            let key: TransactionKey
            do { key = try send(request) } catch { return .failure(error) }
            var final: SIPMessage?
            while final == nil, let (k, event) = await inbox.next() {
                guard k == key else { continue }
                switch event {
                case .response(let r):
                    say("SIP/2.0 \(r.status ?? 0) \(r.reasonPhrase ?? "")")
                    if let s = r.status, s >= 200 { final = r }
                case .error(let e):
                    return .failure(e)
                }
            }
            guard let final else { return .failure(.notRunning) }
            guard attempt < 2, let digest, let next = digest.retry(request, after: final) else {
                return .success(final)
            }
            request = next
        }
        return .failure(.notRunning)
    }

    func close() async {
        continuation.finish()
        await stack.shutdown()
    }

    // MARK: - SIPCore

    func receiveRequest(_ request: SIPMessage, key: ServerTransactionKey?, stack: SIPStack) {
        switch request.method {
        case .bye?, .update?, .info?, .invite?:
            _ = try? stack.send(inDialog(request))
        case .options?:
            _ = try? stack.send(request.makeResponse(status: 200))
        case .ack?, .cancel?:
            break
        default:
            _ = try? stack.send(request.makeResponse(status: 405))
        }
    }

    /// The answer to a request the callee sent in the call (RFC 3261 §12.2.2, checked by the
    /// dialog layer: 481 outside the dialog, 500 below its CSeq): BYE ends the call (§15.1.2);
    /// INFO (RFC 6086) gets 200; a re-INVITE or UPDATE (RFC 3311) gets 200, with an answer to its
    /// offer (RFC 3264 §6: PCMU, PCMA or telephone-event, other streams refused).
    private func inDialog(_ request: SIPMessage) -> SIPMessage {
        guard let id = request.callID else { return request.makeResponse(status: 400) }
        let verdict = calls.withLockedValue { calls -> Dialog.RequestVerdict in
            guard var call = calls[id] else { return .reject(status: 481) }
            defer { calls[id] = call }
            return call.dialogs.receive(request: request)
        }
        if case .reject(let status) = verdict { return request.makeResponse(status: status) }
        var ok = request.makeResponse(status: 200)
        switch request.method {
        case .bye?:
            hungUp.withLockedValue { _ = $0.insert(id) }
        case .invite?, .update?:
            ok.headers.append(.contact, "<\(contact)>")
            let text = String(decoding: request.body, as: UTF8.self)
            if !request.body.isEmpty, let offer = try? SessionDescription(text) {
                let ip = localHost.contains(":") ? "IP6" : "IP4"
                let origin = "sippet 1 2 IN \(ip) \(localHost)"
                let answer = SessionDescription.answer(to: offer, origin: origin, address: localHost, port: 9) { m in
                    guard m.media == "audio" else { return nil }
                    let chosen = m.formats.filter {
                        ["0", "8", "101"].contains($0) || m.rtpmap($0)?.hasPrefix("telephone-event") == true
                    }
                    return chosen.isEmpty ? nil : chosen
                }
                ok.headers.append(.contentType, "application/sdp")
                ok.body = Array("\(answer)".utf8)[...]
            }
        default:
            break
        }
        return ok
    }

    func receiveResponse(_ response: SIPMessage, key: ClientTransactionKey?, stack: SIPStack) {
        if response.cseq?.method == .invite {
            for request in dialogRequests(after: response) { _ = try? stack.send(request) }
        }
        if let key { continuation.yield((.client(key), .response(response))) }
    }

    /// What a response to an INVITE asks of the dialog layer: a PRACK for a reliable provisional
    /// (RFC 3262 §4), the ACK for a 2xx, again for each retransmission (RFC 3261 §13.2.2.4), and
    /// for a 2xx from a fork other than the first, its ACK and a BYE.
    private func dialogRequests(after response: SIPMessage) -> [SIPMessage] {
        guard let id = response.callID, let status = response.status else { return [] }
        return calls.withLockedValue { calls in
            guard var call = calls[id], response.cseq?.sequence == call.dialogs.invite.cseq?.sequence,
                let cseq = response.cseq?.sequence
            else { return [] }
            defer { calls[id] = call }
            var out: [SIPMessage] = []
            switch call.dialogs.receive(response) {
            case .early:
                if let rack = call.pracks.rack(for: response), let tag = response.toTag,
                    let prack = try? call.dialogs.makeRequest(in: tag, .prack, headers: [(.rack, rack.description)])
                {
                    out.append(prack)
                }
            case .confirmed(let d), .retransmission(let d):
                out.append(d.makeAck(cseq: cseq))
            case .otherFork(let d):
                out.append(d.makeAck(cseq: cseq))
                if status < 300, d.state != .terminated,
                    let bye = try? call.dialogs.makeRequest(in: d.id.remoteTag, .bye)
                {
                    call.dialogs.terminate(d.id.remoteTag)
                    out.append(bye)
                }
            case .provisional, .failed, .ignored:
                break
            }
            return out
        }
    }

    /// A request in the answered dialog of the call `callID` (a BYE, a refreshing UPDATE), built
    /// by the dialog layer (RFC 3261 §12.2.1.1: remote target, route set, next CSeq).
    func requestInCall(_ callID: String, _ method: SIPMethod, headers: [(SIPHeaderName, String)] = []) -> SIPMessage? {
        calls.withLockedValue { calls in
            guard var call = calls[callID], let tag = call.dialogs.answered else { return nil }
            defer { calls[callID] = call }
            let contact = try? URI(self.contact)
            return try? call.dialogs.makeRequest(
                in: tag, method, contact: method == .update ? contact : nil, headers: headers)
        }
    }

    func receiveError(_ error: SIPStackError, key: TransactionKey, stack: SIPStack) {
        continuation.yield((key, .error(error)))
    }
}

struct ClientFailure: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

/// The address the kernel would send from toward `remote` (a connected UDP socket's name).
func sourceAddress(toward remote: SocketAddress) -> String? {
    let fd = socket(remote.protocol == .inet6 ? AF_INET6 : AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    let ok = remote.withSockAddr { connect(fd, $0, socklen_t($1)) } == 0
    guard ok else { return nil }
    var storage = sockaddr_storage()
    var len = socklen_t(MemoryLayout<sockaddr_storage>.size)
    let got = withUnsafeMutablePointer(to: &storage) { p in
        p.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
    }
    guard got == 0 else { return nil }
    var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
    if Int32(storage.ss_family) == AF_INET6 {
        var a = withUnsafePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { $0.pointee.sin6_addr }
        }
        guard inet_ntop(AF_INET6, &a, &buffer, socklen_t(buffer.count)) != nil else { return nil }
    } else {
        var a = withUnsafePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee.sin_addr }
        }
        guard inet_ntop(AF_INET, &a, &buffer, socklen_t(buffer.count)) != nil else { return nil }
    }
    return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

extension Client {
    /// A request outside a dialog (RFC 3261 §8.1.1): To the target, From us with a tag, a new
    /// Call-ID, CSeq 1, our Contact. The stack adds Via and Max-Forwards.
    func request(
        _ method: SIPMethod, uri: URI? = nil, to: String? = nil, extra: [(SIPHeaderName, String)] = [],
        body: [UInt8] = []
    ) -> SIPMessage {
        // With --user the request is the user's: From names the user at the target's domain.
        let domain = target.sipURI.map { "\($0.isSecure ? "sips" : "sip"):\(user ?? "sippet")@\($0.host.text)" }
        let from = to ?? (user != nil ? domain : nil) ?? "sip:sippet@\(localHostReference)"
        let fields: [(SIPHeaderName, String)] =
            [
                (.from, "<\(from)>;tag=\(SIPIdentifiers.tag())"),
                (.to, "<\(to ?? target.description)>"), (.callID, SIPIdentifiers.callID()), (.cseq, "1 \(method)"),
                (.contact, "<\(contact)>"), (.userAgent, "sippet"),
            ] + extra
        return .request(method: method, uri: uri ?? target, headers: fields, body: body)
    }
}
