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
    }

    private struct Slot: Hashable, Sendable {
        var id: ID
        var timer: TransactionTimer
    }

    private struct Entry: Sendable {
        var deadline: Duration
        var sequence: UInt64
        var slot: Slot

        func precedes(_ other: Entry) -> Bool {
            deadline < other.deadline || (deadline == other.deadline && sequence < other.sequence)
        }
    }

    /// A binary min-heap; cancelled or replaced entries stay until popped or compacted away.
    private var heap: [Entry] = []
    /// The sequence number of the live entry of each pending timer.
    private var live: [Slot: UInt64] = [:]
    private var nextSequence: UInt64 = 0

    /// The queue's clock: the time since it was made, as far as the owner advanced it.
    public private(set) var now: Duration = .zero

    /// An empty queue at time zero.
    public init() {}

    /// The number of pending timers.
    public var count: Int { live.count }

    /// Whether `timer` is pending for `id`.
    public func isPending(_ timer: TransactionTimer, for id: ID) -> Bool { live[Slot(id: id, timer: timer)] != nil }

    /// Starts `timer` for `id` to fire `delay` after ``now``, replacing a pending one of that kind.
    public mutating func start(_ timer: TransactionTimer, for id: ID, after delay: Duration) {
        let slot = Slot(id: id, timer: timer)
        let sequence = nextSequence
        nextSequence &+= 1
        live[slot] = sequence
        push(Entry(deadline: now + max(delay, .zero), sequence: sequence, slot: slot))
        compactIfMostlyStale()
    }

    /// Cancels `timer` for `id` if it is pending.
    public mutating func cancel(_ timer: TransactionTimer, for id: ID) {
        live[Slot(id: id, timer: timer)] = nil
    }

    /// Cancels every pending timer of `id` (its transaction terminated).
    public mutating func cancelAll(for id: ID) {
        for timer in TransactionTimer.allCases { live[Slot(id: id, timer: timer)] = nil }
    }

    /// Applies the timer actions of one event of transaction `id`: starts, cancels, and on
    /// ``TransactionAction/terminated`` cancels all its timers. Other actions are the caller's.
    public mutating func apply(_ actions: TransactionActions, for id: ID) {
        for action in actions {
            switch action {
            case .startTimer(let t, let d): start(t, for: id, after: d)
            case .cancelTimer(let t): cancel(t, for: id)
            case .terminated: cancelAll(for: id)
            case .send, .passToTU, .informTU: break
            }
        }
    }

    /// The deadline of the earliest pending timer.
    public mutating func nextDeadline() -> Duration? {
        dropStaleTop()
        return heap.first?.deadline
    }

    /// Removes and returns the earliest pending timer if it is due at or before `limit`, and moves
    /// ``now`` to its deadline. Call it in a loop: handling one timer may start others that are due
    /// before `limit` too.
    public mutating func popNext(notAfter limit: Duration) -> Due? {
        dropStaleTop()
        guard let top = heap.first, top.deadline <= limit else { return nil }
        popTop()
        live[top.slot] = nil
        if top.deadline > now { now = top.deadline }
        return Due(id: top.slot.id, timer: top.slot.timer, deadline: top.deadline)
    }

    /// Moves the clock to `instant` (never backwards) without firing anything; fire what is due
    /// first with ``popNext(notAfter:)``.
    public mutating func advance(to instant: Duration) {
        if instant > now { now = instant }
    }

    // MARK: - Heap

    private func isLive(_ e: Entry) -> Bool { live[e.slot] == e.sequence }

    private mutating func dropStaleTop() {
        while let top = heap.first, !isLive(top) { popTop() }
    }

    /// Rebuilds the heap from the live entries when cancelled ones make up most of it, so that
    /// cancelled timers (Timer H after the ACK, …) cost no memory for long.
    private mutating func compactIfMostlyStale() {
        guard heap.count > 64, heap.count > 2 * live.count else { return }
        let live = self.live
        heap.removeAll { live[$0.slot] != $0.sequence }
        var i = heap.count / 2
        while i > 0 {
            i -= 1
            siftDown(i)
        }
    }

    private mutating func push(_ e: Entry) {
        heap.append(e)
        var i = heap.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            guard heap[i].precedes(heap[parent]) else { break }
            heap.swapAt(i, parent)
            i = parent
        }
    }

    private mutating func popTop() {
        guard !heap.isEmpty else { return }
        let last = heap.removeLast()
        guard !heap.isEmpty else { return }
        heap[0] = last
        siftDown(0)
    }

    private mutating func siftDown(_ start: Int) {
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
