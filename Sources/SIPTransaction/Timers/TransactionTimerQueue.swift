/// What a driver keeps with each transaction for a ``TransactionTimerQueue``: an object (one per
/// transaction, alive as long as the transaction) whose ``timerPlaces`` only the queue reads and
/// writes, on the driver's one thread.
@usableFromInline package protocol TimerOwner: AnyObject, Sendable {
    /// The transaction's pending timers.
    var timerPlaces: TimerPlaces { get set }
}

/// The pending timers of many transactions, in ``Deadlines``: the machines only say "start Timer
/// E after 500 ms" (RFC 3261 §17); this queue turns that into deadlines. A driver on an event loop
/// keeps one queue and one real timer for the earliest deadline; tests move ``now`` by hand (a
/// virtual clock: no sleeps).
///
/// A deadline points at the transaction's object (``TimerOwner``), and the object holds which of
/// its timers are pending and their sequence numbers (``TimerPlaces``): no index by transaction is
/// looked up, filled or emptied, and a deadline is live while its transaction still holds its
/// number, which also says which timer it is (a deadline is 24 bytes: when, its number, and the
/// object).
///
/// Starting a timer of a kind that is already pending for the same transaction replaces it.
/// Timers due at the same instant fire in the order they were started. The timers that bound how
/// long a transaction waits (``TransactionTimer/isCoarse``) are rounded up to a grid of
/// ``coarseResolution`` and kept in the rings of ``Deadlines``, one per delay; the retransmission
/// timers (A, E, G) and Trying keep their exact deadlines, in its heap.
@usableFromInline package struct TransactionTimerQueue<Owner: TimerOwner>: Sendable {
    /// A timer due: its transaction's object, which timer, and when it was due.
    @usableFromInline package typealias Due = (owner: Owner, timer: TransactionTimer, deadline: Duration)

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

    @usableFromInline var deadlines = Deadlines<Owner>()
    @usableFromInline var overflow: [OverflowKey: UInt64] = [:]
    @usableFromInline var pendingCount = 0

    /// How finely the deadlines of coarse timers are kept (10 ms unless given); zero keeps them
    /// exact (and puts them in the heap).
    @usableFromInline package let coarseResolution: Duration

    /// An empty queue at time zero.
    @inlinable package init(coarseResolution: Duration = .milliseconds(10)) {
        self.coarseResolution = max(coarseResolution, .zero)
    }

    /// The queue's clock: the time since it was made, as far as the owner advanced it.
    @inlinable package var now: Duration { deadlines.now }

    /// The number of pending timers.
    @inlinable package var count: Int { pendingCount }

    /// Whether `timer` is pending for `owner`.
    @inlinable package func isPending(_ timer: TransactionTimer, for owner: Owner) -> Bool {
        owner.timerPlaces.place(of: timer) != nil || (!overflow.isEmpty && overflow[OverflowKey(owner, timer)] != nil)
    }

    /// Starts `timer` for `owner` to fire `delay` after ``now``, replacing a pending one of that kind.
    @inlinable package mutating func start(_ timer: TransactionTimer, for owner: Owner, after delay: Duration) {
        let coarse = timer.isCoarse && coarseResolution > .zero
        let sequence = deadlines.add(owner, after: delay, fixed: coarse, resolution: coarse ? coarseResolution : .zero)
        var wasPending = owner.timerPlaces.place(of: timer) != nil
        let placed = owner.timerPlaces.set(timer, sequence)
        if !overflow.isEmpty, overflow[OverflowKey(owner, timer)] != nil {
            wasPending = true
            if placed { overflow[OverflowKey(owner, timer)] = nil }
        }
        if !placed { overflow[OverflowKey(owner, timer)] = sequence }
        if !wasPending { pendingCount += 1 }
        let overflow = liveOverflow
        deadlines.compact(liveCount: pendingCount) { Self.isLive($0, overflow: overflow) }
    }

    /// Cancels `timer` for `owner` if it is pending.
    @inlinable package mutating func cancel(_ timer: TransactionTimer, for owner: Owner) {
        if owner.timerPlaces.remove(timer)
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

    /// Applies the timer actions of one event of `owner`'s transaction: starts, cancels, and on
    /// ``TransactionAction/terminated`` cancels all its timers. Other actions are the caller's.
    ///
    /// A start of the timer `held` is not applied but returned: the caller starts it later, if it
    /// is still wanted then (the stack holds a new INVITE's Trying timer until its core had it).
    @inlinable @discardableResult
    package mutating func apply(_ actions: TransactionActions, for owner: Owner, holding held: TransactionTimer? = nil)
        -> Duration?
    {
        var heldDelay: Duration?
        for action in actions {
            switch action {
            case .startTimer(let t, let d) where t == held: heldDelay = d
            case .startTimer(let t, let d): start(t, for: owner, after: d)
            case .cancelTimer(let t): cancel(t, for: owner)
            case .terminated: cancelAll(for: owner)
            case .send, .passToTU, .informTU: break
            }
        }
        return heldDelay
    }

    /// The deadline of the earliest pending timer.
    @inlinable package mutating func nextDeadline() -> Duration? {
        let overflow = liveOverflow
        return deadlines.nextDeadline { Self.isLive($0, overflow: overflow) }
    }

    /// Removes and returns the earliest pending timer if it is due at or before `limit`, and moves
    /// ``now`` to its deadline. Call it in a loop: handling one timer may start others that are due
    /// before `limit` too.
    @inlinable package mutating func popNext(notAfter limit: Duration) -> Due? {
        let taken: Deadlines<Owner>.Entry?
        do {
            // A copy for the check, gone before `cancel` changes the overflow (else it is copied).
            let overflow = liveOverflow
            taken = deadlines.popFirst(notAfter: limit) { Self.isLive($0, overflow: overflow) }
        }
        guard let e = taken, let timer = Self.timer(of: e, overflow: liveOverflow) else { return nil }
        cancel(timer, for: e.key)
        return (e.key, timer, e.deadline)
    }

    /// Moves the clock to `instant` (never backwards) without firing anything.
    @inlinable package mutating func advance(to instant: Duration) {
        deadlines.advance(to: instant)
    }

    /// Whether `e` is still its transaction's timer: the transaction holds its sequence number.
    @inlinable @inline(__always)
    static func isLive(_ e: Deadlines<Owner>.Entry, overflow: [OverflowKey: UInt64]?) -> Bool {
        timer(of: e, overflow: overflow) != nil
    }

    /// The timer of `e` if it is still its transaction's, found by its sequence number.
    @inlinable @inline(__always)
    static func timer(of e: Deadlines<Owner>.Entry, overflow: [OverflowKey: UInt64]?) -> TransactionTimer? {
        if let t = e.key.timerPlaces.timer(withSequence: e.sequence) { return t }
        guard let overflow else { return nil }
        return TransactionTimer.allCases.first { overflow[OverflowKey(e.key, $0)] == e.sequence }
    }

    /// The overflow timers for ``isLive(_:overflow:)``: nil when there are none, which is always
    /// with the RFC 3261 machines (no copy of the dictionary, not even a retain).
    @inlinable var liveOverflow: [OverflowKey: UInt64]? { overflow.isEmpty ? nil : overflow }
}
