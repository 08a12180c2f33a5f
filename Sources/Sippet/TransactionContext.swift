import NIOCore
import SIPSyntax
import SIPTransaction
import SIPTransport

/// Where the messages of one transaction go: the transport and target of a client
/// transaction's requests, or of a server transaction's responses (RFC 3261 §18.2.2).
///
/// 32 bytes: every live transaction keeps its route, a server's for 32 s after the final response
/// (Timer J, L). A target over UDP is an address alone; the connection and host name of a target
/// over a stream are kept in an object of their own (``Extras``), allocated only for those.
struct TransactionRoute: Sendable {
    /// The connection and the host name of a target that has either.
    final class Extras: Sendable {
        let connection: SIPConnectionHandle?
        let hostName: String?

        init(connection: SIPConnectionHandle?, hostName: String?) {
            self.connection = connection
            self.hostName = hostName
        }
    }

    let transport: any SIPTransport
    private let address: SocketAddress
    private let extras: Extras?

    init(transport: any SIPTransport, target: SIPTransportTarget) {
        self.transport = transport
        self.address = target.address
        self.extras =
            target.connection == nil && target.hostName == nil
            ? nil : Extras(connection: target.connection, hostName: target.hostName)
    }

    /// Where the messages go.
    var target: SIPTransportTarget {
        SIPTransportTarget(address: address, connection: extras?.connection, hostName: extras?.hostName)
    }
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
