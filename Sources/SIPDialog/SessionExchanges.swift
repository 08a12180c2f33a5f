import SIPSyntax

/// The offer/answer state of one session (RFC 3264 §4, RFC 6337 §2) and the rules for requests
/// that cross or overlap in its dialog (RFC 3261 §14, RFC 3311 §5).
///
/// A value with no I/O: the caller tells it each INVITE, UPDATE, response and ACK it sends or
/// receives, and asks ``receive(_:hasOffer:)`` what to answer a re-INVITE or UPDATE:
///
/// - An INVITE that arrives before this side has sent the final response to an earlier one gets
///   500 with a Retry-After of 0 to 10 seconds (RFC 3261 §14.2).
/// - An INVITE that arrives while an INVITE this side sent is in progress gets 491 (§14.2): both
///   sides tried at once (glare); each retries after ``GlareRetry`` says.
/// - An offer (in an UPDATE or INVITE) that arrives while this side's own offer waits for its answer
///   gets 491; one that arrives while this side still owes an answer to the other's offer gets 500
///   with Retry-After (RFC 3311 §5.2).
public struct SessionExchanges: Hashable, Sendable {
    /// Where the session's offer/answer exchange stands (RFC 3264 §4).
    public enum OfferState: Hashable, Sendable {
        /// No offer outstanding: either side may make one.
        case stable
        /// This side made an offer and waits for the answer.
        case localOffer
        /// The other side made an offer that this side has not answered.
        case remoteOffer
    }

    /// What to do with a request received in the session.
    public enum Verdict: Hashable, Sendable {
        /// Take it.
        case accept
        /// Answer it with this status (491 or 500) and no more; with `retryAfter`, a Retry-After
        /// header of that many seconds (RFC 3261 §14.2, RFC 3311 §5.2: chosen in 0...10).
        case reject(status: Int, retryAfter: Int?)
    }

    /// The offer/answer state.
    public private(set) var offer: OfferState = .stable
    /// The CSeq number of an INVITE this side sent whose final response has not come (§14.1).
    public private(set) var outgoingInvite: UInt32?
    /// The CSeq number of an INVITE this side received and has not answered finally (§14.2).
    public private(set) var incomingInvite: UInt32?

    /// A session with no exchange in progress (the initial INVITE's 2xx and its ACK done).
    public init() {}

    /// Whether this side may send an offer now (RFC 3264 §4: one offer at a time; RFC 3261 §14.1:
    /// no re-INVITE while another INVITE transaction is in progress in either direction).
    public var canSendOffer: Bool { offer == .stable && outgoingInvite == nil && incomingInvite == nil }

    // MARK: - Requests received

    /// Checks a request received in the session and, when accepted, records it. `hasOffer`: the
    /// request carries a session description (an offer, for an INVITE or UPDATE). `random(n)`
    /// gives the Retry-After in `0...n` (a test gives a fixed one).
    public mutating func receive(
        _ request: SIPMessage, hasOffer: Bool, random: (Int) -> Int = { Int.random(in: 0...$0) }
    ) -> Verdict {
        guard let method = request.method, let cseq = request.cseq?.sequence else {
            return .reject(status: 400, retryAfter: nil)
        }
        switch method {
        case .invite:
            // §14.2: a second INVITE before the final response to the first.
            if incomingInvite != nil { return .reject(status: 500, retryAfter: random(10)) }
            // §14.2: glare with an INVITE this side sent.
            if outgoingInvite != nil { return .reject(status: 491, retryAfter: nil) }
            if let verdict = crossing(hasOffer: hasOffer, random: random) { return verdict }
            incomingInvite = cseq
            if hasOffer { offer = .remoteOffer }
        case .update:
            if let verdict = crossing(hasOffer: hasOffer, random: random) { return verdict }
            if hasOffer { offer = .remoteOffer }
        case .ack:
            // An ACK with a body answers the offer this side put in its 2xx (RFC 3264 §4).
            if hasOffer, offer == .localOffer { offer = .stable }
        default:
            break
        }
        return .accept
    }

    /// RFC 3311 §5.2 (and RFC 6337 §3.1 for a re-INVITE): an offer that crosses this side's own
    /// gets 491; one that comes before this side answered the last gets 500 with Retry-After.
    private func crossing(hasOffer: Bool, random: (Int) -> Int) -> Verdict? {
        guard hasOffer else { return nil }
        switch offer {
        case .localOffer: return .reject(status: 491, retryAfter: nil)
        case .remoteOffer: return .reject(status: 500, retryAfter: random(10))
        case .stable: return nil
        }
    }

    /// Records the response this side sent to a request received in the session. A 2xx (or a
    /// reliable provisional) with a body answers the offer received, or is this side's offer when
    /// the request had none (RFC 3264 §4: the answer then comes in the ACK); a final failure
    /// rejects the offer received, and the session is as before it (RFC 3261 §14.2, RFC 3311 §5.2).
    public mutating func sent(_ response: SIPMessage, hasBody: Bool) {
        guard let status = response.status, let method = response.cseq?.method else { return }
        if method == .invite, status >= 200, response.cseq?.sequence == incomingInvite { incomingInvite = nil }
        guard method == .invite || method == .update else { return }
        if status >= 300 {
            if offer == .remoteOffer { offer = .stable }
        } else if hasBody {
            offer = offer == .remoteOffer ? .stable : (method == .invite ? .localOffer : offer)
        }
    }

    // MARK: - Requests sent

    /// Records a re-INVITE or UPDATE this side sent (`hasOffer`: with a session description).
    /// Check ``canSendOffer`` before.
    public mutating func sent(_ request: SIPMessage, hasOffer: Bool) {
        guard let method = request.method else { return }
        if method == .invite { outgoingInvite = request.cseq?.sequence }
        if hasOffer, method == .invite || method == .update { offer = .localOffer }
        // An ACK with a body answers the offer the other side put in its 2xx.
        if method == .ack, hasOffer, offer == .remoteOffer { offer = .stable }
    }

    /// A request this side sent got no final response (a timeout, a transport error): the
    /// session is as it was before it.
    public mutating func failed(_ request: SIPMessage) {
        guard let method = request.method else { return }
        if method == .invite, request.cseq?.sequence == outgoingInvite { outgoingInvite = nil }
        if offer == .localOffer, method == .invite || method == .update, !request.body.isEmpty { offer = .stable }
    }

    /// Records a response to a re-INVITE or UPDATE this side sent. A 2xx with a body answers this
    /// side's offer, or is the other side's offer when the request had none (answered in the ACK);
    /// a final failure (491 included) leaves the session as it was before the request (RFC 3261
    /// §14.1).
    public mutating func received(_ response: SIPMessage, hasBody: Bool) {
        guard let status = response.status, status >= 200, let method = response.cseq?.method else { return }
        if method == .invite, response.cseq?.sequence == outgoingInvite { outgoingInvite = nil }
        guard method == .invite || method == .update else { return }
        if status >= 300 {
            if offer == .localOffer { offer = .stable }
        } else if hasBody {
            offer = offer == .localOffer ? .stable : (method == .invite ? .remoteOffer : offer)
        }
    }
}
