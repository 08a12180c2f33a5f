import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import SIPSyntax
import SIPTransaction
import SIPTransport
import Sippet
import Synchronization

/// The core of `sippet serve`: a user agent server and a registrar on one stack.
///
/// - OPTIONS: 200 with Allow, Accept and Supported (RFC 3261 §11.2).
/// - REGISTER: a ``Registrar`` (§10.3).
/// - INVITE: 180 after ``Options/ringAfter`` (if set), then the final response
///   ``Options/answer`` after ``Options/answerAfter`` (§13.3.1). A 2xx carries a Contact and an
///   SDP answer (RFC 3264), makes a dialog (§12.1.1) and is retransmitted by this core until the
///   ACK arrives: at T1, then doubling up to T2; after 64·T1 without an ACK the dialog is ended
///   with a BYE (§13.3.1.4). The 100 Trying is the transaction layer's (§17.2.1).
/// - CANCEL of an INVITE not yet answered: 200 to the CANCEL and 487 to the INVITE (§9.2).
/// - BYE: 200 in a known dialog, 481 otherwise (§15.1.2). A re-INVITE in a known dialog gets 200,
///   outside one 481 (§12.2.2).
/// - Any other method: 405 with Allow if it is a known one, 501 if not (§8.2.1). (The stack's own
///   validation normally answers these before they reach the core.)
public final class EndpointCore: SIPCore {
    /// What the endpoint answers, and when.
    public struct Options: Sendable {
        /// The final response to an INVITE (`--answer`).
        public var answer: Int = 200
        /// When to send 180 Ringing after the INVITE arrived; nil sends none (`--ring-after-ms`).
        public var ringAfter: Duration?
        /// When to send the final response after the INVITE arrived (`--answer-after-ms`).
        public var answerAfter: Duration = .zero
        /// §13.3.1.4: the 2xx retransmission intervals, T1 doubling up to T2, for 64·T1.
        public var t1: Duration = .milliseconds(500)
        public var t2: Duration = .seconds(4)
        /// The registrar's limits.
        public var registrar = Registrar.Policy()
        /// Dialogs held at once; an INVITE beyond it gets 503 with Retry-After (a protection).
        public var maxDialogs = 200_000
        /// The user part of this endpoint's Contact.
        public var contactUser = "sippet"

        public init() {}
    }

    /// The methods this core implements (the Allow header, §20.5).
    public static let allowedMethods: [SIPMethod] = [.invite, .ack, .cancel, .bye, .options, .register]

    /// A dialog this UAS is in (RFC 3261 §12.1.1): its Call-ID, local tag (ours) and remote tag
    /// (theirs), compared as written (§12: the three together identify the dialog).
    ///
    /// Each ACK and BYE makes one to find its dialog, and while a 2xx waits for its ACK the ID sits
    /// in a timer too. Packed (``InlineBytes64``) when the three fit in 61 bytes, as the Call-IDs
    /// and tags of common agents do, an ID allocates nothing and is copied without reference
    /// counts; longer ones are kept as strings. Which depends on the text alone, so equal IDs are
    /// held alike.
    struct DialogID: Hashable, Sendable {
        enum Text: Hashable, Sendable {
            /// Bytes 0..<61: Call-ID, local tag, remote tag; bytes 61, 62, 63: where each ends.
            case packed(InlineBytes64)
            case spelled(callID: String, localTag: String, remoteTag: String)
        }

        /// The most bytes of Call-ID and tags together that are packed.
        static let packedCapacity = 61

        let text: Text
        /// Worked out once: an ID is looked up in the dialogs, and hashing its text each time
        /// showed in profiles.
        private let hashCode: Int

        init<C: Collection<UInt8>, L: Collection<UInt8>, R: Collection<UInt8>>(callID: C, localTag: L, remoteTag: R) {
            let c = callID.count
            let l = localTag.count
            let r = remoteTag.count
            if c + l + r <= Self.packedCapacity {
                var bytes = InlineBytes64()
                bytes.withUnsafeMutableBytes { out in
                    var i = 0
                    InlineBytes64.copy(callID, into: out, at: &i)
                    InlineBytes64.copy(localTag, into: out, at: &i)
                    InlineBytes64.copy(remoteTag, into: out, at: &i)
                    out[61] = UInt8(c)
                    out[62] = UInt8(c + l)
                    out[63] = UInt8(c + l + r)
                }
                text = .packed(bytes)
                hashCode = bytes.hashValue
            } else {
                let t = (
                    String(decoding: callID, as: UTF8.self), String(decoding: localTag, as: UTF8.self),
                    String(decoding: remoteTag, as: UTF8.self)
                )
                text = .spelled(callID: t.0, localTag: t.1, remoteTag: t.2)
                var h = Hasher()
                h.combine(t.0)
                h.combine(t.1)
                h.combine(t.2)
                hashCode = h.finalize()
            }
        }

        init(callID: String, localTag: String, remoteTag: String) {
            self.init(callID: callID.utf8, localTag: localTag.utf8, remoteTag: remoteTag.utf8)
        }

        /// The Call-ID, the local tag and the remote tag.
        var parts: (callID: String, localTag: String, remoteTag: String) {
            switch text {
            case .packed(let b):
                let ends = b.withUnsafeBytes { (Int($0[61]), Int($0[62]), Int($0[63])) }
                return (b.string(0..<ends.0), b.string(ends.0..<ends.1), b.string(ends.1..<ends.2))
            case .spelled(let c, let l, let r):
                return (c, l, r)
            }
        }

        var callID: String { parts.callID }

        /// The dialog's stripe: the low bits of the hash worked out once (seeded per process, so
        /// IDs chosen to fall in one stripe cannot be worked out from outside).
        var stripe: Int { hashCode & (EndpointCore.stripeCount - 1) }

        static func == (a: DialogID, b: DialogID) -> Bool { a.hashCode == b.hashCode && a.text == b.text }

        func hash(into hasher: inout Hasher) { hasher.combine(hashCode) }
    }

    struct Dialog {
        /// The INVITE that made the dialog (§12.1.1): its Contact is the remote target, its
        /// Record-Route values the route set, its From the remote URI. They are read only when
        /// the UAS itself sends a request in the dialog (the BYE of §13.3.1.4).
        var invite: SIPMessage
        /// The local URI with our tag: the 2xx's To.
        var local: String
        var localCSeq: UInt32 = 0
        /// The 2xx while it is not yet acknowledged, and its retransmission timer.
        var unacked: Unacked?
    }

    struct Unacked {
        var response: SIPMessage
        /// The INVITE server transaction: in RFC 6026's Accepted state it passes the 2xx
        /// retransmissions on (and after it ends they go statelessly, §18.2.2).
        var key: ServerTransactionKey
        var interval: Duration
        var elapsed: Duration
        /// Its retransmission timer, in the stripe's ``FixedDelayTimers``.
        var timer: FixedDelayTimers<DialogID>.Handle
    }

    /// An INVITE not yet answered with a final response.
    struct Pending {
        var request: SIPMessage
        var tag: String
    }

    /// What this core waits for on a pending INVITE (with ``Options/ringAfter`` or
    /// ``Options/answerAfter``). Those of a stripe sit in its ``DeadlineQueue``, and with its 2xx
    /// retransmissions they share one scheduled task for the earliest: cancelling an event loop's
    /// own scheduled task searches all of that loop's tasks.
    enum Timer: Hashable, Sendable {
        /// Send 180 Ringing to the pending INVITE.
        case ring(ServerTransactionKey)
        /// Send the final response to the pending INVITE.
        case answer(ServerTransactionKey)
    }

    /// The pending INVITEs of the Call-IDs and the dialogs of the IDs that hash to one stripe, with
    /// their timers, under one lock: a CANCEL carries its INVITE's Call-ID (RFC 3261 §9.1), an ACK
    /// or BYE its dialog's ID (§12.2.1.1), so each finds its stripe, and the loops of the stack,
    /// which read requests of the same calls, seldom wait for one another.
    struct Stripe {
        var pending: [ServerTransactionKey: Pending] = [:]
        var dialogs: [DialogID: Dialog] = [:]
        var timers = DeadlineQueue<Timer>()
        /// The 2xx retransmission timers of the dialogs (§13.3.1.4), each cancelled by its ACK.
        var retransmits = FixedDelayTimers<DialogID>()
        /// The scheduled task that fires the earliest timer, and when.
        var wakeUp: (deadline: NIODeadline, task: Scheduled<Void>)?
    }

    /// The number of stripes (a power of two).
    static let stripeCount = 16

    public let options: Options
    let logger: Logger
    private let registrar: LoopRegistrar
    private let stripes: [NIOLockedValueBox<Stripe>]
    /// Dialogs and pending INVITEs held, over all stripes, for ``Options/maxDialogs``.
    private let held = Atomic<Int>(0)
    private let clock = ContinuousClock()
    private let sessions = Atomic<UInt64>(0)
    private let epoch: ContinuousClock.Instant
    /// The origin of the timer queue's clock, and the loop its wake-up task runs on.
    private let origin = NIODeadline.now()
    private let timerLoop: any EventLoop
    /// ``localAddress(for:viaTransport:stack:)`` by Via transport name.
    private let localAddresses = NIOLockedValueBox<[String: (host: String, contact: String)]>([:])

    public init(
        options: Options = Options(), group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger = Logger(label: "sippet.endpoint")
    ) {
        self.options = options
        self.logger = logger
        var loops: [any EventLoop] = []
        for loop in group.makeIterator() { loops.append(loop) }
        self.registrar = LoopRegistrar(policy: options.registrar, loops: loops.isEmpty ? [group.next()] : loops)
        self.stripes = (0..<Self.stripeCount).map { _ in NIOLockedValueBox(Stripe()) }
        self.epoch = clock.now
        self.timerLoop = group.next()
    }

    /// The number of dialogs held.
    public var dialogCount: Int { stripes.reduce(0) { n, s in n + s.withLockedValue { $0.dialogs.count } } }
    /// The number of registered bindings.
    public var bindingCount: Int { registrar.count }

    /// The stripe of the pending INVITEs with `callID`, by the process's seeded hash (Call-IDs
    /// chosen to fall in one stripe cannot be worked out from outside); stripe 0 without one.
    static func stripe(of callID: String?) -> Int {
        guard let callID else { return 0 }
        return callID.hashValue & (stripeCount - 1)
    }

    /// Counts one more dialog or pending INVITE, unless ``Options/maxDialogs`` are held.
    private func admitOne() -> Bool {
        if held.wrappingAdd(1, ordering: .relaxed).newValue <= options.maxDialogs { return true }
        held.wrappingSubtract(1, ordering: .relaxed)
        return false
    }

    /// A dialog or pending INVITE is gone.
    private func releaseOne() { held.wrappingSubtract(1, ordering: .relaxed) }

    // MARK: - SIPCore

    public func receiveRequest(_ request: SIPMessage, key: ServerTransactionKey?, stack: SIPStack) {
        guard let method = request.method else { return }
        switch method {
        case .ack: acknowledged(request)
        case .options: send(options(request), key, stack)
        case .register: registrar.handle(request) { [self] in send($0, key, stack) }
        case .invite: invite(request, key: key, stack: stack)
        case .cancel: cancel(request, key: key, stack: stack)
        case .bye: bye(request, key: key, stack: stack)
        default:
            let status = SIPMethod.standard.contains(method) ? 405 : 501
            let allow = SIPHeaderField(name: .allow, value: Self.allowHeader)
            send(
                SIPRejection(status: status, detail: "\(method) is not handled here", headers: [allow]).response(
                    to: request), key, stack)
        }
    }

    public func receiveResponse(_ response: SIPMessage, key: ClientTransactionKey?, stack: SIPStack) {
        // Only the BYEs this core sends after a lost ACK get responses; nothing to do with them.
    }

    public func receiveError(_ error: SIPStackError, key: TransactionKey, stack: SIPStack) {
        logger.debug("transaction failed", metadata: ["sip.transaction": "\(key)", "sip.error": "\(error)"])
    }

    // MARK: - OPTIONS, REGISTER

    static let allowHeader = allowedMethods.map(\.rawValue).joined(separator: ", ")

    /// RFC 3261 §11.2: what a UAS can do — Allow, Accept, Accept-Encoding, Accept-Language and
    /// Supported (empty: no extensions).
    func options(_ request: SIPMessage) -> SIPMessage {
        var r = request.makeResponse(status: 200)
        r.headers.append(.allow, Self.allowHeader)
        r.headers.append(.accept, "application/sdp")
        r.headers.append(.acceptEncoding, "identity")
        r.headers.append(.acceptLanguage, "en")
        r.headers.append(.supported, "")
        return r
    }

    // MARK: - INVITE

    func invite(_ request: SIPMessage, key: ServerTransactionKey?, stack: SIPStack) {
        guard let key else { return }
        if request.essentials.map({ $0.toTag != nil }) ?? (request.to?.tag != nil) {
            reinvite(request, key: key, stack: stack)
            return
        }
        let tag = SIPIdentifiers.tag()
        if options.answerAfter <= .zero, options.ringAfter.map({ $0 <= .zero }) ?? true {
            // Answered at once: nothing waits, so the INVITE is never pending, and a 2xx takes the
            // lock once, to admit the dialog and keep it.
            if options.ringAfter != nil { send(request.makeResponse(status: 180, toTag: tag), key, stack) }
            answer(Pending(request: request, tag: tag), key: key, admit: true, stack: stack)
            return
        }
        guard admitOne() else {
            refuseDialog(request, key, stack)
            return
        }
        let stripe = Self.stripe(of: Self.callID(of: request))
        stripes[stripe].withLockedValue { $0.pending[key] = Pending(request: request, tag: tag) }
        if let ring = options.ringAfter {
            if ring <= .zero {
                send(request.makeResponse(status: 180, toTag: tag), key, stack)
            } else {
                start(.ring(key), after: ring, stripe: stripe, stack: stack)
            }
        }
        if options.answerAfter <= .zero {
            answer(key, stripe: stripe, stack: stack)
        } else {
            start(.answer(key), after: options.answerAfter, stripe: stripe, stack: stack)
        }
    }

    /// The request's Call-ID (§8.1.1.4), from the parser's offsets when it has them.
    private static func callID(of request: SIPMessage) -> String? {
        request.essentials?.callID?.string ?? request.callID
    }

    /// Sends 180 Ringing to a pending INVITE (unless its final response or a CANCEL came first).
    private func ring(_ key: ServerTransactionKey, stripe: Int, stack: SIPStack) {
        guard let p = stripes[stripe].withLockedValue({ $0.pending[key] }) else { return }
        send(p.request.makeResponse(status: 180, toTag: p.tag), key, stack)
    }

    /// Sends the final response to a pending INVITE (unless a CANCEL took it first).
    func answer(_ key: ServerTransactionKey, stripe: Int, stack: SIPStack) {
        let removed = stripes[stripe].withLockedValue { s -> Pending? in
            cancelTimers(of: key, in: &s)
            return s.pending.removeValue(forKey: key)
        }
        guard let p = removed else { return }
        answer(p, key: key, admit: false, stack: stack)
    }

    /// Sends the final response to `p`; a 2xx makes a dialog. With `admit`, the INVITE was not
    /// counted as pending, and a dialog beyond ``Options/maxDialogs`` gets 503 instead.
    private func answer(_ p: Pending, key: ServerTransactionKey, admit: Bool, stack: SIPStack) {
        let status = options.answer
        guard (200..<300).contains(status) else {
            // A non-2xx final response: the INVITE server transaction retransmits it until the
            // ACK (§17.2.1).
            if !admit { releaseOne() }
            send(p.request.makeResponse(status: status, toTag: p.tag), key, stack)
            return
        }
        let e = p.request.essentials
        let callID = e?.callID?.string ?? p.request.callID
        let remoteTag = e?.fromTag?.string ?? p.request.from?.tag
        let makesDialog = callID != nil && remoteTag != nil
        // Refused before the 2xx and its SDP answer are built.
        if makesDialog, admit, !admitOne() {
            refuseDialog(p.request, key, stack)
            return
        }
        var ok = p.request.makeResponse(status: status, toTag: p.tag)
        let local = localAddress(for: p.request, viaTransport: e?.transport?.string, stack: stack)
        ok.headers.append(.contact, "<\(local.contact)>")
        ok.headers.append(.allow, Self.allowHeader)
        ok.headers.append(.contentType, "application/sdp")
        ok.body = sdpAnswer(offer: p.request.body, host: local.host)[...]
        guard let callID, let remoteTag else {
            // No dialog without a Call-ID and a From tag (§12.1.1).
            if !admit { releaseOne() }
            send(ok, key, stack)
            return
        }
        // §12.1.1: the dialog, from the INVITE and the 2xx.
        let id = DialogID(callID: callID, localTag: p.tag, remoteTag: remoteTag)
        var dialog = Dialog(invite: p.request, local: ok.headers[.to] ?? "")
        let now = clockNow()
        let stripe = id.stripe
        let replaced = stripes[stripe].withLockedValue { s -> Bool in
            s.retransmits.advance(to: now)
            let timer = s.retransmits.start(id, after: options.t1)
            dialog.unacked = Unacked(response: ok, key: key, interval: options.t1, elapsed: .zero, timer: timer)
            let old = s.dialogs.updateValue(dialog, forKey: id)
            if let t = old?.unacked?.timer { s.retransmits.cancel(t) }
            arm(&s, stripe: stripe, stack: stack)
            return old != nil
        }
        if replaced { releaseOne() }
        send(ok, key, stack)
    }

    /// RFC 3261 §21.5.4: 503 with a Retry-After (§20.33) for an INVITE beyond
    /// ``Options/maxDialogs``.
    private func refuseDialog(_ request: SIPMessage, _ key: ServerTransactionKey, _ stack: SIPStack) {
        let retry = SIPHeaderField(name: .retryAfter, value: "5")
        send(SIPRejection(status: 503, detail: "too many dialogs", headers: [retry]).response(to: request), key, stack)
    }

    /// Stops the 180 and final-response timers of a pending INVITE: those the options start at all.
    private func cancelTimers(of key: ServerTransactionKey, in s: inout Stripe) {
        if let ring = options.ringAfter, ring > .zero { s.timers.cancel(.ring(key)) }
        if options.answerAfter > .zero { s.timers.cancel(.answer(key)) }
    }

    /// What a due 2xx retransmission timer leads to, done outside the stripe's lock.
    enum RetransmitStep {
        case none
        case resend(SIPMessage, ServerTransactionKey)
        case giveUp(Dialog, DialogID)
    }

    /// §13.3.1.4: the 2xx goes out again at T1, 2·T1, 4·T1… (capped at T2) until the ACK; after
    /// 64·T1 the session is ended with a BYE. Called under the stripe's lock, with its
    /// retransmission clock at the present.
    private func retransmitStep(_ id: DialogID, in s: inout Stripe) -> RetransmitStep {
        let limit = options.t1 * 64
        guard var d = s.dialogs[id], var u = d.unacked else { return .none }
        u.elapsed += u.interval
        if u.elapsed >= limit {
            d.unacked = nil
            s.dialogs[id] = nil
            return .giveUp(d, id)
        }
        u.interval = min(u.interval * 2, options.t2)
        u.timer = s.retransmits.start(id, after: min(u.interval, limit - u.elapsed))
        d.unacked = u
        s.dialogs[id] = d
        return .resend(u.response, u.key)
    }

    /// Does what ``retransmitStep(_:in:)`` decided.
    private func perform(_ step: RetransmitStep, stack: SIPStack) {
        switch step {
        case .none: return
        case .resend(let response, let key):
            send(response, key, stack)
        case .giveUp(let dialog, let id):
            releaseOne()
            logger.info(
                "no ACK for the 2xx within 64*T1; ending the dialog with BYE", metadata: ["sip.call-id": "\(id.callID)"]
            )
            var d = dialog
            d.localCSeq += 1
            sendBye(in: d, id: id, stack: stack)
        }
    }

    /// §15.1.1: a BYE in the dialog — to the remote target along the route set, From our URI, To
    /// theirs, a new CSeq.
    private func sendBye(in d: Dialog, id: DialogID, stack: SIPStack) {
        var uri =
            d.invite.contact.first?.address?.uri ?? d.invite.requestURI
            ?? .absolute(AbsoluteURI(scheme: "sip", rest: ""))
        var routes = ((try? d.invite.headers.all(.recordRoute)) ?? []).map(\.description)
        // §12.2.1.1: a strict router first in the route set gets the Request-URI.
        if let first = routes.first, let r = try? NameAddress(first), let sip = r.uri.sipURI, !sip.isLooseRouter {
            routes.removeFirst()
            routes.append("<\(uri)>")
            uri = r.uri
        }
        var fields: [(SIPHeaderName, String)] = [
            (.from, d.local), (.to, d.invite.headers[.from] ?? ""), (.callID, id.callID), (.cseq, "\(d.localCSeq) BYE"),
        ]
        for r in routes { fields.append((.route, r)) }
        _ = try? stack.send(.request(method: .bye, uri: uri, headers: fields))
    }

    /// §13.3.1.4, §17.2.3: the ACK for a 2xx stops its retransmissions.
    func acknowledged(_ ack: SIPMessage) {
        guard let id = dialogID(of: ack) else { return }
        stripes[id.stripe].withLockedValue { s in
            guard let i = s.dialogs.index(forKey: id), let timer = s.dialogs.values[i].unacked?.timer else { return }
            s.dialogs.values[i].unacked = nil
            s.retransmits.cancel(timer)
        }
    }

    /// §12.2.2: a re-INVITE in a known dialog is accepted (the session does not change); outside
    /// one it gets 481.
    private func reinvite(_ request: SIPMessage, key: ServerTransactionKey, stack: SIPStack) {
        guard let id = dialogID(of: request), stripes[id.stripe].withLockedValue({ $0.dialogs[id] != nil }) else {
            send(request.makeResponse(status: 481), key, stack)
            return
        }
        var ok = request.makeResponse(status: 200)
        let local = localAddress(for: request, stack: stack)
        ok.headers.append(.contact, "<\(local.contact)>")
        ok.headers.append(.contentType, "application/sdp")
        ok.body = sdpAnswer(offer: request.body, host: local.host)[...]
        let now = clockNow()
        let stripe = id.stripe
        stripes[stripe].withLockedValue { s in
            // The dialog may have ended (BYE) since it was looked up.
            guard let i = s.dialogs.index(forKey: id) else { return }
            if let t = s.dialogs.values[i].unacked?.timer { s.retransmits.cancel(t) }
            s.retransmits.advance(to: now)
            let timer = s.retransmits.start(id, after: options.t1)
            s.dialogs.values[i].unacked = Unacked(
                response: ok, key: key, interval: options.t1, elapsed: .zero, timer: timer)
            arm(&s, stripe: stripe, stack: stack)
        }
        send(ok, key, stack)
    }

    // MARK: - CANCEL, BYE

    /// §9.2: 200 to the CANCEL; if the INVITE has no final response yet, 487 to it.
    func cancel(_ request: SIPMessage, key: ServerTransactionKey?, stack: SIPStack) {
        send(request.makeResponse(status: 200), key, stack)
        guard let invite = key?.cancelledInvite else { return }
        // §9.1: a CANCEL has its INVITE's Call-ID, and so finds its stripe.
        let removed = stripes[Self.stripe(of: Self.callID(of: request))].withLockedValue { s -> Pending? in
            cancelTimers(of: invite, in: &s)
            return s.pending.removeValue(forKey: invite)
        }
        guard let p = removed else { return }
        releaseOne()
        send(p.request.makeResponse(status: 487, toTag: p.tag), invite, stack)
    }

    /// §15.1.2: a BYE ends its dialog (200); one that matches no dialog gets 481.
    func bye(_ request: SIPMessage, key: ServerTransactionKey?, stack: SIPStack) {
        let removed = dialogID(of: request).flatMap { id in
            stripes[id.stripe].withLockedValue { s -> Dialog? in
                guard let d = s.dialogs.removeValue(forKey: id) else { return nil }
                if let t = d.unacked?.timer { s.retransmits.cancel(t) }
                return d
            }
        }
        guard removed != nil else {
            send(request.makeResponse(status: 481), key, stack)
            return
        }
        releaseOne()
        send(request.makeResponse(status: 200), key, stack)
    }

    /// The dialog of a request sent by the remote side: Call-ID, To tag (ours), From tag (theirs).
    private func dialogID(of request: SIPMessage) -> DialogID? {
        if let e = request.essentials {
            // The parser's offsets: no header parsed again.
            guard let callID = e.callID, let local = e.toTag, let remote = e.fromTag else { return nil }
            return DialogID(callID: callID, localTag: local, remoteTag: remote)
        }
        guard let callID = request.callID, let local = request.to?.tag, let remote = request.from?.tag else {
            return nil
        }
        return DialogID(callID: callID, localTag: local, remoteTag: remote)
    }

    // MARK: - Timers

    /// The timer queue's clock: the time since `origin`.
    private func clockNow() -> Duration { .nanoseconds((NIODeadline.now() - origin).nanoseconds) }

    /// Starts `timer` in `stripe` (replacing a pending one of the same kind), taking its lock.
    private func start(_ timer: Timer, after delay: Duration, stripe: Int, stack: SIPStack) {
        let now = clockNow()
        stripes[stripe].withLockedValue { start(timer, after: delay, now: now, stripe: stripe, in: &$0, stack: stack) }
    }

    /// Starts `timer` under the stripe's lock, and moves its wake-up task earlier if it now fires
    /// too late.
    private func start(
        _ timer: Timer, after delay: Duration, now: Duration, stripe: Int, in s: inout Stripe,
        stack: SIPStack
    ) {
        s.timers.advance(to: now)
        s.timers.start(timer, after: delay)
        arm(&s, stripe: stripe, stack: stack)
    }

    /// Keeps one scheduled task per stripe, for its earliest pending timer.
    private func arm(_ s: inout Stripe, stripe: Int, stack: SIPStack) {
        var earliest = s.timers.nextDeadline()
        if let r = s.retransmits.nextDeadline(), earliest.map({ r < $0 }) ?? true { earliest = r }
        guard let next = earliest else { return }
        let deadline = origin + TimeAmount(next)
        if let w = s.wakeUp, w.deadline <= deadline { return }
        s.wakeUp?.task.cancel()
        s.wakeUp = (
            deadline,
            timerLoop.scheduleTask(deadline: deadline) { [weak self, weak stack] in
                guard let self, let stack else { return }
                self.fire(stripe: stripe, stack: stack)
            }
        )
    }

    /// Runs every timer of `stripe` that is due, each outside the lock, then re-arms its wake-up task.
    private func fire(stripe: Int, stack: SIPStack) {
        let now = clockNow()
        let (due, steps) = stripes[stripe].withLockedValue { s -> ([Timer], [RetransmitStep]) in
            s.wakeUp = nil
            var due: [Timer] = []
            while let next = s.timers.popNext(notAfter: now) { due.append(next.key) }
            var steps: [RetransmitStep] = []
            s.retransmits.advance(to: now)
            while let next = s.retransmits.popNext(notAfter: now) { steps.append(retransmitStep(next.key, in: &s)) }
            return (due, steps)
        }
        for step in steps { perform(step, stack: stack) }
        for timer in due {
            switch timer {
            case .ring(let key): ring(key, stripe: stripe, stack: stack)
            case .answer(let key): answer(key, stripe: stripe, stack: stack)
            }
        }
        stripes[stripe].withLockedValue { arm(&$0, stripe: stripe, stack: stack) }
    }

    // MARK: - Helpers

    /// Sends a response on the request's server transaction (statelessly when `key` is nil).
    private func send(_ response: SIPMessage, _ key: ServerTransactionKey?, _ stack: SIPStack) {
        do {
            if let key { try stack.send(response, for: key) } else { try stack.send(response) }
        } catch {
            logger.debug("response not sent", metadata: ["sip.error": "\(error)"])
        }
    }

    private func milliseconds() -> UInt64 {
        let d = clock.now - epoch
        return UInt64(d.components.seconds) * 1000 + UInt64(d.components.attoseconds / 1_000_000_000_000_000)
    }

    /// This endpoint's address as the request reached it: the transport of the request's top Via,
    /// its advertised or bound host (the Request-URI's host when bound to a wildcard address).
    /// Kept per Via transport once worked out, unless the host came from the Request-URI.
    func localAddress(for request: SIPMessage, viaTransport written: String? = nil, stack: SIPStack) -> (
        host: String, contact: String
    ) {
        let viaTransport = (written ?? request.essentials?.transport?.string ?? request.topVia?.transport ?? "UDP")
            .uppercased()
        if let known = localAddresses.withLockedValue({ $0[viaTransport] }) { return known }
        let transport = stack.transports.first { $0.kind.viaName == viaTransport } ?? stack.transports.first
        var host = transport?.advertisedHost ?? transport?.localAddress?.sipHost ?? "127.0.0.1"
        let wildcard = host == "0.0.0.0" || host == "[::]"
        if wildcard, let uriHost = request.requestURI?.sipURI?.host.text { host = uriHost }
        var contact = "sip:\(options.contactUser)@\(host)"
        if let port = transport?.localAddress?.port { contact += ":\(port)" }
        if let kind = transport?.kind, kind != .udp { contact += ";transport=\(kind.uriParameter)" }
        if !wildcard, transport?.localAddress != nil {
            localAddresses.withLockedValue { $0[viaTransport] = (host, contact) }
        }
        return (host, contact)
    }

    /// RFC 3264 §6: an answer with one m= line per offered one, each taking the first format
    /// offered. This endpoint sends and receives no media, so each stream is `inactive`. Without
    /// an offer, the 2xx carries an offer of its own (§13.2.1, the ACK then answers it).
    func sdpAnswer(offer: ArraySlice<UInt8>, host: String) -> [UInt8] {
        let ipv6 = host.contains(":")
        let address = ipv6 ? String(host.drop { $0 == "[" }.prefix { $0 != "]" }) : host
        let ip = ipv6 ? "IP6" : "IP4"
        // RFC 4566 §5.2: a session id unique to this endpoint; a counter is enough.
        let session = sessions.wrappingAdd(1, ordering: .relaxed).newValue
        var sdp: [UInt8] = []
        sdp.reserveCapacity(128 + offer.count / 2)
        sdp += "v=0\r\no=sippet ".utf8
        sdp += String(session).utf8
        sdp += " 1 IN ".utf8
        sdp += ip.utf8
        sdp.append(UInt8(ascii: " "))
        sdp += address.utf8
        sdp += "\r\ns=-\r\nc=IN ".utf8
        sdp += ip.utf8
        sdp.append(UInt8(ascii: " "))
        sdp += address.utf8
        sdp += "\r\nt=0 0\r\n".utf8
        var media = 0
        var lineStart = offer.startIndex
        while lineStart < offer.endIndex {
            let lineEnd = offer[lineStart...].firstIndex { $0 == 13 || $0 == 10 } ?? offer.endIndex
            let line = offer[lineStart..<lineEnd]
            lineStart = lineEnd < offer.endIndex ? offer.index(after: lineEnd) : lineEnd
            // "m=<media> <port> <proto> <fmt> …" (§5.14) → "m=<media> 9 <proto> <first fmt>".
            guard line.count > 2, line.first == UInt8(ascii: "m"),
                line[line.index(after: line.startIndex)] == UInt8(ascii: "=")
            else { continue }
            // The first four space-separated fields, found in place (a split allocates an array).
            var f: (ArraySlice<UInt8>, ArraySlice<UInt8>, ArraySlice<UInt8>) = ([], [], [])
            var rest = line.dropFirst(2)
            var n = 0
            while n < 4, !rest.isEmpty {
                let end = rest.firstIndex(of: UInt8(ascii: " ")) ?? rest.endIndex
                let field = rest[rest.startIndex..<end]
                rest = rest[end...].drop { $0 == UInt8(ascii: " ") }
                guard !field.isEmpty else { continue }
                switch n {
                case 0: f.0 = field
                case 2: f.1 = field
                case 3: f.2 = field
                default: break
                }
                n += 1
            }
            guard n == 4 else { continue }
            sdp += "m=".utf8
            sdp += f.0
            sdp += " 9 ".utf8
            sdp += f.1
            sdp.append(UInt8(ascii: " "))
            sdp += f.2
            sdp += "\r\na=inactive\r\n".utf8
            media += 1
        }
        if media == 0 { sdp += "m=audio 9 RTP/AVP 0\r\na=inactive\r\n".utf8 }
        return sdp
    }
}
