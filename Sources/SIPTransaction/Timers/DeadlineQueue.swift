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
public struct DeadlineQueue<Key: Hashable & Sendable>: Sendable {
    @usableFromInline
    struct Entry: Sendable {
        @usableFromInline var deadline: Duration
        @usableFromInline var sequence: UInt64
        @usableFromInline var key: Key

        @inlinable
        init(deadline: Duration, sequence: UInt64, key: Key) {
            self.deadline = deadline
            self.sequence = sequence
            self.key = key
        }

        @inlinable @inline(__always)
        func precedes(_ other: Entry) -> Bool {
            deadline < other.deadline || (deadline == other.deadline && sequence < other.sequence)
        }
    }

    /// Cancelled or replaced entries stay until popped or compacted away.
    @usableFromInline var heap: [Entry] = []
    /// The sequence number of the live entry of each pending key.
    @usableFromInline var live: [Key: UInt64] = [:]
    @usableFromInline var nextSequence: UInt64 = 0
    @usableFromInline var clock: Duration = .zero

    /// The queue's clock: the time since it was made, as far as the owner advanced it.
    @inlinable public var now: Duration { clock }

    /// An empty queue at time zero.
    @inlinable public init() {}

    /// The number of pending deadlines.
    @inlinable public var count: Int { live.count }

    /// Whether `key` has a pending deadline.
    @inlinable public func isPending(_ key: Key) -> Bool { live[key] != nil }

    /// Makes `key` due `delay` after ``now``, replacing a pending deadline of the same key.
    @inlinable public mutating func start(_ key: Key, after delay: Duration) {
        let sequence = nextSequence
        nextSequence &+= 1
        live[key] = sequence
        push(Entry(deadline: clock + max(delay, .zero), sequence: sequence, key: key))
        compactIfMostlyStale()
    }

    /// Cancels the pending deadline of `key`, if any.
    @inlinable public mutating func cancel(_ key: Key) {
        live[key] = nil
    }

    /// The earliest pending deadline.
    @inlinable public mutating func nextDeadline() -> Duration? {
        dropStaleTop()
        return heap.first?.deadline
    }

    /// Removes and returns the earliest pending key if it is due at or before `limit`, and moves
    /// ``now`` to its deadline. Call it in a loop: handling one may start others that are due
    /// before `limit` too.
    @inlinable public mutating func popNext(notAfter limit: Duration) -> (key: Key, deadline: Duration)? {
        dropStaleTop()
        guard let top = heap.first, top.deadline <= limit else { return nil }
        popTop()
        live[top.key] = nil
        if top.deadline > clock { clock = top.deadline }
        return (top.key, top.deadline)
    }

    /// Moves the clock to `instant` (never backwards) without firing anything.
    @inlinable public mutating func advance(to instant: Duration) {
        if instant > clock { clock = instant }
    }

    // MARK: - Heap

    @inlinable @inline(__always)
    func isLive(_ e: Entry) -> Bool { live[e.key] == e.sequence }

    @inlinable mutating func dropStaleTop() {
        while let top = heap.first, !isLive(top) { popTop() }
    }

    /// Rebuilds the heap from the live entries when cancelled ones make up most of it, so that
    /// cancelled deadlines cost no memory for long.
    @inlinable mutating func compactIfMostlyStale() {
        guard heap.count > 64, heap.count > 2 * live.count else { return }
        let live = self.live
        heap.removeAll { live[$0.key] != $0.sequence }
        var i = heap.count / 2
        while i > 0 {
            i -= 1
            siftDown(i)
        }
    }

    @inlinable mutating func push(_ e: Entry) {
        heap.append(e)
        var i = heap.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            guard heap[i].precedes(heap[parent]) else { break }
            heap.swapAt(i, parent)
            i = parent
        }
    }

    @inlinable mutating func popTop() {
        guard !heap.isEmpty else { return }
        let last = heap.removeLast()
        guard !heap.isEmpty else { return }
        heap[0] = last
        siftDown(0)
    }

    @inlinable mutating func siftDown(_ start: Int) {
        var i = start
        while true {
            let l = 2 * i + 1, r = l + 1
            var m = i
            if l < heap.count, heap[l].precedes(heap[m]) { m = l }
            if r < heap.count, heap[r].precedes(heap[m]) { m = r }
            if m == i { return }
            heap.swapAt(i, m)
            i = m
        }
    }
}
