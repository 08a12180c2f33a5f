import SIPSyntax

/// The INVITE server transaction (RFC 3261 §17.2.1, Figure 7, as amended by RFC 6026 §7.1 and §8.7).
///
/// ```
///  start() ──► Proceeding ──300-699 from TU──► Completed ──ACK──► Confirmed ──Timer I──► Terminated
///                  │                               ╰──Timer H──► Terminated
///                  ╰──2xx from TU──► Accepted ──Timer L──► Terminated
/// ```
///
/// It passes the INVITE to the TU and sends 100 (Trying) itself when the TU has sent no
/// provisional response within 200 ms, and never after one (§17.2.1); it re-sends the latest
/// provisional response when the INVITE is retransmitted; it retransmits a non-2xx final response
/// on Timer G (T1, doubling up to T2, unreliable transports only) until the ACK or Timer H; it
/// absorbs ACKs in Confirmed; and after a 2xx it stays in Accepted for Timer L so that INVITE
/// retransmissions are absorbed rather than taken for new requests (RFC 6026 §7.1). It keeps the
/// INVITE only until the 100 question is settled, then only the response it must retransmit.
public struct InviteServerTransaction: TransactionStateMachine {
    /// The states of Figure 7 (RFC 6026).
    public enum State: Sendable, Hashable, CustomStringConvertible {
        /// RFC 3261 §17.2.1: the INVITE is with the TU; provisional responses go out.
        case proceeding
        /// RFC 3261 §17.2.1: a 300-699 response went out and is retransmitted until the ACK.
        case completed
        /// RFC 3261 §17.2.1: the ACK arrived; its retransmissions are absorbed until Timer I.
        case confirmed
        /// RFC 6026 §8.7: a 2xx went out; INVITE retransmissions are absorbed until Timer L.
        case accepted
        /// RFC 3261 §17.2.1: over.
        case terminated

        /// The RFC's name of the state.
        public var description: String {
            switch self {
            case .proceeding: return "Proceeding"
            case .completed: return "Completed"
            case .confirmed: return "Confirmed"
            case .accepted: return "Accepted"
            case .terminated: return "Terminated"
            }
        }
    }

    private enum Machine: Sendable {
        /// Not boxed: a message is one reference to its storage, so a state that holds one needs no
        /// box of its own (an allocation per transaction).
        case idle(invite: SIPMessage)
        /// `invite` is kept while the automatic 100 (Trying) may still be due; `provisional` is the
        /// latest provisional response sent, re-sent on INVITE retransmissions.
        case proceeding(invite: SIPMessage?, provisional: [UInt8]?)
        /// `timerG` is the interval Timer G was last started with, in whole nanoseconds.
        case completed(response: [UInt8], timerG: Int64)
        case confirmed
        case accepted
        case terminated
    }

    // Laid out widest first, Timer G's interval in whole nanoseconds: 32 bytes where 40 were, in
    // every transaction a server keeps for 32 s.
    /// The timer values (RFC 3261 §17.1.1.1).
    public let timers: TransactionTimers
    private var machine: Machine
    /// Whether responses go over a reliable transport (then Timer G is not started and I is zero).
    public let reliability: TransportReliability

    /// A transaction for a received INVITE, not yet started. Nil when `invite` is not an INVITE or
    /// lacks what its key needs (RFC 3261 §17.2.3).
    public init?(invite: SIPMessage, reliability: TransportReliability, timers: TransactionTimers = .default) {
        guard invite.method == .invite, ServerTransactionKey(request: invite) != nil else { return nil }
        self.init(validated: invite, reliability: reliability, timers: timers)
    }

    /// A transaction for a received INVITE whose key was already checked.
    @usableFromInline
    init(validated invite: SIPMessage, reliability: TransportReliability, timers: TransactionTimers) {
        self.reliability = reliability
        self.timers = timers
        self.machine = .idle(invite: invite)
    }

    /// The current state (``State/proceeding`` before ``start()`` too).
    public var state: State {
        switch machine {
        case .idle, .proceeding: return .proceeding
        case .completed: return .completed
        case .confirmed: return .confirmed
        case .accepted: return .accepted
        case .terminated: return .terminated
        }
    }

    /// Whether the automatic 100 (Trying) is still due (RFC 3261 §17.2.1): the TU has sent no
    /// response yet.
    public var isTryingDue: Bool {
        if case .proceeding(.some, _) = machine { return true } else { return false }
    }

    /// Whether the machine reached Terminated.
    public var isTerminated: Bool { if case .terminated = machine { return true } else { return false } }

    /// The bytes the transaction holds to re-send: the latest provisional, or the final response.
    public var storedByteCount: Int {
        switch machine {
        case .proceeding(_, let p): return p?.count ?? 0
        case .completed(let r, _): return r.count
        case .idle, .confirmed, .accepted, .terminated: return 0
        }
    }

    /// RFC 3261 §17.2.1: enter Proceeding, pass the INVITE to the TU, and start the 200 ms timer
    /// after which the transaction sends 100 (Trying) itself (at once when
    /// ``TransactionTimers/tryingDelay`` is zero). Only the first call does anything.
    public mutating func start() -> TransactionActions {
        guard case .idle(let invite) = machine else { return [] }
        var out: TransactionActions = [.passToTU(invite)]
        if timers.tryingDelay == .zero {
            let trying = OwnMessages.bytes(of: invite.makeResponse(status: 100))
            machine = .proceeding(invite: nil, provisional: trying)
            out.append(.send(trying))
        } else {
            machine = .proceeding(invite: invite, provisional: nil)
            out.append(.startTimer(.trying, timers.tryingDelay))
        }
        return out
    }

    /// A request matched this transaction: a retransmission of the INVITE, or an ACK
    /// (RFC 3261 §17.2.1, RFC 6026 §8.7).
    public mutating func received(_ request: SIPMessage) -> TransactionActions {
        guard let method = request.method else { return [] }
        let isACK = method == .ack
        guard isACK || method == .invite else { return [] }
        switch machine {
        case .idle, .confirmed, .terminated:
            // §17.2.1: Confirmed absorbs ACK (and INVITE) retransmissions.
            return []
        case .proceeding(_, let provisional):
            // §17.2.1: an INVITE retransmission gets the most recent provisional response again.
            guard !isACK, let provisional else { return [] }
            return [.send(provisional)]
        case .completed(let response, _):
            if !isACK { return [.send(response)] }
            // §17.2.1: the ACK: → Confirmed, G stops, H stops, Timer I (zero when reliable).
            var out: TransactionActions = []
            if !reliability.isReliable { out.append(.cancelTimer(.g)) }
            out.append(.cancelTimer(.h))
            let i = timers.i(reliability)
            if i == .zero {
                machine = .terminated
                out.append(.terminated)
            } else {
                machine = .confirmed
                out.append(.startTimer(.i, i))
            }
            return out
        case .accepted:
            // RFC 6026 §8.7: INVITE retransmissions are absorbed; an ACK goes to the TU.
            return isACK ? [.passToTU(request)] : []
        }
    }

    /// The TU sends a response on this transaction (RFC 3261 §17.2.1, RFC 6026 §8.7). Responses
    /// the state does not allow (a provisional after a final, a second non-2xx final) send nothing.
    public mutating func send(_ response: SIPMessage) -> TransactionActions {
        guard let status = response.status, (100...699).contains(status) else { return [] }
        switch machine {
        case .idle, .completed, .confirmed, .terminated:
            return []
        case .accepted:
            // RFC 6026 §8.7: 2xx retransmissions from the TU are sent.
            return status / 100 == 2 ? [.send(response.serialized())] : []
        case .proceeding(let invite, _):
            let bytes = OwnMessages.bytes(of: response)
            var out: TransactionActions = [.send(bytes)]
            if invite != nil { out.append(.cancelTimer(.trying)) }
            if status < 200 {
                // §17.2.1: provisional responses are sent, not retransmitted, and end the wait for 100.
                machine = .proceeding(invite: nil, provisional: bytes)
            } else if status < 300 {
                // RFC 6026 §8.7: → Accepted, Timer L = 64·T1.
                machine = .accepted
                out.append(.startTimer(.l, timers.l))
            } else {
                // §17.2.1: → Completed, Timer G = T1 (unreliable), Timer H = 64·T1.
                machine = .completed(response: bytes, timerG: timers.g.wholeNanoseconds)
                if let g = timers.initialValue(of: .g, on: reliability) { out.append(.startTimer(.g, g)) }
                out.append(.startTimer(.h, timers.h))
            }
            return out
        }
    }

    /// The 100 Trying timer, G, H, I or L fired (RFC 3261 §17.2.1, RFC 6026 §8.7).
    public mutating func timerFired(_ timer: TransactionTimer) -> TransactionActions {
        switch (machine, timer) {
        case (.proceeding(let invite?, nil), .trying):
            // §17.2.1: no provisional from the TU within 200 ms: send 100 (Trying), with no To tag.
            let trying = OwnMessages.bytes(of: invite.makeResponse(status: 100))
            machine = .proceeding(invite: nil, provisional: trying)
            return [.send(trying)]
        case (.completed(let response, let interval), .g):
            // §17.2.1: retransmit; reset G to MIN(2·G, T2).
            let next = timers.doubled(.nanoseconds(interval), capped: true)
            machine = .completed(response: response, timerG: next.wholeNanoseconds)
            return [.send(response), .startTimer(.g, next)]
        case (.completed, .h):
            // §17.2.1: the ACK never came: Terminated, and the TU is told of the failure.
            machine = .terminated
            var out: TransactionActions = []
            if !reliability.isReliable { out.append(.cancelTimer(.g)) }
            out.append(.informTU(TransactionError(reason: .timeout(.h))))
            out.append(.terminated)
            return out
        case (.confirmed, .i), (.accepted, .l):
            machine = .terminated
            return [.terminated]
        default:
            return []
        }
    }

    /// RFC 3261 §17.2.4: the transport could not send a response. As Figure 7 of RFC 6026 draws it,
    /// the TU is informed and the state kept, in Proceeding, Completed and Accepted alike: Timer H
    /// or L still ends the transaction.
    public mutating func transportError(_ reason: String) -> TransactionActions {
        switch machine {
        case .proceeding, .completed, .accepted, .confirmed:
            return [.informTU(TransactionError(reason: .transportError(reason)))]
        case .idle, .terminated:
            return []
        }
    }

    /// Ends the transaction now, whatever its state.
    public mutating func terminate() -> TransactionActions {
        if case .terminated = machine { return [] }
        machine = .terminated
        return [.terminated]
    }
}
