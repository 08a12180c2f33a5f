import NIOCore
import SIPSyntax
import Sippet
import Synchronization

/// An endpoint's registrar (RFC 3261 §10.3) confined to event loops: one ``Registrar`` per loop,
/// each address-of-record owned by one of them (by the hash of its canonical form, §10.3 step 5).
/// A REGISTER is handled on its owner's loop with no lock (handed over in batches by
/// `LoopHandOff` when it arrives on another), and the expiry of that loop's bindings runs there
/// too, driven by its earliest deadline: REGISTER traffic, however heavy or however full the
/// table, never holds up a loop that serves other requests, and costs each REGISTER the same
/// whatever the table holds.
///
/// ``Registrar/Policy/maxBindings`` is shared out evenly between the loops.
final class LoopRegistrar: Sendable {
    /// How many due addresses-of-record one expiry task handles before it lets the loop do
    /// other work (it queues itself again when more are due).
    static let expiredPerTask = 256

    /// One loop's part: its registrar and the task that wakes it for the next expiry.
    // @unchecked: `registrar` and `wakeUp` are read and written on `loop` only.
    final class Part: @unchecked Sendable {
        let loop: any EventLoop
        private var registrar: Registrar
        private var wakeUp: (deadline: NIODeadline, task: Scheduled<Void>)?
        private let clock: Clock

        init(loop: any EventLoop, policy: Registrar.Policy, clock: Clock) {
            self.loop = loop
            self.registrar = Registrar(policy: policy)
            self.clock = clock
        }

        /// One REGISTER, on this part's loop.
        func handle(_ request: SIPMessage) -> SIPMessage {
            let before = registrar.count
            let response = registrar.handle(request, now: clock.now())
            clock.total.wrappingAdd(registrar.count - before, ordering: .relaxed)
            arm()
            return response
        }

        /// Keeps one scheduled task, for the earliest expiry.
        private func arm() {
            guard let next = registrar.nextExpiry() else { return }
            let deadline = clock.origin + .milliseconds(Int64(clamping: next))
            if let w = wakeUp, w.deadline <= deadline { return }
            wakeUp?.task.cancel()
            wakeUp = (deadline, loop.scheduleTask(deadline: deadline) { [self] in expire() })
        }

        /// Expires what is due, a bounded batch per task.
        private func expire() {
            wakeUp = nil
            let before = registrar.count
            let handled = registrar.expire(now: clock.now(), atMost: LoopRegistrar.expiredPerTask)
            clock.total.wrappingAdd(registrar.count - before, ordering: .relaxed)
            if handled == LoopRegistrar.expiredPerTask {
                loop.execute { [self] in expire() }
            } else {
                arm()
            }
        }
    }

    /// The registrars' clock (milliseconds since `origin`) and the count of bindings all parts
    /// hold, moved by each change, so that counting takes no hop.
    final class Clock: Sendable {
        let origin = NIODeadline.now()
        let total = Atomic<Int>(0)

        func now() -> UInt64 { UInt64(clamping: (NIODeadline.now() - origin).nanoseconds / 1_000_000) }
    }

    /// A REGISTER on its way to the loop of its address-of-record, and where its response goes.
    struct Registration: Sendable {
        var request: SIPMessage
        var reply: @Sendable (SIPMessage) -> Void
    }

    private let parts: [Part]
    private let clock: Clock
    private let handOff: LoopHandOff<Registration>

    init(policy: Registrar.Policy, loops: [any EventLoop]) {
        var shared = policy
        shared.maxBindings = (policy.maxBindings + loops.count - 1) / max(loops.count, 1)
        let clock = Clock()
        self.clock = clock
        let parts = loops.map { Part(loop: $0, policy: shared, clock: clock) }
        self.parts = parts
        handOff = LoopHandOff(loops: loops) { index, r in r.reply(parts[index].handle(r.request)) }
    }

    /// The number of bindings held (expired ones included until their deadline is handled).
    var count: Int { clock.total.load(ordering: .relaxed) }

    /// Handles one REGISTER on the loop that owns its address-of-record, and gives `reply` the
    /// response there.
    func handle(_ request: SIPMessage, reply: @escaping @Sendable (SIPMessage) -> Void) {
        handOff.send(Registration(request: request, reply: reply), to: owner(of: request))
    }

    /// The part of the request's address-of-record: the hash (seeded per process) of its To URI
    /// in canonical form. A request without one goes to the first (the registrar refuses it).
    private func owner(of request: SIPMessage) -> Int {
        guard parts.count > 1, let to = request.to else { return 0 }
        return Int(UInt(bitPattern: Registrar.canonicalAOR(to.uri).hashValue) % UInt(parts.count))
    }
}
