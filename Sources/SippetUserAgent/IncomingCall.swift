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
    public func progress(
        _ status: Int = 180, reason: String? = nil, body: SIPBody? = nil, headers: [(SIPHeaderName, String)] = []
    ) throws(CallFailure) {
        guard (101...199).contains(status) else { throw .stack(.invalidMessage("\(status) is not a provisional")) }
        guard !answered.withLockedValue({ $0 }) else { throw .alreadyAnswered }
        var r = invite.makeDialogResponse(
            status: status, toTag: toTag, contact: agent.contact(answering: invite), reason: reason)
        for (n, v) in headers { r.headers.append(n, v) }
        r.setBody(body)
        try send(r)
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
        finish()
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
    }

    private func send(_ response: SIPMessage) throws(CallFailure) {
        do { _ = try agent.stack.send(response, for: key) } catch { throw .stack(error) }
    }
}
