import NIOConcurrencyHelpers
import NIOCore
import SIPSyntax
import SIPTransaction
import SIPTransport
import Sippet

/// A UAS for tests (RFC 3261 §8.2, §13.3): 200 to OPTIONS and BYE; to an INVITE, 180 and then
/// (unless `holdInvites`) 200 with a to-tag, retransmitted at T1, 2·T1, … up to T2 until the ACK
/// arrives (§13.3.1.4); to a CANCEL, 200 and 487 on the INVITE (§9.2). With `silent`, it answers
/// nothing. It records what it received.
final class TestUAS: SIPCore {
    struct Options: Sendable {
        var holdInvites = false
        var silent = false
        var t1: Duration = .milliseconds(50)
        var t2: Duration = .seconds(4)
    }

    private struct State {
        var requests: [SIPMessage] = []
        var acked: Set<String> = []
        var invites: [ServerTransactionKey: SIPMessage] = [:]
    }

    let options: Options
    private let state = NIOLockedValueBox(State())

    init(_ options: Options = Options()) { self.options = options }

    var requests: [SIPMessage] { state.withLockedValue { $0.requests } }
    func count(_ method: SIPMethod) -> Int { requests.filter { $0.method == method }.count }

    func receiveRequest(_ request: SIPMessage, key: ServerTransactionKey?, stack: SIPStack) {
        state.withLockedValue { $0.requests.append(request) }
        if options.silent { return }
        switch request.method {
        case .options?, .bye?:
            _ = try? stack.send(request.makeResponse(status: 200))
        case .invite?:
            let tag = SIPIdentifiers.tag()
            _ = try? stack.send(request.makeResponse(status: 180, toTag: tag))
            if let key { state.withLockedValue { $0.invites[key] = request } }
            if !options.holdInvites { answer(request, tag: tag, stack: stack) }
        case .cancel?:
            _ = try? stack.send(request.makeResponse(status: 200))
            if let invite = key?.cancelledInvite, let request = state.withLockedValue({ $0.invites[invite] }) {
                _ = try? stack.send(request.makeResponse(status: 487))
            }
        case .ack?:
            if let id = request.callID { state.withLockedValue { _ = $0.acked.insert(id) } }
        default:
            _ = try? stack.send(request.makeResponse(status: 501))
        }
    }

    /// §13.3.1.4: the 2xx goes out, and again at T1, 2·T1, … (capped at T2) until the ACK.
    private func answer(_ invite: SIPMessage, tag: String, stack: SIPStack) {
        var ok = invite.makeResponse(status: 200, toTag: tag)
        if let t = stack.transports.first, let a = t.localAddress, let host = a.sipHost, let port = a.port {
            let param = t.kind == .udp ? "" : ";transport=\(t.kind.uriParameter)"
            ok.headers.append(.contact, "<sip:uas@\(host):\(port)\(param)>")
        }
        _ = try? stack.send(ok)
        guard !stack.isReliable(invite), let callID = invite.callID else { return }
        let (t1, t2) = (options.t1, options.t2)
        let response = ok
        Task { [state] in
            var interval = t1
            var elapsed: Duration = .zero
            while elapsed < t1 * 64 {
                try? await Task.sleep(for: interval)
                elapsed += interval
                if state.withLockedValue({ $0.acked.contains(callID) }) { return }
                _ = try? stack.send(response)
                interval = min(interval * 2, t2)
            }
        }
    }

    func receiveResponse(_ response: SIPMessage, key: ClientTransactionKey?, stack: SIPStack) {}
    func receiveError(_ error: SIPStackError, key: TransactionKey, stack: SIPStack) {}
}

/// Collects what a stack delivers to its core, read through ``SIPStack/events(bufferingPolicy:)``,
/// and lets a test wait for it. It also acknowledges every 2xx to an INVITE (§13.2.2.4), as a UAC
/// core must, retransmissions included.
final class EventLog: Sendable {
    private let state = NIOLockedValueBox<[SIPStackEvent]>([])
    private let invites = NIOLockedValueBox<[ClientTransactionKey: SIPMessage]>([:])
    private let task: Task<Void, Never>

    init(_ stack: SIPStack) {
        let events = stack.events()
        let state = self.state
        let invites = self.invites
        task = Task {
            for await event in events {
                state.withLockedValue { $0.append(event) }
                // Acknowledge 2xx responses to INVITEs (their retransmissions too).
                if case .response(let r, let key) = event, let s = r.status, s >= 200, s < 300,
                    r.cseq?.method == .invite
                {
                    let invite =
                        key.flatMap { k in invites.withLockedValue { $0[k] } }
                        ?? invites.withLockedValue { $0.values.first { $0.callID == r.callID } }
                    if let ack = invite?.makeAck(for: r) { _ = try? stack.send(ack) }
                }
            }
        }
    }

    deinit { task.cancel() }

    /// Remembers an INVITE sent with `key`, so that its 2xx gets an ACK.
    func sentInvite(_ invite: SIPMessage, key: TransactionKey?) {
        guard let k = key?.client else { return }
        invites.withLockedValue { $0[k] = invite }
    }

    var events: [SIPStackEvent] { state.withLockedValue { $0 } }

    /// The statuses of the responses received for `key`, in order.
    func statuses(_ key: TransactionKey?) -> [Int] {
        events.compactMap { e in
            if case .response(let r, let k) = e, let k, TransactionKey.client(k) == key { return r.status }
            return nil
        }
    }

    /// The errors received for `key`.
    func errors(_ key: TransactionKey?) -> [SIPStackError] {
        events.compactMap { e in
            if case .error(let error, let k) = e, k == key { return error }
            return nil
        }
    }

    /// Waits until `condition` holds, for at most `timeout`; returns whether it did.
    @discardableResult
    func wait(timeout: Duration = .seconds(10), until condition: @Sendable (EventLog) -> Bool) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if condition(self) { return true }
            try? await Task.sleep(for: .milliseconds(5))
        }
        return condition(self)
    }

    /// Waits for a final response (≥ 200) for `key`, and returns the statuses seen by then.
    func finalStatuses(_ key: TransactionKey?, timeout: Duration = .seconds(10)) async -> [Int] {
        await wait(timeout: timeout) { $0.statuses(key).contains { $0 >= 200 } || !$0.errors(key).isEmpty }
        return statuses(key)
    }
}

/// Builds requests the way a UAC core does (RFC 3261 §8.1.1); the stack adds Via and Max-Forwards.
struct Dialer {
    var from = "sip:alice@example.com"
    var to: String

    func request(
        _ method: SIPMethod, _ uri: String, callID: String = SIPIdentifiers.callID(), cseq: UInt32 = 1,
        extra: [(SIPHeaderName, String)] = []
    ) throws -> SIPMessage {
        let fields: [(SIPHeaderName, String)] =
            [
                (.from, "<\(from)>;tag=\(SIPIdentifiers.tag())"), (.to, "<\(to)>"), (.callID, callID),
                (.cseq, "\(cseq) \(method)"), (.contact, "<\(from)>"),
            ] + extra
        return .request(method: method, uri: try URI(uri), headers: fields)
    }

    /// A BYE in the dialog an INVITE and its 2xx made (§15.1.1): the remote target, the 2xx's To.
    func bye(after invite: SIPMessage, ok: SIPMessage) throws -> SIPMessage {
        let target = ok.contact.first?.address?.uri.description ?? invite.requestURI?.description ?? ""
        let fields: [(SIPHeaderName, String)] = [
            (.from, invite.headers[.from] ?? ""), (.to, ok.headers[.to] ?? ""), (.callID, invite.callID ?? ""),
            (.cseq, "\((invite.cseq?.sequence ?? 1) + 1) BYE"),
        ]
        return .request(method: .bye, uri: try URI(target), headers: fields)
    }
}

/// A client whose only transport is WebSocket, answering INVITEs (``TestUAS``): reachable only
/// over the connection it registered on (RFC 7118 §5).
struct WebSocketClient {
    let stack: SIPStack
    let callee = TestUAS()

    static func start() async throws -> WebSocketClient {
        let stack = SIPStack(
            name: "ws-client", configuration: testConfiguration(),
            transports: [try WebSocketTransport(host: "127.0.0.1", port: 0)])
        let client = WebSocketClient(stack: stack)
        stack.register(core: client.callee)
        try await stack.start()
        return client
    }

    /// A REGISTER of `aor` to `uri`, with a Contact nobody can reach.
    func register(_ aor: String, to uri: URI) -> SIPMessage {
        .request(
            method: .register, uri: uri,
            headers: [
                (.from, "<\(aor)>;tag=ws1"), (.to, "<\(aor)>"), (.callID, SIPIdentifiers.callID()),
                (.cseq, "1 REGISTER"), (.contact, "<sip:bob@df7jal23ls0d.invalid;transport=ws>"), (.expires, "600"),
            ])
    }
}
