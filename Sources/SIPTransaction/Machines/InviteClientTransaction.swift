import SIPSyntax

/// How a client transaction tells its TU that Timer B or F fired.
public enum ClientTimeoutReport: Sendable, Hashable {
    /// RFC 3261 §17.1.1.2, §17.1.2.2: ``TransactionAction/informTU(_:)`` with a timeout error.
    case error
    /// RFC 3261 §8.1.3.1: "a transaction timeout … is treated as a 408 (Request Timeout)": pass a
    /// locally made 408 to the TU instead, for users who prefer responses to errors.
    case response408
}

/// The INVITE client transaction (RFC 3261 §17.1.1, Figure 5, as amended by RFC 6026 §7.2 and §8.4).
///
/// ```
///  start() ──► Calling ──1xx──► Proceeding ──2xx──► Accepted ──Timer M──► Terminated
///                │ ╰──2xx──────────────────────────────╯
///                │ ╰──300-699 (ACK sent)──► Completed ──Timer D──► Terminated
///                ╰──Timer B / transport error──► Terminated
/// ```
///
/// It retransmits the INVITE on Timer A (unreliable transports), builds and sends the ACK for a
/// non-2xx final response itself and re-sends it for each retransmission of that response
/// (§17.1.1.3), and passes every 2xx, retransmissions included, to the TU (RFC 6026 §7.2), which
/// acknowledges them. It keeps the INVITE's bytes until a final response, then only the ACK's.
public struct InviteClientTransaction: TransactionStateMachine {
    /// The states of Figure 5 (RFC 6026).
    public enum State: Sendable, Hashable, CustomStringConvertible {
        /// RFC 3261 §17.1.1.2: the INVITE was sent; no response yet.
        case calling
        /// RFC 3261 §17.1.1.2: a provisional response arrived.
        case proceeding
        /// RFC 6026 §8.4: a 2xx arrived; more may follow (forking) until Timer M.
        case accepted
        /// RFC 3261 §17.1.1.2: a non-2xx final response arrived and was acknowledged.
        case completed
        /// RFC 3261 §17.1.1.2: over.
        case terminated

        /// The RFC's name of the state.
        public var description: String {
            switch self {
            case .calling: return "Calling"
            case .proceeding: return "Proceeding"
            case .accepted: return "Accepted"
            case .completed: return "Completed"
            case .terminated: return "Terminated"
            }
        }
    }

    private enum Machine: Sendable {
        /// Made, not started.
        case idle(invite: [UInt8])
        /// `timerA` is the interval Timer A was last started with.
        case calling(invite: [UInt8], timerA: Duration)
        case proceeding(invite: [UInt8])
        case accepted
        /// The ACK to re-send on each retransmission of the final response (nil if it could not be built).
        case completed(ack: [UInt8]?)
        case terminated
    }

    /// Whether the INVITE goes over a reliable transport (then Timer A is not started and D is zero).
    public let reliability: TransportReliability
    /// The timer values (RFC 3261 §17.1.1.1).
    public let timers: TransactionTimers
    /// What the TU gets when Timer B fires.
    public let timeoutReport: ClientTimeoutReport
    private var machine: Machine

    /// A transaction for `invite`, not yet started. Nil when `invite` is not an INVITE or has no
    /// top Via branch (RFC 3261 §8.1.1.7 requires one).
    public init?(
        invite: SIPMessage, reliability: TransportReliability, timers: TransactionTimers = .default,
        timeoutReport: ClientTimeoutReport = .error
    ) {
        guard invite.method == .invite, ClientTransactionKey.canKey(invite) else { return nil }
        self.reliability = reliability
        self.timers = timers
        self.timeoutReport = timeoutReport
        self.machine = .idle(invite: OwnMessages.bytes(of: invite))
    }

    /// The current state (``State/calling`` before ``start()`` too).
    public var state: State {
        switch machine {
        case .idle, .calling: return .calling
        case .proceeding: return .proceeding
        case .accepted: return .accepted
        case .completed: return .completed
        case .terminated: return .terminated
        }
    }

    /// Whether the machine reached Terminated.
    public var isTerminated: Bool { if case .terminated = machine { return true } else { return false } }

    /// The bytes the transaction holds for retransmission: the INVITE until a final response, then the ACK.
    public var storedByteCount: Int {
        switch machine {
        case .idle(let b), .calling(let b, _), .proceeding(let b): return b.count
        case .completed(let ack): return ack?.count ?? 0
        case .accepted, .terminated: return 0
        }
    }

    /// RFC 3261 §17.1.1.2, "INVITE from TU": send the INVITE, start Timer A with T1 (unreliable
    /// transports only) and Timer B with 64·T1, enter Calling. Only the first call does anything.
    public mutating func start() -> TransactionActions {
        guard case .idle(let invite) = machine else { return [] }
        var out: TransactionActions = [.send(invite)]
        if let a = timers.initialValue(of: .a, on: reliability) { out.append(.startTimer(.a, a)) }
        out.append(.startTimer(.b, timers.b))
        machine = .calling(invite: invite, timerA: timers.a)
        return out
    }

    /// A response matched this transaction (RFC 3261 §17.1.1.2, RFC 6026 §7.2).
    public mutating func received(_ response: SIPMessage) -> TransactionActions {
        guard let status = response.status, (100...699).contains(status) else { return [] }
        switch machine {
        case .idle, .terminated:
            return []
        case .calling(let invite, _):
            var out: TransactionActions = []
            if !reliability.isReliable { out.append(.cancelTimer(.a)) }
            out.append(.cancelTimer(.b))
            if status < 200 {
                // §17.1.1.2: Calling → Proceeding; the INVITE is no longer retransmitted.
                machine = .proceeding(invite: invite)
                out.append(.passToTU(response))
                return out
            }
            out.append(contentsOf: final(response, status: status, invite: invite))
            return out
        case .proceeding(let invite):
            if status < 200 { return [.passToTU(response)] }
            return final(response, status: status, invite: invite)
        case .accepted:
            // RFC 6026 §7.2: every 2xx goes to the TU, which acknowledges it; nothing else does.
            return status / 100 == 2 ? [.passToTU(response)] : []
        case .completed(let ack):
            if status >= 300 {
                // §17.1.1.2: a retransmitted final response gets the ACK again, not the TU.
                return ack.map { [.send($0)] } ?? []
            }
            // Not in Figure 5: a 2xx after a non-2xx (another fork). It must still reach the TU,
            // which alone can acknowledge it (RFC 6026 §7.2).
            return status / 100 == 2 ? [.passToTU(response)] : []
        }
    }

    /// A final response in Calling or Proceeding.
    private mutating func final(_ response: SIPMessage, status: Int, invite: [UInt8]) -> TransactionActions {
        if status < 300 {
            // RFC 6026 §8.4: → Accepted, 2xx to the TU, Timer M = 64·T1.
            machine = .accepted
            return [.passToTU(response), .startTimer(.m, timers.m)]
        }
        // §17.1.1.2, §17.1.1.3: → Completed, ACK sent, response to the TU, Timer D.
        let ack = OwnMessages.parse(invite).flatMap { OwnMessages.ack(for: $0, response: response) }
            .map(OwnMessages.bytes(of:))
        var out: TransactionActions = []
        if let ack { out.append(.send(ack)) }
        out.append(.passToTU(response))
        let d = timers.d(reliability)
        if d == .zero {
            machine = .terminated
            out.append(.terminated)
        } else {
            machine = .completed(ack: ack)
            out.append(.startTimer(.d, d))
        }
        return out
    }

    /// Timer A, B, D or M fired (RFC 3261 §17.1.1.2, RFC 6026 §8.4).
    public mutating func timerFired(_ timer: TransactionTimer) -> TransactionActions {
        switch (machine, timer) {
        case (.calling(let invite, let interval), .a):
            // §17.1.1.2: retransmit, and reset A with twice its value (no cap for INVITE).
            let next = timers.doubled(interval, capped: false)
            machine = .calling(invite: invite, timerA: next)
            return [.send(invite), .startTimer(.a, next)]
        case (.calling(let invite, _), .b):
            // §17.1.1.2: inform the TU of the timeout; no ACK.
            machine = .terminated
            var out: TransactionActions = []
            if !reliability.isReliable { out.append(.cancelTimer(.a)) }
            out.append(timeout(.b, invite: invite))
            out.append(.terminated)
            return out
        case (.completed, .d), (.accepted, .m):
            machine = .terminated
            return [.terminated]
        default:
            return []
        }
    }

    private func timeout(_ timer: TransactionTimer, invite: [UInt8]) -> TransactionAction {
        if timeoutReport == .response408, let request = OwnMessages.parse(invite) {
            return .passToTU(request.makeResponse(status: 408))
        }
        return .informTU(TransactionError(reason: .timeout(timer)))
    }

    /// RFC 3261 §17.1.4: the transport could not send the INVITE or the ACK. In Calling and
    /// Completed the TU is informed and the transaction ends (Figure 5). In Proceeding and Accepted,
    /// where this transaction sends nothing, the TU is informed and the state kept.
    public mutating func transportError(_ reason: String) -> TransactionActions {
        let error = TransactionAction.informTU(TransactionError(reason: .transportError(reason)))
        switch machine {
        case .idle, .terminated:
            return []
        case .calling, .completed:
            machine = .terminated
            return [error, .terminated]
        case .proceeding, .accepted:
            return [error]
        }
    }

    /// Ends the transaction now (a TU's Timer C, RFC 3261 §16.8, or the user's choice: a
    /// transaction in Proceeding otherwise waits for a final response forever).
    public mutating func terminate() -> TransactionActions {
        if case .terminated = machine { return [] }
        machine = .terminated
        return [.terminated]
    }
}
