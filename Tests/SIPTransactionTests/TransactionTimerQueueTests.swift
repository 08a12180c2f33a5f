import Testing

@testable import SIPTransaction

/// A transaction's object, as a driver keeps it.
final class TestOwner: TimerOwner, @unchecked Sendable {
    let name: String
    var timerPlaces = TimerPlaces()
    init(_ name: String) { self.name = name }
}

@Suite("Timer queue with the timers kept by their transactions")
struct TransactionTimerQueueTests {
    func drain(_ q: inout TransactionTimerQueue<TestOwner>, until t: Duration) -> [String] {
        var out: [String] = []
        while let d = q.popNext(notAfter: t) { out.append("\(d.owner.name):\(d.timer):\(d.deadline)") }
        q.advance(to: t)
        return out
    }

    @Test("timers fire in deadline order, ties in the order they were started, across the heap and the rings")
    func order() {
        var q = TransactionTimerQueue<TestOwner>()
        let x = TestOwner("x")
        let y = TestOwner("y")
        let z = TestOwner("z")
        q.start(.b, for: x, after: s(32))
        q.start(.a, for: x, after: s(0.5))
        q.start(.e, for: y, after: s(0.5))
        q.start(.f, for: y, after: s(1))
        // Exact, due at the same instant as B, started after it.
        q.start(.g, for: z, after: s(32))
        // Coarse with a delay of its own: a second ring.
        q.start(.k, for: z, after: s(5))
        #expect(q.count == 6)
        #expect(q.nextDeadline() == s(0.5))
        #expect(drain(&q, until: s(1)) == ["x:Timer A:0.5 seconds", "y:Timer E:0.5 seconds", "y:Timer F:1.0 seconds"])
        #expect(q.now == s(1))
        #expect(
            drain(&q, until: s(40)) == ["z:Timer K:5.0 seconds", "x:Timer B:32.0 seconds", "z:Timer G:32.0 seconds"])
        #expect(q.count == 0)
        #expect(q.nextDeadline() == nil)
    }

    @Test("starting a pending timer again replaces it, in a ring as in the heap; cancel and cancelAll remove")
    func replaceAndCancel() {
        var q = TransactionTimerQueue<TestOwner>()
        let x = TestOwner("x")
        let y = TestOwner("y")
        q.start(.g, for: x, after: s(0.5))
        q.start(.g, for: x, after: s(2))
        q.start(.h, for: x, after: s(32))
        q.start(.j, for: y, after: s(32))
        q.cancel(.j, for: y)
        #expect(!q.isPending(.j, for: y))
        #expect(drain(&q, until: s(1)).isEmpty)
        #expect(drain(&q, until: s(2)) == ["x:Timer G:2.0 seconds"])
        // H again, later: the first one is stale and must not fire.
        q.start(.h, for: x, after: s(32))
        #expect(q.count == 1)
        #expect(drain(&q, until: s(33)).isEmpty)
        #expect(drain(&q, until: s(34)) == ["x:Timer H:34.0 seconds"])
        q.start(.l, for: x, after: s(32))
        q.cancelAll(for: x)
        #expect(q.count == 0)
        #expect(x.timerPlaces.isEmpty)
        #expect(drain(&q, until: s(100)).isEmpty)
    }

    @Test("coarse timers fall due on a 10 ms grid, together; retransmission timers keep their exact deadlines")
    func coarseResolution() {
        var q = TransactionTimerQueue<TestOwner>()
        let (w, x, y, z) = (TestOwner("w"), TestOwner("x"), TestOwner("y"), TestOwner("z"))
        q.advance(to: .microseconds(300))
        q.start(.j, for: x, after: s(32))
        q.start(.e, for: y, after: s(0.5))
        q.advance(to: .milliseconds(4))
        q.start(.l, for: z, after: s(32))
        q.start(.k, for: w, after: .milliseconds(6))
        #expect(
            drain(&q, until: s(40)) == [
                "w:Timer K:0.01 seconds", "y:Timer E:0.5003 seconds",
                "x:Timer J:32.01 seconds", "z:Timer L:32.01 seconds",
            ])
        var exact = TransactionTimerQueue<TestOwner>(coarseResolution: .zero)
        exact.advance(to: .microseconds(300))
        exact.start(.j, for: x, after: s(32))
        #expect(exact.nextDeadline() == .microseconds(32_000_300))
    }

    @Test("more delays than rings: the rest go to the heap, and all fire in deadline order")
    func moreDelaysThanRings() {
        var q = TransactionTimerQueue<TestOwner>()
        var expected: [String] = []
        // Twelve delays, longest first, so that every one falls due before those started earlier.
        for i in (1...12).reversed() {
            let o = TestOwner("o\(i)")
            q.start(.j, for: o, after: s(Double(i)))
            expected.append("o\(i):Timer J:\(s(Double(i)))")
        }
        #expect(q.deadlines.rings.count == Deadlines<TestOwner>.maximumRings)
        #expect(drain(&q, until: s(20)) == expected.reversed())
    }

    @Test(
        "more kinds pending for one transaction than its four places: each fires once, replaced ones at their new time")
    func manyKindsForOneTransaction() {
        var q = TransactionTimerQueue<TestOwner>()
        let x = TestOwner("x")
        let y = TestOwner("y")
        let z = TestOwner("z")
        let kinds: [TransactionTimer] = [.a, .b, .d, .e, .f, .g, .h]
        for (i, t) in kinds.enumerated() { q.start(t, for: x, after: s(Double(i + 1))) }
        q.start(.trying, for: y, after: s(3.5))
        #expect(q.count == 8)
        q.start(.b, for: x, after: s(10))
        q.start(.g, for: x, after: s(11))
        q.cancel(.a, for: x)
        q.cancel(.h, for: x)
        #expect(q.count == 6)
        #expect(q.isPending(.g, for: x) && !q.isPending(.h, for: x) && !q.isPending(.a, for: x))
        #expect(
            drain(&q, until: s(20)) == [
                "x:Timer D:3.0 seconds", "y:Timer 100 Trying:3.5 seconds", "x:Timer E:4.0 seconds",
                "x:Timer F:5.0 seconds", "x:Timer B:10.0 seconds", "x:Timer G:11.0 seconds",
            ])
        #expect(q.count == 0)
        for t in kinds { q.start(t, for: z, after: s(30)) }
        q.cancelAll(for: z)
        #expect(q.count == 0)
        #expect(drain(&q, until: s(100)).isEmpty)
    }

    @Test(
        "a ring of 10,000 timers, every other one cancelled: the rest fire in order, and the ring gives its memory back"
    )
    func largeRing() {
        var q = TransactionTimerQueue<TestOwner>()
        var owners: [TestOwner] = []
        for i in 0..<10_000 {
            let o = TestOwner("\(i)")
            owners.append(o)
            q.advance(to: .milliseconds(i))
            q.start(.j, for: o, after: s(32))
        }
        for i in stride(from: 1, to: 10_000, by: 2) { q.cancel(.j, for: owners[i]) }
        #expect(q.count == 5_000)
        #expect(q.deadlines.rings[0].storage.count == 16_384)
        var fired: [Int] = []
        while let d = q.popNext(notAfter: s(100)) { fired.append(Int(d.owner.name)!) }
        #expect(fired == Array(stride(from: 0, to: 10_000, by: 2)))
        #expect(q.deadlines.rings[0].count == 0 && q.deadlines.rings[0].storage.count <= 1_024)
    }

    @Test("a transaction's object is let go once its timers have fired or been dropped")
    func ownersReleased() {
        var q = TransactionTimerQueue<TestOwner>()
        weak var fired: TestOwner?
        weak var dropped: TestOwner?
        do {
            let a = TestOwner("a")
            let b = TestOwner("b")
            fired = a
            dropped = b
            q.start(.j, for: a, after: s(32))
            q.start(.l, for: b, after: s(32))
            q.start(.g, for: b, after: s(1))
            q.cancelAll(for: b)
        }
        #expect(fired != nil)
        _ = drain(&q, until: s(40))
        #expect(fired == nil)
        #expect(dropped == nil)
    }

    @Test("apply() takes the timer actions and drops every timer on terminated")
    func applyActions() {
        var q = TransactionTimerQueue<TestOwner>()
        let n = TestOwner("n")
        q.apply([.send([1]), .startTimer(.e, s(0.5)), .startTimer(.f, s(32))], for: n)
        #expect(q.count == 2)
        q.apply([.cancelTimer(.e)], for: n)
        #expect(q.count == 1 && !q.isPending(.e, for: n) && q.isPending(.f, for: n))
        q.apply([.terminated], for: n)
        #expect(q.count == 0)
        #expect(drain(&q, until: s(40)).isEmpty)
    }

    @Test("apply(holding:) returns the held timer's delay instead of starting it")
    func applyHolding() {
        var q = TransactionTimerQueue<TestOwner>()
        let i = TestOwner("i")
        let held = q.apply(
            [.send([1]), .startTimer(.trying, s(0.2)), .startTimer(.l, s(32))], for: i, holding: .trying)
        #expect(held == s(0.2))
        #expect(!q.isPending(.trying, for: i) && q.isPending(.l, for: i))
    }

    @Test(
        "cancelled timers do not pile up, in the heap (G, exact) or in a ring (F, coarse)",
        arguments: [(TransactionTimer.g, s(1)), (.f, s(32))])
    func compaction(timer: TransactionTimer, delay: Duration) {
        var q = TransactionTimerQueue<TestOwner>()
        for i in 0..<10_000 {
            let o = TestOwner("\(i)")
            q.start(timer, for: o, after: delay)
            q.cancel(timer, for: o)
        }
        #expect(q.deadlines.storedCount <= 130)
        let last = TestOwner("last")
        q.start(timer, for: last, after: delay)
        #expect(q.count == 1)
        #expect(drain(&q, until: s(40)) == ["last:\(timer):\(delay)"])
    }
}

@Suite("Transaction actions")
struct TransactionActionsTests {
    @Test("the first four actions are held in place and the rest after them, all in order")
    func beyondFour() {
        var actions: TransactionActions = [.send([1]), .startTimer(.e, s(0.5))]
        actions.append(contentsOf: [.cancelTimer(.e), .send([2]), .startTimer(.f, s(32))])
        actions.append(.terminated)
        #expect(actions.count == 6)
        #expect(actions.sent == [[1], [2]])
        #expect(actions.startedTimers.map(\.0) == [.e, .f] && actions.cancelledTimers == [.e])
        #expect(actions.terminates)
        #expect(actions.map(\.description).last == "terminated")
        #expect(TransactionActions(Array(actions)).map(\.description) == actions.map(\.description))
    }
}
