/// The pending timers of many transactions, ordered by deadline, on a clock the owner advances.
///
/// The transaction machines only say "start Timer E after 500 ms" (RFC 3261 §17); this queue turns
/// that into deadlines. A driver on an event loop keeps one queue and one real timer for the
/// earliest deadline; tests and benchmarks move ``now`` by hand (a virtual clock: no sleeps).
///
/// Starting a timer of a kind that is already pending for the same transaction replaces it.
/// Timers due at the same instant fire in the order they were started.
///
/// A driver that numbers its transactions can ``register(_:owner:)`` each with its key: the queue
/// then hands the key back with every timer due (``Due/owner``), and the driver needs no map of its
/// own from number to key, one insertion, look-up and removal fewer per transaction.
@usableFromInline package struct TimerQueue<ID: Hashable & Sendable>: TransactionTimerStore, Sendable {
    /// A timer due: which transaction, which timer, and when it was due.
    @usableFromInline package struct Due: Sendable {
        /// The transaction.
        @usableFromInline package var id: ID
        /// The timer.
        @usableFromInline package var timer: TransactionTimer
        /// Its deadline on the queue's clock.
        @usableFromInline package var deadline: Duration
        /// The key `id` was registered with (``register(_:owner:)``), if it was.
        @usableFromInline package var owner: TransactionKey?

        @inlinable
        init(id: ID, timer: TransactionTimer, deadline: Duration, owner: TransactionKey?) {
            self.id = id
            self.timer = timer
            self.deadline = deadline
            self.owner = owner
        }
    }

    /// A deadline in the heap, keyed by transaction and timer. Cancelled and replaced ones stay
    /// until popped or compacted away; an entry is live while its transaction's ``Pending`` (or
    /// ``overflow``) holds its sequence number.
    @usableFromInline typealias Entry = DeadlineHeap<Slot>.Entry

    /// The pending timers of one transaction (``TimerPlaces``), and its key. One index entry per
    /// transaction rather than per timer: ending a transaction removes one entry, instead of
    /// looking up every kind of timer it might have started.
    @usableFromInline
    struct Pending: Sendable {
        @usableFromInline var places = TimerPlaces()
        /// The transaction's key, from ``register(_:owner:)``; a registered entry stays until
        /// ``cancelAll(for:)``, one with no owner until its last timer goes.
        @usableFromInline var owner: TransactionKey?

        @inlinable init(owner: TransactionKey? = nil) { self.owner = owner }

        /// Whether the entry can go: no timer pending and no owner to keep.
        @inlinable var isDisposable: Bool { places.isEmpty && owner == nil }

        /// ``TimerPlaces/sequence(of:)`` through the dictionary's in-place accessor (mutating in
        /// name only).
        @inlinable mutating func sequenceInPlace(of timer: TransactionTimer) -> UInt64? { places.sequence(of: timer) }
    }

    /// A timer of a transaction: the key of a heap entry, and of the rare fifth kind pending at once.
    @usableFromInline
    struct Slot: Hashable, Sendable {
        @usableFromInline var id: ID
        @usableFromInline var timer: TransactionTimer

        @inlinable
        init(id: ID, timer: TransactionTimer) {
            self.id = id
            self.timer = timer
        }
    }

    @usableFromInline var heap = DeadlineHeap<Slot>()
    /// The pending timers of each transaction that has any.
    @usableFromInline var live: [ID: Pending] = [:]
    /// Pending timers beyond the four places of a transaction (none with the RFC 3261 machines).
    @usableFromInline var overflow: [Slot: UInt64] = [:]
    @usableFromInline var pendingCount = 0
    @usableFromInline var nextSequence: UInt64 = 0
    /// The sequence number of the heap's top entry when it was last found live, so that asking
    /// for the next deadline (after every event) looks it up only when the top has changed. Any
    /// change that makes an entry stale clears it if it was this one (``forget(_:)``).
    @usableFromInline var topKnownLive: UInt64 = .max
    @usableFromInline var clock: Duration = .zero

    /// The queue's clock: the time since it was made, as far as the owner advanced it.
    @inlinable package var now: Duration { clock }

    /// How finely the deadlines of the timers that only bound how long a transaction waits
    /// (``TransactionTimer/isCoarse``) are kept; zero keeps them exact.
    @usableFromInline package let coarseResolution: Duration

    /// An empty queue at time zero. The deadlines of coarse timers (B, D, F, H, I, J, K, L, M) are
    /// rounded up to a multiple of `coarseResolution` (10 ms unless given): a loop holding the
    /// transactions of the last 32 s then finds them due in batches, a hundred times a second at
    /// most, rather than waking once for each (thousands of times a second under load). They fire
    /// at most that much late, which RFC 3261 allows: each is the least time a transaction waits
    /// (§17.1.1.2, §17.1.2.2, §17.2.1, §17.2.2). The retransmission timers (A, E, G) and the 100
    /// Trying timer keep their exact deadlines.
    @inlinable package init(coarseResolution: Duration = .milliseconds(10)) {
        self.coarseResolution = max(coarseResolution, .zero)
    }

    /// The number of pending timers.
    @inlinable package var count: Int { pendingCount }

    /// Notes that the transaction `id` has the key `owner`, which every timer of `id` that falls due
    /// carries back (``Due/owner``), until ``cancelAll(for:)`` (its termination).
    @inlinable package mutating func register(_ id: ID, owner: TransactionKey) {
        live[id, default: Pending()].owner = owner
    }

    /// The key `id` was registered with, while it is.
    @inlinable package func owner(of id: ID) -> TransactionKey? { live[id]?.owner }

    /// Whether `timer` is pending for `id`.
    @inlinable package func isPending(_ timer: TransactionTimer, for id: ID) -> Bool {
        if let i = live.index(forKey: id), live.values[i].places.place(of: timer) != nil { return true }
        return !overflow.isEmpty && overflow[Slot(id: id, timer: timer)] != nil
    }

    /// Starts `timer` for `id` to fire `delay` after ``now``, replacing a pending one of that kind.
    @inlinable package mutating func start(_ timer: TransactionTimer, for id: ID, after delay: Duration) {
        let sequence = nextSequence
        nextSequence &+= 1
        // One look-up of the transaction's entry, for the check and the change.
        let (placed, replaced) = Self.place(timer, sequence, in: &live[id, default: Pending()])
        var wasPending = replaced != nil
        if let replaced { forget(replaced) }
        if !overflow.isEmpty, let old = overflow[Slot(id: id, timer: timer)] {
            wasPending = true
            forget(old)
            if placed { overflow[Slot(id: id, timer: timer)] = nil }
        }
        if !placed { overflow[Slot(id: id, timer: timer)] = sequence }
        if !wasPending { pendingCount += 1 }
        var deadline = clock + max(delay, .zero)
        if timer.isCoarse, coarseResolution > .zero {
            deadline = Self.roundedUp(deadline, to: coarseResolution)
        }
        heap.push(Entry(deadline: deadline, sequence: sequence, key: Slot(id: id, timer: timer)))
        compactIfMostlyStale()
    }

    /// Puts `timer` in `p`; whether it fitted, and the sequence number it replaced there.
    @inlinable static func place(_ timer: TransactionTimer, _ sequence: UInt64, in p: inout Pending)
        -> (placed: Bool, replaced: UInt64?)
    {
        let old = p.places.sequence(of: timer)
        return (p.places.set(timer, sequence), old)
    }

    /// Cancels `timer` for `id` if it is pending.
    @inlinable package mutating func cancel(_ timer: TransactionTimer, for id: ID) {
        _ = take(timer, for: id)
    }

    /// Cancels `timer` for `id` if it is pending, and returns the key `id` is registered with.
    @inlinable mutating func take(_ timer: TransactionTimer, for id: ID) -> TransactionKey? {
        var removed: UInt64?
        var owner: TransactionKey?
        if let i = live.index(forKey: id) {
            removed = live.values[i].places.remove(timer)
            owner = live.values[i].owner
            if live.values[i].isDisposable { live.remove(at: i) }
        }
        if removed == nil, !overflow.isEmpty { removed = overflow.removeValue(forKey: Slot(id: id, timer: timer)) }
        if let removed {
            pendingCount -= 1
            forget(removed)
        }
        return owner
    }

    /// Cancels every pending timer of `id` (its transaction terminated), and forgets its owner.
    @inlinable package mutating func cancelAll(for id: ID) {
        if let p = live.removeValue(forKey: id) {
            pendingCount -= p.places.count
            p.places.forEachSequence { forget($0) }
        }
        guard !overflow.isEmpty else { return }
        for timer in TransactionTimer.allCases {
            guard let old = overflow.removeValue(forKey: Slot(id: id, timer: timer)) else { continue }
            pendingCount -= 1
            forget(old)
        }
    }

    /// The entry with sequence number `sequence` became stale: if it was the top known live, the
    /// top must be checked again.
    @inlinable @inline(__always) mutating func forget(_ sequence: UInt64) {
        if sequence == topKnownLive { topKnownLive = .max }
    }

    /// The deadline of the earliest pending timer.
    @inlinable package mutating func nextDeadline() -> Duration? {
        dropStaleTop()
        return heap.top?.deadline
    }

    /// Removes and returns the earliest pending timer if it is due at or before `limit`, and moves
    /// ``now`` to its deadline. Call it in a loop: handling one timer may start others that are due
    /// before `limit` too.
    @inlinable package mutating func popNext(notAfter limit: Duration) -> Due? {
        dropStaleTop()
        guard let top = heap.top, top.deadline <= limit else { return nil }
        heap.popTop()
        let owner = take(top.key.timer, for: top.key.id)
        if top.deadline > clock { clock = top.deadline }
        return Due(id: top.key.id, timer: top.key.timer, deadline: top.deadline, owner: owner)
    }

    /// Moves the clock to `instant` (never backwards) without firing anything; fire what is due
    /// first with ``popNext(notAfter:)``.
    @inlinable package mutating func advance(to instant: Duration) {
        if instant > clock { clock = instant }
    }

    /// `d` rounded up to a multiple of `step`, in whole nanoseconds.
    @inlinable static func roundedUp(_ d: Duration, to step: Duration) -> Duration {
        let n = d.wholeNanoseconds
        let q = step.wholeNanoseconds
        guard q > 0, n > 0 else { return d }
        let r = n % q
        return r == 0 ? d : .nanoseconds(n - r + q)
    }

    // MARK: - Heap

    @inlinable @inline(__always)
    static func isLive(_ e: Entry, live: [ID: Pending], overflow: [Slot: UInt64]) -> Bool {
        if let p = live[e.key.id], let s = p.places.sequence(of: e.key.timer) { return s == e.sequence }
        return !overflow.isEmpty && overflow[e.key] == e.sequence
    }

    /// ``isLive(_:live:overflow:)`` with the transaction's entry read where it is: reading it
    /// through the dictionary's getter copies it, and with it its owner's key (a retain and a
    /// release), once per new top, which is after nearly every event.
    @inlinable @inline(__always)
    mutating func isLiveInPlace(_ e: Entry) -> Bool {
        if let i = live.index(forKey: e.key.id) {
            let sequence = live.values[i].sequenceInPlace(of: e.key.timer)
            if let sequence { return sequence == e.sequence }
        }
        return !overflow.isEmpty && overflow[e.key] == e.sequence
    }

    @inlinable mutating func dropStaleTop() {
        while let top = heap.top {
            if top.sequence == topKnownLive { return }
            if isLiveInPlace(top) {
                topKnownLive = top.sequence
                return
            }
            heap.popTop()
        }
    }

    @inlinable mutating func compactIfMostlyStale() {
        guard heap.isMostlyStale(liveCount: pendingCount) else { return }
        let live = self.live
        let overflow = self.overflow
        heap.compact { Self.isLive($0, live: live, overflow: overflow) }
    }
}
