import NIOCore

/// Pending deadlines of many keys, each started with one of a few delays, on a clock the owner
/// advances: one first-in, first-out ring per delay, and a handle per timer to cancel it in place.
///
/// Made for the 2xx retransmissions of RFC 3261 §13.3.1.4: every 2xx starts at T1, and each
/// later interval (2·T1, 4·T1 … T2, and what is left of 64·T1) is the same for every dialog, so a
/// handful of delays covers them all. With a clock that never goes back, the timers of one delay
/// fall due in the order they were started: adding one appends to its ring, the earliest pending
/// is at the front of one of the rings, and cancelling one (every ACK does) marks its entry, which
/// is dropped when it reaches the front. Nothing is hashed and no heap is kept in order, where a
/// heap with an index by key cost a look-up and an insertion for every start and every cancel.
struct FixedDelayTimers<Key: Sendable>: Sendable {
    /// Where a timer is, to cancel it: its ring and its place in the ring's sequence.
    struct Handle: Sendable, Equatable {
        var ring: Int
        var position: UInt64
    }

    struct Entry: Sendable {
        var deadline: Duration
        /// Nil once cancelled.
        var key: Key?
    }

    struct Ring: Sendable {
        let delay: Duration
        var entries = CircularBuffer<Entry>()
        /// The position (counted from the ring's first timer ever) of `entries.first`.
        var firstPosition: UInt64 = 0

        init(delay: Duration) { self.delay = delay }

        /// Drops cancelled entries from the front.
        mutating func dropCancelled() {
            while let first = entries.first, first.key == nil {
                entries.removeFirst()
                firstPosition &+= 1
            }
        }
    }

    private(set) var rings: [Ring] = []
    private(set) var count = 0
    private(set) var now: Duration = .zero

    init() {}

    /// Moves the clock to `instant` (never backwards).
    mutating func advance(to instant: Duration) {
        if instant > now { now = instant }
    }

    /// Makes `key` due `delay` after ``now``. A negative delay counts as zero.
    mutating func start(_ key: Key, after delay: Duration) -> Handle {
        let delay = max(delay, .zero)
        let r: Int
        if let i = rings.firstIndex(where: { $0.delay == delay }) {
            r = i
        } else {
            r = rings.count
            rings.append(Ring(delay: delay))
        }
        rings[r].entries.append(Entry(deadline: now + delay, key: key))
        count += 1
        return Handle(ring: r, position: rings[r].firstPosition &+ UInt64(rings[r].entries.count - 1))
    }

    /// Cancels the timer of `handle` if it is still pending.
    mutating func cancel(_ handle: Handle) {
        guard handle.ring < rings.count else { return }
        let offset = handle.position &- rings[handle.ring].firstPosition
        guard offset < UInt64(rings[handle.ring].entries.count) else { return }
        let i = rings[handle.ring].entries.index(rings[handle.ring].entries.startIndex, offsetBy: Int(offset))
        guard rings[handle.ring].entries[i].key != nil else { return }
        rings[handle.ring].entries[i].key = nil
        count -= 1
    }

    /// The earliest pending deadline.
    mutating func nextDeadline() -> Duration? {
        var earliest: Duration?
        for r in rings.indices {
            rings[r].dropCancelled()
            if let d = rings[r].entries.first?.deadline, earliest.map({ d < $0 }) ?? true { earliest = d }
        }
        return earliest
    }

    /// Removes and returns the earliest pending key if it is due at or before `limit`, and moves
    /// ``now`` to its deadline. Call it in a loop: handling one may start others.
    mutating func popNext(notAfter limit: Duration) -> (key: Key, deadline: Duration)? {
        var best: (ring: Int, deadline: Duration)?
        for r in rings.indices {
            rings[r].dropCancelled()
            guard let d = rings[r].entries.first?.deadline, d <= limit else { continue }
            if let b = best, b.deadline <= d { continue }
            best = (r, d)
        }
        // After dropCancelled, the front entry of a ring is never a cancelled one.
        guard let r = best?.ring, let key = rings[r].entries.first?.key else { return nil }
        let e = rings[r].entries.removeFirst()
        rings[r].firstPosition &+= 1
        count -= 1
        advance(to: e.deadline)
        return (key, e.deadline)
    }
}
