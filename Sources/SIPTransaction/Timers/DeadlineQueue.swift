/// One pending deadline per key, in ``Deadlines``, for owners that name what is due by a hashable
/// key (the endpoint's call timers, the registrar's expiries): the queue keeps the sequence number
/// of each key's live deadline, so that starting, replacing and cancelling one cost a dictionary
/// update and O(log n) at most, whatever the number pending.
///
/// An event loop's own scheduled tasks do not scale to hundreds of thousands of timers that are
/// mostly cancelled: cancelling one there searches the loop's whole task list. Here a cancelled
/// deadline is only forgotten by the index and dropped when it reaches the front. The owner keeps
/// one real timer, for ``nextDeadline()``.
///
/// Starting a deadline for a key that has one pending replaces it. Deadlines due at the same
/// instant fire in the order they were started.
@usableFromInline package struct DeadlineQueue<Key: Hashable & Sendable>: Sendable {
    @usableFromInline var deadlines = Deadlines<Key>()
    /// The sequence number of the live deadline of each pending key.
    @usableFromInline var live: [Key: UInt64] = [:]

    /// The queue's clock: the time since it was made, as far as the owner advanced it.
    @inlinable package var now: Duration { deadlines.now }

    /// An empty queue at time zero.
    @inlinable package init() {}

    /// The number of pending deadlines.
    @inlinable package var count: Int { live.count }

    /// Whether `key` has a pending deadline.
    @inlinable package func isPending(_ key: Key) -> Bool { live[key] != nil }

    /// Makes `key` due `delay` after ``now``, replacing a pending deadline of the same key.
    /// `fixed`: the delay is one that many keys share (``Deadlines`` keeps a ring for it).
    @inlinable package mutating func start(_ key: Key, after delay: Duration, fixed: Bool = false) {
        live[key] = deadlines.add(key, after: delay, fixed: fixed)
        let live = self.live
        deadlines.compact(liveCount: live.count) { live[$0.key] == $0.sequence }
    }

    /// Cancels the pending deadline of `key`, if any.
    @inlinable package mutating func cancel(_ key: Key) {
        live[key] = nil
    }

    /// The earliest pending deadline.
    @inlinable package mutating func nextDeadline() -> Duration? {
        let live = self.live
        return deadlines.nextDeadline { live[$0.key] == $0.sequence }
    }

    /// Removes and returns the earliest pending key if it is due at or before `limit`, and moves
    /// ``now`` to its deadline. Call it in a loop: handling one may start others that are due
    /// before `limit` too.
    @inlinable package mutating func popNext(notAfter limit: Duration) -> (key: Key, deadline: Duration)? {
        let taken: Deadlines<Key>.Entry?
        do {
            // A copy for the check, gone before the index changes (else that change copies it).
            let live = self.live
            taken = deadlines.popFirst(notAfter: limit) { live[$0.key] == $0.sequence }
        }
        guard let e = taken else { return nil }
        live[e.key] = nil
        return (e.key, e.deadline)
    }

    /// Moves the clock to `instant` (never backwards) without firing anything.
    @inlinable package mutating func advance(to instant: Duration) {
        deadlines.advance(to: instant)
    }
}
