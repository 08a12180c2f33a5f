import Testing

@testable import SIPTransaction

@Suite("Deadlines: rings per fixed delay and a heap")
struct DeadlinesTests {
    /// A small deterministic generator (xorshift64*).
    struct Generator: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state ^= state >> 12
            state ^= state << 25
            state ^= state >> 27
            return state &* 0x2545_F491_4F6C_DD1D
        }
    }

    @Test(
        "random adds and cancels, fixed delays and others, give exactly the live deadlines, in deadline order, ties in the order added"
    )
    func againstAModel() {
        // RFC 3261 §13.3.1.4 with T1 = 500 ms, T2 = 4 s: 0.5, 1, 2, 4 s in rings, and leftovers in the heap.
        let fixed: [Duration] = [.milliseconds(500), .seconds(1), .seconds(2), .seconds(4)]
        var rng = Generator(state: 0x9E37_79B9_7F4A_7C15)
        var deadlines = Deadlines<Int>()
        /// The model: each live key's sequence number and deadline.
        var live: [Int: (sequence: UInt64, deadline: Duration)] = [:]
        var nextKey = 0
        var now = Duration.zero
        var fired = 0
        for _ in 0..<300 {
            for _ in 0..<Int(rng.next() % 30) {
                if rng.next() % 3 == 0, let victim = live.keys.randomElement(using: &rng) {
                    live[victim] = nil
                } else {
                    let isFixed = rng.next() % 4 != 0
                    let delay =
                        isFixed ? fixed[Int(rng.next() % UInt64(fixed.count))] : .milliseconds(Int64(rng.next() % 3000))
                    let sequence = deadlines.add(nextKey, after: delay, fixed: isFixed)
                    live[nextKey] = (sequence, now + delay)
                    nextKey += 1
                }
            }
            let model = live
            let isLive: (Deadlines<Int>.Entry) -> Bool = { model[$0.key]?.sequence == $0.sequence }
            deadlines.compact(liveCount: live.count, isLive: isLive)
            #expect(deadlines.nextDeadline(isLive: isLive) == live.values.map(\.deadline).min())
            now += .milliseconds(Int64(rng.next() % 700))
            deadlines.advance(to: now)
            let due = live.filter { $0.value.deadline <= now }.sorted {
                ($0.value.deadline, $0.value.sequence) < ($1.value.deadline, $1.value.sequence)
            }.map(\.key)
            var popped: [Int] = []
            while let e = deadlines.popFirst(notAfter: now, isLive: isLive) {
                #expect(e.deadline == live[e.key]?.deadline, "key \(e.key) came out with the wrong deadline")
                popped.append(e.key)
            }
            for key in popped { live[key] = nil }
            #expect(popped == due)
            fired += popped.count
        }
        #expect(fired > 1000)
        #expect(deadlines.rings.count == fixed.count)
    }

    @Test("an entry no longer live at the front does not hold the next deadline back; a negative delay counts as zero")
    func staleAtFront() {
        var deadlines = Deadlines<String>()
        var live: Set<UInt64> = []
        live.insert(deadlines.add("a", after: .milliseconds(500), fixed: true))
        deadlines.advance(to: .milliseconds(10))
        live.insert(deadlines.add("b", after: .milliseconds(500), fixed: true))
        #expect(deadlines.nextDeadline { live.contains($0.sequence) } == .milliseconds(500))
        live.remove(0)
        #expect(deadlines.nextDeadline { live.contains($0.sequence) } == .milliseconds(510))
        #expect(deadlines.popFirst(notAfter: .milliseconds(509)) { live.contains($0.sequence) } == nil)
        live.insert(deadlines.add("c", after: .milliseconds(-5)))
        #expect(deadlines.popFirst(notAfter: .milliseconds(10)) { live.contains($0.sequence) }?.key == "c")
        #expect(deadlines.popFirst(notAfter: .milliseconds(510)) { live.contains($0.sequence) }?.key == "b")
        #expect(deadlines.now == .milliseconds(510))
        #expect(deadlines.nextDeadline { live.contains($0.sequence) } == nil)
    }

    @Test("deadlines are rounded up to the resolution given; the ring of a delay takes them in order")
    func resolution() {
        var deadlines = Deadlines<String>()
        deadlines.advance(to: .microseconds(300))
        deadlines.add("x", after: .seconds(32), fixed: true, resolution: .milliseconds(10))
        deadlines.add("y", after: .milliseconds(500))
        deadlines.advance(to: .milliseconds(4))
        deadlines.add("z", after: .seconds(32), fixed: true, resolution: .milliseconds(10))
        var out: [String] = []
        while let e = deadlines.popFirst(notAfter: .seconds(40), isLive: { _ in true }) {
            out.append("\(e.key)@\(e.deadline)")
        }
        #expect(out == ["y@0.5003 seconds", "x@32.01 seconds", "z@32.01 seconds"])
        #expect(deadlines.rings.count == 1 && deadlines.heap.isEmpty)
    }

    @Test("compaction drops what is not live from the rings and the heap, and keeps the order of the rest")
    func compaction() {
        var deadlines = Deadlines<Int>()
        for i in 0..<1000 {
            deadlines.advance(to: .milliseconds(i))
            deadlines.add(i, after: .seconds(32), fixed: true)
            deadlines.add(-i - 1, after: .milliseconds(Int64(2000 - 2 * i)))
        }
        #expect(deadlines.storedCount == 2000)
        // Keep one ring entry in ten and one heap entry in a hundred.
        let isLive: (Deadlines<Int>.Entry) -> Bool = { $0.key >= 0 ? $0.key % 10 == 0 : (-$0.key - 1) % 100 == 0 }
        deadlines.compact(liveCount: 110, isLive: isLive)
        #expect(deadlines.storedCount == 110)
        var keys: [Int] = []
        while let e = deadlines.popFirst(notAfter: .seconds(60), isLive: isLive) { keys.append(e.key) }
        let heapKeys = stride(from: 900, through: 0, by: -100).map { -$0 - 1 }
        #expect(keys == heapKeys + Array(stride(from: 0, to: 1000, by: 10)))
    }
}
