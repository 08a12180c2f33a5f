/// Pending deadlines of many keys on a clock the owner advances: a binary min-heap with an index,
/// so that starting, replacing and cancelling a deadline cost O(log n) and O(1), whatever the
/// number pending.
///
/// An event loop's own scheduled tasks do not scale to hundreds of thousands of timers that are
/// mostly cancelled (a transaction's Timer H after the ACK, a 2xx retransmission after the ACK):
/// cancelling one there searches the loop's whole task list. Here a cancelled entry is only
/// unmarked in the index and dropped when it reaches the top, and the heap is rebuilt when
/// cancelled entries outnumber the live ones. The owner keeps one real timer, for
/// ``nextDeadline()``.
///
/// Starting a deadline for a key that has one pending replaces it. Deadlines due at the same
/// instant fire in the order they were started.
///
/// Inlinable, so that the modules using it get code specialized for their key (no generic
/// dictionary look-ups on the hot path).
@usableFromInline package struct DeadlineQueue<Key: Hashable & Sendable>: Sendable {
    @usableFromInline typealias Entry = DeadlineHeap<Key>.Entry

    /// Cancelled or replaced entries stay until popped or compacted away.
    @usableFromInline var heap = DeadlineHeap<Key>()
    /// The sequence number of the live entry of each pending key.
    @usableFromInline var live: [Key: UInt64] = [:]
    @usableFromInline var nextSequence: UInt64 = 0
    @usableFromInline var clock: Duration = .zero

    /// The queue's clock: the time since it was made, as far as the owner advanced it.
    @inlinable package var now: Duration { clock }

    /// An empty queue at time zero.
    @inlinable package init() {}

    /// The number of pending deadlines.
    @inlinable package var count: Int { live.count }

    /// Whether `key` has a pending deadline.
    @inlinable package func isPending(_ key: Key) -> Bool { live[key] != nil }

    /// Makes `key` due `delay` after ``now``, replacing a pending deadline of the same key.
    @inlinable package mutating func start(_ key: Key, after delay: Duration) {
        let sequence = nextSequence
        nextSequence &+= 1
        live[key] = sequence
        heap.push(Entry(deadline: clock + max(delay, .zero), sequence: sequence, key: key))
        compactIfMostlyStale()
    }

    /// Cancels the pending deadline of `key`, if any.
    @inlinable package mutating func cancel(_ key: Key) {
        live[key] = nil
    }

    /// The earliest pending deadline.
    @inlinable package mutating func nextDeadline() -> Duration? {
        dropStaleTop()
        return heap.top?.deadline
    }

    /// Removes and returns the earliest pending key if it is due at or before `limit`, and moves
    /// ``now`` to its deadline. Call it in a loop: handling one may start others that are due
    /// before `limit` too.
    @inlinable package mutating func popNext(notAfter limit: Duration) -> (key: Key, deadline: Duration)? {
        dropStaleTop()
        guard let top = heap.top, top.deadline <= limit else { return nil }
        heap.popTop()
        live[top.key] = nil
        if top.deadline > clock { clock = top.deadline }
        return (top.key, top.deadline)
    }

    /// Moves the clock to `instant` (never backwards) without firing anything.
    @inlinable package mutating func advance(to instant: Duration) {
        if instant > clock { clock = instant }
    }

    // MARK: - Heap

    @inlinable @inline(__always)
    func isLive(_ e: Entry) -> Bool { live[e.key] == e.sequence }

    @inlinable mutating func dropStaleTop() {
        while let top = heap.top, !isLive(top) { heap.popTop() }
    }

    @inlinable mutating func compactIfMostlyStale() {
        guard heap.isMostlyStale(liveCount: live.count) else { return }
        let live = self.live
        heap.compact { live[$0.key] == $0.sequence }
    }
}
