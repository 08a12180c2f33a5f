import NIOConcurrencyHelpers
import NIOCore
import SIPTransport

/// A network that exists only in memory: ``InMemoryTransport``s attached to it reach each other
/// by address, with no socket. For tests of cores and stacks: fast, deterministic, and able to
/// lose datagrams on purpose.
///
/// Messages are delivered on the receiving transport's event loop, never inline, as a socket
/// would deliver them. A transport of an unreliable kind (UDP) loses each message with
/// probability ``lossRate``, drawn from a seeded generator so that a failing run can be repeated;
/// reliable kinds lose nothing.
public final class InMemoryNetwork: Sendable {
    private struct State {
        var transports: [SocketAddress: InMemoryTransport] = [:]
        var random: SplitMix64
        var delivered = 0
        var lost = 0
        var lossRate: Double
    }

    private let state: NIOLockedValueBox<State>

    /// A network that loses `lossRate` (0…1) of the datagrams sent over it; `seed` fixes which.
    public init(lossRate: Double = 0, seed: UInt64 = 0x5151_7e7) {
        state = NIOLockedValueBox(State(random: SplitMix64(seed: seed), lossRate: max(0, min(1, lossRate))))
    }

    /// The share of datagrams lost from now on.
    public var lossRate: Double {
        get { state.withLockedValue { $0.lossRate } }
        set { state.withLockedValue { $0.lossRate = max(0, min(1, newValue)) } }
    }

    /// How many messages were delivered and how many lost so far.
    public var statistics: (delivered: Int, lost: Int) { state.withLockedValue { ($0.delivered, $0.lost) } }

    func attach(_ transport: InMemoryTransport, at address: SocketAddress) throws {
        try state.withLockedValue { s in
            guard s.transports[address] == nil else { throw SIPTransportError(.ioError, "address in use: \(address)") }
            s.transports[address] = transport
        }
    }

    func detach(_ address: SocketAddress) {
        _ = state.withLockedValue { $0.transports.removeValue(forKey: address) }
    }

    func deliver(_ bytes: [UInt8], from source: SocketAddress, to destination: SocketAddress, kind: SIPTransportKind)
        -> Result<Void, SIPTransportError>
    {
        let receiver: InMemoryTransport? = state.withLockedValue { s in
            guard let r = s.transports[destination] else { return nil }
            if !kind.isReliable, s.lossRate > 0, s.random.nextUnit() < s.lossRate {
                s.lost += 1
                return nil
            }
            s.delivered += 1
            return r
        }
        guard let receiver else {
            // A lost datagram vanishes silently; a reliable kind to nobody is refused.
            return kind.isReliable ? .failure(SIPTransportError(.connectionRefused, "\(destination)")) : .success(())
        }
        receiver.receive(bytes, from: source)
        return .success(())
    }
}

/// A transport on an ``InMemoryNetwork``, of any kind (UDP by default), at a made-up address.
///
/// It implements ``SIPTransport`` as the socket transports do; the stack cannot tell the
/// difference. Reliable kinds (TCP, …) deliver every message but have no connections: responses
/// go back by address.
public final class InMemoryTransport: SIPTransport {
    /// The kind given at init (UDP by default). Over an unreliable kind, messages are lost at the network's
    /// ``InMemoryNetwork/lossRate``.
    public let kind: SIPTransportKind
    /// The host written in Via sent-by instead of the address, when one was given at init.
    public let advertisedHost: String?
    private let network: InMemoryNetwork
    private let address: SocketAddress
    private let loop: any EventLoop
    private let delegate = NIOLockedValueBox<(any SIPTransportDelegate)?>(nil)

    /// A transport at `address` on `network`, delivering on `loop`.
    public init(
        network: InMemoryNetwork, address: SocketAddress, kind: SIPTransportKind = .udp,
        loop: any EventLoop, advertisedHost: String? = nil
    ) {
        self.network = network
        self.address = address
        self.kind = kind
        self.loop = loop
        self.advertisedHost = advertisedHost
    }

    /// The made-up address given at init, already before ``start(delegate:)``.
    public var localAddress: SocketAddress? { address }

    /// Attaches the transport to its network at its address and hands `delegate` what reaches it there. Throws an
    /// `ioError` when another transport holds the address.
    public func start(delegate: any SIPTransportDelegate) async throws {
        try network.attach(self, at: address)
        self.delegate.withLockedValue { $0 = delegate }
    }

    /// Delivers `bytes` to the transport at `target`'s address, on that transport's loop; over an unreliable kind
    /// the network may lose them. To an address no transport holds, a reliable kind fails with
    /// `connectionRefused` and an unreliable one loses the message silently. `completion` runs on this
    /// transport's loop.
    public func send(_ bytes: [UInt8], to target: SIPTransportTarget, completion: SIPSendCompletion?) {
        let result = network.deliver(bytes, from: address, to: target.address, kind: kind)
        guard let completion else { return }
        loop.execute { completion(result) }
    }

    /// Detaches the transport from its network: what is sent to its address is no longer delivered.
    public func shutdown() async {
        network.detach(address)
        delegate.withLockedValue { $0 = nil }
    }

    func receive(_ bytes: [UInt8], from source: SocketAddress) {
        loop.execute { [self] in
            guard let d = delegate.withLockedValue({ $0 }) else { return }
            d.transport(self, received: SIPReceivedMessage(bytes: bytes, source: source, local: address))
        }
    }
}

/// A small seeded generator (SplitMix64), so that a lossy run can be replayed.
struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64
    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A value in [0, 1).
    mutating func nextUnit() -> Double { Double(next() >> 11) / Double(1 << 53) }
}
