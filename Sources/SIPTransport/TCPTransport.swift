import NIOCore
import NIOPosix
import NIOSSL
import SIPSyntax

/// TLS for the stream transports (RFC 3261 §26.2; RFC 5922 for the server's identity).
///
/// A server presents a certificate chain and key from PEM files; a client verifies the server's
/// certificate against ``trustRoots`` and the name (or address) it connected to.
public struct SIPTLSConfiguration: Sendable {
    /// What an accepting connection uses; nil for a transport that only connects out.
    public var server: TLSConfiguration?
    /// What an outbound connection uses.
    public var client: TLSConfiguration

    /// TLS with NIOSSL configurations of one's own.
    public init(server: TLSConfiguration?, client: TLSConfiguration) {
        self.server = server
        self.client = client
    }

    /// A server certificate chain and key read from PEM files, and `trustRoots` to verify the
    /// servers this side connects to (the system's by default).
    public static func pem(
        certificateChain certificatePath: String, privateKey keyPath: String,
        trustRoots: NIOSSLTrustRoots = .default
    ) throws -> SIPTLSConfiguration {
        let chain = try NIOSSLCertificate.fromPEMFile(certificatePath).map { NIOSSLCertificateSource.certificate($0) }
        let key = try NIOSSLPrivateKey(file: keyPath, format: .pem)
        let server = TLSConfiguration.makeServerConfiguration(certificateChain: chain, privateKey: .privateKey(key))
        return SIPTLSConfiguration(server: server, client: .client(trustRoots: trustRoots))
    }

    /// Only the client side: connections out, verified against `trustRoots`.
    public static func clientOnly(trustRoots: NIOSSLTrustRoots = .default) -> SIPTLSConfiguration {
        SIPTLSConfiguration(server: nil, client: .client(trustRoots: trustRoots))
    }
}

extension TLSConfiguration {
    /// A client configuration verifying the server's certificate and identity against `trustRoots`.
    static func client(trustRoots: NIOSSLTrustRoots) -> TLSConfiguration {
        var c = TLSConfiguration.makeClientConfiguration()
        c.trustRoots = trustRoots
        c.certificateVerification = .fullVerification
        return c
    }
}

/// The NIOSSL contexts of one transport, made once.
struct TLSContexts: Sendable {
    let server: NIOSSLContext?
    let client: NIOSSLContext

    init(_ configuration: SIPTLSConfiguration) throws {
        server = try configuration.server.map { try NIOSSLContext(configuration: $0) }
        client = try NIOSSLContext(configuration: configuration.client)
    }

    func addServerHandler(to channel: any Channel) throws {
        guard let server else { throw SIPTransportError(.tlsFailure, "no server certificate configured") }
        try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: server))
    }

    /// RFC 5922 §7: the client checks the server's identity against the target's host name; for
    /// an address literal NIOSSL checks the certificate's IP addresses against the peer's.
    func addClientHandler(to channel: any Channel, target: SIPTransportTarget) throws {
        let name = target.hostName.flatMap { h -> String? in
            let bare = h.hasPrefix("[") && h.hasSuffix("]") ? String(h.dropFirst().dropLast()) : h
            return (try? SocketAddress(ipAddress: bare, port: 0)) == nil ? h : nil
        }
        try channel.pipeline.syncOperations.addHandler(try NIOSSLClientHandler(context: client, serverHostname: name))
    }
}

/// SIP over TCP, or over TLS when given a ``SIPTLSConfiguration`` (RFC 3261 §18, §26.2).
///
/// Messages are framed by Content-Length (§18.3); a peer that breaks the framing or a limit is
/// disconnected and the event counted. Connections are kept by remote address and reused (RFC
/// 3261 §18.1.1, RFC 5923 aliases), limited in number, and closed when idle; see
/// ``SIPStreamSettings``.
public final class TCPTransport: SIPTransport {
    /// ``SIPTransportKind/tcp``, or ``SIPTransportKind/tls`` when the transport was made with a TLS configuration.
    public let kind: SIPTransportKind
    /// The host written in Via sent-by instead of the bound IP: ``SIPStreamSettings/advertisedHost``.
    public var advertisedHost: String? { engine.settings.advertisedHost }
    private let engine: StreamEngine

    /// A TCP transport listening on `host`:`port` (port 0 picks a free one), or TLS when `tls` is set.
    public init(
        host: String, port: Int, tls: SIPTLSConfiguration? = nil,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        settings: SIPStreamSettings = SIPStreamSettings()
    ) throws {
        let contexts = try tls.map(TLSContexts.init)
        kind = tls == nil ? .tcp : .tls
        engine = StreamEngine(
            kind: kind, host: host, port: port, group: group, settings: settings,
            pipeline: TCPPipeline(
                tls: contexts, limits: settings.limits,
                handshakeTimeout: settings.connectTimeout))
    }

    /// The listening address once started (with the port picked when 0 was asked); nil before.
    public var localAddress: SocketAddress? { engine.localAddress }
    /// The number of open connections.
    public var connectionCount: Int { engine.connectionCount }

    /// Listens on the address given at init and hands `delegate` each message framed on a connection, accepted
    /// or made.
    public func start(delegate: any SIPTransportDelegate) async throws {
        try await engine.start(owner: self, delegate: delegate)
    }

    /// Sends `bytes` on `target`'s connection while it is open (RFC 3261 §18.2.2), else on an open connection to
    /// its address, else on a new one (with TLS, once its handshake is done). A failure goes to `completion`.
    public func send(_ bytes: [UInt8], to target: SIPTransportTarget, completion: SIPSendCompletion?) {
        engine.send(bytes, to: target, completion: completion)
    }

    /// RFC 5923: requests to `address` may go out on `connection`, which the peer offered.
    public func addAlias(_ address: SocketAddress, for connection: SIPConnectionHandle) {
        engine.addAlias(address, for: connection)
    }

    /// Stops listening and closes every connection; a send that needs a new connection then fails.
    public func shutdown() async { await engine.shutdown() }
}

private struct TCPPipeline: StreamPipeline {
    let tls: TLSContexts?
    let limits: SIPLimits
    let handshakeTimeout: TimeAmount
    /// With TLS, a connection this transport makes is ready once its handshake is done.
    let readiness = ConnectionReadiness()

    func configureAccepted(_ channel: any Channel, deliver: @escaping MessageSink) throws {
        if let tls { try tls.addServerHandler(to: channel) }
        try channel.pipeline.syncOperations.addHandler(SIPFramingHandler(limits: limits, deliver: deliver))
    }

    func configureConnected(_ channel: any Channel, target: SIPTransportTarget, deliver: @escaping MessageSink) throws {
        if let tls {
            try tls.addClientHandler(to: channel, target: target)
            let ready = readiness.register(channel, timeout: handshakeTimeout)
            try channel.pipeline.syncOperations.addHandler(TLSHandshakeObserver(ready: ready))
        }
        try channel.pipeline.syncOperations.addHandler(SIPFramingHandler(limits: limits, deliver: deliver))
    }

    func whenReady(_ channel: any Channel) -> EventLoopFuture<Void> {
        tls == nil ? channel.eventLoop.makeSucceededVoidFuture() : readiness.future(for: channel)
    }
}
