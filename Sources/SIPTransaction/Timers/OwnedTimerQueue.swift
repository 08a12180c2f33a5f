/// What a driver keeps with each transaction for an ``OwnedTimerQueue``: an object (one per
/// transaction, alive as long as the transaction) whose ``timerPlaces`` only the queue reads and
/// writes, on the driver's one thread.
@usableFromInline package protocol TimerOwner: AnyObject, Sendable {
    /// The transaction's pending timers.
    var timerPlaces: TimerPlaces { get set }
}

/// The pending timers of many transactions, as ``TimerQueue`` keeps them, for a driver that keeps
/// an object with each transaction (``TimerOwner``): a deadline points at that object, and the
/// object holds which of its timers are pending, so that no index by transaction is looked up,
/// filled or emptied.
///
/// Starting a timer of a kind that is already pending for the same transaction replaces it.
/// Timers due at the same instant fire in the order they were started.
///
/// The timers that bound how long a transaction waits (``TransactionTimer/isCoarse``) are rounded
/// up to a grid of ``coarseResolution``, as in ``TimerQueue``, and with a clock that never goes
/// back, those started with the same delay fall due in the order they were started. They are kept
/// in a first-in, first-out ring per delay (64·T1 for B, F, H, J, L and M; T4 for I and K;
/// Timer D), where adding and taking one is O(1) and reads memory in order; the rest (A, E, G,
/// Trying) in a binary heap. Under load the rings hold nearly all of them: a server keeps the
/// transactions of the last 32 s (Timer J and Timer L, RFC 3261 §17.2.2, RFC 6026 §8.7).
@usableFromInline package struct OwnedTimerQueue<Owner: TimerOwner>: TransactionTimerStore, Sendable {
    /// A timer due: its transaction's object, which timer, and when it was due.
    @usableFromInline package struct Due: Sendable {
        /// The transaction's object.
        @usableFromInline package var owner: Owner
        /// The timer.
        @usableFromInline package var timer: TransactionTimer
        /// Its deadline on the queue's clock.
        @usableFromInline package var deadline: Duration

        @inlinable init(owner: Owner, timer: TransactionTimer, deadline: Duration) {
            self.owner = owner
            self.timer = timer
            self.deadline = deadline
        }
    }

    /// A timer of a transaction: the key of a deadline.
    @usableFromInline
    struct Slot: Sendable {
        @usableFromInline var owner: Owner
        @usableFromInline var timer: TransactionTimer

        @inlinable init(owner: Owner, timer: TransactionTimer) {
            self.owner = owner
            self.timer = timer
        }
    }

    @usableFromInline typealias Entry = DeadlineHeap<Slot>.Entry

    /// A fifth kind pending at once for one transaction, which its four places cannot hold (none
    /// with the RFC 3261 machines).
    @usableFromInline
    struct OverflowKey: Hashable, Sendable {
        @usableFromInline var owner: ObjectIdentifier
        @usableFromInline var timer: TransactionTimer

        @inlinable init(_ owner: Owner, _ timer: TransactionTimer) {
            self.owner = ObjectIdentifier(owner)
            self.timer = timer
        }
    }

    @usableFromInline var heap = DeadlineHeap<Slot>()
    /// The coarse timers, one ring per delay (``ringDelays``), each in deadline order.
    @usableFromInline var rings: [DeadlineRing<Slot>] = []
    @usableFromInline var ringDelays: [Duration] = []
    @usableFromInline var overflow: [OverflowKey: UInt64] = [:]
    @usableFromInline var pendingCount = 0
    @usableFromInline var nextSequence: UInt64 = 0
    @usableFromInline var clock: Duration = .zero

    /// How finely the deadlines of coarse timers are kept (10 ms unless given); zero keeps them
    /// exact (and puts them in the heap).
    @usableFromInline package let coarseResolution: Duration

    /// At most this many rings: delays beyond them go to the heap.
    @usableFromInline static var maximumRings: Int { 8 }

    /// An empty queue at time zero.
    @inlinable package init(coarseResolution: Duration = .milliseconds(10)) {
        self.coarseResolution = max(coarseResolution, .zero)
    }

    /// The queue's clock: the time since it was made, as far as the owner advanced it.
    @inlinable package var now: Duration { clock }

    /// The number of pending timers.
    @inlinable package var count: Int { pendingCount }

    /// Whether `timer` is pending for `owner`.
    @inlinable package func isPending(_ timer: TransactionTimer, for owner: Owner) -> Bool {
        owner.timerPlaces.place(of: timer) != nil || (!overflow.isEmpty && overflow[OverflowKey(owner, timer)] != nil)
    }

    /// Starts `timer` for `owner` to fire `delay` after ``now``, replacing a pending one of that kind.
    @inlinable package mutating func start(_ timer: TransactionTimer, for owner: Owner, after delay: Duration) {
        let sequence = nextSequence
        nextSequence &+= 1
        var wasPending = owner.timerPlaces.place(of: timer) != nil
        let placed = owner.timerPlaces.set(timer, sequence)
        if !overflow.isEmpty, overflow[OverflowKey(owner, timer)] != nil {
            wasPending = true
            if placed { overflow[OverflowKey(owner, timer)] = nil }
        }
        if !placed { overflow[OverflowKey(owner, timer)] = sequence }
        if !wasPending { pendingCount += 1 }
        let delay = max(delay, .zero)
        let entry = Entry(deadline: clock + delay, sequence: sequence, key: Slot(owner: owner, timer: timer))
        guard timer.isCoarse, coarseResolution > .zero else {
            heap.push(entry)
            compactIfMostlyStale()
            return
        }
        var rounded = entry
        rounded.deadline = TimerQueue<Int>.roundedUp(entry.deadline, to: coarseResolution)
        if let r = ringDelays.firstIndex(of: delay), rings[r].acceptsInOrder(rounded) {
            rings[r].append(rounded)
        } else if rings.count < Self.maximumRings, !ringDelays.contains(delay) {
            var ring = DeadlineRing<Slot>()
            ring.append(rounded)
            rings.append(ring)
            ringDelays.append(delay)
        } else {
            heap.push(rounded)
            compactIfMostlyStale()
        }
    }

    /// Cancels `timer` for `owner` if it is pending.
    @inlinable package mutating func cancel(_ timer: TransactionTimer, for owner: Owner) {
        if owner.timerPlaces.remove(timer) != nil
            || (!overflow.isEmpty && overflow.removeValue(forKey: OverflowKey(owner, timer)) != nil)
        {
            pendingCount -= 1
        }
    }

    /// Cancels every pending timer of `owner` (its transaction terminated).
    @inlinable package mutating func cancelAll(for owner: Owner) {
        pendingCount -= owner.timerPlaces.count
        owner.timerPlaces = TimerPlaces()
        guard !overflow.isEmpty else { return }
        for timer in TransactionTimer.allCases where overflow.removeValue(forKey: OverflowKey(owner, timer)) != nil {
            pendingCount -= 1
        }
    }

    /// The deadline of the earliest pending timer.
    @inlinable package mutating func nextDeadline() -> Duration? {
        earliest()?.0
    }

    /// Removes and returns the earliest pending timer if it is due at or before `limit`, and moves
    /// ``now`` to its deadline. Call it in a loop: handling one timer may start others that are due
    /// before `limit` too.
    @inlinable package mutating func popNext(notAfter limit: Duration) -> Due? {
        guard let (deadline, source) = earliest(), deadline <= limit else { return nil }
        let top: Entry
        if source < 0 {
            guard let t = heap.top else { return nil }
            top = t
            heap.popTop()
        } else {
            guard let t = rings[source].removeFirst() else { return nil }
            top = t
        }
        cancel(top.key.timer, for: top.key.owner)
        if top.deadline > clock { clock = top.deadline }
        return Due(owner: top.key.owner, timer: top.key.timer, deadline: top.deadline)
    }

    /// Moves the clock to `instant` (never backwards) without firing anything.
    @inlinable package mutating func advance(to instant: Duration) {
        if instant > clock { clock = instant }
    }

    // MARK: - Internals

    @inlinable @inline(__always)
    static func isLive(_ e: Entry, overflow: [OverflowKey: UInt64]) -> Bool {
        if let s = e.key.owner.timerPlaces.sequence(of: e.key.timer) { return s == e.sequence }
        return !overflow.isEmpty && overflow[OverflowKey(e.key.owner, e.key.timer)] == e.sequence
    }

    @inlinable @inline(__always)
    func isLive(_ e: Entry) -> Bool { Self.isLive(e, overflow: overflow) }

    /// The earliest live deadline and where it is (-1: the heap; else a ring), after dropping the
    /// stale entries in front of it; ties go to the timer started first.
    @inlinable mutating func earliest() -> (Duration, Int)? {
        while let top = heap.top, !isLive(top) { heap.popTop() }
        var found = false
        var deadline = Duration.zero
        var sequence: UInt64 = 0
        var source = -1
        if let top = heap.top {
            found = true
            deadline = top.deadline
            sequence = top.sequence
        }
        var r = 0
        while r < rings.count {
            defer { r += 1 }
            while rings[r].count > 0, !rings[r].isFirstLive(overflow: overflow) { rings[r].dropFirst() }
            guard rings[r].count > 0 else { continue }
            guard let (d, q) = rings[r].firstOrder else { continue }
            if found, deadline < d || (deadline == d && sequence < q) { continue }
            found = true
            deadline = d
            sequence = q
            source = r
        }
        return found ? (deadline, source) : nil
    }

    @inlinable mutating func compactIfMostlyStale() {
        guard heap.isMostlyStale(liveCount: pendingCount) else { return }
        let overflow = self.overflow
        heap.compact { Self.isLive($0, overflow: overflow) }
    }
}

/// Deadlines in the order they were added, which is deadline order (``acceptsInOrder(_:)``): a
/// ring buffer of a power-of-two size that grows and shrinks by halves, for the timers of one
/// delay in ``OwnedTimerQueue``.
@usableFromInline
struct DeadlineRing<Key: Sendable>: Sendable {
    @usableFromInline typealias Entry = DeadlineHeap<Key>.Entry

    @usableFromInline var storage: [Entry?] = []
    @usableFromInline var head = 0
    @usableFromInline var count = 0

    @inlinable init() {}

    @inlinable var first: Entry? { count == 0 ? nil : storage[head] }

    /// The first entry's deadline and sequence number; nil when the ring is empty.
    @inlinable var firstOrder: (Duration, UInt64)? {
        guard count > 0, let e = storage[head] else { return nil }
        return (e.deadline, e.sequence)
    }

    /// Drops the first entry, if any.
    @inlinable mutating func dropFirst() { _ = removeFirst() }

    /// Whether `e` can go last and keep the ring in deadline order.
    @inlinable func acceptsInOrder(_ e: Entry) -> Bool {
        guard count > 0, let last = storage[(head + count - 1) & (storage.count - 1)] else { return true }
        return last.deadline <= e.deadline
    }

    @inlinable mutating func append(_ e: Entry) {
        if count == storage.count { resize(to: max(16, storage.count * 2)) }
        storage[(head + count) & (storage.count - 1)] = e
        count += 1
    }

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

    @inlinable mutating func resize(to size: Int) {
        var other = [Entry?](repeating: nil, count: size)
        for i in 0..<count { other[i] = storage[(head + i) & (storage.count - 1)].take() }
        storage = other
        head = 0
    }
}

extension DeadlineRing {
    /// Whether the first entry is still its transaction's timer (false for an empty ring).
    @inlinable
    func isFirstLive<Owner>(overflow: [OwnedTimerQueue<Owner>.OverflowKey: UInt64]) -> Bool
    where Key == OwnedTimerQueue<Owner>.Slot {
        guard count > 0, let e = storage[head] else { return false }
        return OwnedTimerQueue<Owner>.isLive(e, overflow: overflow)
    }
}
