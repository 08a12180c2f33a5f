import NIOCore
import SIPSyntax
import SippetEndpoint
import Synchronization

/// The location service of a registrar and proxy (RFC 3261 §10.3, §16.5): ``Registrar``s in
/// memory, one per stripe of addresses-of-record, each behind its own lock, so that any event
/// loop can register and look up, and two loops contend only on the same stripe.
///
/// Each REGISTER expires at most ``Registrar/expiredPerRequest`` due addresses-of-record of its
/// stripe first (a look-up reads only the live bindings), so no request pays for the size of the
/// table.
public final class LocationService: Sendable {
    final class Stripe: Sendable {
        let registrar: Mutex<Registrar>
        init(_ policy: Registrar.Policy) { registrar = Mutex(Registrar(policy: policy)) }
    }

    private let stripes: [Stripe]

    /// A location service with `policy` (its maximum of bindings shared among `stripes`).
    public init(policy: Registrar.Policy = Registrar.Policy(), stripes count: Int = 16) {
        var share = policy
        share.maxBindings = max(1, policy.maxBindings / max(1, count))
        stripes = (0..<max(1, count)).map { _ in Stripe(share) }
    }

    /// Milliseconds on the monotonic clock, the registrars' time.
    public static func now() -> UInt64 { UInt64(NIODeadline.now().uptimeNanoseconds / 1_000_000) }

    /// Runs §10.3 steps 5 to 8 for `request` and returns the response.
    public func register(_ request: SIPMessage, now: UInt64 = LocationService.now()) -> SIPMessage {
        guard let to = request.to else { return SIPRejection(status: 400, detail: "no To").response(to: request) }
        return stripe(of: to.uri).registrar.withLock { $0.handle(request, now: now) }
    }

    /// The live bindings of `aor`.
    public func bindings(of aor: URI, now: UInt64 = LocationService.now()) -> [Registrar.Binding] {
        stripe(of: aor).registrar.withLock { $0.bindings(of: aor, now: now) }
    }

    /// The number of bindings held.
    public var count: Int { stripes.reduce(0) { n, s in n + s.registrar.withLock { $0.count } } }

    private func stripe(of aor: URI) -> Stripe {
        var h = Hasher()
        h.combine(Registrar.canonicalAOR(aor))
        return stripes[Int(UInt(bitPattern: h.finalize()) % UInt(stripes.count))]
    }
}
