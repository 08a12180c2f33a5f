import NIOConcurrencyHelpers
import SIPDialog
import SIPSyntax
import SIPTransaction
import SIPTransport
import Sippet
import SippetAuth

/// A user agent (RFC 3261 §8, §12–15) for applications, on the dialog layer: calls out as values
/// you `await`, calls in as values you accept, reject or redirect, and the requests of a call
/// (`bye()`, `reinvite(offer:)`, `update(offer:)`, `info(_:)`) as async functions.
///
/// It is the stack's core: make it with the stack, before ``SIPStack/start()``, and give the
/// stack the validation it needs (``validation``: the methods it answers, among others):
///
/// ```swift
/// var configuration = SIPStack.Configuration()
/// configuration.validation = SIPUserAgent.validation
/// let stack = SIPStack(name: "ua", configuration: configuration, transports: [UDPTransport(port: 5060)])
/// let agent = SIPUserAgent(stack: stack)
/// try await stack.start()
/// let call = try await agent.call(to: URI("sip:bob@192.0.2.4"), offer: .sdp(offer)).answer()
/// try await call.bye()
/// ```
///
/// What it does by itself, per the RFCs:
/// - **UAC** (§13.2): the ACK for every 2xx, again for each retransmission (§13.2.2.4); for a 2xx
///   from a second fork, its ACK and a BYE; a PRACK for each reliable provisional (RFC 3262 §4);
///   the INVITE sent again with credentials after a 401 or 407 (§22.2, with
///   ``Configuration/credentials``) or with a larger Session-Expires after a 422 (RFC 4028 §7.2).
/// - **UAS** (§13.3): reliable provisionals sent again until their PRACK, and the 2xx held for
///   it (RFC 3262 §3); a 2xx retransmitted from T1 doubling to T2 until its ACK, and a BYE when
///   none comes in 64·T1 (§13.3.1.4); 200 to a CANCEL and 487 to its INVITE (§9.2); 422 below
///   the Min-SE (RFC 4028 §9).
/// - **In a call** (§12.2.2): 481 outside a dialog, 500 below its CSeq, 491 to a re-INVITE or
///   UPDATE that crosses this side's own, 500 with Retry-After to one that overlaps (§14.2,
///   RFC 3311 §5.2); a 491 to this side's re-INVITE retried after the §14.1 wait; 200 to a BYE;
///   session timers refreshed, or the call ended when the other side lets one lapse (RFC 4028 §10).
///
/// The other requests of a call (INFO, re-INVITE, UPDATE, …) reach the application as
/// ``Call/Event/request(_:)``, which it answers.
///
/// Thread safety: every method may be called from any task. The state of each call is behind a
/// lock of its own; no lock is held while the stack sends.
public final class SIPUserAgent: SIPCore {
    /// What the agent says about itself and asks of its calls.
    public struct Configuration: Sendable {
        /// This side's Contact. By default the stack's own address over the transport the
        /// message travels (``SIPStack/localURI(for:)``).
        public var contact: URI?
        /// Credentials for a 401 or 407 to an INVITE or a request in a call (RFC 3261 §22.2).
        public var credentials: DigestClient?
        /// The Session-Expires (seconds) asked in outgoing INVITEs (RFC 4028 §7.1); nil asks none.
        public var sessionExpires: UInt32?
        /// The smallest session interval this side accepts (RFC 4028 §5: Min-SE, at least 90).
        public var minSessionExpires: UInt32 = SessionTimer.lowestMinimum
        /// The most incoming calls not yet answered; more get 503 (RFC 3261 §21.5.4).
        public var maxPendingIncoming = 10_000
        /// The User-Agent header of outgoing INVITEs; nil sends none.
        public var userAgent: String? = "sippet"

        /// The defaults.
        public init() {}
    }

    /// The methods an agent answers: give them to the stack's
    /// `SIPValidationPolicy.allowedMethods` so that they reach it.
    public static let methods: [SIPMethod] = [.invite, .ack, .bye, .cancel, .options, .update, .info, .prack]

    /// A validation policy for the stack of an agent: its ``methods``; the option tags it
    /// implements as a UAS, `100rel` (RFC 3262) and `timer` (RFC 4028); SDP and the usual INFO
    /// bodies (`application/dtmf-relay`, `application/dtmf`); no registrar. Add the body types
    /// your application takes.
    public static var validation: SIPValidationPolicy {
        var p = SIPValidationPolicy()
        p.allowedMethods = methods
        p.supportedExtensions = ["100rel", "timer"]
        p.acceptedContentTypes = ["application/sdp", "application/dtmf-relay", "application/dtmf"]
        p.isRegistrar = false
        return p
    }

    /// The option tags the agent's requests carry in Supported: as a UAC it PRACKs reliable
    /// provisionals (RFC 3262) and keeps session timers (RFC 4028).
    static let supported = "100rel, timer"
    /// The option tags its responses carry in Supported: the same.
    static let supportedAsServer = "100rel, timer"

    /// The stack this agent is the core of.
    public let stack: SIPStack
    /// The configuration given.
    public let configuration: Configuration
    /// The calls that arrive, in order, each to be accepted, rejected or redirected.
    public let incomingCalls: AsyncStream<IncomingCall>
    private let incomingContinuation: AsyncStream<IncomingCall>.Continuation
    let state = NIOLockedValueBox(State())

    struct State {
        /// Outgoing INVITEs by Call-ID, until their call ends (2xx retransmissions and forks
        /// need their dialog set).
        var outgoing: [String: OutgoingCall] = [:]
        /// Incoming INVITEs by server transaction, until their final response.
        var incoming: [ServerTransactionKey: IncomingCall] = [:]
        /// Incoming calls with reliable provisionals, by Call-ID and To tag: their early dialog,
        /// where PRACKs come (RFC 3262 §3).
        var early: [CallKey: IncomingCall] = [:]
        /// Calls by Call-ID and local tag.
        var calls: [CallKey: Call] = [:]
        /// Requests of calls waiting for their final response.
        var waiters: [WaiterKey: CheckedContinuation<Result<SIPMessage, CallFailure>, Never>] = [:]
        var waiterKeys: [TransactionKey: WaiterKey] = [:]
        /// Errors of transactions not known yet: the stack can report one before `send` has
        /// returned its key (``SIPUserAgent/orphanLimit`` at most, the oldest dropped).
        var orphanErrors: [(TransactionKey, SIPStackError)] = []

        mutating func takeOrphan(_ key: TransactionKey) -> SIPStackError? {
            guard let i = orphanErrors.firstIndex(where: { $0.0 == key }) else { return nil }
            return orphanErrors.remove(at: i).1
        }
    }

    /// How many errors of unknown transactions are kept for a key that comes later.
    static let orphanLimit = 64

    /// A call's dialog in the agent's tables: Call-ID and local tag (RFC 3261 §12).
    struct CallKey: Hashable {
        var callID: String
        var localTag: String
    }

    /// A request waiting for its final response: Call-ID, CSeq number and method.
    struct WaiterKey: Hashable {
        var callID: String
        /// The From tag: this side's tag in the dialog (two forks' dialogs share a Call-ID).
        var localTag: String
        var sequence: UInt32
        var method: SIPMethod

        init?(_ message: SIPMessage) {
            guard let id = message.callID, let cseq = message.cseq else { return nil }
            callID = id
            localTag = message.fromTag ?? ""
            sequence = cseq.sequence
            method = cseq.method
        }
    }

    /// An agent that is `stack`'s core (it registers itself).
    public init(stack: SIPStack, configuration: Configuration = Configuration()) {
        self.stack = stack
        self.configuration = configuration
        (incomingCalls, incomingContinuation) = AsyncStream.makeStream(of: IncomingCall.self)
        stack.register(core: self)
    }

    // MARK: - Calls out

    /// Starts a call (RFC 3261 §13.2.1): an INVITE to `target` with `offer` (RFC 3264), From
    /// `from` (by default this agent's Contact address) with a new tag, a new Call-ID, and
    /// `headers` added. Read the result's ``OutgoingCall/events`` or `await`
    /// ``OutgoingCall/answer()``.
    public func call(
        to target: URI, from: NameAddress? = nil, offer: SIPBody?, headers: [(SIPHeaderName, String)] = []
    ) throws(CallFailure) -> OutgoingCall {
        let contact = contact(toward: target)
        var local = from ?? NameAddress(uri: Self.address(of: contact))
        local.parameters.set("tag", SIPIdentifiers.tag())
        var fields: [(SIPHeaderName, String)] = [
            (.from, local.description), (.to, NameAddress(uri: target).description),
            (.callID, SIPIdentifiers.callID()), (.cseq, "1 INVITE"), (.contact, "<\(contact)>"),
            (.supported, Self.supported), (.allow, Self.methods.map(\.rawValue).joined(separator: ", ")),
        ]
        if let s = configuration.sessionExpires { fields.append((.sessionExpires, String(s))) }
        if let ua = configuration.userAgent { fields.append((.userAgent, ua)) }
        var invite = SIPMessage.request(method: .invite, uri: target, headers: fields + headers)
        invite.setBody(offer)
        configuration.credentials?.authorize(&invite)
        let call = OutgoingCall(agent: self, invite: invite)
        try call.send(invite)
        return call
    }

    /// Rebuilds a call from a dialog saved earlier (``Call/dialog`` is `Codable`): a restarted
    /// application can still send BYE in it, or any other request.
    public func restore(_ dialog: Dialog) -> Call {
        let call = Call(agent: self, dialog: dialog)
        state.withLockedValue { $0.calls[CallKey(callID: dialog.id.callID, localTag: dialog.id.localTag)] = call }
        return call
    }

    /// This side's Contact for messages toward `uri`: ``Configuration/contact``, or the stack's
    /// address over the transport `uri` names (UDP by default).
    func contact(toward uri: URI) -> URI {
        if let c = configuration.contact { return c }
        let named = uri.sipURI?.transport.flatMap { SIPTransportKind(name: $0) }
        let secure = uri.sipURI?.isSecure == true
        let kinds = [named, secure ? .tls : nil, .udp].compactMap { $0 } + stack.transports.map(\.kind)
        for kind in kinds {
            if let local = stack.localURI(for: kind) { return .sip(local) }
        }
        return uri
    }

    /// This side's Contact for a response to `request`: the stack's address over the transport
    /// the request came by (its top Via).
    func contact(answering request: SIPMessage) -> URI {
        if let c = configuration.contact { return c }
        let kind = request.topVia.flatMap { SIPTransportKind(name: $0.transport) } ?? .udp
        let local = stack.localURI(for: kind) ?? stack.transports.first.flatMap { stack.localURI(for: $0.kind) }
        // A stack always has a transport; the Request-URI (this side's address as the caller
        // knew it) only if it had none.
        return local.map(URI.sip) ?? request.requestURI ?? .sip(SIPURI(host: SIPHost("localhost")))
    }

    /// A URI without its parameters and headers: an address for From.
    static func address(of uri: URI) -> URI {
        guard var sip = uri.sipURI else { return uri }
        sip.parameters = []
        sip.headers = []
        return .sip(sip)
    }

    // MARK: - Requests waiting for their response

    /// Sends a request of a call and waits for its final response (the stack's timeouts
    /// included). With ``Configuration/credentials``, a 401 or 407 is answered once per
    /// challenge: `rebuild` makes the request again from the one refused (a new CSeq in the
    /// dialog), which is then authorized; without it, the digest client's copy is sent (its CSeq
    /// one higher).
    func exchange(_ request: SIPMessage, rebuild: (@Sendable (SIPMessage) -> SIPMessage?)? = nil) async -> Result<
        SIPMessage, CallFailure
    > {
        var request = request
        for attempt in 0..<3 {
            let result = await sendAndWait(request)
            guard case .success(let final) = result, attempt < 2, let digest = configuration.credentials,
                let retried = digest.retry(request, after: final)
            else { return result }
            guard let rebuild else {
                request = retried
                continue
            }
            guard var next = rebuild(request) else { return result }
            digest.authorize(&next)
            request = next
        }
        return .failure(.ended)
    }

    private func sendAndWait(_ request: SIPMessage) async -> Result<SIPMessage, CallFailure> {
        guard let wk = WaiterKey(request) else { return .failure(.stack(.invalidMessage("no Call-ID or CSeq"))) }
        return await withCheckedContinuation { continuation in
            state.withLockedValue { $0.waiters[wk] = continuation }
            let sent: Result<TransactionKey?, SIPStackError>
            do throws(SIPStackError) { sent = .success(try stack.send(request)) } catch { sent = .failure(error) }
            switch sent {
            case .success(let key?):
                let early = state.withLockedValue { s -> SIPStackError? in
                    if let e = s.takeOrphan(key) { return e }
                    if s.waiters[wk] != nil { s.waiterKeys[key] = wk }
                    return nil
                }
                if let early { resume(wk, with: .failure(.stack(early))) }
            case .success(nil):
                resume(wk, with: .failure(.stack(.invalidMessage("no transaction was made"))))
            case .failure(let error):
                resume(wk, with: .failure(.stack(error)))
            }
        }
    }

    private func resume(_ wk: WaiterKey, with result: Result<SIPMessage, CallFailure>) {
        let waiter = state.withLockedValue { $0.waiters.removeValue(forKey: wk) }
        waiter?.resume(returning: result)
    }

    // MARK: - SIPCore

    /// A request arrived: a new call, a CANCEL, or a request in a call.
    public func receiveRequest(_ request: SIPMessage, key: ServerTransactionKey?, stack: SIPStack) {
        guard let method = request.method else { return }
        if let tag = request.toTag, let id = request.callID {
            let (call, early) = state.withLockedValue { s in
                (s.calls[CallKey(callID: id, localTag: tag)], s.early[CallKey(callID: id, localTag: tag)])
            }
            if method == .prack, let early, let key {
                early.receivePRACK(request, key: key)
                return
            }
            guard let call else {
                // §12.2.2: no such dialog. An ACK is never answered.
                if method != .ack, let key { _ = try? stack.send(request.makeResponse(status: 481), for: key) }
                return
            }
            call.receive(request, key: key)
            return
        }
        guard let key else { return }
        switch method {
        case .invite: receiveInvite(request, key: key)
        case .cancel: receiveCancel(request, key: key)
        case .options:
            var ok = request.makeResponse(status: 200)
            ok.headers.append(.allow, Self.methods.map(\.rawValue).joined(separator: ", "))
            ok.headers.append(.supported, Self.supportedAsServer)
            _ = try? stack.send(ok, for: key)
        case .ack:
            break
        default:
            // Outside a dialog: BYE, UPDATE, INFO, PRACK have none (§12.2.2), others are not done.
            let status = [.bye, .update, .info, .prack].contains(method) ? 481 : 405
            var r = request.makeResponse(status: status)
            if status == 405 { r.headers.append(.allow, Self.methods.map(\.rawValue).joined(separator: ", ")) }
            _ = try? stack.send(r, for: key)
        }
    }

    private func receiveInvite(_ invite: SIPMessage, key: ServerTransactionKey) {
        // RFC 4028 §9: a session interval below this side's minimum gets 422.
        let negotiation = SessionTimer.negotiate(invite, minimum: configuration.minSessionExpires)
        if case .tooSmall(let minimum) = negotiation {
            var r = invite.makeResponse(status: 422)
            r.headers.append(.minSE, String(minimum))
            _ = try? stack.send(r, for: key)
            return
        }
        let call = IncomingCall(agent: self, invite: invite, key: key, negotiation: negotiation)
        let admitted = state.withLockedValue { s -> Bool in
            guard s.incoming.count < configuration.maxPendingIncoming, s.incoming[key] == nil else { return false }
            s.incoming[key] = call
            return true
        }
        guard admitted else {
            var r = invite.makeResponse(status: 503)
            r.headers.append(.retryAfter, "5")
            _ = try? stack.send(r, for: key)
            return
        }
        incomingContinuation.yield(call)
    }

    /// §9.2: 200 to the CANCEL, and 487 to its INVITE if unanswered.
    private func receiveCancel(_ cancel: SIPMessage, key: ServerTransactionKey) {
        // The stack answers 481 itself to a CANCEL that matches no transaction; one it passes on
        // matched the INVITE's, answered or not: 200 (§9.2).
        _ = try? stack.send(cancel.makeResponse(status: 200), for: key)
        let call = key.cancelledInvite.flatMap { k in state.withLockedValue { $0.incoming[k] } }
        call?.cancelled(by: cancel)
    }

    func finished(_ call: IncomingCall) { state.withLockedValue { _ = $0.incoming.removeValue(forKey: call.key) } }

    /// `call` sent a reliable provisional: its PRACKs come in the early dialog of `toTag`, until
    /// the call ends (``ended(_:)``) or fails.
    func earlyDialog(_ call: IncomingCall, toTag: String) {
        guard let id = call.invite.callID else { return }
        state.withLockedValue { $0.early[CallKey(callID: id, localTag: toTag)] = call }
    }

    /// The early dialog of `call` is over (its final response is sent and acknowledged).
    func earlyDialogEnded(_ call: IncomingCall, toTag: String) {
        guard let id = call.invite.callID else { return }
        state.withLockedValue { _ = $0.early.removeValue(forKey: CallKey(callID: id, localTag: toTag)) }
    }

    func add(_ call: Call) {
        state.withLockedValue { $0.calls[CallKey(callID: call.id.callID, localTag: call.id.localTag)] = call }
    }

    func ended(_ call: Call) {
        state.withLockedValue { s in
            s.calls.removeValue(forKey: CallKey(callID: call.id.callID, localTag: call.id.localTag))
            if s.outgoing[call.id.callID]?.invite.fromTag == call.id.localTag {
                s.outgoing.removeValue(forKey: call.id.callID)
            }
        }
    }

    /// A response arrived: to an outgoing INVITE, or to a request of a call.
    public func receiveResponse(_ response: SIPMessage, key: ClientTransactionKey?, stack: SIPStack) {
        guard let id = response.callID, let cseq = response.cseq, let status = response.status else { return }
        if cseq.method == .invite, let call = state.withLockedValue({ $0.outgoing[id] }),
            call.invite.cseq?.sequence == cseq.sequence
        {
            call.receive(response)
            return
        }
        guard let wk = WaiterKey(response) else { return }
        if status >= 200 {
            let pending = state.withLockedValue { s -> Bool in
                if let key { s.waiterKeys.removeValue(forKey: .client(key)) }
                return s.waiters[wk] != nil
            }
            if pending {
                resume(wk, with: .success(response))
                return
            }
        }
        // A 2xx to a re-INVITE again, after its transaction: the ACK again (§13.2.2.4).
        if cseq.method == .invite, status >= 200, status < 300, let tag = response.fromTag,
            let call = state.withLockedValue({ $0.calls[CallKey(callID: id, localTag: tag)] })
        {
            call.acknowledgeAgain(response)
        }
    }

    /// A transaction failed: the request waiting for it fails with the stack's error.
    public func receiveError(_ error: SIPStackError, key: TransactionKey, stack: SIPStack) {
        let outgoing = state.withLockedValue { Array($0.outgoing.values) }
        if let outgoing = outgoing.first(where: { $0.key == key }) {
            outgoing.failed(error)
            return
        }
        let wk = state.withLockedValue { s -> WaiterKey? in
            if let wk = s.waiterKeys.removeValue(forKey: key) { return wk }
            guard case .client = key else { return nil }
            // Perhaps a request whose key its sender does not know yet: kept for it.
            s.orphanErrors.append((key, error))
            if s.orphanErrors.count > Self.orphanLimit { s.orphanErrors.removeFirst() }
            return nil
        }
        if let wk { resume(wk, with: .failure(.stack(error))) }
    }

    /// An error the stack gave for `key` before its sender knew the key, taken.
    func takeOrphanError(_ key: TransactionKey) -> SIPStackError? {
        state.withLockedValue { $0.takeOrphan(key) }
    }

    /// Ends the agent (before the stack shuts down): ``incomingCalls`` ends, calls not answered
    /// yet fail with ``SIPStackError/notRunning``, every call ends, and requests waiting for a
    /// response fail. Calls are not sent BYE: end them before, to tell the other sides.
    public func close() {
        let (outgoing, calls, waiters) = state.withLockedValue { s in
            defer { s.waiters = [:] }
            return (Array(s.outgoing.values), Array(s.calls.values), Array(s.waiters.values))
        }
        incomingContinuation.finish()
        for o in outgoing { o.failed(.notRunning) }
        for c in calls { c.end(.failed(status: 503)) }
        for w in waiters { w.resume(returning: .failure(.stack(.notRunning))) }
    }
}
