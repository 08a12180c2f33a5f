/// The one deadline structure of the package: pending deadlines of many keys on a clock the owner
/// advances, with a first-in, first-out ring for each of a few fixed delays and a binary heap for
/// the rest. The shards' transaction timers (``TransactionTimerQueue``), the endpoint's call
/// timers, the registrar's expiries (``DeadlineQueue``) and the tests' virtual clocks all keep
/// their deadlines here.
///
/// Why a ring: the timers that bound how long a transaction or a 2xx waits have one of a handful
/// of delays (64·T1 for Timers B, F, H, J, L and M; T4 for I and K; Timer D; T1, 2·T1 … T2 for a
/// 2xx sent again, RFC 3261 §13.3.1.4), and with a clock that never goes back, deadlines added
/// with the same delay fall due in the order they were added. Adding one appends to its ring and
/// taking the earliest reads the front: O(1), in memory order, where a heap costs O(log n) moves.
/// Under load the rings hold nearly everything: a UDP server keeps the transactions of the last
/// 32 s (Timer J and Timer L, RFC 3261 §17.2.2, RFC 6026 §8.7).
///
/// Cancelling is the owner's: each entry carries a sequence number (``add(_:after:fixed:resolution:)``
/// returns it), the owner keeps the number of the deadline it still wants, and is asked
/// whether an entry is live (`isLive`) when it reaches the front. Entries no longer wanted are
/// dropped there, or by ``compact(liveCount:isLive:)`` once they outnumber the live ones. Nothing
/// here is hashed.
///
/// Deadlines due at the same instant come out in the order they were added. Inlinable, so that
/// each module gets code specialized for its key.
@usableFromInline package struct Deadlines<Key: Sendable>: Sendable {
    /// A deadline and its key: 16 bytes and the key's (a ring slot of the shards is 24 bytes).
    @usableFromInline package struct Entry: Sendable {
        /// When it falls due, in nanoseconds on the structure's clock.
        @usableFromInline package var nanoseconds: Int64
        /// The order it was added in: unique, and the tie-break between equal deadlines.
        @usableFromInline package var sequence: UInt64
        /// What is due.
        @usableFromInline package var key: Key

        @inlinable init(nanoseconds: Int64, sequence: UInt64, key: Key) {
            self.nanoseconds = nanoseconds
            self.sequence = sequence
            self.key = key
        }

        /// When it falls due, on the structure's clock.
        @inlinable package var deadline: Duration { .nanoseconds(nanoseconds) }
    }

    @usableFromInline var heap: [Entry] = []
    @usableFromInline var rings: [Ring] = []
    @usableFromInline var ringDelays: [Duration] = []
    @usableFromInline var nextSequence: UInt64 = 0
    @usableFromInline var clock: Duration = .zero

    /// At most this many rings: other fixed delays go to the heap.
    @usableFromInline static var maximumRings: Int { 8 }

    /// Empty, at time zero.
    @inlinable package init() {}

    /// The clock: the time since the structure was made, as far as the owner advanced it.
    @inlinable package var now: Duration { clock }

    /// The entries held, live or not.
    @inlinable package var storedCount: Int {
        var n = heap.count
        for r in rings.indices { n += rings[r].count }
        return n
    }

    /// Moves the clock to `instant` (never backwards) without taking anything.
    @inlinable package mutating func advance(to instant: Duration) {
        if instant > clock { clock = instant }
    }

    /// Adds `key`, due `delay` after ``now`` (a negative delay counts as zero), and returns the
    /// entry's sequence number. `fixed`: the delay is one that many deadlines share, which gets a
    /// ring. `resolution`: the deadline is rounded up to a multiple of it (zero keeps it exact),
    /// so that deadlines close together fall due together.
    @inlinable @discardableResult
    package mutating func add(_ key: Key, after delay: Duration, fixed: Bool = false, resolution: Duration = .zero)
        -> UInt64
    {
        let sequence = nextSequence
        nextSequence &+= 1
        let delay = max(delay, .zero)
        var deadline = clock + delay
        if resolution > .zero { deadline = Self.roundedUp(deadline, to: resolution) }
        let entry = Entry(nanoseconds: deadline.wholeNanoseconds, sequence: sequence, key: key)
        if fixed {
            if let r = ringDelays.firstIndex(of: delay) {
                if rings[r].acceptsInOrder(entry.nanoseconds) {
                    rings[r].append(entry)
                    return sequence
                }
            } else if rings.count < Self.maximumRings {
                var ring = Ring()
                ring.append(entry)
                rings.append(ring)
                ringDelays.append(delay)
                return sequence
            }
        }
        pushHeap(entry)
        return sequence
    }

    /// The earliest live deadline, after dropping the entries in front that are not live.
    @inlinable package mutating func nextDeadline(isLive: (Entry) -> Bool) -> Duration? {
        earliest(isLive: isLive)?.deadline
    }

    /// Removes and returns the earliest live entry if it is due at or before `limit`, and moves
    /// ``now`` to its deadline. Call it in a loop: handling one may add others due before `limit`.
    @inlinable package mutating func popFirst(notAfter limit: Duration, isLive: (Entry) -> Bool) -> Entry? {
        guard let (deadline, source) = earliest(isLive: isLive), deadline <= limit else { return nil }
        let entry: Entry
        if source < 0 {
            entry = heap[0]
            popHeap()
        } else {
            guard let e = rings[source].removeFirst() else { return nil }
            entry = e
        }
        advance(to: entry.deadline)
        return entry
    }

    /// Drops every entry that is not live once such entries make up most of the structure (of
    /// more than 64), so that cancelled deadlines do not hold memory for long. Rings keep their
    /// order; the heap is rebuilt.
    @inlinable package mutating func compact(liveCount: Int, isLive: (Entry) -> Bool) {
        let stored = storedCount
        guard stored > 64, stored > 2 * liveCount else { return }
        heap.removeAll { !isLive($0) }
        var i = heap.count / 2
        while i > 0 {
            i -= 1
            siftDown(i)
        }
        for r in rings.indices { rings[r].removeAll { !isLive($0) } }
    }

    /// `d` rounded up to a multiple of `step`, in whole nanoseconds.
    @inlinable package static func roundedUp(_ d: Duration, to step: Duration) -> Duration {
        let n = d.wholeNanoseconds
        let q = step.wholeNanoseconds
        guard q > 0, n > 0 else { return d }
        let r = n % q
        return r == 0 ? d : .nanoseconds(n - r + q)
    }

    // MARK: - Internals

    /// The earliest live deadline and where it is (-1: the heap; else a ring), after dropping the
    /// entries in front that are not live; ties go to the entry added first.
    @inlinable mutating func earliest(isLive: (Entry) -> Bool) -> (deadline: Duration, source: Int)? {
        while !heap.isEmpty, !isLive(heap[0]) { popHeap() }
        var found = false
        var deadline: Int64 = 0
        var sequence: UInt64 = 0
        var source = -1
        if !heap.isEmpty {
            found = true
            deadline = heap[0].nanoseconds
            sequence = heap[0].sequence
        }
        var r = 0
        while r < rings.count {
            defer { r += 1 }
            while let first = rings[r].first, !isLive(first) { rings[r].dropFirst() }
            guard let (d, q) = rings[r].firstOrder else { continue }
            if found, deadline < d || (deadline == d && sequence < q) { continue }
            found = true
            deadline = d
            sequence = q
            source = r
        }
        return found ? (.nanoseconds(deadline), source) : nil
    }

    /// Whether the entry at `a` comes before the one at `b`, read in place: a method called on
    /// array elements copies them, and with them their keys (a retain and a release each for a
    /// key that holds a reference, on every step of every sift).
    @inlinable @inline(__always)
    static func precedes(_ p: UnsafeMutableBufferPointer<Entry>, _ a: Int, _ b: Int) -> Bool {
        let x = p.baseAddress! + a
        let y = p.baseAddress! + b
        return x.pointee.nanoseconds < y.pointee.nanoseconds
            || (x.pointee.nanoseconds == y.pointee.nanoseconds && x.pointee.sequence < y.pointee.sequence)
    }

    @inlinable mutating func pushHeap(_ e: Entry) {
        heap.append(e)
        heap.withUnsafeMutableBufferPointer { p in
            var i = p.count - 1
            while i > 0 {
                let parent = (i - 1) / 2
                guard Self.precedes(p, i, parent) else { break }
                p.swapAt(i, parent)
                i = parent
            }
        }
    }

    @inlinable mutating func popHeap() {
        guard !heap.isEmpty else { return }
        let last = heap.removeLast()
        guard !heap.isEmpty else { return }
        heap[0] = last
        siftDown(0)
    }

    @inlinable mutating func siftDown(_ start: Int) {
        heap.withUnsafeMutableBufferPointer { p in
            var i = start
            while true {
                let l = 2 * i + 1
                let r = l + 1
                var m = i
                if l < p.count, Self.precedes(p, l, m) { m = l }
                if r < p.count, Self.precedes(p, r, m) { m = r }
                if m == i { return }
                p.swapAt(i, m)
                i = m
            }
        }
    }

    /// The entries of one fixed delay in the order they were added, which is deadline order: a
    /// ring buffer of a power-of-two size that grows and shrinks by halves.
    @usableFromInline struct Ring: Sendable {
        @usableFromInline var storage: [Entry?] = []
        @usableFromInline var head = 0
        @usableFromInline var count = 0

        @inlinable init() {}

        @inlinable var first: Entry? { count == 0 ? nil : storage[head] }

        /// The first entry's deadline and sequence number; nil when the ring is empty.
        @inlinable var firstOrder: (Int64, UInt64)? {
            guard count > 0, let e = storage[head] else { return nil }
            return (e.nanoseconds, e.sequence)
        }

        /// Whether an entry due at `nanoseconds` can go last and keep the ring in order.
        @inlinable func acceptsInOrder(_ nanoseconds: Int64) -> Bool {
            guard count > 0, let last = storage[(head + count - 1) & (storage.count - 1)] else { return true }
            return last.nanoseconds <= nanoseconds
        }

        @inlinable mutating func append(_ e: Entry) {
            if count == storage.count { resize(to: max(16, storage.count * 2)) }
            storage[(head + count) & (storage.count - 1)] = e
            count += 1
        }

        @inlinable mutating func dropFirst() { _ = removeFirst() }

        /// Takes the first entry; nil when the ring is empty.
        @inlinable mutating func removeFirst() -> Entry? {
            guard count > 0 else { return nil }
            let e = storage[head].take()
            head = (head + 1) & (storage.count - 1)
            count -= 1
            // A ring that held a burst gives the memory back once it is mostly empty.
            if storage.count > 1024, count < storage.count / 8 { resize(to: storage.count / 2) }
            return e
        }

        /// Drops the entries `shouldRemove` names, keeping the others in order.
        @inlinable mutating func removeAll(where shouldRemove: (Entry) -> Bool) {
            guard count > 0 else { return }
            var other = [Entry?](repeating: nil, count: storage.count)
            var kept = 0
            for i in 0..<count {
                guard let e = storage[(head + i) & (storage.count - 1)].take(), !shouldRemove(e) else { continue }
                other[kept] = e
                kept += 1
            }
            storage = other
            head = 0
            count = kept
        }

        @inlinable mutating func resize(to size: Int) {
            var other = [Entry?](repeating: nil, count: size)
            for i in 0..<count { other[i] = storage[(head + i) & (storage.count - 1)].take() }
            storage = other
            head = 0
        }
    }
}
