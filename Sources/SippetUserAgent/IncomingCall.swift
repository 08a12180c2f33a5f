import NIOConcurrencyHelpers
import SIPDialog
import SIPSyntax
import SIPTransaction
import Sippet

/// A call that arrived (RFC 3261 §13.3): its INVITE, to be answered with ``progress(_:reason:body:headers:)``
/// (ringing), then ``accept(answer:headers:)``, ``reject(_:reason:headers:)`` or
/// ``redirect(to:status:)``.
///
/// The caller may cancel it first (§9.2): the agent then answers the CANCEL 200 and the INVITE
/// 487, ``events`` yields ``Event/cancelled(_:)``, and answering it throws
/// ``CallFailure/alreadyAnswered``.
public final class IncomingCall: Sendable {
    /// What happens to the call before it is answered; the stream ends with its final response.
    public enum Event: Sendable {
        /// The caller cancelled it (the CANCEL request): the INVITE has been answered 487.
        case cancelled(SIPMessage)
    }

    /// The agent that received it.
    public let agent: SIPUserAgent
    /// The INVITE.
    public let invite: SIPMessage
    /// Its server transaction.
    public let key: ServerTransactionKey
    /// What happens before the final response.
    public let events: AsyncStream<Event>
    private let continuation: AsyncStream<Event>.Continuation
    /// The To tag of every response this side sends to it (RFC 3261 §12.1.1: one dialog).
    let toTag = SIPIdentifiers.tag()
    /// The session timer asked for (RFC 4028 §9).
    let negotiation: SessionTimer.Negotiation
    private let answered = NIOLockedValueBox(false)
    /// Reliable provisional responses (RFC 3262 §3): their RSeq, retransmission and PRACKs, the
    /// task that retransmits them, and a 2xx held until the last one is acknowledged.
    private let reliable = NIOLockedValueBox(Reliable())

    private struct Reliable {
        var provisionals: ReliableProvisionals?
        var task: Task<Void, Never>?
        var heldAnswer: (response: SIPMessage, call: Call)?
        let origin = ContinuousClock.now
    }

    init(agent: SIPUserAgent, invite: SIPMessage, key: ServerTransactionKey, negotiation: SessionTimer.Negotiation) {
        self.agent = agent
        self.invite = invite
        self.key = key
        self.negotiation = negotiation
        (events, continuation) = AsyncStream.makeStream(of: Event.self)
    }

    /// The offer the INVITE carries (RFC 3264), if any.
    public var offer: SIPBody? { SIPBody(of: invite) }

    /// Sends a provisional response (101-199; 180 Ringing by default, 183 with early media),
    /// with this call's To tag: an early dialog (§12.1.1).
    ///
    /// `reliable` (RFC 3262 §3): sent with RSeq and `Require: 100rel`, again from T1 doubling until
    /// the caller's PRACK (answered 200), and a later one only after it; with no PRACK in 64·T1
    /// the INVITE gets 504. By default reliable when the INVITE requires `100rel`; asking for it
    /// of a caller that does not support it throws.
    public func progress(
        _ status: Int = 180, reason: String? = nil, body: SIPBody? = nil, headers: [(SIPHeaderName, String)] = [],
        reliable: Bool? = nil
    ) throws(CallFailure) {
        guard (101...199).contains(status) else { throw .stack(.invalidMessage("\(status) is not a provisional")) }
        guard !answered.withLockedValue({ $0 }) else { throw .alreadyAnswered }
        var r = invite.makeDialogResponse(
            status: status, toTag: toTag, contact: agent.contact(answering: invite), reason: reason)
        for (n, v) in headers { r.headers.append(n, v) }
        r.setBody(body)
        let required = invite.hasOption("100rel", in: .require)
        let supported = required || invite.hasOption("100rel", in: .supported)
        guard reliable ?? required else {
            try send(r)
            return
        }
        guard supported, status > 100 else {
            throw .stack(.invalidMessage("a reliable \(status) needs a caller that supports 100rel (RFC 3262 §3)"))
        }
        let t1 = agent.stack.configuration.timers.t1
        let actions = self.reliable.withLockedValue { s -> [ReliableProvisionals.Action] in
            let now = s.origin.duration(to: .now)
            var p = s.provisionals ?? ReliableProvisionals(t1: t1)
            defer { s.provisionals = p }
            return p.send(r, now: now)
        }
        agent.earlyDialog(self, toTag: toTag)
        try perform(actions)
        armRetransmission()
    }

    /// Sends what the reliable provisionals ask: a response, or the give-up's 504.
    private func perform(_ actions: [ReliableProvisionals.Action]) throws(CallFailure) {
        for action in actions {
            switch action {
            case .send(let response): try send(response)
            case .giveUp(let response):
                // §3: no PRACK in 64·T1. A 2xx held for it is not sent; its call ends.
                let held = reliable.withLockedValue { s in
                    defer { s.heldAnswer = nil }
                    return s.heldAnswer?.call
                }
                held?.end(.failed(status: 504))
                if take() || held != nil {
                    finish()
                    try send(response)
                }
            }
        }
    }

    /// Keeps one task that retransmits the outstanding reliable provisional when due.
    private func armRetransmission() {
        let start = reliable.withLockedValue { s -> Bool in
            guard s.task == nil, s.provisionals?.isWaiting == true else { return false }
            return true
        }
        guard start else { return }
        let task = Task { [self] in
            while let (due, origin) = reliable.withLockedValue({ s in
                s.provisionals?.nextDeadline.map { ($0, s.origin) }
            }) {
                try? await Task.sleep(until: origin + due, clock: .continuous)
                if Task.isCancelled { return }
                let actions = reliable.withLockedValue { s -> [ReliableProvisionals.Action] in
                    let now = s.origin.duration(to: .now)
                    guard var p = s.provisionals else { return [] }
                    defer { s.provisionals = p }
                    return p.timerFired(now: now, invite: invite)
                }
                try? perform(actions)
            }
            reliable.withLockedValue { $0.task = nil }
        }
        reliable.withLockedValue { s in
            if s.task == nil { s.task = task } else { task.cancel() }
        }
    }

    /// A PRACK in this call's early dialog (RFC 3262 §3): 200 when its RAck acknowledges the
    /// outstanding reliable provisional (the next one, or a 2xx held for it, then goes), else 481.
    func receivePRACK(_ prack: SIPMessage, key: ServerTransactionKey) {
        let rack = try? prack.headers.first(.rack)
        let inviteCSeq = invite.cseq?.sequence ?? 0
        let (verdict, held) = reliable.withLockedValue {
            s -> (ReliableProvisionals.PRACKVerdict, (SIPMessage, Call)?) in
            guard let rack, var p = s.provisionals else { return (.noMatch, nil) }
            let verdict = p.receivePRACK(rack, inviteCSeq: inviteCSeq, now: s.origin.duration(to: .now))
            s.provisionals = p
            guard !verdict.isNoMatch, !p.isWaiting, let h = s.heldAnswer else { return (verdict, nil) }
            s.heldAnswer = nil
            return (verdict, (h.response, h.call))
        }
        guard case .acknowledged(let actions) = verdict else {
            _ = try? agent.stack.send(prack.makeResponse(status: 481), for: key)
            return
        }
        _ = try? agent.stack.send(prack.makeResponse(status: 200), for: key)
        try? perform(actions)
        armRetransmission()
        if let (ok, call) = held {
            _ = try? send(ok)
            call.answerSent(ok)
            agent.earlyDialogEnded(self, toTag: toTag)
        }
    }

    /// Answers 200 with `answer` (RFC 3264 §6; or this side's offer when the INVITE had none,
    /// answered in the ACK) and returns the call. The 2xx is sent again until its ACK
    /// (§13.3.1.4). When the INVITE asked for a session timer, the 200 carries it (RFC 4028 §9).
    public func accept(answer: SIPBody?, headers: [(SIPHeaderName, String)] = []) throws(CallFailure) -> Call {
        var ok = invite.makeDialogResponse(status: 200, toTag: toTag, contact: agent.contact(answering: invite))
        ok.headers.append(.supported, SIPUserAgent.supportedAsServer)
        ok.headers.append(.allow, SIPUserAgent.methods.map(\.rawValue).joined(separator: ", "))
        var timer: (SessionTimer, refresher: Bool)?
        if case .timer(let t, let require) = negotiation {
            ok.headers.append(.sessionExpires, t.headerValue)
            if require { ok.headers.append(.require, "timer") }
            timer = (t, t.isRefresher(.uas))
        }
        for (n, v) in headers { ok.headers.append(n, v) }
        ok.setBody(answer)
        let dialog: Dialog
        do { dialog = try Dialog.uas(request: invite, response: ok) } catch {
            // No dialog can be made (the INVITE has no usable Contact): refused as malformed.
            try? reject(400, reason: "Bad Request")
            throw .stack(.invalidMessage("\(error)"))
        }
        guard take() else { throw .alreadyAnswered }
        let call = Call(agent: agent, dialog: dialog)
        call.acceptedInvite(invite, response: ok, timer: timer)
        agent.add(call)
        // RFC 3262 §3: a 2xx after a reliable provisional not yet acknowledged (which may carry
        // the answer) waits for its PRACK.
        let held = reliable.withLockedValue { s -> Bool in
            guard s.provisionals?.isWaiting == true else { return false }
            s.heldAnswer = (ok, call)
            return true
        }
        finish()
        if held { return call }
        do {
            try send(ok)
        } catch {
            call.end(.failed(status: 500))
            throw error
        }
        call.answerSent(ok)
        return call
    }

    /// Answers with a final failure (300-699; 486 Busy Here, 603 Decline, …).
    public func reject(_ status: Int, reason: String? = nil, headers: [(SIPHeaderName, String)] = [])
        throws(CallFailure)
    {
        guard (300...699).contains(status) else { throw .stack(.invalidMessage("\(status) is not a final failure")) }
        guard take() else { throw .alreadyAnswered }
        var r = invite.makeResponse(status: status, reason: reason, toTag: toTag)
        for (n, v) in headers { r.headers.append(n, v) }
        finish()
        try send(r)
    }

    /// Redirects the caller (RFC 3261 §8.3.4, §21.3): a 3xx (302 Moved Temporarily by default)
    /// with `contacts` in Contact.
    public func redirect(to contacts: [URI], status: Int = 302) throws(CallFailure) {
        guard (300...399).contains(status) else { throw .stack(.invalidMessage("\(status) is not a redirection")) }
        try reject(status, headers: contacts.map { (.contact, "<\($0)>") })
    }

    /// The CANCEL came (§9.2): 487 unless a final response was sent.
    func cancelled(by cancel: SIPMessage) {
        guard take() else { return }
        let r = invite.makeResponse(status: 487, toTag: toTag)
        continuation.yield(.cancelled(cancel))
        finish()
        _ = try? agent.stack.send(r, for: key)
    }

    /// Marks the call answered; false when it was already.
    private func take() -> Bool {
        answered.withLockedValue { done in
            defer { done = true }
            return !done
        }
    }

    private func finish() {
        agent.finished(self)
        continuation.finish()
        let task = reliable.withLockedValue { s -> Task<Void, Never>?? in
            guard s.heldAnswer == nil else { return nil }
            s.provisionals?.finish()
            defer { s.task = nil }
            return .some(s.task)
        }
        guard let task else { return }
        task?.cancel()
        agent.earlyDialogEnded(self, toTag: toTag)
    }

    private func send(_ response: SIPMessage) throws(CallFailure) {
        do { _ = try agent.stack.send(response, for: key) } catch { throw .stack(error) }
    }
}
