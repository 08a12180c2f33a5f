import SIPSyntax
import SippetEndpoint
import Testing

/// The registrar's steps of RFC 3261 §10.3, one by one, on a clock the test moves.
@Suite("Registrar (RFC 3261 §10.3)")
struct RegistrarTests {
    static func register(
        aor: String = "sip:alice@example.com", callID: String = "call-1", cseq: UInt32 = 1,
        contacts: [String] = ["<sip:alice@192.0.2.4:5060>"], expires: String? = nil
    ) -> SIPMessage {
        var fields: [(SIPHeaderName, String)] = [
            (.via, "SIP/2.0/UDP 192.0.2.4:5060;branch=z9hG4bK\(cseq)x"), (.from, "<\(aor)>;tag=f1"), (.to, "<\(aor)>"),
            (.callID, callID), (.cseq, "\(cseq) REGISTER"),
        ]
        for c in contacts { fields.append((.contact, c)) }
        if let expires { fields.append((.expires, expires)) }
        return .request(method: .register, uri: try! URI("sip:example.com"), headers: fields)
    }

    /// The Contact values of a response, with their expires parameters.
    static func bound(_ r: SIPMessage) -> [(uri: String, expires: UInt32?)] {
        r.contact.compactMap { c in c.address.map { ($0.uri.description, c.expires) } }
    }

    @Test(
        "Step 6: without an interval the default (3600 s) applies; the 200 lists the binding with its expires (step 8)")
    func defaultInterval() {
        var r = Registrar()
        let ok = r.handle(Self.register(), now: 0)
        #expect(ok.status == 200)
        let b = Self.bound(ok)
        #expect(b.count == 1)
        #expect(b.first?.uri == "sip:alice@192.0.2.4:5060")
        #expect(b.first?.expires == 3600)
    }

    @Test(
        "Step 6: the contact's expires parameter wins over the Expires header; longer intervals are shortened to the maximum"
    )
    func intervals() {
        var r = Registrar()
        let ok = r.handle(
            Self.register(contacts: ["<sip:a@192.0.2.4>;expires=120", "<sip:b@192.0.2.4>"], expires: "600"), now: 0)
        #expect(Self.bound(ok).map(\.expires) == [120, 600])
        let long = r.handle(Self.register(callID: "call-2", contacts: ["<sip:c@192.0.2.4>"], expires: "999999"), now: 0)
        #expect(Self.bound(long).first { $0.uri == "sip:c@192.0.2.4" }?.expires == r.policy.maxExpires)
    }

    @Test("Step 6: a non-zero interval below the minimum gets 423 with Min-Expires, and nothing is bound")
    func intervalTooBrief() throws {
        var r = Registrar()
        let tooBrief = r.handle(Self.register(expires: "30"), now: 0)
        #expect(tooBrief.status == 423)
        #expect(try tooBrief.headers.first(.minExpires) == 60)
        #expect(r.bindings(of: try URI("sip:alice@example.com"), now: 0).isEmpty)
    }

    @Test("Step 8: the 200 gives each binding the seconds it has left; an expired binding is gone")
    func remainingTime() throws {
        var r = Registrar()
        _ = r.handle(Self.register(expires: "300"), now: 0)
        // A query (no Contact) 100 s later.
        let query = r.handle(Self.register(cseq: 2, contacts: []), now: 100_000)
        #expect(Self.bound(query).first?.expires == 200)
        let later = r.handle(Self.register(cseq: 3, contacts: []), now: 301_000)
        #expect(later.status == 200)
        #expect(later.contact.isEmpty)
    }

    @Test("Step 7: a refresh from the same Call-ID with a higher CSeq updates the binding; Expires 0 removes it")
    func refreshAndRemove() throws {
        var r = Registrar()
        _ = r.handle(Self.register(cseq: 1, expires: "300"), now: 0)
        let refreshed = r.handle(Self.register(cseq: 2, expires: "900"), now: 10_000)
        #expect(Self.bound(refreshed).map(\.expires) == [900])
        let removed = r.handle(Self.register(cseq: 3, expires: "0"), now: 20_000)
        #expect(removed.status == 200)
        #expect(removed.contact.isEmpty)
        #expect(r.count == 0)
    }

    @Test("Step 7: the same Call-ID with a CSeq not higher than the binding's fails (500) and changes nothing")
    func outOfOrder() throws {
        var r = Registrar()
        _ = r.handle(Self.register(cseq: 5, expires: "300"), now: 0)
        let old = r.handle(Self.register(cseq: 5, expires: "0"), now: 0)
        #expect(old.status == 500)
        let older = r.handle(Self.register(cseq: 4, expires: "900"), now: 0)
        #expect(older.status == 500)
        #expect(r.bindings(of: try URI("sip:alice@example.com"), now: 0).map(\.cseq) == [5])
        // Another Call-ID (another UA, or a rebooted one) may replace it whatever its CSeq.
        let other = r.handle(Self.register(callID: "call-9", cseq: 1, expires: "900"), now: 0)
        #expect(Self.bound(other).map(\.expires) == [900])
    }

    @Test("Step 6: Contact * with Expires 0 removes every binding of the address-of-record")
    func wildcard() throws {
        var r = Registrar()
        _ = r.handle(Self.register(contacts: ["<sip:a@192.0.2.4>", "<sip:b@192.0.2.5>"], expires: "300"), now: 0)
        _ = r.handle(Self.register(aor: "sip:bob@example.com", contacts: ["<sip:bob@192.0.2.6>"]), now: 0)
        let all = r.handle(Self.register(cseq: 2, contacts: ["*"], expires: "0"), now: 0)
        #expect(all.status == 200)
        #expect(all.contact.isEmpty)
        #expect(r.bindings(of: try URI("sip:alice@example.com"), now: 0).isEmpty)
        #expect(r.bindings(of: try URI("sip:bob@example.com"), now: 0).count == 1, "other AORs keep theirs")
    }

    @Test("Step 6: Contact * with a non-zero Expires, without Expires, or next to another Contact gets 400")
    func wildcardMisuse() {
        var r = Registrar()
        #expect(r.handle(Self.register(contacts: ["*"], expires: "60"), now: 0).status == 400)
        #expect(r.handle(Self.register(contacts: ["*"]), now: 0).status == 400)
        #expect(r.handle(Self.register(contacts: ["*", "<sip:a@192.0.2.4>"], expires: "0"), now: 0).status == 400)
    }

    @Test("Step 5: the address-of-record is compared in canonical form (no parameters, host case-insensitive)")
    func canonicalAOR() throws {
        var r = Registrar()
        _ = r.handle(Self.register(aor: "sip:alice@EXAMPLE.com;transport=tcp"), now: 0)
        #expect(r.bindings(of: try URI("sip:alice@example.com"), now: 0).count == 1)
        #expect(r.bindings(of: try URI("sips:alice@example.com"), now: 0).isEmpty, "sips: is another AOR")
    }

    @Test("Step 7: a contact equal by RFC 3261 §19.1.4 updates the binding instead of adding one")
    func contactComparison() {
        var r = Registrar()
        _ = r.handle(Self.register(contacts: ["<sip:alice@GW.example.com:5060>"], expires: "300"), now: 0)
        let again = r.handle(
            Self.register(cseq: 2, contacts: ["<sip:alice@gw.example.com:5060>"], expires: "600"), now: 0)
        #expect(Self.bound(again).map(\.expires) == [600])
    }

    @Test("All or nothing: when one contact of the request fails, no binding changes")
    func atomic() throws {
        var r = Registrar()
        let bad = r.handle(
            Self.register(contacts: ["<sip:a@192.0.2.4>;expires=300", "<sip:b@192.0.2.4>;expires=5"]), now: 0)
        #expect(bad.status == 423)
        #expect(r.count == 0)
    }

    @Test("Limits: too many contacts for one AOR get 403; the whole table full gets 503 with Retry-After")
    func limits() {
        var policy = Registrar.Policy()
        policy.maxBindingsPerAOR = 2
        policy.maxBindings = 3
        var r = Registrar(policy: policy)
        #expect(r.handle(Self.register(contacts: ["<sip:a@h>", "<sip:b@h>", "<sip:c@h>"]), now: 0).status == 403)
        #expect(r.handle(Self.register(contacts: ["<sip:a@h>", "<sip:b@h>"]), now: 0).status == 200)
        #expect(r.handle(Self.register(aor: "sip:bob@example.com", contacts: ["<sip:x@h>"]), now: 0).status == 200)
        let full = r.handle(Self.register(aor: "sip:carol@example.com", contacts: ["<sip:y@h>"]), now: 0)
        #expect(full.status == 503)
        #expect(full.headers[.retryAfter] != nil)
        // Once bindings expire they make room again.
        #expect(
            r.handle(Self.register(aor: "sip:carol@example.com", contacts: ["<sip:y@h>"]), now: 3_601_000).status == 200
        )
    }

    /// Distinct addresses-of-record, one binding each, `seconds` long, made at `now`.
    static func fill(_ r: inout Registrar, _ n: Int, seconds: Int, now: UInt64) {
        for i in 0..<n {
            _ = r.handle(Self.register(aor: "sip:u\(i)@example.com", expires: "\(seconds)"), now: now)
        }
    }

    @Test(
        "A full table answers 503 without looking at its bindings; expiry goes by deadlines, a bounded batch a request")
    func fullTableCostsNothing() {
        var policy = Registrar.Policy()
        policy.maxBindings = 5_000
        var r = Registrar(policy: policy)
        Self.fill(&r, 5_000, seconds: 60, now: 0)
        #expect(r.count == 5_000)
        let next1 = r.nextExpiry()
        #expect(next1 == 60_000)
        // Full, nothing expired: refused, and no binding examined (the old registrar swept all).
        let full = r.handle(Self.register(aor: "sip:late@example.com"), now: 30_000)
        #expect(full.status == 503)
        #expect(full.headers[.retryAfter] == "60")
        #expect(r.expiryWork == 0)
        // All expired at 60 s: one REGISTER expires at most `expiredPerRequest` of them first.
        let after = r.handle(Self.register(aor: "sip:late@example.com"), now: 61_000)
        #expect(after.status == 200)
        #expect(r.expiryWork == Registrar.expiredPerRequest)
        #expect(r.count == 5_000 - Registrar.expiredPerRequest + 1)
        // The owner's timer does the rest, in batches, at the deadline it is given.
        let due = r.nextExpiry()
        #expect(due.map { $0 <= 61_000 } == true)
        #expect(r.expire(now: 61_000, atMost: 1_000) == 1_000)
        r.sweep(now: 61_000)
        #expect(r.count == 1)
        #expect(r.expiryWork == 5_000)
        let next2 = r.nextExpiry()
        #expect(next2 == 61_000 + 3_600_000)
    }

    @Test("Expiry: an address-of-record's deadline is its earliest binding's, kept when bindings change")
    func deadlines() {
        var r = Registrar()
        _ = r.handle(Self.register(contacts: ["<sip:a@h>;expires=300", "<sip:b@h>;expires=120"]), now: 0)
        let next3 = r.nextExpiry()
        #expect(next3 == 120_000)
        // At 120 s the first goes; the deadline moves to the other's.
        #expect(r.expire(now: 120_000, atMost: 10) == 1)
        #expect(r.count == 1)
        let next4 = r.nextExpiry()
        #expect(next4 == 300_000)
        // Removing the last binding leaves no deadline.
        _ = r.handle(Self.register(cseq: 2, contacts: ["<sip:a@h>"], expires: "0"), now: 130_000)
        #expect(r.count == 0)
        let next5 = r.nextExpiry()
        #expect(next5 == nil)
        #expect(r.expire(now: 400_000, atMost: 10) == 0)
    }

    @Test(
        "RFC 3327: the Path of a REGISTER is kept with its bindings and echoed in the 200; the source is kept, behind a NAT when it is not the sent-by (RFC 3581)"
    )
    func pathAndSource() throws {
        var r = Registrar()
        var request = Self.register()
        request.headers.append(.path, "<sip:edge.example.com;lr>")
        _ = request.headers.remove(.via)
        request.headers.insert(
            .via, "SIP/2.0/UDP 192.0.2.4:5060;branch=z9hG4bKp;rport=40000;received=198.51.100.7", at: 0)
        let ok = r.handle(request, now: 0)
        #expect(ok.headers.values(.path) == ["<sip:edge.example.com;lr>"])
        let binding = try #require(r.bindings(of: try URI("sip:alice@example.com"), now: 0).first)
        #expect(binding.path == ["<sip:edge.example.com;lr>"])
        #expect(
            binding.source == Registrar.Source(transport: "UDP", host: "198.51.100.7", port: 40000, isBehindNAT: true))
        #expect(binding.source?.uri.description == "sip:198.51.100.7:40000")
        // From its own sent-by (RFC 3581 still writes received with rport): no NAT.
        var direct = Self.register(aor: "sip:bob@example.com", contacts: ["<sip:bob@192.0.2.5>"])
        _ = direct.headers.remove(.via)
        direct.headers.insert(.via, "SIP/2.0/TCP 192.0.2.5:5060;branch=z9hG4bKq;rport=5060;received=192.0.2.5", at: 0)
        _ = r.handle(direct, now: 0)
        let b2 = try #require(r.bindings(of: try URI("sip:bob@example.com"), now: 0).first)
        #expect(b2.source?.isBehindNAT == false)
        #expect(b2.source?.uri.description == "sip:192.0.2.5:5060;transport=tcp")
    }
}
