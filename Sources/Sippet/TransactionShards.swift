import NIOCore
import SIPSyntax
import SIPTransaction

/// The shards of a stack, one per event loop that carries transactions, and the way to the one
/// that owns a transaction: by the hash of its Call-ID (``CallIDHash``), which every message of the
/// transaction carries, and every request of its dialog: a call's transactions, and the core's
/// state for the call when the core spreads it the same way, live on one loop.
///
/// A request read on one shard's loop for another's is held until the reading loop has read what
/// it is reading, then handed over in one task per loop (``LoopHandOff``).
final class TransactionShards: Sendable {
    let all: [TransactionShard]
    /// Requests read on one shard's loop for another's.
    private let handOff: LoopHandOff<HandOver>

    /// One shard per loop of `group` (the first `limit` of them when given).
    init(group: any EventLoopGroup, limit: Int?, environment: StackEnvironment) {
        let loops = group.allLoops(limit: limit)
        let all = loops.map { TransactionShard(loop: $0, environment: environment) }
        self.all = all
        handOff = LoopHandOff(loops: loops) { index, request in all[index].received(request) }
    }

    /// The index of the shard for a Call-ID's hash (zero, no Call-ID: the first).
    func index(forLoopHash hash: Int) -> Int { CallIDHash.index(hash, of: all.count) }

    /// The shard for a Call-ID's hash.
    func shard(forLoopHash hash: Int) -> TransactionShard { all[index(forLoopHash: hash)] }

    /// The shard of the transaction `key`; nil when the key does not say (one read back from its
    /// text form), and the caller must ask every shard.
    func shard(for key: TransactionKey) -> TransactionShard? {
        let hash: Int
        switch key {
        case .client(let k): hash = k.loopHash
        case .server(let k): hash = k.loopHash
        }
        if hash == 0, all.count > 1 { return nil }
        return all[index(forLoopHash: hash)]
    }

    /// The shard of the transaction `key`, or every shard when the key does not say.
    func shards(for key: TransactionKey) -> [TransactionShard] {
        shard(for: key).map { [$0] } ?? all
    }

    /// Gives a received request to the shard of its transaction (see ``LoopHandOff``).
    func deliver(_ incoming: consuming HandOver, to index: Int) {
        handOff.send(incoming, to: index)
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
