import NIOCore
import SIPSyntax
import Synchronization

/// An endpoint's registrar (RFC 3261 §10.3) confined to event loops: one ``Registrar`` per loop,
/// each address-of-record owned by one of them (by the hash of its canonical form, §10.3 step 5).
/// A REGISTER is handled on its owner's loop with no lock, and the expiry of that loop's
/// bindings runs there too, driven by its earliest deadline: REGISTER traffic, however heavy or
/// however full the table, never holds up a loop that serves other requests, and costs each
/// REGISTER the same whatever the table holds.
///
/// ``Registrar/Policy/maxBindings`` is shared out evenly between the loops.
final class LoopRegistrar: Sendable {
    /// One loop's part: its registrar and the task that wakes it for the next expiry.
    // @unchecked: `registrar` and `wakeUp` are read and written on `loop` only.
    final class Part: @unchecked Sendable {
        let loop: any EventLoop
        var registrar: Registrar
        var wakeUp: (deadline: NIODeadline, task: Scheduled<Void>)?

        init(loop: any EventLoop, policy: Registrar.Policy) {
            self.loop = loop
            self.registrar = Registrar(policy: policy)
        }
    }

    /// How many due addresses-of-record one expiry task handles before it lets the loop do
    /// other work (it queues itself again when more are due).
    static let expiredPerTask = 256

    private let parts: [Part]
    /// The origin of the registrars' clock (milliseconds since it).
    private let origin = NIODeadline.now()
    /// The bindings held by all parts, moved by each change, so that counting takes no hop.
    private let total = Atomic<Int>(0)

    init(policy: Registrar.Policy, loops: [any EventLoop]) {
        var shared = policy
        shared.maxBindings = (policy.maxBindings + loops.count - 1) / max(loops.count, 1)
        parts = loops.map { Part(loop: $0, policy: shared) }
    }

    /// The number of bindings held (expired ones included until their deadline is handled).
    var count: Int { total.load(ordering: .relaxed) }

    /// Handles one REGISTER on the loop that owns its address-of-record, and gives `reply` the
    /// response there.
    func handle(_ request: SIPMessage, reply: @escaping @Sendable (SIPMessage) -> Void) {
        let part = parts[owner(of: request)]
        if part.loop.inEventLoop {
            reply(handle(request, in: part))
        } else {
            part.loop.execute { [self] in reply(handle(request, in: part)) }
        }
    }

    /// The part of the request's address-of-record: the hash (seeded per process) of its To URI
    /// in canonical form. A request without one goes to the first (the registrar refuses it).
    private func owner(of request: SIPMessage) -> Int {
        guard parts.count > 1, let to = request.to else { return 0 }
        return Int(UInt(bitPattern: Registrar.canonicalAOR(to.uri).hashValue) % UInt(parts.count))
    }

    private func handle(_ request: SIPMessage, in part: Part) -> SIPMessage {
        let before = part.registrar.count
        let response = part.registrar.handle(request, now: now())
        total.wrappingAdd(part.registrar.count - before, ordering: .relaxed)
        arm(part)
        return response
    }

    /// The registrars' clock: milliseconds since `origin`.
    private func now() -> UInt64 { UInt64(clamping: (NIODeadline.now() - origin).nanoseconds / 1_000_000) }

    /// Keeps one scheduled task per part, for its earliest expiry.
    private func arm(_ part: Part) {
        guard let next = part.registrar.nextExpiry() else { return }
        let deadline = origin + .milliseconds(Int64(clamping: next))
        if let w = part.wakeUp, w.deadline <= deadline { return }
        part.wakeUp?.task.cancel()
        part.wakeUp = (deadline, part.loop.scheduleTask(deadline: deadline) { [self] in expire(part) })
    }

    /// Expires what is due, a bounded batch per task.
    private func expire(_ part: Part) {
        part.wakeUp = nil
        let before = part.registrar.count
        let handled = part.registrar.expire(now: now(), atMost: Self.expiredPerTask)
        total.wrappingAdd(part.registrar.count - before, ordering: .relaxed)
        if handled == Self.expiredPerTask {
            part.loop.execute { [self] in expire(part) }
        } else {
            arm(part)
        }
    }
}
