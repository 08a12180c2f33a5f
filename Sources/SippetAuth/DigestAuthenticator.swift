import Crypto
import Metrics
import SIPSyntax
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// Who may do what once authenticated (RFC 3261 §22.1 leaves it to the server; §10.3 step 6 asks a
/// registrar to check that the user may register for the address-of-record).
public protocol DigestAuthorizationPolicy: Sendable {
    /// Whether `user`, authenticated in `realm`, may make `request`. A request it may not make
    /// gets 403.
    func permits(user: String, realm: String, request: SIPMessage) -> Bool
}

/// The default policy: a REGISTER's address-of-record (its To URI, §10.3) must have the
/// authenticated user as its user part; other requests are allowed to any authenticated user.
public struct OwnAddressOfRecordPolicy: DigestAuthorizationPolicy {
    /// The policy.
    public init() {}

    /// Whether `user` owns the To URI of a REGISTER; true for other methods.
    public func permits(user: String, realm: String, request: SIPMessage) -> Bool {
        guard request.method == .register else { return true }
        guard let aor = request.to?.uri.sipURI else { return false }
        return aor.user == user
    }
}

/// A digest authentication server (RFC 3261 §22, RFC 7616, RFC 8760) for a user agent server,
/// a registrar (401 with WWW-Authenticate) or a proxy (407 with Proxy-Authenticate, §22.3). It
/// does no I/O: give it a request, the address it came from and the time, and it says whether
/// the request is authorized or gives the response to send.
///
/// - Nonces need no table (``NonceMint``): their seal is an HMAC under a secret that several
///   servers can share, so that each accepts the others' nonces; they expire after
///   ``Configuration/nonceLifetime``. A right digest with an expired nonce gets `stale=true`.
/// - Replays are refused by nonce count, with a fixed amount of memory (``NonceCountTable``).
/// - Responses are compared in constant time.
/// - ACK and CANCEL are never challenged (§22.1: they cannot be resubmitted).
/// - After ``Configuration/failureLimit`` failures from one address within
///   ``Configuration/failureWindow`` the address gets 403 without any hashing until the window
///   after its last failure has passed (metric `sippet_auth_throttled`).
/// - A REGISTER's address-of-record must belong to the user (``DigestAuthorizationPolicy``).
///
/// Metrics: `sippet_auth_challenges`, `sippet_auth_successes`, `sippet_auth_failures`,
/// `sippet_auth_stale`, `sippet_auth_throttled`, `sippet_auth_forbidden`.
public final class DigestAuthenticator: Sendable {
    /// The server's settings.
    public struct Configuration: Sendable {
        /// The protection space, sent in every challenge.
        public var realm: String
        /// The algorithms to challenge with, one challenge each, the preferred first (RFC 8760
        /// §2.4). Many deployed clients read only the first challenge and know only MD5: put MD5
        /// first to serve them.
        public var algorithms: [DigestAlgorithm] = [.sha256, .md5]
        /// The qualities of protection offered.
        public var qop: [DigestQoP] = [.auth]
        /// How long a nonce is accepted after it was made.
        public var nonceLifetime: Duration = .seconds(30)
        /// The secret that seals nonces; several servers given the same one accept each other's
        /// nonces. Nil: 32 random bytes made at start.
        public var sharedSecret: [UInt8]?
        /// Failures from one source address that make it refused for a while.
        public var failureLimit = 10
        /// The span in which those failures count, and how long the address is then refused.
        public var failureWindow: Duration = .seconds(60)
        /// Source addresses whose failures are tracked at most.
        public var maxTrackedSources = 65_536
        /// Nonces whose counts are tracked at once (32 bytes each). A nonce pushed out of the
        /// table before it expires is answered as stale.
        public var nonceSlots = 1 << 17
        /// Whether the challenges offer `userhash=true` (RFC 7616 §3.4.4).
        public var userhash = false
        /// Who may do what once authenticated.
        public var policy: any DigestAuthorizationPolicy = OwnAddressOfRecordPolicy()

        /// A server for `realm` with the defaults.
        public init(realm: String) { self.realm = realm }
    }

    /// The role, which names the status and headers (RFC 3261 §22.1, §22.3).
    public enum Role: Sendable {
        /// A user agent server or registrar: 401, WWW-Authenticate, Authorization.
        case server
        /// A proxy: 407, Proxy-Authenticate, Proxy-Authorization.
        case proxy
    }

    /// What to do with a request.
    public enum Decision: Sendable {
        /// The credentials are right: `user` made the request.
        case authorized(user: String)
        /// ACK or CANCEL: never challenged (§22.1).
        case exempt
        /// Send this response (401 or 407 with the challenges).
        case challenge(SIPMessage)
        /// Send this response (403): the source is refused for now, or the user may not make
        /// the request.
        case forbidden(SIPMessage)
    }

    /// The server's settings.
    public let configuration: Configuration
    /// The role given at creation.
    public let role: Role
    private let credentials: any DigestCredentialStore
    private let mint: NonceMint
    private let serial = Atomic<UInt32>(0)
    private let counts: NonceCountTable
    private let throttle: FailureThrottle
    private let lifetime: UInt64
    private let metrics: AuthMetrics
    /// Per configured algorithm, the text of its challenge around the nonce: before it, after it
    /// when fresh, after it when stale.
    private let challengeText: [(before: String, fresh: String, stale: String)]

    /// A server with `configuration`, finding its users' HA1 in `credentials`.
    public init(configuration: Configuration, credentials: any DigestCredentialStore, role: Role = .server) {
        self.configuration = configuration
        self.credentials = credentials
        self.role = role
        var rng = SystemRandomNumberGenerator()
        let secret = configuration.sharedSecret ?? (0..<32).map { _ in UInt8.random(in: 0...255, using: &rng) }
        mint = NonceMint(
            secret: secret, realm: configuration.realm, instance: UInt32.random(in: 1...UInt32.max, using: &rng))
        challengeText = Self.challengeText(configuration)
        counts = NonceCountTable(capacity: configuration.nonceSlots)
        lifetime =
            UInt64(max(0, configuration.nonceLifetime.components.seconds)) * 1000
            + UInt64(max(0, configuration.nonceLifetime.components.attoseconds / 1_000_000_000_000_000))
        throttle = FailureThrottle(
            limit: configuration.failureLimit,
            window: UInt64(max(0, configuration.failureWindow.components.seconds)) * 1000,
            maxSources: configuration.maxTrackedSources)
        metrics = AuthMetrics(realm: configuration.realm)
    }

    /// Milliseconds since 1970, from the system's real-time clock: the time nonces carry.
    public static func wallClock() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return UInt64(ts.tv_sec) * 1000 + UInt64(ts.tv_nsec) / 1_000_000
    }

    /// Checks `request`'s credentials (RFC 3261 §22.1–§22.3, RFC 7616 §3.4–§3.5).
    ///
    /// - Parameters:
    ///   - source: the address the request came from (the top Via's `received`, else its host,
    ///     once the stack has stamped it); failures are counted by it. Nil counts none.
    ///   - time: milliseconds since 1970 (``wallClock()``).
    public func authenticate(_ request: SIPMessage, source: String?, time: UInt64 = wallClock()) -> Decision {
        guard let method = request.method else { return .exempt }
        if method == .ack || method == .cancel { return .exempt }
        if let source, throttle.isBlocked(source, time: time) {
            metrics.throttled.increment()
            return .forbidden(request.makeResponse(status: 403, reason: "Forbidden (too many failures)"))
        }
        let headerName: SIPHeaderName = role == .server ? .authorization : .proxyAuthorization
        var answered: DigestCredentials?
        var malformed = false
        for value in request.headers.values(headerName) {
            guard let auth = try? AuthValue(value), auth.isDigest else { continue }
            guard auth.value("realm") == configuration.realm else { continue }
            do {
                answered = try DigestCredentials(auth)
            } catch {
                malformed = true
            }
            break
        }
        guard let credentials = answered else {
            if malformed { fail(source, time) }
            return .challenge(challenge(request, stale: false, time: time))
        }
        guard configuration.algorithms.contains(credentials.algorithm),
            credentials.qop == nil || configuration.qop.contains(credentials.qop!)
        else {
            fail(source, time)
            return .challenge(challenge(request, stale: false, time: time))
        }
        // The user, and the HA1 stored for it: an unknown user fails as a wrong password does.
        let user: String?
        if credentials.userhash {
            user = self.credentials.user(
                userhash: credentials.username, realm: configuration.realm, hash: credentials.algorithm.hash)
        } else {
            user = credentials.username
        }
        guard let user,
            let ha1 = self.credentials.ha1(user: user, realm: configuration.realm, hash: credentials.algorithm.hash)
        else {
            fail(source, time)
            return .challenge(challenge(request, stale: false, time: time))
        }
        let expected = DigestComputation.response(
            ha1: ha1, algorithm: credentials.algorithm, nonce: credentials.nonce, nonceCount: credentials.nonceCount,
            cnonce: credentials.cnonce, qop: credentials.qop, method: method.rawValue, uri: credentials.uri,
            body: request.body)
        guard constantTimeEquals(Array(expected.utf8), Array(credentials.response.utf8)) else {
            fail(source, time)
            return .challenge(challenge(request, stale: false, time: time))
        }
        // The digest is right. Is the nonce ours, live, and this count new?
        guard let contents = mint.open(credentials.nonce),
            contents.issued <= time &+ 5_000, time &- contents.issued <= lifetime || contents.issued > time
        else {
            metrics.stale.increment()
            return .challenge(challenge(request, stale: true, time: time))
        }
        let count = credentials.nonceCountValue ?? 1
        switch counts.record(contents.identity, count: count, time: time, lifetime: lifetime) {
        case .fresh: break
        case .unknown:
            metrics.stale.increment()
            return .challenge(challenge(request, stale: true, time: time))
        case .replayed:
            // Without a qop a nonce is good for one request: the next one is sent to get a new
            // nonce, as stale. With one, a count seen before is a replay.
            if credentials.qop == nil {
                metrics.stale.increment()
                return .challenge(challenge(request, stale: true, time: time))
            }
            fail(source, time)
            return .challenge(challenge(request, stale: false, time: time))
        }
        guard configuration.policy.permits(user: user, realm: configuration.realm, request: request) else {
            metrics.forbidden.increment()
            return .forbidden(request.makeResponse(status: 403))
        }
        metrics.successes.increment()
        return .authorized(user: user)
    }

    /// The 401 or 407 for `request`: one challenge per configured algorithm, in order, sharing one
    /// new nonce (RFC 8760 §2.4).
    public func challenge(_ request: SIPMessage, stale: Bool, time: UInt64 = wallClock()) -> SIPMessage {
        metrics.challenges.increment()
        let serial = serial.wrappingAdd(1, ordering: .relaxed).newValue
        let nonce = mint.make(serial: serial, time: time)
        counts.claim(UInt64(mint.instance) << 32 | UInt64(serial), time: time)
        var response = request.makeResponse(status: role == .server ? 401 : 407)
        let name: SIPHeaderName = role == .server ? .wwwAuthenticate : .proxyAuthenticate
        for text in challengeText {
            response.headers.append(name, text.before + nonce + (stale ? text.stale : text.fresh))
        }
        return response
    }

    /// The challenges' text around the nonce, as ``DigestChallenge/authValue`` writes it (realm,
    /// nonce, stale, algorithm, qop, userhash), made once.
    static func challengeText(_ c: Configuration) -> [(before: String, fresh: String, stale: String)] {
        c.algorithms.map { algorithm in
            let before = "Digest " + AuthParameter.quoted("realm", c.realm).description + ", nonce=\""
            var after = ", algorithm=" + algorithm.name
            if !c.qop.isEmpty {
                after += ", " + AuthParameter.quoted("qop", c.qop.map(\.rawValue).joined(separator: ",")).description
            }
            if c.userhash { after += ", userhash=true" }
            return (before, "\"" + after, "\", stale=true" + after)
        }
    }

    private func fail(_ source: String?, _ time: UInt64) {
        metrics.failures.increment()
        if let source { throttle.recordFailure(source, time: time) }
    }

    /// The address a request came from, as the stack stamps it on the top Via (RFC 3261
    /// §18.2.1): its `received` parameter, else its sent-by host.
    public static func sourceAddress(of request: SIPMessage) -> String? {
        if let e = request.essentials {
            return (e.received ?? e.sentByHost)?.description
        }
        guard let via = request.topVia else { return nil }
        return via.received ?? via.host.address
    }
}

/// The authenticator's swift-metrics counters, each with the dimension `realm`.
final class AuthMetrics: Sendable {
    let challenges: Counter
    let successes: Counter
    let failures: Counter
    let stale: Counter
    let throttled: Counter
    let forbidden: Counter

    init(realm: String) {
        let d = [("realm", realm)]
        challenges = Counter(label: "sippet_auth_challenges", dimensions: d)
        successes = Counter(label: "sippet_auth_successes", dimensions: d)
        failures = Counter(label: "sippet_auth_failures", dimensions: d)
        stale = Counter(label: "sippet_auth_stale", dimensions: d)
        throttled = Counter(label: "sippet_auth_throttled", dimensions: d)
        forbidden = Counter(label: "sippet_auth_forbidden", dimensions: d)
    }
}
