/// The pending timers of one transaction, inline: which kinds are pending, and the sequence
/// number of the deadline each kind has in its queue, in 32 bits (24 bytes in all, kept with every
/// transaction). A stale deadline could only be taken for a live one if 2³² more deadlines were
/// started while it waited: its wait is at most 64·T1 (and a compaction drops it), far less than
/// the four billion starts would take. A machine runs at most three at once (the
/// INVITE server's Trying, G and H), so four places cover them; a queue keeps a fifth kind apart.
///
/// ``TransactionTimerQueue`` keeps them in an object the driver holds with the transaction
/// (``TimerOwner``), so that no index is looked up.
@usableFromInline package struct TimerPlaces: Sendable {
    /// The kinds in the four places, a byte each (``TransactionTimer`` raw values); 0xFF: empty.
    @usableFromInline var kinds: UInt32 = .max
    @usableFromInline var s0: UInt32 = 0, s1: UInt32 = 0, s2: UInt32 = 0, s3: UInt32 = 0

    /// No timer pending.
    @inlinable package init() {}

    /// Whether no timer is here.
    @inlinable var isEmpty: Bool { kinds == .max }

    /// The timer whose deadline has `sequence`, or nil: sequence numbers are unique in a queue, so
    /// a deadline need not say which timer it is.
    @inlinable func timer(withSequence sequence: UInt64) -> TransactionTimer? {
        let s = UInt32(truncatingIfNeeded: sequence)
        for i in 0..<4 where self.sequence(at: i) == s {
            let raw = UInt8(truncatingIfNeeded: kinds >> (8 * i))
            if raw != 0xFF { return TransactionTimer(rawValue: raw) }
        }
        return nil
    }

    /// The place of `timer`, or nil.
    @inlinable func place(of timer: TransactionTimer) -> Int? { place(ofRaw: timer.rawValue) }

    @inlinable func sequence(at i: Int) -> UInt32 {
        switch i {
        case 0: return s0
        case 1: return s1
        case 2: return s2
        default: return s3
        }
    }

    /// Puts `timer` with `sequence` in its place, or in a free one; false when all four hold others.
    @inlinable mutating func set(_ timer: TransactionTimer, _ full: UInt64) -> Bool {
        guard let i = place(of: timer) ?? place(ofRaw: 0xFF) else { return false }
        let sequence = UInt32(truncatingIfNeeded: full)
        kinds = (kinds & ~(0xFF << UInt32(8 * i))) | (UInt32(timer.rawValue) << UInt32(8 * i))
        switch i {
        case 0: s0 = sequence
        case 1: s1 = sequence
        case 2: s2 = sequence
        default: s3 = sequence
        }
        return true
    }

    /// Empties the place of `timer`; false when it was not here.
    @inlinable mutating func remove(_ timer: TransactionTimer) -> Bool {
        guard let i = place(of: timer) else { return false }
        kinds |= 0xFF << UInt32(8 * i)
        return true
    }

    @inlinable func place(ofRaw raw: UInt8) -> Int? {
        for i in 0..<4 where UInt8(truncatingIfNeeded: kinds >> (8 * i)) == raw { return i }
        return nil
    }

    /// How many timers are here.
    @inlinable var count: Int {
        var n = 0
        for i in 0..<4 where UInt8(truncatingIfNeeded: kinds >> (8 * i)) != 0xFF { n += 1 }
        return n
    }
}
