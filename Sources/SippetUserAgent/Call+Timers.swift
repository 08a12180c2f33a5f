import NIOConcurrencyHelpers
import SIPDialog
import SIPSyntax
import SIPTransaction
import Sippet

/// The timers of a call: the UAS's 2xx retransmission (RFC 3261 §13.3.1.4), the ACK again for
/// a UAC's 2xx copy (§13.2.2.4), and the session timer (RFC 4028 §10).
extension Call {
    // MARK: - The UAS's 2xx (§13.3.1.4)

    /// The INVITE this side accepts with `response`, before the response is sent.
    func acceptedInvite(_ invite: SIPMessage, response: SIPMessage, timer: (SessionTimer, refresher: Bool)?) {
        state.withLockedValue { s in
            _ = s.exchanges.receive(invite, hasOffer: !invite.body.isEmpty)
            s.exchanges.sent(response, hasBody: !response.body.isEmpty)
            s.remoteBody = SIPBody(of: invite)
            s.localBody = SIPBody(of: response)
            s.remoteAllowsUpdate = invite.headers.values(.allow).joined(separator: ",").uppercased().contains("UPDATE")
            s.timer = timer
            if let cseq = invite.cseq?.sequence { s.awaitingAck.insert(cseq) }
        }
    }

    /// The 2xx to an INVITE was sent: retransmit it until its ACK, from T1 doubling to T2; with
    /// no ACK after 64·T1, BYE (§13.3.1.4).
    func answerSent(_ response: SIPMessage) {
        guard let cseq = response.cseq?.sequence else { return }
        if response.cseq?.method == .invite {
            let timers = agent.stack.configuration.timers
            let origin = ContinuousClock.now
            let task = Task { [self] in
                var schedule = AnswerRetransmission(sentAt: .zero, t1: timers.t1, t2: timers.t2)
                while let due = schedule.nextDeadline {
                    try? await Task.sleep(until: origin + due, clock: .continuous)
                    if Task.isCancelled { return }
                    switch schedule.timerFired(now: origin.duration(to: .now)) {
                    case .retransmit?: _ = try? agent.stack.send(response)
                    case .giveUp?:
                        _ = try? await hangUp(.noAck)
                        return
                    case nil: continue
                    }
                }
            }
            let kept = state.withLockedValue { s -> Bool in
                guard s.awaitingAck.contains(cseq), !s.ended else { return false }
                s.retransmissions[cseq] = task
                return true
            }
            if !kept { task.cancel() }
        }
        armSessionTimer()
    }

    /// A 2xx to this side's INVITE came again: the ACK again (§13.2.2.4).
    func acknowledgeAgain(_ response: SIPMessage) {
        let ack = state.withLockedValue { s in
            s.lastAck.flatMap { $0.cseq?.sequence == response.cseq?.sequence ? $0 : nil }
        }
        if let ack { _ = try? agent.stack.send(ack) }
    }

    /// Arms the session timer (RFC 4028 §10): the refresher refreshes at half the interval; the
    /// other side sends BYE at the interval less min(32 s, a third) without a refresh.
    func armSessionTimer() {
        guard let (timer, refresher) = state.withLockedValue({ $0.timer }) else {
            state.withLockedValue { s in
                s.timerTask?.cancel()
                s.timerTask = nil
            }
            return
        }
        let task = Task { [self] in
            let wait = refresher ? timer.refreshDue(after: .zero) : timer.expiryDue(after: .zero)
            try? await Task.sleep(for: wait)
            if Task.isCancelled { return }
            if refresher { await refresh(timer) } else { _ = try? await hangUp(.sessionExpired) }
        }
        let kept = state.withLockedValue { s -> Bool in
            guard !s.ended else { return false }
            s.timerTask?.cancel()
            s.timerTask = task
            return true
        }
        if !kept { task.cancel() }
    }

    /// RFC 4028 §10: the refresh, by UPDATE when the other side allows it, else by re-INVITE with
    /// the last session description; this side stays the refresher.
    private func refresh(_ timer: SessionTimer) async {
        let (update, body) = state.withLockedValue { ($0.remoteAllowsUpdate, $0.localBody) }
        let fields: [(SIPHeaderName, String)] = [
            (.sessionExpires, SessionTimer(interval: timer.interval, refresher: .uac).headerValue)
        ]
        let status: Int
        do {
            status =
                try await request(update ? .update : .invite, body: update ? nil : body, headers: fields).status ?? 0
        } catch .ended {
            return
        } catch {
            status = 408
        }
        if (200...299).contains(status) { return }  // re-armed by the 2xx
        // RFC 4028 §10: a refresh that times out or gets 408 or 481 ends the session. Another
        // failure leaves the session as it was: it ends at its expiry unless refreshed.
        if status == 408 || status == 481 {
            _ = try? await hangUp(.sessionExpired)
        } else {
            state.withLockedValue { s in s.timer = s.timer.map { ($0.0, false) } }
            armSessionTimer()
        }
    }
}
