import Testing

@testable import SippetEndpoint

/// The endpoint's 2xx retransmission timers (``FixedDelayTimers``) and its dialog IDs, on their own.
@Suite("Endpoint timers and dialog IDs")
struct EndpointTimerTests {
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
        "random starts and cancels over the delays of the 2xx schedule fire exactly the live timers, in deadline order")
    func againstAModel() {
        // §13.3.1.4 with T1 = 500 ms, T2 = 4 s: 0.5, 1, 2, 4 s, and the 0.5 s left of 64·T1.
        let delays: [Duration] = [.milliseconds(500), .seconds(1), .seconds(2), .seconds(4), .milliseconds(1500)]
        var rng = Generator(state: 0x9E37_79B9_7F4A_7C15)
        var timers = FixedDelayTimers<Int>()
        var live: [Int: (handle: FixedDelayTimers<Int>.Handle, deadline: Duration)] = [:]
        var nextKey = 0
        var now = Duration.zero
        var fired = 0
        for _ in 0..<300 {
            for _ in 0..<Int(rng.next() % 30) {
                if rng.next() % 3 == 0, let victim = live.keys.randomElement(using: &rng) {
                    timers.cancel(live[victim]!.handle)
                    // Cancelling twice changes nothing.
                    timers.cancel(live[victim]!.handle)
                    live[victim] = nil
                } else {
                    let delay = delays[Int(rng.next() % UInt64(delays.count))]
                    live[nextKey] = (timers.start(nextKey, after: delay), now + delay)
                    nextKey += 1
                }
            }
            #expect(timers.count == live.count)
            #expect(timers.nextDeadline() == live.values.map(\.deadline).min())
            now += .milliseconds(Int64(rng.next() % 700))
            timers.advance(to: now)
            let due = Set(live.filter { $0.value.deadline <= now }.keys)
            var popped: [Int] = []
            var last = Duration.zero
            while let (key, deadline) = timers.popNext(notAfter: now) {
                #expect(deadline == live[key]?.deadline, "timer \(key) fired with the wrong deadline")
                #expect(deadline >= last, "out of order")
                last = deadline
                popped.append(key)
                // A fired timer's handle no longer cancels anything.
                let handle = live[key]!.handle
                live[key] = nil
                timers.cancel(handle)
            }
            #expect(Set(popped) == due)
            #expect(popped.count == due.count)
            fired += popped.count
        }
        #expect(fired > 1000)
    }

    @Test("a cancelled timer at the front does not hold the next deadline back, and a negative delay counts as zero")
    func cancelAtFront() {
        var timers = FixedDelayTimers<String>()
        let a = timers.start("a", after: .milliseconds(500))
        timers.advance(to: .milliseconds(10))
        _ = timers.start("b", after: .milliseconds(500))
        #expect(timers.nextDeadline() == .milliseconds(500))
        timers.cancel(a)
        #expect(timers.nextDeadline() == .milliseconds(510))
        #expect(timers.popNext(notAfter: .milliseconds(509)) == nil)
        _ = timers.start("c", after: .milliseconds(-5))
        #expect(timers.popNext(notAfter: .milliseconds(10))?.key == "c")
        #expect(timers.popNext(notAfter: .milliseconds(510))?.key == "b")
        #expect(timers.count == 0)
        #expect(timers.nextDeadline() == nil)
    }

    @Test(
        "dialog IDs are equal from strings and from bytes, packed up to 61 bytes and spelled out beyond, and keep their parts",
        arguments: [(20, 15, 26), (20, 15, 27), (1, 1, 1), (0, 15, 15), (40, 15, 20), (200, 15, 15)])
    func dialogIDs(callIDLength: Int, localLength: Int, remoteLength: Int) {
        let alphabet = Array("abcdefghij@1234567890.example")
        let callID = String((0..<callIDLength).map { alphabet[$0 % alphabet.count] })
        let local = String(repeating: "f", count: localLength)
        let remote = String(repeating: "9", count: remoteLength)
        let fromStrings = DialogID(callID: callID, localTag: local, remoteTag: remote)
        let fromBytes = DialogID(
            callID: Array(callID.utf8), localTag: Array(local.utf8)[...], remoteTag: Array(remote.utf8))
        // A collection without contiguous storage is copied byte by byte, to the same ID.
        let fromLazy = DialogID(
            callID: callID.utf8.lazy.map { $0 }, localTag: local.utf8.lazy.map { $0 },
            remoteTag: remote.utf8.lazy.map { $0 })
        #expect(fromStrings == fromBytes)
        #expect(fromLazy == fromBytes)
        #expect(fromStrings.hashValue == fromBytes.hashValue)
        let parts = fromBytes.parts
        #expect(parts.callID == callID && parts.localTag == local && parts.remoteTag == remote)
        let packed: Bool
        if case .packed = fromStrings.text { packed = true } else { packed = false }
        #expect(packed == (callIDLength + localLength + remoteLength <= 61))
        // The same bytes split differently are another dialog.
        if callIDLength > 0 {
            let shifted = DialogID(
                callID: String(callID.dropLast()), localTag: String(callID.last!) + local, remoteTag: remote)
            #expect(shifted != fromStrings)
        }
        #expect(
            DialogID(callID: callID, localTag: remote, remoteTag: local) != fromStrings || local == remote)
    }
}
