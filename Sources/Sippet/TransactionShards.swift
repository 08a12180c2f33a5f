import NIOCore
import NIOPosix
import SIPSyntax
import SIPTransaction

/// The shards of a stack, one per event loop that carries transactions, and the way to the one
/// that owns a transaction: by its key's hash (the branch, and for a server transaction its
/// sent-by; the CANCEL and the ACK of an INVITE share both, so all three land on the same loop),
/// or for an RFC 2543 request its Call-ID (``ServerTransactionKey/routingHash``).
///
/// A request read on one shard's loop for another's is held until the reading loop has read what
/// it is reading, then handed over in one task per loop (``HandOvers``).
final class TransactionShards: Sendable {
    let all: [TransactionShard]
    /// Each shard loop's requests for the other shards' loops, and which box is whose.
    private let handOvers: [HandOvers]
    private let handOverIndex: [ObjectIdentifier: Int]

    /// One shard per loop of `group` (the first `limit` of them when given).
    init(group: any EventLoopGroup, limit: Int?, environment: StackEnvironment) {
        var loops: [any EventLoop] = []
        for loop in group.makeIterator() { loops.append(loop) }
        if let n = limit, n > 0, n < loops.count { loops = Array(loops.prefix(n)) }
        if loops.isEmpty { loops = [group.next()] }
        all = loops.map { TransactionShard(loop: $0, environment: environment) }
        handOvers = loops.map { HandOvers(loop: $0, shards: loops.count) }
        var index: [ObjectIdentifier: Int] = [:]
        for (i, loop) in loops.enumerated() { index[ObjectIdentifier(loop)] = i }
        handOverIndex = index
    }

    /// The shard of the transaction `key`.
    func shard(for key: TransactionKey) -> TransactionShard { all[index(for: key)] }

    /// The index of the shard of the transaction `key`.
    func index(for key: TransactionKey) -> Int {
        if all.count == 1 { return 0 }
        let h: Int
        switch key {
        case .client(let k): h = k.branch.hashValue
        case .server(let k): h = k.routingHash
        }
        return Int(UInt(bitPattern: h) % UInt(all.count))
    }

    /// Gives a received request to the shard of its transaction: at once when called on that
    /// shard's loop (no closure and no copy of the message), batched when called on another
    /// shard's loop, else in a task of its own.
    func deliver(_ incoming: consuming HandOver, to index: Int) {
        let shard = all[index]
        if shard.loop.inEventLoop {
            shard.received(incoming)
            return
        }
        let request = consume incoming
        if let box = currentHandOvers() {
            // Read on another shard's loop: held until this loop has read what it is reading.
            box.pending[index].append(request)
            if !box.queued {
                box.queued = true
                box.loop.execute { [self] in flush(box) }
            }
            return
        }
        shard.loop.execute { shard.received(request) }
    }

    /// The hand-over box of the loop the caller runs on, when it is one of the shards' loops.
    private func currentHandOvers() -> HandOvers? {
        guard handOvers.count > 1, let loop = MultiThreadedEventLoopGroup.currentEventLoop,
            let i = handOverIndex[ObjectIdentifier(loop)]
        else { return nil }
        return handOvers[i]
    }

    /// Sends on the requests `box` holds, one task per loop they go to (see ``HandOvers``).
    private func flush(_ box: HandOvers) {
        box.queued = false
        for t in box.pending.indices where !box.pending[t].isEmpty {
            let batch = box.pending[t]
            box.pending[t] = []
            let shard = all[t]
            shard.loop.execute {
                for r in batch { shard.received(r) }
            }
        }
    }
}

/// A request on its way to the shard of its transaction: the request, its key, where its
/// responses go, and how the shard is to take it.
struct HandOver: Sendable {
    var request: SIPMessage
    var key: ServerTransactionKey
    var route: TransactionRoute
    /// Whether the stack answers it when it is invalid (RFC 3261 §8.2).
    var validate: Bool
    /// Shutting down: a new transaction is refused with 503; retransmissions still find theirs.
    var refuseNew: Bool
}

/// The requests one loop has read for the other loops' transactions, held until the loop has
/// read what it is reading (one recvmmsg of datagrams, say), then handed over in one task per
/// loop: queueing a task on another loop takes its lock and may wake it with a write to its
/// eventfd, and this pays that once per burst rather than once per request. Order is kept: a
/// loop's requests for another loop go over in the order they were read.
// @unchecked: read and written only on its own loop.
final class HandOvers: @unchecked Sendable {
    /// The loop that reads them.
    let loop: any EventLoop
    /// By the index of the shard they go to.
    var pending: [[HandOver]]
    /// Whether the task that hands them over is queued.
    var queued = false

    init(loop: any EventLoop, shards: Int) {
        self.loop = loop
        pending = Array(repeating: [], count: shards)
    }
}
