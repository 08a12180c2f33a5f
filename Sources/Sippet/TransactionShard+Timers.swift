import Logging
import Metrics
import NIOCore
import SIPSyntax
import SIPTransaction
import SIPTransport

/// The shard's timers: one scheduled NIO task for the earliest deadline of its
/// ``TransactionTimerQueue``.
extension TransactionShard {
    // MARK: - Timers

    /// The shard's clock, as the timer queue counts it.
    func clock() -> Duration { .nanoseconds((NIODeadline.now() - origin).nanoseconds) }

    /// Keeps one scheduled NIO task, for the earliest pending timer.
    func scheduleWakeUp() {
        guard !firing, let next = timers.nextDeadline() else { return }
        let deadline = origin + .nanoseconds(next.wholeNanoseconds)
        if let w = wakeUp, w.deadline <= deadline { return }
        wakeUp?.task.cancel()
        // `self` held until the task runs or is replaced, not weakly: a weak reference would give
        // the shard a side table, and every retain of it (several per message) would take the
        // runtime's slow path.
        wakeUp = (deadline, loop.scheduleTask(deadline: deadline) { [self] in fire() })
    }

    func fire() {
        wakeUp = nil
        let limit = clock()
        firing = true
        defer {
            firing = false
            scheduleWakeUp()
        }
        while let due = timers.popNext(notAfter: limit) {
            let key = due.owner.key
            let outcome = table.timerFired(due.timer, for: key)
            let sent = outcome.actions.sent.count
            if sent > 0, due.timer != .trying { metrics.retransmissions.increment(by: sent) }
            handle(outcome, for: key, advanceClock: false)
        }
    }
}
