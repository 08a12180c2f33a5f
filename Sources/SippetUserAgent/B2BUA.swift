import SIPDialog
import SIPSyntax
import Sippet

/// A back-to-back user agent (RFC 3261 §6, RFC 7092 §3.1): an incoming call answered by placing a
/// call of its own, each leg a dialog of its own, the two bridged.
///
/// ``bridge(_:to:from:headers:using:)`` places the outgoing leg with the caller's offer and
/// passes across the legs:
/// - the callee's provisional responses (180, 183 and their early media) to the caller;
/// - its final response: a 2xx answers the caller with the callee's answer, a failure rejects
///   the caller with the same status (and a 3xx's Contact);
/// - the caller's CANCEL, as a CANCEL of the outgoing leg (RFC 3261 §9.1);
/// - once both are up, a re-INVITE, UPDATE or INFO of either side to the other, and its answer
///   back; a BYE of either side (or a leg that ends by itself: no ACK, an expired session) as a
///   BYE of the other.
public enum B2BUA {
    /// A leg of a bridged call.
    public enum Leg: String, Sendable, Hashable {
        /// The incoming call.
        case caller
        /// The call the B2BUA placed.
        case callee
    }

    /// How a bridged call ended.
    public enum Outcome: Sendable, Hashable, CustomStringConvertible {
        /// Both legs were up; `leg` ended first, for `reason`, and the other was ended with BYE.
        case bridged(endedBy: Leg, reason: Call.EndReason)
        /// The callee (or the network toward it) answered with this final failure, passed on.
        case rejected(status: Int)
        /// The caller cancelled before the answer.
        case cancelled
        /// The outgoing leg could not be placed, or no final response came (the caller got 408
        /// or 503).
        case failed(String)

        /// "bridged, ended by caller (remoteBye)", "rejected 486", …
        public var description: String {
            switch self {
            case .bridged(let leg, let reason): "bridged, ended by \(leg.rawValue) (\(reason))"
            case .rejected(let status): "rejected \(status)"
            case .cancelled: "cancelled"
            case .failed(let why): "failed: \(why)"
            }
        }
    }

    /// Bridges `incoming` to a new call to `target` and returns when both legs have ended.
    /// `from`: the outgoing leg's From (by default the caller's, with a tag of this side);
    /// `headers`: added to the outgoing INVITE; `agent`: the agent that places the outgoing leg
    /// (by default the one that received the call; another one for a B2BUA between two networks).
    public static func bridge(
        _ incoming: IncomingCall, to target: URI, from: NameAddress? = nil, headers: [(SIPHeaderName, String)] = [],
        using agent: SIPUserAgent? = nil
    ) async -> Outcome {
        let agent = agent ?? incoming.agent
        var caller = from ?? incoming.invite.from
        caller?.parameters.remove("tag")
        let outgoing: OutgoingCall
        do {
            outgoing = try agent.call(to: target, from: caller, offer: incoming.offer, headers: headers)
        } catch {
            try? incoming.reject(503)
            return .failed(error.description)
        }
        // The caller's CANCEL cancels the callee's leg; the stream ends with the caller's answer.
        let watcher = Task {
            for await event in incoming.events {
                if case .cancelled = event { outgoing.cancel() }
            }
        }
        defer { watcher.cancel() }
        // The callee's answer may come in a reliable provisional (RFC 3262), with none in the 2xx.
        var early: SIPBody?
        for await event in outgoing.events {
            switch event {
            case .provisional(let r):
                guard let status = r.status, status > 100 else { continue }
                if let b = SIPBody(of: r) { early = b }
                try? incoming.progress(status, reason: r.reasonPhrase, body: SIPBody(of: r))
            case .answered(let callee, let ok):
                guard let callerLeg = try? incoming.accept(answer: SIPBody(of: ok) ?? early) else {
                    // The caller cancelled as the callee answered: end the callee's leg.
                    _ = try? await callee.bye()
                    return .cancelled
                }
                return await relay(caller: callerLeg, callee: callee)
            case .rejected(let r):
                let status = Self.passed(r.status ?? 500)
                let contacts: [(SIPHeaderName, String)] =
                    (300..<400).contains(status) ? r.headers.values(.contact).map { (.contact, $0) } : []
                do {
                    try incoming.reject(status, reason: r.reasonPhrase, headers: contacts)
                } catch {
                    return .cancelled
                }
                return .rejected(status: status)
            case .failed(let error):
                try? incoming.reject(error.isTimeout ? 408 : 503)
                return .failed(error.description)
            }
        }
        return .failed("the outgoing call ended without a final response")
    }

    /// The status passed to the caller for the callee's final failure: the same, except those
    /// that ask the caller for something only the callee's side can use (credentials for another
    /// realm, RFC 3261 §22; an extension or interval of that hop, §20.32, RFC 4028 §6), which
    /// become 500.
    static func passed(_ status: Int) -> Int {
        [401, 407, 420, 421, 422, 423, 494].contains(status) ? 500 : status
    }

    /// Passes the requests of each leg to the other until one ends; then ends the other.
    static func relay(caller: Call, callee: Call) async -> Outcome {
        await withTaskGroup(of: (Leg, Call.EndReason)?.self) { group in
            group.addTask { await pass(from: caller, to: callee).map { (.caller, $0) } }
            group.addTask { await pass(from: callee, to: caller).map { (.callee, $0) } }
            var first: (Leg, Call.EndReason)?
            for await ended in group where first == nil { first = ended }
            guard let first else { return .failed("the call ended with no reason") }
            return .bridged(endedBy: first.0, reason: first.1)
        }
    }

    /// The requests of `from`, each sent in `to` and its answer sent back, until `from` ends:
    /// then `to` is ended with BYE and the reason returned (nil when `from` ended because this
    /// side ended it, after the other leg).
    private static func pass(from: Call, to: Call) async -> Call.EndReason? {
        for await event in from.events {
            switch event {
            case .request(let r):
                // Each request in a task of its own, so that a BYE is never held behind one.
                Task {
                    guard let method = r.message.method else { return }
                    let result: Result<SIPMessage, CallFailure>
                    do throws(CallFailure) {
                        result = .success(try await to.request(method, body: r.body))
                    } catch { result = .failure(error) }
                    switch result {
                    case .success(let answer):
                        r.respond(answer.status ?? 500, reason: answer.reasonPhrase, body: SIPBody(of: answer))
                    case .failure(.exchangeInProgress): r.respond(491)
                    case .failure(.ended): r.respond(481)
                    case .failure: r.respond(500)
                    }
                }
            case .acknowledged(let answer):
                // The answer to an offer the other leg made in its 2xx (a late offer, relayed).
                try? to.acknowledge(answer: answer)
            case .ended(let reason):
                _ = try? await to.bye()
                return reason == .localBye ? nil : reason
            }
        }
        return nil
    }
}
