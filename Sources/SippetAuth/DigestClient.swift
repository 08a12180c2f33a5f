import SIPSyntax
import Synchronization

/// A user's secret for one realm: the password, or the HA1s a provisioning system handed out.
public struct DigestLogin: Sendable, Hashable {
    /// The username.
    public var username: String
    /// The password; nil when only HA1s are known.
    public var password: String?
    /// HA1s by hash function, used when there is no password.
    public var ha1: [DigestAlgorithm.HashFunction: String]

    /// A login with a password.
    public init(username: String, password: String) {
        self.username = username
        self.password = password
        ha1 = [:]
    }

    /// A login with stored HA1s (`H(username:realm:password)` per hash function).
    public init(username: String, ha1: [DigestAlgorithm.HashFunction: String]) {
        self.username = username
        password = nil
        self.ha1 = ha1
    }

    func ha1(realm: String, algorithm: DigestAlgorithm) -> String? {
        if let password {
            return DigestComputation.ha1(user: username, realm: realm, password: password, algorithm: algorithm)
        }
        return ha1[algorithm.hash]
    }
}

/// The client side of digest authentication (RFC 3261 §22.2–§22.3, RFC 7616 §3.4, RFC 8760
/// §2.4): it answers a 401 or 407 with the request to send again, and puts credentials on the
/// next requests to the same realm with the nonce reused and its count increased (RFC 7616 §3.4:
/// "the nc value … MUST be incremented").
///
/// Among the challenges of a response it answers, per realm, the strongest algorithm it
/// supports. It answers each challenge once: when the request it is given already carried
/// credentials for a realm and the server challenges again without `stale=true`, the password
/// is wrong and ``retry(_:after:)`` returns nil — a wrong password ends in the 401, never in a
/// loop. A `stale=true` challenge with a new nonce is answered again.
///
/// Use one client for the traffic of one account toward one server: it sends the credentials
/// it has to every request it is asked to ``authorize(_:)``.
public final class DigestClient: Sendable {
    struct RealmState {
        var challenge: DigestChallenge
        var proxy: Bool
        var count: UInt32
    }

    private let logins: @Sendable (String) -> DigestLogin?
    private let state = Mutex<[String: RealmState]>([:])

    /// A client that finds the login for a realm with `logins` (nil: none for that realm).
    public init(logins: @escaping @Sendable (_ realm: String) -> DigestLogin?) { self.logins = logins }

    /// A client with one login for every realm.
    public convenience init(username: String, password: String) {
        let login = DigestLogin(username: username, password: password)
        self.init(logins: { _ in login })
    }

    /// The request to send after `response` (a 401 or 407) to `request`, RFC 3261 §22.2: the
    /// same request with its CSeq increased, no Via (the stack adds one with a new branch), and
    /// credentials for every challenge it can answer. Nil when the response is not a challenge,
    /// no challenge can be answered (no login, unknown algorithms), or a challenge answered
    /// before is repeated (a wrong password).
    ///
    /// For an INVITE the ACK of the 401 or 407 is the transaction layer's (§17.1.1.3); the new
    /// INVITE is a new transaction with the same Call-ID, From and To.
    public func retry(_ request: SIPMessage, after response: SIPMessage) -> SIPMessage? {
        guard let status = response.status, status == 401 || status == 407, let cseq = request.cseq else {
            return nil
        }
        let proxy = status == 407
        let name: SIPHeaderName = proxy ? .proxyAuthenticate : .wwwAuthenticate
        // Per realm, the strongest challenge this client can compute.
        var best: [String: DigestChallenge] = [:]
        var order: [String] = []
        for value in response.headers.values(name) {
            guard let auth = try? AuthValue(value), let c = try? DigestChallenge(auth) else { continue }
            guard c.qop.isEmpty || c.qop.contains(.auth) || c.qop.contains(.authInt) else { continue }
            if let held = best[c.realm] {
                if c.algorithm.strength > held.algorithm.strength { best[c.realm] = c }
            } else {
                best[c.realm] = c
                order.append(c.realm)
            }
        }
        guard !order.isEmpty else { return nil }
        let sent = Self.sentNonces(request)
        var answered = false
        state.withLock { realms in
            for realm in order {
                guard let c = best[realm], logins(realm) != nil else { continue }
                // Answered before with this or an earlier nonce, and not stale: a wrong secret.
                if let previous = sent[realm], !c.isStale || previous == c.nonce { continue }
                realms[realm] = RealmState(challenge: c, proxy: proxy, count: 0)
                answered = true
            }
        }
        guard answered else { return nil }
        var next = request
        _ = next.headers.remove(.via)
        next.headers.set(.cseq, "\(cseq.sequence + 1) \(cseq.method.rawValue)")
        authorize(&next)
        return next
    }

    /// Puts credentials on `request` for every realm this client holds a challenge of (RFC 7616
    /// §3.4: the nonce reused, the count one higher), replacing any it carries.
    public func authorize(_ request: inout SIPMessage) {
        guard let method = request.method, method != .ack, method != .cancel,
            let uri = request.requestURI?.description
        else { return }
        let body = Array(request.body)
        let entries: [(RealmState, UInt32)] = state.withLock { realms in
            var out: [(RealmState, UInt32)] = []
            for (realm, var s) in realms.sorted(by: { $0.key < $1.key }) {
                s.count &+= 1
                realms[realm] = s
                out.append((s, s.count))
            }
            return out
        }
        guard !entries.isEmpty else { return }
        _ = request.headers.remove(.authorization)
        _ = request.headers.remove(.proxyAuthorization)
        for (s, count) in entries {
            guard
                let credentials = credentials(
                    for: s.challenge, count: count, method: method.rawValue, uri: uri, body: body)
            else { continue }
            request.headers.append(s.proxy ? .proxyAuthorization : .authorization, credentials.authValue.description)
        }
    }

    /// The credentials answering `challenge` for a request; nil without a login for its realm.
    public func credentials(
        for challenge: DigestChallenge, count: UInt32, method: String, uri: String, body: [UInt8] = []
    ) -> DigestCredentials? {
        guard let login = logins(challenge.realm),
            let ha1 = login.ha1(realm: challenge.realm, algorithm: challenge.algorithm)
        else { return nil }
        let qop: DigestQoP? =
            challenge.qop.isEmpty ? nil : (challenge.qop.contains(.auth) ? .auth : .authInt)
        let cnonce = qop == nil && !challenge.algorithm.isSession ? nil : Self.makeCnonce()
        let nc = qop == nil ? nil : Self.hex8(count)
        let response = DigestComputation.response(
            ha1: ha1, algorithm: challenge.algorithm, nonce: challenge.nonce, nonceCount: nc, cnonce: cnonce, qop: qop,
            method: method, uri: uri, body: body)
        let username =
            challenge.userhash
            ? DigestComputation.userhash(user: login.username, realm: challenge.realm, algorithm: challenge.algorithm)
            : login.username
        return DigestCredentials(
            username: username, realm: challenge.realm, nonce: challenge.nonce, uri: uri, response: response,
            algorithm: challenge.algorithm, cnonce: cnonce, opaque: challenge.opaque, qop: qop, nonceCount: nc,
            userhash: challenge.userhash)
    }

    /// The nonce of the credentials `request` carries, by realm.
    static func sentNonces(_ request: SIPMessage) -> [String: String] {
        var out: [String: String] = [:]
        for name: SIPHeaderName in [.authorization, .proxyAuthorization] {
            for value in request.headers.values(name) {
                guard let auth = try? AuthValue(value), let realm = auth.value("realm"), let nonce = auth.value("nonce")
                else { continue }
                out[realm] = nonce
            }
        }
        return out
    }

    static func hex8(_ v: UInt32) -> String {
        let digits = hexString([UInt8(v >> 24), UInt8(v >> 16 & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v & 0xFF)])
        return digits
    }

    static func makeCnonce() -> String {
        var rng = SystemRandomNumberGenerator()
        return hexString((0..<16).map { _ in UInt8.random(in: 0...255, using: &rng) })
    }
}
