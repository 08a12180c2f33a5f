/// A binary min-heap of deadlines, each with a key, ties broken by the order they were pushed:
/// the storage under ``DeadlineQueue`` and ``TimerQueue``. Each of those keeps its own index of
/// which entries are live: a cancelled entry is dropped when it reaches the top, and the heap is
/// rebuilt when such entries outnumber the live ones (``compact(keeping:)``).
///
/// Inlinable, so that the modules using it get code specialized for their key.
@usableFromInline
struct DeadlineHeap<Key: Sendable>: Sendable {
    @usableFromInline
    struct Entry: Sendable {
        @usableFromInline var deadline: Duration
        /// The order of pushing, for deadlines due at the same instant.
        @usableFromInline var sequence: UInt64
        @usableFromInline var key: Key

        @inlinable
        init(deadline: Duration, sequence: UInt64, key: Key) {
            self.deadline = deadline
            self.sequence = sequence
            self.key = key
        }

    }

    /// Whether the entry at `a` comes before the one at `b`, read in place: a method called on array elements
    /// copies them, and with them their keys (a retain and a release each for a
    /// key that holds a reference, on every step of every sift).
    @inlinable @inline(__always)
    static func precedes(_ p: UnsafeMutableBufferPointer<Entry>, _ a: Int, _ b: Int) -> Bool {
        let x = p.baseAddress! + a
        let y = p.baseAddress! + b
        return x.pointee.deadline < y.pointee.deadline
            || (x.pointee.deadline == y.pointee.deadline && x.pointee.sequence < y.pointee.sequence)
    }

    @usableFromInline var entries: [Entry] = []

    @inlinable init() {}

    /// The earliest entry, live or not.
    @inlinable var top: Entry? { entries.first }

    @inlinable mutating func push(_ e: Entry) {
        entries.append(e)
        entries.withUnsafeMutableBufferPointer { p in
            var i = p.count - 1
            while i > 0 {
                let parent = (i - 1) / 2
                guard Self.precedes(p, i, parent) else { break }
                p.swapAt(i, parent)
                i = parent
            }
        }
    }

    @inlinable mutating func popTop() {
        guard !entries.isEmpty else { return }
        let last = entries.removeLast()
        guard !entries.isEmpty else { return }
        entries[0] = last
        siftDown(0)
    }

    /// Whether entries that are not live make up most of the heap (of more than 64): time for
    /// ``compact(keeping:)``, so that cancelled deadlines cost no memory for long.
    @inlinable func isMostlyStale(liveCount: Int) -> Bool {
        entries.count > 64 && entries.count > 2 * liveCount
    }

    /// Rebuilds the heap from the entries `isLive` keeps.
    @inlinable mutating func compact(keeping isLive: (Entry) -> Bool) {
        entries.removeAll { !isLive($0) }
        var i = entries.count / 2
        while i > 0 {
            i -= 1
            siftDown(i)
        }
    }

    @inlinable mutating func siftDown(_ start: Int) {
        entries.withUnsafeMutableBufferPointer { p in
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
}
