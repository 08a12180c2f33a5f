/// The pending timers of many transactions, ordered by deadline, on a clock the owner advances.
///
/// The transaction machines only say "start Timer E after 500 ms" (RFC 3261 §17); this queue turns
/// that into deadlines. A driver on an event loop keeps one queue and one real timer for the
/// earliest deadline; tests and benchmarks move ``now`` by hand (a virtual clock: no sleeps).
///
/// Starting a timer of a kind that is already pending for the same transaction replaces it.
/// Timers due at the same instant fire in the order they were started.
public struct TimerQueue<ID: Hashable & Sendable>: Sendable {
    /// A timer due: which transaction, which timer, and when it was due.
    public struct Due: Sendable {
        /// The transaction.
        public var id: ID
        /// The timer.
        public var timer: TransactionTimer
        /// Its deadline on the queue's clock.
        public var deadline: Duration

        @inlinable
        init(id: ID, timer: TransactionTimer, deadline: Duration) {
            self.id = id
            self.timer = timer
            self.deadline = deadline
        }
    }

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

    @usableFromInline var queue = DeadlineQueue<Slot>()

    /// The queue's clock: the time since it was made, as far as the owner advanced it.
    @inlinable public var now: Duration { queue.now }

    /// An empty queue at time zero.
    @inlinable public init() {}

    /// The number of pending timers.
    @inlinable public var count: Int { queue.count }

    /// Whether `timer` is pending for `id`.
    @inlinable public func isPending(_ timer: TransactionTimer, for id: ID) -> Bool { queue.isPending(Slot(id: id, timer: timer)) }

    /// Starts `timer` for `id` to fire `delay` after ``now``, replacing a pending one of that kind.
    @inlinable public mutating func start(_ timer: TransactionTimer, for id: ID, after delay: Duration) {
        queue.start(Slot(id: id, timer: timer), after: delay)
    }

    /// Cancels `timer` for `id` if it is pending.
    @inlinable public mutating func cancel(_ timer: TransactionTimer, for id: ID) {
        queue.cancel(Slot(id: id, timer: timer))
    }

    /// Cancels every pending timer of `id` (its transaction terminated).
    @inlinable public mutating func cancelAll(for id: ID) {
        for timer in TransactionTimer.allCases { queue.cancel(Slot(id: id, timer: timer)) }
    }

    /// Applies the timer actions of one event of transaction `id`: starts, cancels, and on
    /// ``TransactionAction/terminated`` cancels all its timers. Other actions are the caller's.
    ///
    /// A start of the timer `held` is not applied but returned: the caller starts it later, if it
    /// is still wanted then (the stack holds a new INVITE's Trying timer until its core had it).
    @inlinable @discardableResult
    public mutating func apply(_ actions: TransactionActions, for id: ID, holding held: TransactionTimer? = nil) -> Duration? {
        var heldDelay: Duration?
        for action in actions {
            switch action {
            case .startTimer(let t, let d) where t == held: heldDelay = d
            case .startTimer(let t, let d): start(t, for: id, after: d)
            case .cancelTimer(let t): cancel(t, for: id)
            case .terminated: cancelAll(for: id)
            case .send, .passToTU, .informTU: break
            }
        }
        return heldDelay
    }

    /// The deadline of the earliest pending timer.
    @inlinable public mutating func nextDeadline() -> Duration? { queue.nextDeadline() }

    /// Removes and returns the earliest pending timer if it is due at or before `limit`, and moves
    /// ``now`` to its deadline. Call it in a loop: handling one timer may start others that are due
    /// before `limit` too.
    @inlinable public mutating func popNext(notAfter limit: Duration) -> Due? {
        guard let (slot, deadline) = queue.popNext(notAfter: limit) else { return nil }
        return Due(id: slot.id, timer: slot.timer, deadline: deadline)
    }

    /// Moves the clock to `instant` (never backwards) without firing anything; fire what is due
    /// first with ``popNext(notAfter:)``.
    @inlinable public mutating func advance(to instant: Duration) { queue.advance(to: instant) }
}
