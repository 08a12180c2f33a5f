import Logging
import NIOCore
import NIOPosix
import SIPSyntax
import SIPTransaction
import SIPTransport
import Sippet

/// Where a proxied request goes (RFC 3261 §16.5): its new Request-URI, and how to reach it.
public struct ProxyTarget: Sendable, Hashable {
    /// The Request-URI of the copy sent to this target.
    public var uri: URI
    /// Where to send it instead of what its Route or Request-URI says: the flow of a registered
    /// contact (RFC 5626: the connection it registered on, or its public address behind a NAT).
    public var destination: SIPURI?
    /// A pre-loaded route set put on top of the copy's Route (a registered Path, RFC 3327).
    public var route: [String]
    /// The contact's preference, 0 to 1 (§16.6 item 1): higher goes first; equal ones in
    /// parallel.
    public var q: Double

    /// A target at `uri`.
    public init(uri: URI, destination: SIPURI? = nil, route: [String] = [], q: Double = 1) {
        self.uri = uri
        self.destination = destination
        self.route = route
        self.q = q
    }
}

/// How a request is proxied.
public struct ProxyOptions: Sendable {
    /// Whether this proxy stays on the path of the dialog (§16.6 item 4, Record-Route with `lr`).
    public var recordRoute = true
    /// Timer C (§16.6 item 11): how long an INVITE branch may wait for a final response; each
    /// provisional restarts it. The RFC asks for more than three minutes.
    public var timerC: Duration = .seconds(185)
    /// Called with every response a branch gets, and with the final response sent upstream.
    public var events: (@Sendable (ProxyEvent) -> Void)?

    /// Record-Route, Timer C of 185 s, no events.
    public init() {}
}

/// What happened to a proxied request.
public enum ProxyEvent: Sendable {
    /// A branch got a response (the proxy's own Via removed).
    case response(target: URI, SIPMessage)
    /// A branch ended without a response: a timeout (Timer B or C) or a transport error.
    case failed(target: URI, SIPStackError?)
    /// The response sent upstream that ends the request: a 2xx, or the best of the branches'
    /// finals (§16.7 item 6).
    case final(SIPMessage)
}

/// The stateful proxy of RFC 3261 §16, as a library part that a core drives: a core decides where
/// a request goes (``proxy(_:key:to:options:)``), and the proxy forwards a copy to each target
/// (§16.6), relays the responses (§16.7), handles CANCEL (§16.10) and Timer C.
///
/// Give it the responses and errors of its branches (``receiveResponse(_:key:)``,
/// ``receiveError(_:key:)``) and the CANCELs (``cancel(_:key:)``). A request's response context
/// lives on the event loop of its Call-ID, the loop the stack runs the request's transactions on
/// (its copies keep the Call-ID), so nothing of it is shared between loops.
public final class SIPProxy: Sendable {
    /// The stack it forwards on.
    public let stack: SIPStack
    let logger: Logger
    private let loops: [ProxyLoop]
    private let handOff: LoopHandOff<Work>

    enum Work: Sendable {
        case proxy(SIPMessage, ServerTransactionKey?, [ProxyTarget], ProxyOptions)
        case response(SIPMessage, ClientTransactionKey)
        case error(SIPStackError, ClientTransactionKey)
        case cancel(SIPMessage, ServerTransactionKey)
    }

    /// A proxy forwarding on `stack`, its state on the loops of `group` (the first `loops`: give
    /// the number of the stack's transaction loops, ``SIPStack/Configuration/transactionLoops``).
    public init(
        stack: SIPStack, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        loops limit: Int? = nil, logger: Logger = Logger(label: "sippet.proxy")
    ) {
        self.stack = stack
        self.logger = logger
        let eventLoops = group.allLoops(limit: limit)
        let loops = eventLoops.map { ProxyLoop(loop: $0, stack: stack, logger: logger) }
        self.loops = loops
        handOff = LoopHandOff(loops: eventLoops) { i, work in loops[i].run(work) }
    }

    /// Proxies `request`, received on the server transaction `key`, to `targets` (§16.6): a
    /// copy to each, those of the highest q-value at once, the next q-value when they have all
    /// failed (§16.6 item 1). The responses go upstream as §16.7 says. With no target, 480.
    ///
    /// The caller has checked the request (``ProxyRules/check(_:isLocal:)``) and processed its
    /// Route (``ProxyRules/processRoutes(_:isLocal:)``).
    public func proxy(
        _ request: SIPMessage, key: ServerTransactionKey?, to targets: [ProxyTarget],
        options: ProxyOptions = ProxyOptions()
    ) {
        handOff.send(.proxy(request, key, targets, options), to: loop(of: request))
    }

    /// RFC 3261 §16.11: forwards `request` to `target` without any state — no response context,
    /// no client transaction. Its branch depends only on the request (its loop-detection inputs
    /// and the branch of its top Via), so that a retransmission, the CANCEL of an INVITE and the
    /// ACK of a non-2xx response take the same branch as the request they follow. The responses
    /// come back with no key and go to ``receiveResponse(_:key:)``, which relays them by Via.
    /// With `recordRoute`, the proxy's URI for the incoming transport is put in Record-Route.
    public func forwardStatelessly(_ request: SIPMessage, to target: ProxyTarget, recordRoute: Bool = false)
        throws(SIPStackError)
    {
        var rr: [SIPURI] = []
        if recordRoute, let kind = ProxyLoop.kind(ofVia: request), let uri = stack.localURI(for: kind) { rr = [uri] }
        let copy = ProxyRules.copy(of: request, to: target.uri, route: target.route, recordRoute: rr)
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in (request.topVia?.branch ?? "").utf8 {
            h ^= UInt64(b)
            h = h &* 0x100_0000_01b3
        }
        // A CANCEL or an ACK carries no Proxy-Authorization: the INVITE's is left out of the hash.
        var keyed = request
        _ = keyed.headers.remove(.proxyAuthorization)
        let branch = ProxyRules.branch(for: keyed, unique: String(h, radix: 36))
        _ = try stack.forward(copy, branch: branch, to: target.destination, stateless: true)
    }

    /// A response of a client transaction; returns false when it is not a branch of this proxy.
    ///
    /// A response that matches no client transaction (`key` nil) but carries this proxy's Via on
    /// top — a 2xx retransmitted after its transaction ended, RFC 6026 §6 — is forwarded
    /// statelessly, by the next Via (§16.7: "as a stateless proxy", §16.11).
    @discardableResult
    public func receiveResponse(_ response: SIPMessage, key: ClientTransactionKey?) -> Bool {
        guard let key else { return relayStatelessly(response) }
        guard key.branch.hasPrefix(ProxyRules.branchPrefix) else { return false }
        handOff.send(.response(response, key), to: loop(of: response))
        return true
    }

    /// §16.7, §16.11: `response` without this proxy's top Via, sent on by the next Via; false
    /// when the top Via is not this proxy's.
    func relayStatelessly(_ response: SIPMessage) -> Bool {
        guard let via = response.topVia, let branch = via.branch, branch.hasPrefix(ProxyRules.branchPrefix),
            stack.isLocal(host: via.host.text, port: via.port)
        else { return false }
        var onward = response
        guard (try? onward.headers.removeFirstValue(.via)) != nil, onward.headers.contains(.via) else { return false }
        do { try stack.send(onward) } catch {
            logger.debug("response not relayed", metadata: ["sip.error": "\(error)"])
        }
        return true
    }

    /// A branch's timeout or transport error; returns false when it is not a branch of this proxy.
    @discardableResult
    public func receiveError(_ error: SIPStackError, key: TransactionKey) -> Bool {
        guard case .client(let k) = key, k.branch.hasPrefix(ProxyRules.branchPrefix) else { return false }
        handOff.send(.error(error, k), to: loops.count == 1 ? 0 : CallIDHash.index(k.loopHash, of: loops.count))
        return true
    }

    /// RFC 3261 §16.10: a CANCEL received on the server transaction `key`: 200 to it, and CANCEL
    /// on every branch of its INVITE still pending; 481 when no INVITE of that branch is being
    /// proxied.
    public func cancel(_ request: SIPMessage, key: ServerTransactionKey) {
        handOff.send(.cancel(request, key), to: loop(of: request))
    }

    /// The number of requests being proxied.
    public func contextCount() async -> Int {
        var n = 0
        for l in loops { n += (try? await l.loop.submit { l.contexts.count }.get()) ?? 0 }
        return n
    }

    private func loop(of message: SIPMessage) -> Int {
        loops.count == 1 ? 0 : CallIDHash.index(CallIDHash.of(message), of: loops.count)
    }
}

/// One request being proxied: its branches and the responses so far (§16.7's response context).
final class ResponseContext {
    struct Branch {
        var target: ProxyTarget
        var provisional = false
        var done = false
        var timerC: Scheduled<Void>?
    }

    let request: SIPMessage
    let key: ServerTransactionKey?
    let options: ProxyOptions
    var groups: [[ProxyTarget]]
    var nextGroup = 0
    var branches: [ClientTransactionKey: Branch] = [:]
    var finals: [SIPMessage] = []
    var finalSent = false
    var cancelled = false
    var sixHundred = false

    init(request: SIPMessage, key: ServerTransactionKey?, groups: [[ProxyTarget]], options: ProxyOptions) {
        self.request = request
        self.key = key
        self.groups = groups
        self.options = options
    }

    var pending: Int { branches.values.count { !$0.done } }
}

/// The response contexts of one event loop.
final class ProxyLoop: @unchecked Sendable {
    // @unchecked: every property is touched on `loop` only (SIPProxy hands work over to it).
    let loop: any EventLoop
    let stack: SIPStack
    let logger: Logger
    var contexts: [ServerTransactionKey: ResponseContext] = [:]
    var byBranch: [ClientTransactionKey: ResponseContext] = [:]
    var serial: UInt64 = 0

    init(loop: any EventLoop, stack: SIPStack, logger: Logger) {
        self.loop = loop
        self.stack = stack
        self.logger = logger
    }

    func run(_ work: SIPProxy.Work) {
        switch work {
        case .proxy(let r, let k, let t, let o): start(r, key: k, targets: t, options: o)
        case .response(let r, let k): response(r, key: k)
        case .error(let e, let k): failed(k, error: e)
        case .cancel(let r, let k): cancel(r, key: k)
        }
    }

    // MARK: - §16.6 forwarding

    func start(_ request: SIPMessage, key: ServerTransactionKey?, targets: [ProxyTarget], options: ProxyOptions) {
        guard !targets.isEmpty else {
            reply(request, key, SIPRejection(status: 480, detail: "no target").response(to: request))
            return
        }
        // §16.6 item 1: by q-value, highest first; equal q-values in parallel.
        let sorted = targets.enumerated().sorted { ($0.element.q, -$0.offset) > ($1.element.q, -$1.offset) }.map(
            \.element)
        var groups: [[ProxyTarget]] = []
        for t in sorted {
            if let last = groups.last?.last, last.q == t.q {
                groups[groups.count - 1].append(t)
            } else {
                groups.append([t])
            }
        }
        let context = ResponseContext(request: request, key: key, groups: groups, options: options)
        if let key, request.method != .ack { contexts[key] = context }
        startNextGroup(context)
    }

    private func startNextGroup(_ c: ResponseContext) {
        while c.nextGroup < c.groups.count {
            let group = c.groups[c.nextGroup]
            c.nextGroup += 1
            // RFC 5393 §5: the breadth is shared among the parallel branches.
            let breadth = c.request.headers[SIPHeaderName("Max-Breadth")].flatMap { Int($0.filter { $0 != " " }) } ?? 60
            let forked = Array(group.prefix(max(1, breadth)))
            let share =
                forked.count > 1 || c.request.headers.contains(SIPHeaderName("Max-Breadth"))
                ? max(1, breadth / forked.count) : nil
            for target in forked { forward(c, to: target, maxBreadth: share) }
            if c.pending > 0 || c.finalSent { return }
        }
        finish(c)
    }

    private func forward(_ c: ResponseContext, to target: ProxyTarget, maxBreadth: Int?) {
        var recordRoute: [SIPURI] = []
        if c.options.recordRoute, c.request.method != .register, let inbound = Self.kind(ofVia: c.request),
            let inURI = stack.localURI(for: inbound)
        {
            let outbound = Self.kind(of: target) ?? inbound
            recordRoute = [inURI]
            if outbound != inbound, let outURI = stack.localURI(for: outbound) { recordRoute = [outURI, inURI] }
        }
        let copy = ProxyRules.copy(
            of: c.request, to: target.uri, route: target.route, recordRoute: recordRoute, maxBreadth: maxBreadth)
        serial &+= 1
        let branch = ProxyRules.branch(for: c.request, unique: String(serial, radix: 36))
        do {
            guard case .client(let key)? = try stack.forward(copy, branch: branch, to: target.destination) else {
                return  // an ACK: no transaction (§16.11)
            }
            var b = ResponseContext.Branch(target: target)
            if c.request.method == .invite { b.timerC = scheduleTimerC(key, c.options.timerC) }
            c.branches[key] = b
            byBranch[key] = c
        } catch {
            logger.debug("cannot forward", metadata: ["sip.error": "\(error)", "sip.target": "\(target.uri)"])
            // §16.9: a transport error counts as a 503 from that branch.
            c.options.events?(.failed(target: target.uri, error))
            c.finals.append(SIPRejection(status: 503, detail: "\(error)").response(to: c.request))
        }
    }

    private func scheduleTimerC(_ key: ClientTransactionKey, _ after: Duration) -> Scheduled<Void> {
        loop.scheduleTask(
            in: .nanoseconds(
                Int64(after.components.seconds) * 1_000_000_000 + after.components.attoseconds / 1_000_000_000)
        ) {
            [self] in timerC(key)
        }
    }

    /// §16.6 item 11 (Timer C): a branch with a provisional is cancelled; one without is ended as
    /// if a 408 had come (§16.7 item 2).
    private func timerC(_ key: ClientTransactionKey) {
        guard let c = byBranch[key], let b = c.branches[key], !b.done else { return }
        if b.provisional {
            _ = try? stack.cancel(key)
        } else {
            stack.terminate(.client(key))
            failed(key, error: nil)
        }
    }

    // MARK: - §16.7 responses

    func response(_ received: SIPMessage, key: ClientTransactionKey) {
        guard let c = byBranch[key], var b = c.branches[key], let status = received.status else {
            // A 2xx retransmitted after its request's context ended (the caller's ACK was lost,
            // RFC 6026 §6): it goes on statelessly, so that the caller acknowledges it again.
            if let status = received.status, (200..<300).contains(status) { relay2xx(received) }
            return
        }
        var response = received
        // §16.7 step 3: the proxy's own Via goes: the topmost value, which may share its line
        // with others.
        guard (try? response.headers.removeFirstValue(.via)) != nil else { return }
        c.options.events?(.response(target: b.target.uri, response))
        switch status {
        case 100:
            return
        case 101..<200:
            // §16.7 item 2: Timer C restarts; item 5: forwarded at once.
            b.provisional = true
            b.timerC?.cancel()
            if c.request.method == .invite { b.timerC = scheduleTimerC(key, c.options.timerC) }
            c.branches[key] = b
            if c.cancelled { _ = try? stack.cancel(key) }
            if !c.finalSent { reply(c.request, c.key, response) }
            return
        case 200..<300:
            done(c, key)
            // §16.7 item 5: every 2xx goes upstream; the other branches are cancelled (item 10).
            reply(c.request, c.key, response)
            if !c.finalSent { c.options.events?(.final(response)) }
            c.finalSent = true
            cancelPending(c)
        default:
            done(c, key)
            c.finals.append(response)
            if status >= 600 {
                c.sixHundred = true
                cancelPending(c)
            }
        }
        settle(c)
    }

    /// A branch ended without a final response: `error`, or Timer C when nil.
    func failed(_ key: ClientTransactionKey, error: SIPStackError?) {
        guard let c = byBranch[key], let b = c.branches[key], !b.done else { return }
        c.options.events?(.failed(target: b.target.uri, error))
        done(c, key)
        // §16.7 item 2: a timeout (Timer B, F or C) counts as 408; §16.9: a transport error as 503.
        let status = error?.isTimeout ?? true ? 408 : 503
        c.finals.append(
            SIPRejection(status: status, detail: error.map { "\($0)" } ?? "Timer C").response(to: c.request))
        settle(c)
    }

    private func done(_ c: ResponseContext, _ key: ClientTransactionKey) {
        c.branches[key]?.done = true
        c.branches[key]?.timerC?.cancel()
        c.branches[key]?.timerC = nil
    }

    private func cancelPending(_ c: ResponseContext) {
        for (k, b) in c.branches where !b.done && c.request.method == .invite { _ = try? stack.cancel(k) }
    }

    /// When no branch is pending: the next q-value, or the best final response upstream (§16.7
    /// item 6); then the context goes.
    private func settle(_ c: ResponseContext) {
        guard c.pending == 0 else { return }
        if !c.finalSent, !c.cancelled, !c.sixHundred, c.nextGroup < c.groups.count {
            startNextGroup(c)
            return
        }
        finish(c)
    }

    private func finish(_ c: ResponseContext) {
        if !c.finalSent {
            let best = Self.best(c.finals, request: c.request)
            reply(c.request, c.key, best)
            c.options.events?(.final(best))
            c.finalSent = true
        }
        guard c.pending == 0 else { return }
        for k in c.branches.keys { byBranch[k] = nil }
        if let key = c.key { contexts[key] = nil }
    }

    /// RFC 3261 §16.7 item 6: the best of the final responses — a 6xx if there is one, else one of
    /// the lowest class, among 4xx preferably 401, 407, 415, 420 or 484; a 503 goes up as 500;
    /// with none, 408. Item 7: a 401 or 407 chosen carries the challenges of every 401 and 407.
    static func best(_ finals: [SIPMessage], request: SIPMessage) -> SIPMessage {
        guard !finals.isEmpty else {
            return SIPRejection(status: 408, detail: "no branch answered").response(to: request)
        }
        var chosen: SIPMessage
        if let six = finals.first(where: { ($0.status ?? 0) >= 600 }) {
            chosen = six
        } else {
            let lowest = finals.map { ($0.status ?? 699) / 100 }.min() ?? 5
            let ofClass = finals.filter { ($0.status ?? 699) / 100 == lowest }
            chosen = ofClass.first { [401, 407, 415, 420, 484].contains($0.status ?? 0) } ?? ofClass[0]
        }
        if chosen.status == 503 {
            return SIPRejection(status: 500, detail: "the branch answered 503").response(to: request)
        }
        if chosen.status == 401 || chosen.status == 407 {
            var merged = chosen
            _ = merged.headers.remove(.wwwAuthenticate)
            _ = merged.headers.remove(.proxyAuthenticate)
            for r in finals where r.status == 401 || r.status == 407 {
                for v in r.headers.values(.wwwAuthenticate) { merged.headers.append(.wwwAuthenticate, v) }
                for v in r.headers.values(.proxyAuthenticate) { merged.headers.append(.proxyAuthenticate, v) }
            }
            chosen = merged
        }
        return chosen
    }

    // MARK: - §16.10 CANCEL

    func cancel(_ request: SIPMessage, key: ServerTransactionKey) {
        guard let invite = key.cancelledInvite, let c = contexts[invite] else {
            reply(
                request, key,
                SIPRejection(status: 481, detail: "no INVITE of this branch is being proxied").response(
                    to: request))
            return
        }
        reply(request, key, request.makeResponse(status: 200))
        c.cancelled = true
        cancelPending(c)
    }

    // MARK: - sending

    private func relay2xx(_ response: SIPMessage) {
        var onward = response
        // §16.7 step 3: the topmost Via value, which may share its line with others.
        guard (try? onward.headers.removeFirstValue(.via)) != nil else { return }
        guard onward.headers.contains(.via) else { return }
        _ = try? stack.send(onward)
    }

    private func reply(_ request: SIPMessage, _ key: ServerTransactionKey?, _ response: SIPMessage) {
        do {
            if let key { try stack.send(response, for: key) } else { try stack.send(response) }
        } catch {
            logger.debug("response not sent", metadata: ["sip.error": "\(error)"])
        }
    }

    /// The transport a request came over, read from its top Via.
    static func kind(ofVia request: SIPMessage) -> SIPTransportKind? {
        request.topVia.flatMap { SIPTransportKind(name: $0.transport) }
    }

    /// The transport a target is reached over: its destination's or its URI's `transport`
    /// parameter, TLS for `sips:`, else UDP.
    static func kind(of target: ProxyTarget) -> SIPTransportKind? {
        let uri = target.destination ?? target.uri.sipURI
        guard let uri else { return nil }
        if let t = uri.parameters.value("transport") { return SIPTransportKind(name: t) }
        return uri.isSecure ? .tls : .udp
    }
}
