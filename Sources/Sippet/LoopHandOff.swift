import NIOCore
import NIOPosix

/// Hands work read on one event loop to the loop that owns its state, in batches.
///
/// State in this package is confined to one event loop (a transaction to the loop its key
/// hashes to, a dialog to the loop its Call-ID hashes to), so work that arrives on another loop
/// is handed over. Queueing a task on another loop takes that loop's lock and may wake it with a
/// write to its eventfd; so an item handed over from one of `loops` is held until the loop has
/// read what it is reading (one recvmmsg of datagrams, say), then everything it holds for each
/// other loop goes over in one task. Order is kept: a loop's items for another loop arrive in the
/// order they were handed over. An item handed over from outside `loops` goes in a task of its
/// own; one for the caller's own loop is delivered at once.
package final class LoopHandOff<Item: Sendable>: Sendable {
    /// The loops that own state, by index.
    package let loops: [any EventLoop]
    @usableFromInline let boxes: [Box]
    @usableFromInline let index: [ObjectIdentifier: Int]
    @usableFromInline let deliver: @Sendable (_ destination: Int, _ item: Item) -> Void

    /// A hand-off between `loops`; `deliver` runs on the destination's loop.
    package init(loops: [any EventLoop], deliver: @escaping @Sendable (_ destination: Int, _ item: Item) -> Void) {
        self.loops = loops
        self.deliver = deliver
        boxes = loops.map { Box(loop: $0, destinations: loops.count) }
        var index: [ObjectIdentifier: Int] = [:]
        for (i, loop) in loops.enumerated() { index[ObjectIdentifier(loop)] = i }
        self.index = index
    }

    /// Delivers `item` on the loop at `destination`: at once when called there (no closure, no
    /// copy), batched when called on another of the loops, else in a task of its own.
    /// Inlinable, so that each module that hands work over gets code specialized for its item
    /// (unspecialized generic code looks its type's metadata up on every call).
    @inlinable
    package func send(_ item: consuming Item, to destination: Int) {
        let loop = loops[destination]
        if loop.inEventLoop {
            deliver(destination, item)
            return
        }
        let moved = consume item
        if let box = currentBox() {
            box.pending[destination].append(moved)
            if !box.queued {
                box.queued = true
                box.loop.execute { [self] in flush(box) }
            }
            return
        }
        let deliver = deliver
        loop.execute { deliver(destination, moved) }
    }

    /// The box of the loop the caller runs on, when it is one of `loops`.
    @usableFromInline
    func currentBox() -> Box? {
        guard boxes.count > 1, let loop = MultiThreadedEventLoopGroup.currentEventLoop,
            let i = index[ObjectIdentifier(loop)]
        else { return nil }
        return boxes[i]
    }

    /// Sends on what `box` holds, one task per loop it goes to.
    @usableFromInline
    func flush(_ box: Box) {
        box.queued = false
        for d in box.pending.indices where !box.pending[d].isEmpty {
            let batch = box.pending[d]
            box.pending[d] = []
            let deliver = deliver
            loops[d].execute {
                for item in batch { deliver(d, item) }
            }
        }
    }

    /// What one loop holds for the others.
    // @unchecked: read and written only on its own loop.
    @usableFromInline
    final class Box: @unchecked Sendable {
        @usableFromInline let loop: any EventLoop
        /// By the index of the loop they go to.
        @usableFromInline var pending: [[Item]]
        /// Whether the task that hands them over is queued.
        @usableFromInline var queued = false

        init(loop: any EventLoop, destinations: Int) {
            self.loop = loop
            pending = Array(repeating: [], count: destinations)
        }
    }
}

extension EventLoopGroup {
    /// The group's loops, in order (at least one).
    package func allLoops(limit: Int? = nil) -> [any EventLoop] {
        var loops: [any EventLoop] = []
        for loop in makeIterator() { loops.append(loop) }
        if let n = limit, n > 0, n < loops.count { loops = Array(loops.prefix(n)) }
        if loops.isEmpty { loops = [next()] }
        return loops
    }
}
