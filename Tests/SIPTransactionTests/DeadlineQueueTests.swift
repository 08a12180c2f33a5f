import SIPTransaction
import Testing

@Suite("Deadline queue")
struct DeadlineQueueTests {
    @Test("random starts, replacements and cancels fire exactly what a sorted list says, in order")
    func againstAModel() {
        var rng = Generator(seed: 0x5151)
        var q = DeadlineQueue<Int>()
        // The model: each key's live deadline and the sequence it was started with.
        var model: [Int: (deadline: Duration, sequence: Int)] = [:]
        var sequence = 0
        var now = Duration.zero
        for _ in 0..<200 {
            for _ in 0..<Int(rng.next() % 40) {
                let key = Int(rng.next() % 300)
                if rng.next() % 4 == 0 {
                    q.cancel(key)
                    model[key] = nil
                } else {
                    let delay = Duration.milliseconds(Int64(rng.next() % 5_000))
                    q.start(key, after: delay)
                    model[key] = (now + delay, sequence)
                    sequence += 1
                }
            }
            #expect(q.count == model.count)
            now += .milliseconds(Int64(rng.next() % 400))
            let expected = model.filter { $0.value.deadline <= now }
                .sorted { ($0.value.deadline, $0.value.sequence) < ($1.value.deadline, $1.value.sequence) }
            var fired: [(Int, Duration)] = []
            while let due = q.popNext(notAfter: now) { fired.append((due.key, due.deadline)) }
            q.advance(to: now)
            #expect(fired.map(\.0) == expected.map(\.key))
            #expect(fired.map(\.1) == expected.map(\.value.deadline))
            for (key, _) in expected { model[key] = nil }
            #expect(q.nextDeadline() == model.values.map(\.deadline).min())
        }
    }

    @Test("a cancelled deadline is no longer pending, and a replaced one fires once, at its new time")
    func replaceAndCancel() {
        var q = DeadlineQueue<String>()
        q.start("retransmit", after: .milliseconds(500))
        q.start("retransmit", after: .milliseconds(1_000))
        q.start("ring", after: .milliseconds(50))
        q.cancel("ring")
        #expect(!q.isPending("ring") && q.isPending("retransmit"))
        #expect(q.popNext(notAfter: .milliseconds(999)) == nil)
        let due = q.popNext(notAfter: .milliseconds(1_000))
        #expect(due?.key == "retransmit" && due?.deadline == .milliseconds(1_000))
        #expect(q.popNext(notAfter: .seconds(100)) == nil && q.count == 0)
    }
}

/// A deterministic generator (Knuth's MMIX linear congruential one), so that a failure replays.
struct Generator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        return state >> 33
    }
}
