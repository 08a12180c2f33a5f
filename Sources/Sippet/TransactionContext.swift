import NIOCore
import SIPSyntax
import SIPTransaction
import SIPTransport

/// Where the messages of one transaction go: the transport and target of a client
/// transaction's requests, or of a server transaction's responses (RFC 3261 §18.2.2).
struct TransactionRoute: Sendable {
    var transport: any SIPTransport
    var target: SIPTransportTarget
}

/// What the shard keeps with a transaction, its context in the table (every event on the
/// transaction hands it back, ``TransactionTable/Outcome``): its key, its route, its pending
/// timers (the shard's ``TransactionTimerQueue`` reads them here, with no index of its own), and for a
/// client transaction what only that needs.
// @unchecked: `timerPlaces` is read and written on the shard's loop only.
final class RouteEntry: TimerOwner, @unchecked Sendable {
    let key: TransactionKey
    let route: TransactionRoute
    var timerPlaces = TimerPlaces()
    /// Nil for a server transaction, the bulk of a server's table, whose entries stay small.
    let client: ClientContext?

    init(key: TransactionKey, route: TransactionRoute, client: ClientContext? = nil) {
        self.key = key
        self.route = route
        self.client = client
    }
}

/// What a client transaction keeps besides where it sends.
final class ClientContext: Sendable {
    /// When the transaction started, for the response-time timer.
    let started: NIODeadline
    /// The INVITE of an INVITE client transaction, from which its CANCEL is made (RFC 3261 §9.1).
    let invite: SIPMessage?
    /// The candidates left when the request's destination was a name with several (RFC 3263
    /// §4.3); nil otherwise.
    let failover: Failover?

    init(started: NIODeadline, invite: SIPMessage?, failover: Failover? = nil) {
        self.started = started
        self.invite = invite
        self.failover = failover
    }
}

/// The core a stack delivers to, with the stack it names in each call.
///
/// The shards hold it from ``SIPStack/register(core:)`` until ``SIPStack/shutdown()``: a running
/// stack and its core keep each other alive, as a server and its handler do.
struct CoreBinding: Sendable {
    let core: any SIPCore
    let stack: SIPStack
}
