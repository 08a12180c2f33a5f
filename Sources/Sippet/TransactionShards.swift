import NIOCore
import SIPSyntax
import SIPTransaction

/// The shards of a stack, one per event loop that carries transactions, and the way to the one
/// that owns a transaction: by its key's hash (the branch, and for a server transaction its
/// sent-by; the CANCEL and the ACK of an INVITE share both, so all three land on the same loop),
/// or for an RFC 2543 request its Call-ID (``ServerTransactionKey/routingHash``).
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
