/// The pending timers of one transaction, inline: which kinds are pending, and the sequence
/// number of the deadline each kind has in its queue. A machine runs at most three at once (the
/// INVITE server's Trying, G and H), so four places cover them; a queue keeps a fifth kind apart.
///
/// ``TransactionTimerQueue`` keeps them in an object the driver holds with the transaction
/// (``TimerOwner``), so that no index is looked up.
@usableFromInline package struct TimerPlaces: Sendable {
    /// The kinds in the four places, a byte each (``TransactionTimer`` raw values); 0xFF: empty.
    @usableFromInline var kinds: UInt32 = .max
    @usableFromInline var s0: UInt64 = 0, s1: UInt64 = 0, s2: UInt64 = 0, s3: UInt64 = 0

    /// No timer pending.
    @inlinable package init() {}

    /// Whether no timer is here.
    @inlinable var isEmpty: Bool { kinds == .max }

    /// The sequence number of `timer` here, or nil.
    @inlinable func sequence(of timer: TransactionTimer) -> UInt64? {
        // Not `place(of:).map(sequence(at:))`: the method reference is a closure over `self`,
        // allocated on the heap at every call.
        guard let i = place(of: timer) else { return nil }
        return sequence(at: i)
    }

    /// The place of `timer`, or nil.
    @inlinable func place(of timer: TransactionTimer) -> Int? { place(ofRaw: timer.rawValue) }

    @inlinable func sequence(at i: Int) -> UInt64 {
        switch i {
        case 0: return s0
        case 1: return s1
        case 2: return s2
        default: return s3
        }
    }

    /// Puts `timer` with `sequence` in its place, or in a free one; false when all four hold others.
    @inlinable mutating func set(_ timer: TransactionTimer, _ sequence: UInt64) -> Bool {
        guard let i = place(of: timer) ?? place(ofRaw: 0xFF) else { return false }
        kinds = (kinds & ~(0xFF << UInt32(8 * i))) | (UInt32(timer.rawValue) << UInt32(8 * i))
        switch i {
        case 0: s0 = sequence
        case 1: s1 = sequence
        case 2: s2 = sequence
        default: s3 = sequence
        }
        return true
    }

    /// Empties the place of `timer`; its sequence number, or nil when it was not here.
    @inlinable mutating func remove(_ timer: TransactionTimer) -> UInt64? {
        guard let i = place(of: timer) else { return nil }
        kinds |= 0xFF << UInt32(8 * i)
        return sequence(at: i)
    }

    @inlinable func place(ofRaw raw: UInt8) -> Int? {
        for i in 0..<4 where UInt8(truncatingIfNeeded: kinds >> (8 * i)) == raw { return i }
        return nil
    }

    /// Calls `body` with the sequence number of each timer here.
    @inlinable func forEachSequence(_ body: (UInt64) -> Void) {
        for i in 0..<4 where UInt8(truncatingIfNeeded: kinds >> (8 * i)) != 0xFF { body(sequence(at: i)) }
    }

    /// How many timers are here.
    @inlinable var count: Int {
        var n = 0
        for i in 0..<4 where UInt8(truncatingIfNeeded: kinds >> (8 * i)) != 0xFF { n += 1 }
        return n
    }
}
