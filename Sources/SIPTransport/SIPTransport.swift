import NIOCore
import SIPSyntax

/// A transport protocol as a Via header names it (RFC 3261 §18, §20.42): UDP, TCP, TLS, WS, WSS,
/// or one of a user's own (SCTP, say).
///
/// The kind says what the stack needs to know to route over it: whether it is reliable (RFC 3261
/// §17: reliable transports shorten the transaction timers to zero), whether it is secure (a
/// `sips:` target needs one), and the port a URI without one means (§19.1.2: 5060, 5061 for TLS).
public struct SIPTransportKind: Hashable, Sendable, CustomStringConvertible {
    /// The name in a Via header's sent-protocol, uppercased: "UDP", "TCP", "TLS", "WS", "WSS".
    public let viaName: String
    /// Whether the transport is reliable (RFC 3261 §17.1.1.2, §17.2.1: no retransmissions, timers
    /// D, I, J and K are zero). Every stream and message transport but UDP is.
    public let isReliable: Bool
    /// Whether the transport is secure, so that a `sips:` URI may use it (RFC 3261 §26.2.2).
    public let isSecure: Bool
    /// Whether a message may go out on a connection the peer opened (RFC 3261 §18.2.2: a response
    /// goes back on the connection its request came on). True for stream transports.
    public let isConnectionOriented: Bool
    /// The port a target without one uses (RFC 3261 §19.1.2, RFC 7118 §5.2 for WebSocket).
    public let defaultPort: Int

    /// A transport kind of one's own.
    public init(viaName: String, isReliable: Bool, isSecure: Bool, isConnectionOriented: Bool, defaultPort: Int) {
        self.viaName = viaName.uppercased()
        self.isReliable = isReliable
        self.isSecure = isSecure
        self.isConnectionOriented = isConnectionOriented
        self.defaultPort = defaultPort
    }

    /// RFC 3261 §18: UDP, port 5060, unreliable.
    public static let udp = SIPTransportKind(
        viaName: "UDP", isReliable: false, isSecure: false,
        isConnectionOriented: false, defaultPort: 5060)
    /// RFC 3261 §18: TCP, port 5060.
    public static let tcp = SIPTransportKind(
        viaName: "TCP", isReliable: true, isSecure: false,
        isConnectionOriented: true, defaultPort: 5060)
    /// RFC 3261 §18, §26.2: TLS over TCP, port 5061.
    public static let tls = SIPTransportKind(
        viaName: "TLS", isReliable: true, isSecure: true,
        isConnectionOriented: true, defaultPort: 5061)
    /// RFC 7118: SIP over WebSocket. A `sip:` URI with `transport=ws` and no port means port 80.
    public static let ws = SIPTransportKind(
        viaName: "WS", isReliable: true, isSecure: false,
        isConnectionOriented: true, defaultPort: 80)
    /// RFC 7118: SIP over secure WebSocket; port 443.
    public static let wss = SIPTransportKind(
        viaName: "WSS", isReliable: true, isSecure: true,
        isConnectionOriented: true, defaultPort: 443)

    /// The built-in kinds.
    public static let builtIn: [SIPTransportKind] = [.udp, .tcp, .tls, .ws, .wss]

    /// The kind a Via transport or a URI `transport` parameter names (case-insensitive), among the
    /// built-in ones.
    public init?(name: String) {
        let upper = name.uppercased()
        guard let k = Self.builtIn.first(where: { $0.viaName == upper }) else { return nil }
        self = k
    }

    /// The value of a URI `transport` parameter for this kind: "udp", "tcp", "tls", "ws", "wss".
    public var uriParameter: String { viaName.lowercased() }

    /// "UDP".
    public var description: String { viaName }
}

/// A connection of a connection-oriented transport, as the transport hands it to the stack with
/// each message it received on it, so that the response goes back the same way (RFC 3261 §18.2.2).
///
/// The stack treats it as opaque; the transport that made it finds its connection again from
/// ``object``. Two handles are equal when they name the same connection.
public struct SIPConnectionHandle: Hashable, Sendable, CustomStringConvertible {
    /// The transport's own object for the connection (for the built-in ones, the NIO `Channel`).
    public let object: any AnyObject & Sendable
    /// The remote address of the connection.
    public let remoteAddress: SocketAddress

    /// A handle for a connection whose transport object is `object`.
    public init(object: any AnyObject & Sendable, remoteAddress: SocketAddress) {
        self.object = object
        self.remoteAddress = remoteAddress
    }

    /// Handles are equal when they name the same connection object.
    public static func == (a: SIPConnectionHandle, b: SIPConnectionHandle) -> Bool {
        ObjectIdentifier(a.object) == ObjectIdentifier(b.object)
    }
    /// Hashes the identity of the connection object, consistently with `==`.
    public func hash(into hasher: inout Hasher) { hasher.combine(ObjectIdentifier(object)) }

    /// "connection with 127.0.0.1:5060".
    public var description: String { "connection with \(remoteAddress)" }
}

/// One SIP message a transport received: a datagram, a framed message from a stream (RFC 3261
/// §18.3), or a WebSocket message (RFC 7118 §5.1). The stack parses it.
public struct SIPReceivedMessage: Sendable {
    /// The message's bytes, exactly as received.
    public var bytes: [UInt8]
    /// The address the message came from: the datagram's source, or the connection's peer.
    public var source: SocketAddress
    /// The local address it arrived on, when known.
    public var local: SocketAddress?
    /// The connection it came on; nil for a datagram.
    public var connection: SIPConnectionHandle?

    /// A message of `bytes` received from `source`, on the `local` address when known, and on `connection` (nil
    /// for a datagram).
    public init(
        bytes: [UInt8], source: SocketAddress, local: SocketAddress? = nil, connection: SIPConnectionHandle? = nil
    ) {
        self.bytes = bytes
        self.source = source
        self.local = local
        self.connection = connection
    }
}

/// Where a transport sends a message (RFC 3261 §18.1.1, §18.2.2).
public struct SIPTransportTarget: Sendable, Hashable, CustomStringConvertible {
    /// The resolved destination address.
    public var address: SocketAddress
    /// A connection to send on when it is still open (a response goes back on the connection its
    /// request came on, §18.2.2); when it has closed, a connection-oriented transport opens or
    /// reuses one to ``address``.
    public var connection: SIPConnectionHandle?
    /// The host name the target URI named, for TLS server identity (RFC 5922) and the WebSocket
    /// Host header; nil when the target was an address literal.
    public var hostName: String?

    /// A target at `address`, sent on `connection` while it is open; `hostName` is the host the target URI named.
    public init(address: SocketAddress, connection: SIPConnectionHandle? = nil, hostName: String? = nil) {
        self.address = address
        self.connection = connection
        self.hostName = hostName
    }

    /// "127.0.0.1:5060" or "127.0.0.1:5060 (on connection …)".
    public var description: String {
        connection.map { "\(address) (on \($0))" } ?? "\(address)"
    }
}

/// Why a transport could not send a message or keep a connection (RFC 3261 §18.4: the transport
/// layer reports a failure to the transaction layer, which informs the TU, §17.1.4, §17.2.4).
public struct SIPTransportError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What kind of failure.
    public enum Kind: String, Sendable, Hashable {
        /// The peer refused the connection.
        case connectionRefused = "connection refused"
        /// The connection could not be made in time, or failed for another reason.
        case connectFailed = "connect failed"
        /// The connection closed before the message went out.
        case connectionClosed = "connection closed"
        /// The transport's connection limit is reached and no connection could be freed.
        case connectionLimit = "connection limit reached"
        /// The message is larger than the transport carries (a UDP datagram above 65,507 bytes).
        case messageTooLarge = "message too large"
        /// TLS: the handshake failed or the server's certificate was not trusted.
        case tlsFailure = "TLS failure"
        /// The transport is not running.
        case notRunning = "transport not running"
        /// The target's address family or kind is one this transport cannot reach.
        case unreachable = "unreachable"
        /// Any other I/O error.
        case ioError = "I/O error"
    }

    /// The kind of failure.
    public var kind: Kind
    /// Details, such as the underlying error.
    public var detail: String

    /// An error of `kind`, with `detail` (empty by default).
    public init(_ kind: Kind, _ detail: String = "") {
        self.kind = kind
        self.detail = detail
    }

    /// "connection refused: 127.0.0.1:5999".
    public var description: String { detail.isEmpty ? kind.rawValue : "\(kind.rawValue): \(detail)" }
}

/// Something a transport saw that the stack counts and logs, apart from messages.
public enum SIPTransportEvent: Sendable, Hashable, CustomStringConvertible {
    /// A connection opened (accepted or made).
    case connectionOpened(remote: SocketAddress)
    /// A connection closed.
    case connectionClosed(remote: SocketAddress)
    /// A connection was closed because its peer broke the framing or a limit (RFC 3261 §18.3: a
    /// stream whose Content-Length cannot be trusted cannot be resynchronised).
    case connectionDropped(remote: SocketAddress, reason: String)
    /// A connection was refused or evicted because the connection limit was reached.
    case connectionLimitReached(remote: SocketAddress)
    /// A connection was closed for being idle longer than the transport allows.
    case idleConnectionClosed(remote: SocketAddress)
    /// A keep-alive (RFC 5626 §3.5.1 CRLF ping) came in; the transport answered it.
    case keepAlive(remote: SocketAddress)
    /// A datagram or frame was discarded before reaching the stack (too large, not text).
    case discarded(remote: SocketAddress, reason: String)
    /// An I/O error on the transport's socket.
    case error(String)

    /// What happened and with which remote address, for logs.
    public var description: String {
        switch self {
        case .connectionOpened(let r): return "connection opened with \(r)"
        case .connectionClosed(let r): return "connection closed with \(r)"
        case .connectionDropped(let r, let why): return "connection with \(r) dropped: \(why)"
        case .connectionLimitReached(let r): return "connection limit reached (\(r))"
        case .idleConnectionClosed(let r): return "idle connection with \(r) closed"
        case .keepAlive(let r): return "keep-alive from \(r)"
        case .discarded(let r, let why): return "discarded from \(r): \(why)"
        case .error(let e): return "transport error: \(e)"
        }
    }
}

/// Receives what a transport reads: the stack implements it.
///
/// The transport calls it on the event loop that read the message, synchronously: no task, no hop
/// (the hot path in ARCHITECTURE.md). Implementations must not block.
public protocol SIPTransportDelegate: AnyObject, Sendable {
    /// A message arrived.
    func transport(_ transport: any SIPTransport, received message: SIPReceivedMessage)
    /// Something happened worth counting (connections, dropped peers, keep-alives).
    func transport(_ transport: any SIPTransport, observed event: SIPTransportEvent)
}

/// What a send's completion is told: nothing, or why it failed (RFC 3261 §18.4).
public typealias SIPSendCompletion = @Sendable (Result<Void, SIPTransportError>) -> Void

/// A SIP transport (RFC 3261 §18): it sends serialized messages to resolved targets and hands what
/// it receives, one message at a time, to its delegate.
///
/// The built-in ``UDPTransport``, ``TCPTransport`` (and TLS), and ``WebSocketTransport`` implement
/// this protocol exactly as a user's own transport would; `SippetTesting` adds an in-memory one.
///
/// A transport frames messages (§18.3 on streams), keeps its connections (reuse by remote
/// address, idle timeouts, limits), and answers keep-alives; it does not parse messages, pick
/// routes, or touch Via headers: the stack does.
///
/// All methods may be called from any thread.
public protocol SIPTransport: AnyObject, Sendable {
    /// The Via transport this transport carries.
    var kind: SIPTransportKind { get }
    /// The local address it listens on, once started: the stack puts it in the sent-by of the Via
    /// headers it fills in (RFC 3261 §18.1.1) and recognises responses by it (§18.1.2).
    var localAddress: SocketAddress? { get }
    /// The host the stack writes in Via sent-by (RFC 3261 §18.1.1), when it should be something
    /// other than ``localAddress``'s IP (a name, or a public address).
    var advertisedHost: String? { get }

    /// Starts listening and delivering what arrives to `delegate`.
    func start(delegate: any SIPTransportDelegate) async throws
    /// Sends `bytes`, one serialized message, to `target`. Returns at once; the completion, when
    /// given, runs once the message has gone or could not go.
    func send(_ bytes: [UInt8], to target: SIPTransportTarget, completion: SIPSendCompletion?)
    /// Stops accepting, closes every connection and the listening socket.
    func shutdown() async
    /// RFC 5923 §5: the peer on `connection` offered it (Via `alias`) for requests to `address`.
    /// Transports without connections ignore it.
    func addAlias(_ address: SocketAddress, for connection: SIPConnectionHandle)
}

extension SIPTransport {
    /// No advertised host: sent-by is the local address.
    public var advertisedHost: String? { nil }
    /// No connections to alias.
    public func addAlias(_ address: SocketAddress, for connection: SIPConnectionHandle) {}
}

extension SocketAddress {
    /// The address as a SIP host: "127.0.0.1", or "[::1]" for IPv6 (RFC 3261 §25.1, RFC 5118).
    public var sipHost: String? {
        guard let ip = numericHost else { return nil }
        if case .v6 = self { return "[" + ip + "]" }
        return ip
    }
}

extension SocketAddress {
    /// The IP address as text, like NIO's `ipAddress`, but for IPv4 without an allocation: the
    /// dotted quad (at most 15 bytes) is a string held in place. A server reads the source of
    /// every request this way, to compare it with the top Via's sent-by and to write `received`
    /// (RFC 3261 §18.2.1). IPv6 and Unix addresses go through `ipAddress`.
    package var numericHost: String? {
        guard case .v4(let a) = self else { return ipAddress }
        let v = UInt32(bigEndian: a.address.sin_addr.s_addr)
        return String(unsafeUninitializedCapacity: 15) { out in
            var n = 0
            for shift in stride(from: 24, through: 0, by: -8) {
                let octet = Int((v >> UInt32(shift)) & 0xFF)
                if shift != 24 {
                    out[n] = UInt8(ascii: ".")
                    n += 1
                }
                if octet >= 100 {
                    out[n] = UInt8(truncatingIfNeeded: 48 + octet / 100)
                    n += 1
                }
                if octet >= 10 {
                    out[n] = UInt8(truncatingIfNeeded: 48 + octet / 10 % 10)
                    n += 1
                }
                out[n] = UInt8(truncatingIfNeeded: 48 + octet % 10)
                n += 1
            }
            return n
        }
    }
}
