import SIPTransaction
import Testing

@Suite("Timer queue")
struct TimerQueueTests {
    func drain(_ q: inout TimerQueue<String>, until t: Duration) -> [String] {
        var out: [String] = []
        while let d = q.popNext(notAfter: t) { out.append("\(d.id):\(d.timer):\(d.deadline)") }
        q.advance(to: t)
        return out
    }

    @Test("timers fire in deadline order, ties in the order they were started")
    func order() {
        var q = TimerQueue<String>()
        q.start(.b, for: "x", after: s(32))
        q.start(.a, for: "x", after: s(0.5))
        q.start(.e, for: "y", after: s(0.5))
        q.start(.f, for: "y", after: s(1))
        #expect(q.count == 4)
        #expect(q.nextDeadline() == s(0.5))
        #expect(drain(&q, until: s(1)) == ["x:Timer A:0.5 seconds", "y:Timer E:0.5 seconds", "y:Timer F:1.0 seconds"])
        #expect(q.now == s(1))
        #expect(drain(&q, until: s(40)) == ["x:Timer B:32.0 seconds"])
        #expect(q.count == 0)
        #expect(q.nextDeadline() == nil)
    }

    @Test("starting a pending timer again replaces it; cancel and cancelAll remove")
    func replaceAndCancel() {
        var q = TimerQueue<String>()
        q.start(.g, for: "x", after: s(0.5))
        q.start(.g, for: "x", after: s(2))
        q.start(.h, for: "x", after: s(32))
        q.start(.j, for: "y", after: s(32))
        q.cancel(.j, for: "y")
        #expect(!q.isPending(.j, for: "y"))
        #expect(drain(&q, until: s(1)).isEmpty)
        #expect(drain(&q, until: s(2)) == ["x:Timer G:2.0 seconds"])
        q.cancelAll(for: "x")
        #expect(q.count == 0)
        #expect(drain(&q, until: s(100)).isEmpty)
    }

    @Test("delays count from now; the clock never goes back")
    func relativeToNow() {
        var q = TimerQueue<String>()
        q.advance(to: s(10))
        q.advance(to: s(5))
        #expect(q.now == s(10))
        q.start(.k, for: "z", after: s(5))
        #expect(q.nextDeadline() == s(15))
    }

    @Test("a top found live is checked again once cancelled, replaced or dropped with its transaction")
    func topAfterChanges() {
        var q = TimerQueue<String>()
        q.start(.a, for: "x", after: s(1))
        q.start(.e, for: "y", after: s(2))
        q.start(.g, for: "z", after: s(3))
        q.start(.b, for: "w", after: s(4))
        #expect(q.nextDeadline() == s(1))
        q.cancel(.a, for: "x")
        #expect(q.nextDeadline() == s(2))
        q.start(.e, for: "y", after: s(10))
        #expect(q.nextDeadline() == s(3))
        q.cancelAll(for: "z")
        #expect(q.nextDeadline() == s(4))
        #expect(drain(&q, until: s(20)) == ["w:Timer B:4.0 seconds", "y:Timer E:10.0 seconds"])
    }

    @Test("a registered transaction's key comes back with each of its timers, until cancelAll")
    func owners() {
        let key = TransactionKey.server(ServerTransactionKey(branch: "z9hG4bK1", sentBy: "h:5060", method: .bye))
        var q = TimerQueue<UInt64>()
        q.register(7, owner: key)
        q.start(.j, for: 7, after: s(1))
        q.start(.k, for: 8, after: s(1))
        let first = q.popNext(notAfter: s(2))
        #expect(first?.id == 7 && first?.owner == key)
        // The key stays with the transaction after its last timer went.
        #expect(q.owner(of: 7) == key)
        let second = q.popNext(notAfter: s(2))
        #expect(second?.id == 8 && second != nil && second?.owner == nil)
        q.start(.j, for: 7, after: s(1))
        #expect(q.popNext(notAfter: s(5))?.owner == key)
        q.cancelAll(for: 7)
        #expect(q.owner(of: 7) == nil)
        q.start(.j, for: 7, after: s(1))
        #expect(q.popNext(notAfter: s(10))?.owner == nil)
    }

    @Test("apply() takes the timer actions and drops every timer on terminated")
    func applyActions() {
        var q = TimerQueue<String>()
        q.apply([.send([1]), .startTimer(.e, s(0.5)), .startTimer(.f, s(32))], for: "n")
        #expect(q.count == 2)
        q.apply([.cancelTimer(.e)], for: "n")
        #expect(q.count == 1)
        q.apply([.terminated], for: "n")
        #expect(q.count == 0)
    }

    @Test("apply(holding:) returns the held timer's delay instead of starting it")
    func applyHolding() {
        var q = TimerQueue<String>()
        let held = q.apply(
            [.send([1]), .startTimer(.trying, s(0.2)), .startTimer(.l, s(32))],
            for: "i", holding: .trying)
        #expect(held == s(0.2))
        #expect(!q.isPending(.trying, for: "i") && q.isPending(.l, for: "i"))
    }

    @Test(
        "more kinds pending for one transaction than the machines use: each fires once, replaced ones at their new time"
    )
    func manyKindsForOneTransaction() {
        var q = TimerQueue<String>()
        let kinds: [TransactionTimer] = [.a, .b, .d, .e, .f, .g, .h]
        for (i, t) in kinds.enumerated() { q.start(t, for: "x", after: s(Double(i + 1))) }
        q.start(.trying, for: "y", after: s(3.5))
        #expect(q.count == 8)
        // Replace one kind held inline and one beyond, and cancel one of each.
        q.start(.b, for: "x", after: s(10))
        q.start(.g, for: "x", after: s(11))
        q.cancel(.a, for: "x")
        q.cancel(.h, for: "x")
        #expect(q.count == 6)
        #expect(q.isPending(.g, for: "x") && !q.isPending(.h, for: "x") && !q.isPending(.a, for: "x"))
        #expect(
            drain(&q, until: s(20)) == [
                "x:Timer D:3.0 seconds", "y:Timer 100 Trying:3.5 seconds", "x:Timer E:4.0 seconds",
                "x:Timer F:5.0 seconds", "x:Timer B:10.0 seconds", "x:Timer G:11.0 seconds",
            ])
        #expect(q.count == 0)
        for t in kinds { q.start(t, for: "z", after: s(30)) }
        q.cancelAll(for: "z")
        #expect(q.count == 0)
        #expect(drain(&q, until: s(100)).isEmpty)
    }

    @Test("coarse timers fall due on a 10 ms grid, together; retransmission timers keep their exact deadlines")
    func coarseResolution() {
        var q = TimerQueue<String>()
        q.advance(to: .microseconds(300))
        q.start(.j, for: "x", after: s(32))
        q.start(.e, for: "y", after: s(0.5))
        q.advance(to: .milliseconds(4))
        q.start(.l, for: "z", after: s(32))
        q.start(.k, for: "w", after: .milliseconds(6))
        #expect(
            drain(&q, until: s(40)) == [
                "w:Timer K:0.01 seconds", "y:Timer E:0.5003 seconds",
                "x:Timer J:32.01 seconds", "z:Timer L:32.01 seconds",
            ])
        var exact = TimerQueue<String>(coarseResolution: .zero)
        exact.advance(to: .microseconds(300))
        exact.start(.j, for: "x", after: s(32))
        #expect(exact.nextDeadline() == .microseconds(32_000_300))
    }

    @Test("cancelled timers do not pile up")
    func compaction() {
        var q = TimerQueue<Int>()
        for i in 0..<10_000 {
            q.start(.h, for: i, after: s(32))
            q.cancel(.h, for: i)
        }
        q.start(.h, for: -1, after: s(32))
        #expect(q.count == 1)
        var fired = 0
        while q.popNext(notAfter: s(100)) != nil { fired += 1 }
        #expect(fired == 1)
    }
}
