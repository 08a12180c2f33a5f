import SIPSyntax
import SippetAuth
import Testing

/// The server's rules with the values they give, and the client against it: nonces, stale,
/// replay, the throttle, ownership of the address-of-record, §22.1's exemptions, both roles.
@Suite("Digest server and client (RFC 3261 §22, RFC 7616, RFC 8760)")
struct DigestServerTests {
    static let realm = "example.com"
    static let t0: UInt64 = 1_800_000_000_000

    static func users(_ password: String = "secret") -> DigestUsersFile {
        let lines = ["alice", "bob"].flatMap { DigestUsersFile.lines(user: $0, realm: realm, password: password) }
        return try! DigestUsersFile(text: lines.joined(separator: "\n"))
    }

    static func server(
        algorithms: [DigestAlgorithm] = [.sha256, .md5], role: DigestAuthenticator.Role = .server,
        _ configure: (inout DigestAuthenticator.Configuration) -> Void = { _ in }
    ) -> DigestAuthenticator {
        var c = DigestAuthenticator.Configuration(realm: realm)
        c.algorithms = algorithms
        configure(&c)
        return DigestAuthenticator(configuration: c, credentials: users(), role: role)
    }

    static func request(
        _ method: SIPMethod = .register, aor: String = "sip:alice@example.com", cseq: UInt32 = 1,
        source: String = "192.0.2.4"
    ) -> SIPMessage {
        .request(
            method: method, uri: try! URI(method == .register ? "sip:example.com" : aor),
            headers: [
                (.via, "SIP/2.0/UDP 192.0.2.4:5060;branch=z9hG4bK\(cseq)x;received=\(source)"),
                (.from, "<\(aor)>;tag=f1"), (.to, "<\(aor)>"), (.callID, "call-1"), (.cseq, "\(cseq) \(method)"),
                (.contact, "<sip:alice@192.0.2.4:5060>"),
            ])
    }

    static func challengeResponse(_ d: DigestAuthenticator.Decision) -> SIPMessage? {
        if case .challenge(let r) = d { return r }
        return nil
    }

    static func isAuthorized(_ d: DigestAuthenticator.Decision, as user: String = "alice") -> Bool {
        if case .authorized(let u) = d { return u == user }
        return false
    }

    /// The challenges of a response, in order.
    static func challenges(_ r: SIPMessage, proxy: Bool = false) -> [DigestChallenge] {
        r.headers.values(proxy ? .proxyAuthenticate : .wwwAuthenticate).compactMap {
            try? DigestChallenge(AuthValue($0))
        }
    }

    @Test(
        "A REGISTER without credentials gets 401 with one challenge per algorithm, preferred first, qop auth (RFC 8760 §2.4)"
    )
    func challengeOrder() throws {
        let s = Self.server(algorithms: [.sha512t256, .sha256, .md5])
        let r = try #require(Self.challengeResponse(s.authenticate(Self.request(), source: "192.0.2.4", time: Self.t0)))
        #expect(r.status == 401)
        let cs = Self.challenges(r)
        #expect(cs.map(\.algorithm) == [.sha512t256, .sha256, .md5])
        #expect(cs.allSatisfy { $0.realm == Self.realm && $0.qop == [.auth] && !$0.isStale })
        #expect(Set(cs.map(\.nonce)).count == 1)
        #expect(r.to?.parameters.value("tag") != nil)
    }

    @Test("The client answers with the strongest algorithm offered, whatever the order, and the server authorizes it")
    func roundTrips() throws {
        for algorithms: [DigestAlgorithm] in [
            [.md5], [.sha256], [.sha512t256], [.md5Session], [.sha256Session], [.sha512t256Session], [.md5, .sha256],
            [.sha256, .md5, .sha512t256],
        ] {
            let s = Self.server(algorithms: algorithms)
            let client = DigestClient(username: "alice", password: "secret")
            let first = Self.request()
            let challenge = try #require(
                Self.challengeResponse(s.authenticate(first, source: "192.0.2.4", time: Self.t0)))
            let second = try #require(client.retry(first, after: challenge))
            #expect(second.cseq?.sequence == 2)
            #expect(second.topVia == nil)
            let sent = try DigestCredentials(AuthValue(try #require(second.headers[.authorization])))
            #expect(sent.algorithm == algorithms.max { $0.strength < $1.strength })
            #expect(sent.nonceCount == "00000001")
            var stamped = second
            stamped.headers.insert(.via, "SIP/2.0/UDP 192.0.2.4:5060;branch=z9hG4bK2x", at: 0)
            #expect(Self.isAuthorized(s.authenticate(stamped, source: "192.0.2.4", time: Self.t0 + 10)))
        }
    }

    @Test("The next request reuses the nonce with nc 00000002 and is authorized without a challenge")
    func nonceReuse() throws {
        let s = Self.server(algorithms: [.md5])
        let client = DigestClient(username: "alice", password: "secret")
        let c = try #require(Self.challengeResponse(s.authenticate(Self.request(), source: "a", time: Self.t0)))
        let second = try #require(client.retry(Self.request(), after: c))
        #expect(Self.isAuthorized(s.authenticate(second, source: "a", time: Self.t0)))
        var third = Self.request(cseq: 3)
        client.authorize(&third)
        #expect(try DigestCredentials(AuthValue(try #require(third.headers[.authorization]))).nonceCount == "00000002")
        #expect(Self.isAuthorized(s.authenticate(third, source: "a", time: Self.t0 + 1000)))
    }

    @Test("Replay: the same credentials again are challenged, not stale; counts out of order within the window pass")
    func replay() throws {
        let s = Self.server(algorithms: [.md5])
        let client = DigestClient(username: "alice", password: "secret")
        let c = try #require(Self.challengeResponse(s.authenticate(Self.request(), source: "a", time: Self.t0)))
        let signed = try #require(client.retry(Self.request(), after: c))
        var r2 = Self.request(cseq: 3)
        client.authorize(&r2)  // nc 2
        var r3 = Self.request(cseq: 4)
        client.authorize(&r3)  // nc 3
        #expect(Self.isAuthorized(s.authenticate(r3, source: "a", time: Self.t0)))
        #expect(Self.isAuthorized(s.authenticate(signed, source: "a", time: Self.t0)))  // nc 1 after 3
        let again = try #require(Self.challengeResponse(s.authenticate(signed, source: "a", time: Self.t0)))
        #expect(Self.challenges(again).first?.isStale == false)
        #expect(Self.isAuthorized(s.authenticate(r2, source: "a", time: Self.t0)))
        #expect(Self.challengeResponse(s.authenticate(r2, source: "a", time: Self.t0)) != nil)
    }

    @Test("A right digest on a nonce past its lifetime (30 s) gets stale=true; a wrong one does not")
    func stale() throws {
        let s = Self.server(algorithms: [.md5])
        let c = try #require(Self.challengeResponse(s.authenticate(Self.request(), source: "a", time: Self.t0)))
        let good = try #require(DigestClient(username: "alice", password: "secret").retry(Self.request(), after: c))
        let bad = try #require(DigestClient(username: "alice", password: "wrong").retry(Self.request(), after: c))
        let late = Self.t0 + 30_001
        let staleAnswer = try #require(Self.challengeResponse(s.authenticate(good, source: "a", time: late)))
        #expect(Self.challenges(staleAnswer).first?.isStale == true)
        let wrongAnswer = try #require(Self.challengeResponse(s.authenticate(bad, source: "a", time: late)))
        #expect(Self.challenges(wrongAnswer).first?.isStale == false)
        // At exactly 30 s it is still live.
        #expect(Self.isAuthorized(s.authenticate(good, source: "a", time: Self.t0 + 30_000)))
    }

    @Test(
        "The client retries once per challenge: a wrong password ends at the second 401; stale=true is answered again")
    func oneRetry() throws {
        let s = Self.server(algorithms: [.md5])
        let client = DigestClient(username: "alice", password: "wrong")
        let c1 = try #require(Self.challengeResponse(s.authenticate(Self.request(), source: "a", time: Self.t0)))
        let r2 = try #require(client.retry(Self.request(), after: c1))
        let c2 = try #require(Self.challengeResponse(s.authenticate(r2, source: "a", time: Self.t0)))
        #expect(client.retry(r2, after: c2) == nil)
        // With the right password and an expired nonce: stale, and the client answers again.
        let right = DigestClient(username: "alice", password: "secret")
        let r3 = try #require(right.retry(Self.request(), after: c1))
        let c3 = try #require(Self.challengeResponse(s.authenticate(r3, source: "b", time: Self.t0 + 60_000)))
        let r4 = try #require(right.retry(r3, after: c3))
        #expect(r4.cseq?.sequence == 3)
        #expect(Self.isAuthorized(s.authenticate(r4, source: "b", time: Self.t0 + 60_000)))
    }

    @Test(
        "Throttle: after 10 failures in 60 s the source gets 403 without hashing, even with the right password, until 60 s after the last"
    )
    func throttle() throws {
        let s = Self.server(algorithms: [.md5])
        let c = try #require(Self.challengeResponse(s.authenticate(Self.request(), source: "x", time: Self.t0)))
        let bad = try #require(DigestClient(username: "alice", password: "wrong").retry(Self.request(), after: c))
        let good = try #require(DigestClient(username: "alice", password: "secret").retry(Self.request(), after: c))
        for i in 0..<9 {
            #expect(
                Self.challengeResponse(s.authenticate(bad, source: "10.0.0.9", time: Self.t0 + UInt64(i) * 1000)) != nil
            )
        }
        // Nine failures: still served.
        #expect(Self.isAuthorized(s.authenticate(good, source: "10.0.0.9", time: Self.t0 + 9_000)))
        _ = s.authenticate(bad, source: "10.0.0.9", time: Self.t0 + 10_000)  // the tenth
        guard case .forbidden(let refused) = s.authenticate(good, source: "10.0.0.9", time: Self.t0 + 10_001) else {
            Issue.record("the tenth failure did not block the source")
            return
        }
        #expect(refused.status == 403)
        // Another source is not affected; the blocked one is served 60 s after its last failure.
        #expect(
            Self.challengeResponse(s.authenticate(Self.request(), source: "10.0.0.8", time: Self.t0 + 10_001)) != nil)
        if case .forbidden = s.authenticate(Self.request(), source: "10.0.0.9", time: Self.t0 + 69_999) {
        } else {
            Issue.record("unblocked before the window ended")
        }
        #expect(
            Self.challengeResponse(s.authenticate(Self.request(), source: "10.0.0.9", time: Self.t0 + 70_000)) != nil)
    }

    @Test("Ownership: alice may register sip:alice@…, not sip:bob@… (403); an unknown user fails like a wrong password")
    func ownership() throws {
        let s = Self.server(algorithms: [.md5])
        let bobsAOR = Self.request(aor: "sip:bob@example.com")
        let c = try #require(Self.challengeResponse(s.authenticate(bobsAOR, source: "a", time: Self.t0)))
        let signed = try #require(DigestClient(username: "alice", password: "secret").retry(bobsAOR, after: c))
        guard case .forbidden(let r) = s.authenticate(signed, source: "a", time: Self.t0) else {
            Issue.record("alice registered bob's address-of-record")
            return
        }
        #expect(r.status == 403)
        let mallory = try #require(
            DigestClient(username: "mallory", password: "secret").retry(Self.request(), after: c))
        let answer = try #require(Self.challengeResponse(s.authenticate(mallory, source: "a", time: Self.t0)))
        #expect(Self.challenges(answer).first?.isStale == false)
    }

    @Test("ACK and CANCEL are never challenged (§22.1)")
    func exemptions() {
        let s = Self.server()
        for m: SIPMethod in [.ack, .cancel] {
            if case .exempt = s.authenticate(Self.request(m), source: "a", time: Self.t0) {
            } else {
                Issue.record("\(m) was challenged")
            }
        }
    }

    @Test("A proxy challenges with 407 and Proxy-Authenticate; the client answers in Proxy-Authorization (§22.3)")
    func proxyRole() throws {
        let s = Self.server(algorithms: [.sha256], role: .proxy)
        let invite = Self.request(.invite, aor: "sip:bob@example.com")
        let c = try #require(Self.challengeResponse(s.authenticate(invite, source: "a", time: Self.t0)))
        #expect(c.status == 407)
        #expect(Self.challenges(c, proxy: true).count == 1)
        let retry = try #require(DigestClient(username: "alice", password: "secret").retry(invite, after: c))
        #expect(retry.headers[.authorization] == nil)
        #expect(retry.headers[.proxyAuthorization] != nil)
        #expect(Self.isAuthorized(s.authenticate(retry, source: "a", time: Self.t0)))
    }

    @Test("Servers with one shared secret accept each other's nonces; with another secret a right digest is stale")
    func sharedSecret() throws {
        let secret = Array("a secret of the cluster".utf8)
        let a = Self.server(algorithms: [.md5]) { $0.sharedSecret = secret }
        let b = Self.server(algorithms: [.md5]) { $0.sharedSecret = secret }
        let other = Self.server(algorithms: [.md5])
        let c = try #require(Self.challengeResponse(a.authenticate(Self.request(), source: "s", time: Self.t0)))
        let signed = try #require(DigestClient(username: "alice", password: "secret").retry(Self.request(), after: c))
        #expect(Self.isAuthorized(b.authenticate(signed, source: "s", time: Self.t0)))
        let answer = try #require(Self.challengeResponse(other.authenticate(signed, source: "s", time: Self.t0)))
        #expect(Self.challenges(answer).first?.isStale == true)
    }

    @Test("A nonce pushed out of the count table by newer ones is answered as stale, never accepted")
    func evictedNonce() throws {
        let s = Self.server(algorithms: [.md5]) { $0.nonceSlots = 64 }
        let c = try #require(Self.challengeResponse(s.authenticate(Self.request(), source: "s", time: Self.t0)))
        let signed = try #require(DigestClient(username: "alice", password: "secret").retry(Self.request(), after: c))
        for _ in 0..<64 { _ = s.challenge(Self.request(), stale: false, time: Self.t0) }
        let answer = try #require(Self.challengeResponse(s.authenticate(signed, source: "s", time: Self.t0)))
        #expect(Self.challenges(answer).first?.isStale == true)
    }

    @Test("userhash=true (RFC 7616 §3.4.4): the client sends H(user:realm), the server finds the user by it")
    func userhash() throws {
        let s = Self.server(algorithms: [.sha256]) { $0.userhash = true }
        let c = try #require(Self.challengeResponse(s.authenticate(Self.request(), source: "s", time: Self.t0)))
        let signed = try #require(DigestClient(username: "alice", password: "secret").retry(Self.request(), after: c))
        let sent = try DigestCredentials(AuthValue(try #require(signed.headers[.authorization])))
        #expect(sent.userhash)
        #expect(sent.username == DigestComputation.userhash(user: "alice", realm: Self.realm, algorithm: .sha256))
        #expect(Self.isAuthorized(s.authenticate(signed, source: "s", time: Self.t0)))
    }

    @Test("auth-int covers the body: a changed body fails")
    func authInt() throws {
        let s = Self.server(algorithms: [.md5]) { $0.qop = [.authInt] }
        var invite = Self.request(.invite, aor: "sip:bob@example.com")
        invite.body = Array("v=0\r\n".utf8)[...]
        let c = try #require(Self.challengeResponse(s.authenticate(invite, source: "s", time: Self.t0)))
        let signed = try #require(DigestClient(username: "alice", password: "secret").retry(invite, after: c))
        #expect(try DigestCredentials(AuthValue(try #require(signed.headers[.authorization]))).qop == .authInt)
        var tampered = signed
        tampered.body = Array("v=1\r\n".utf8)[...]
        #expect(Self.challengeResponse(s.authenticate(tampered, source: "s", time: Self.t0)) != nil)
        #expect(Self.isAuthorized(s.authenticate(signed, source: "s", time: Self.t0)))
    }

    @Test(
        "Limit: at most maxTrackedSources addresses have their failures counted; a new one pushes one out, whose count starts again"
    )
    func trackedSourcesBound() throws {
        let s = Self.server(algorithms: [.md5]) { $0.maxTrackedSources = 1 }
        let c = try #require(Self.challengeResponse(s.authenticate(Self.request(), source: "x", time: Self.t0)))
        let bad = try #require(DigestClient(username: "alice", password: "wrong").retry(Self.request(), after: c))
        let good = try #require(DigestClient(username: "alice", password: "secret").retry(Self.request(), after: c))
        for i in 0..<9 { _ = s.authenticate(bad, source: "10.0.0.9", time: Self.t0 + UInt64(i)) }
        _ = s.authenticate(bad, source: "10.0.0.8", time: Self.t0 + 9)  // the table is full: 10.0.0.9 goes
        _ = s.authenticate(bad, source: "10.0.0.9", time: Self.t0 + 10)  // its first failure again, not its tenth
        #expect(Self.isAuthorized(s.authenticate(good, source: "10.0.0.9", time: Self.t0 + 11)))
    }
}
