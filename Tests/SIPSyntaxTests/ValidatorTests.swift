import Testing

@testable import SIPSyntax

@Suite("Validation of requests (RFC 3261 §8.2)")
struct ValidatorTests {
    static func invite(_ extra: String, body: String = "v=0\n") throws -> SIPMessage {
        try SIPMessage(
            wire:
                "INVITE sip:bob@biloxi.com SIP/2.0\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\nTo: <sip:bob@biloxi.com>\nFrom: <sip:a@b>;tag=1\nCall-ID: c1\nCSeq: 1 INVITE\n\(extra)\n\(body)"
        )
    }

    static func status(_ m: SIPMessage) -> Int? {
        if case .reject(let r) = SIPValidator.validate(m) { return r.status }
        return nil
    }

    @Test("Content-Type is read by its grammar: case, parameters and quoted commas (§20.15)") func contentType() throws
    {
        #expect(Self.status(try Self.invite("Content-Type: Application/SDP ; charset=\"a,b\"\n")) == nil)
        #expect(Self.status(try Self.invite("Content-Type: multipart/mixed;boundary=x\n")) == nil)
        #expect(Self.status(try Self.invite("Content-Type: text/plain\n")) == 415)
        #expect(Self.status(try Self.invite("Content-Type: application\n")) == 400)
        #expect(Self.status(try Self.invite("")) == 415)
        // Written as one of the accepted types, in any case: accepted without a parse.
        #expect(Self.status(try Self.invite("Content-Type: APPLICATION/sdp\n")) == nil)
        #expect(Self.status(try Self.invite("Content-Type: application/sdp\nContent-Type: application/sdp\n")) == 400)
        // A policy entry that is no media type does not let an unparseable Content-Type through.
        var odd = SIPValidationPolicy.userAgent
        odd.acceptedContentTypes = ["application", "application/sdp"]
        guard case .reject(let r) = SIPValidator.validate(try Self.invite("Content-Type: application\n"), policy: odd)
        else {
            Issue.record("accepted")
            return
        }
        #expect(r.status == 400)
    }

    @Test("§8.1.1, §7.3.1: each missing mandatory header and each repeated single one is named")
    func headerCounts() throws {
        let base = [
            "Via: SIP/2.0/UDP h;branch=z9hG4bK1", "To: <sip:bob@biloxi.com>", "From: <sip:a@b>;tag=1", "Call-ID: c1",
            "CSeq: 1 OPTIONS", "Max-Forwards: 70",
        ]
        func reason(_ lines: [String]) throws -> String? {
            let m = try SIPMessage(
                wire: "OPTIONS sip:bob@biloxi.com SIP/2.0\n" + lines.joined(separator: "\n") + "\n\n")
            if case .reject(let r) = SIPValidator.validate(m) { return r.reason }
            return nil
        }
        #expect(try reason(base) == nil)
        for (i, name) in ["Via", "To", "From", "Call-ID", "CSeq"].enumerated() {
            var lines = base
            lines.remove(at: i)
            #expect(try reason(lines) == "Missing \(name)")
        }
        for (i, name) in [(1, "To"), (2, "From"), (3, "Call-ID"), (4, "CSeq"), (5, "Max-Forwards")] {
            #expect(try reason(base + [base[i]]) == "Multiple \(name)")
        }
        #expect(try reason(base + [base[0]]) == nil)  // Via may repeat
    }

    @Test("Accept ranges match by wildcard and honour q=0 (§20.1, RFC 4475 §3.3.15)") func accept() throws {
        #expect(Self.status(try Self.invite("Content-Type: application/sdp\nAccept: application/*\n")) == nil)
        #expect(Self.status(try Self.invite("Content-Type: application/sdp\nAccept: */*;q=0.5\n")) == nil)
        #expect(
            Self.status(try Self.invite("Content-Type: application/sdp\nAccept: text/html, application/sdp;q=0\n"))
                == 406)
        #expect(Self.status(try Self.invite("Content-Type: application/sdp\nAccept:\n")) == nil)
    }

    @Test("Content-Encoding other than identity gets 415 with Accept-Encoding (§8.2.3)") func encoding() throws {
        #expect(Self.status(try Self.invite("Content-Type: application/sdp\nContent-Encoding: gzip\n")) == 415)
        #expect(Self.status(try Self.invite("Content-Type: application/sdp\nContent-Encoding: identity\n")) == nil)
    }

    @Test("Require tags on several lines are all checked; a proxy checks Proxy-Require instead (§8.2.2.3, §16.3)")
    func require() throws {
        let m = try Self.invite("Content-Type: application/sdp\nRequire: 100rel\nRequire: timer, foo\n")
        guard case .reject(let r) = SIPValidator.validate(m) else {
            Issue.record("accepted")
            return
        }
        #expect(r.status == 420)
        #expect(r.headers.first?.value == "100rel, timer, foo")
        var policy = SIPValidationPolicy.userAgent
        policy.supportedExtensions = ["100rel", "timer", "foo"]
        #expect(SIPValidator.validate(m, policy: policy) == .accept)
        #expect(SIPValidator.validate(m, policy: .proxy) == .accept)
    }
}
