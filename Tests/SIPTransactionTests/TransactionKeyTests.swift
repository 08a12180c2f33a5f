import SIPSyntax
import Testing

@testable import SIPTransaction

/// RFC 3261 §17.1.3 and §17.2.3 keys, and their Sippet-style text form.
@Suite("Transaction keys")
struct TransactionKeyTests {
    @Test("client key text form: ~K[z9hG4bK230f2.1|INVITE]")
    func clientText() {
        let k = ClientTransactionKey(branch: "z9hG4bK230f2.1", method: .invite)
        #expect(k.description == "~K[z9hG4bK230f2.1|INVITE]")
        #expect(ClientTransactionKey("~K[z9hG4bK230f2.1|INVITE]") == k)
        #expect(TransactionKey("~K[z9hG4bK230f2.1|INVITE]") == .client(k))
    }

    @Test("server key text form: ~K[z9hG4bK74b21|INVITE|client.biloxi.example.com:5060]")
    func serverText() {
        let k = ServerTransactionKey(branch: "z9hG4bK74b21", sentBy: "client.biloxi.example.com:5060", method: .invite)
        #expect(k.description == "~K[z9hG4bK74b21|INVITE|client.biloxi.example.com:5060]")
        #expect(ServerTransactionKey("~K[z9hG4bK74b21|INVITE|client.biloxi.example.com:5060]") == k)
        #expect(TransactionKey("~K[z9hG4bK74b21|INVITE|client.biloxi.example.com:5060]") == .server(k))
    }

    @Test("server key from a request: branch, sent-by (host lowercased, default port), method")
    func serverFromRequest() throws {
        let invite = try Fixtures.invite(branch: "z9hG4bK74b21", via: "Client.Biloxi.Example.COM")
        let k = try #require(ServerTransactionKey(request: invite))
        #expect(k.description == "~K[z9hG4bK74b21|INVITE|client.biloxi.example.com:5060]")
        #expect(k.branch == "z9hG4bK74b21")
        #expect(k.sentBy == "client.biloxi.example.com:5060")
        #expect(!k.isRFC2543)
        let tls = try #require(
            ServerTransactionKey(
                request: try Fixtures.invite(
                    via: "client.biloxi.example.com",
                    transport: "TLS")))
        #expect(tls.sentBy == "client.biloxi.example.com:5061")
    }

    @Test("client key from a request and from its response: branch and CSeq method")
    func clientFromMessages() throws {
        let invite = try Fixtures.invite()
        let k = try #require(ClientTransactionKey(request: invite))
        #expect(k == ClientTransactionKey(branch: Fixtures.inviteBranch, method: .invite))
        #expect(ClientTransactionKey(response: try Fixtures.response(180, to: invite)) == k)
        #expect(
            ClientTransactionKey(response: try Fixtures.response(200, to: try Fixtures.cancel(for: invite)))
                == ClientTransactionKey(branch: Fixtures.inviteBranch, method: .cancel))
    }

    @Test("an ACK's server key is its INVITE's; a CANCEL's is its own and names the INVITE's")
    func ackAndCancel() throws {
        let invite = try Fixtures.invite()
        let inviteKey = try #require(ServerTransactionKey(request: invite))
        let ack = try Fixtures.ack(for: invite, response: try Fixtures.response(486, to: invite))
        #expect(ServerTransactionKey(request: ack) == inviteKey)
        let cancelKey = try #require(ServerTransactionKey(request: try Fixtures.cancel(for: invite)))
        #expect(cancelKey != inviteKey)
        #expect(cancelKey.method == .cancel)
        #expect(cancelKey.cancelledInvite == inviteKey)
        #expect(inviteKey.cancelledInvite == nil)
    }

    @Test("RFC 2543 key: Request-URI, tags, Call-ID, CSeq, top Via; text form round trip")
    func rfc2543Key() throws {
        let k = try #require(ServerTransactionKey(request: try Fixtures.inv2543()))
        #expect(k.isRFC2543)
        #expect(k.branch == nil)
        let id = try #require(k.rfc2543)
        #expect(id.requestURI == "sip:UserB@example.com")
        #expect(id.callID == "inv2543.1717@ift.client.example.com")
        #expect(id.cseqNumber == 56)
        #expect(id.fromTag == nil && id.toTag == nil)
        #expect(id.topVia == "SIP/2.0/UDP iftgw.example.com")
        #expect(
            k.description
                == "~K[2543|INVITE|sip:UserB@example.com|inv2543.1717@ift.client.example.com|56|||SIP/2.0/UDP iftgw.example.com]"
        )
        #expect(ServerTransactionKey(k.description) == k)
        #expect(TransactionKey(k.description) == .server(k))
    }

    @Test("a branch that is only the magic cookie falls back to the RFC 2543 key (RFC 4475 badbranch)")
    func badbranchKey() throws {
        let k = try #require(ServerTransactionKey(request: try Fixtures.badbranch()))
        #expect(k.isRFC2543)
        #expect(k.rfc2543?.fromTag == "33242")
        #expect(ServerTransactionKey(k.description) == k)
    }

    @Test(
        "text form round trip",
        arguments: [
            "~K[z9hG4bK230f2.1|INVITE]",
            "~K[z9hG4bKa%7Cb%25c|MESSAGE]",
            "~K[z9hG4bK74b21|BYE|[2001:db8::9]:5070]",
            "~K[z9hG4bK74b21|ACKNOWLEDGE|192.0.2.1:5060]",
            "~K[2543|OPTIONS|sip:a@b|x%7Cy@h|7|t1|t2|SIP/2.0/UDP h;received=192.0.2.9]",
        ])
    func roundTrip(text: String) throws {
        let k = try #require(TransactionKey(text))
        #expect(k.description == text)
    }

    @Test("field characters that the text form uses are escaped")
    func escaping() {
        let k = ClientTransactionKey(branch: "z9hG4bKa|b%c", method: .message)
        #expect(k.description == "~K[z9hG4bKa%7Cb%25c|MESSAGE]")
        #expect(ClientTransactionKey(k.description)?.branch == "z9hG4bKa|b%c")
        let s = ServerTransactionKey(
            rfc2543: .init(
                requestURI: "sip:a@b", toTag: nil, fromTag: "f", callID: "c|d",
                cseqNumber: 1, topVia: "SIP/2.0/UDP h"), method: .options)
        #expect(ServerTransactionKey(s.description) == s)
    }

    @Test(
        "texts that are no key",
        arguments: [
            "", "~K[]", "~K[z9hG4bK1]", "K[z9hG4bK1|INVITE]", "~K[z9hG4bK1|INVITE", "~K[|INVITE]", "~K[z9hG4bK1|]",
            "~K[a|b|c|d]", "~K[2543|INVITE|u|c|notanumber|f|t|v]", "~K[z9hG4bK%ZZ|INVITE]", "~K[z9hG4bK%2|INVITE]",
        ])
    func invalidText(text: String) {
        #expect(TransactionKey(text) == nil)
    }

    @Test("keys of requests without what matching needs are nil")
    func unusable() throws {
        var noVia = try Fixtures.request()
        noVia.headers.remove(.via)
        #expect(ServerTransactionKey(request: noVia) == nil)
        #expect(ClientTransactionKey(request: noVia) == nil)
        #expect(ServerTransactionKey(request: try Fixtures.response(200, to: try Fixtures.request())) == nil)
        #expect(ClientTransactionKey(response: try Fixtures.request()) == nil)
    }

    /// Branch and sent-by lengths on either side of the 62 bytes a key holds in itself.
    static let branchLengths = [8, 30, 31, 32, 47, 48, 49, 80]

    @Test(
        "a key is the same whether its branch and sent-by are held in the key or as strings",
        arguments: branchLengths)
    func packedAndUnpacked(branchLength: Int) throws {
        // "client.atlanta.example.com:5060" is 31 bytes: up to 31 + 31 fits in 62, from 32 + 31 on
        // it does not.
        let branch = "z9hG4bK" + String(repeating: "a", count: branchLength - 7)
        let invite = try Fixtures.invite(branch: branch, via: "Client.Atlanta.Example.COM:5060")
        let fromRequest = try #require(ServerTransactionKey(request: invite))
        let fromParts = ServerTransactionKey(branch: branch, sentBy: "client.atlanta.example.com:5060", method: .invite)
        let fromText = try #require(ServerTransactionKey(fromParts.description))
        #expect(fromRequest == fromParts)
        #expect(fromRequest == fromText)
        #expect(fromRequest.hashValue == fromParts.hashValue)
        #expect(fromRequest.branch == branch)
        #expect(fromRequest.sentBy == "client.atlanta.example.com:5060")
        #expect(fromRequest.description == "~K[\(branch)|INVITE|client.atlanta.example.com:5060]")
        // Another sent-by, method or branch is another transaction (RFC 3261 §17.2.3).
        #expect(
            fromRequest
                != ServerTransactionKey(branch: branch, sentBy: "client.atlanta.example.com:5061", method: .invite))
        #expect(
            fromRequest != ServerTransactionKey(branch: branch, sentBy: "client.atlanta.example.com:5060", method: .bye)
        )
        #expect(
            fromRequest
                != ServerTransactionKey(
                    branch: branch + "b", sentBy: "client.atlanta.example.com:5060", method: .invite))
        let shorter = String(branch.dropLast())
        #expect(
            fromRequest
                != ServerTransactionKey(branch: shorter, sentBy: "client.atlanta.example.com:5060", method: .invite))
        // The ACK of a non-2xx and the CANCEL route with the INVITE, and the ACK matches it.
        let ack = try Fixtures.ack(for: invite, response: try Fixtures.response(486, to: invite))
        let ackKey = try #require(ServerTransactionKey(request: ack))
        let cancelKey = try #require(ServerTransactionKey(request: try Fixtures.cancel(for: invite)))
        #expect(ackKey == fromRequest)
        #expect(cancelKey.cancelledInvite == fromRequest)
        // Their loop is the INVITE's: the hash of the Call-ID they share (RFC 3261 §9.1, §17.1.1.3).
        #expect(fromRequest.loopHash != 0)
        #expect(ackKey.loopHash == fromRequest.loopHash)
        #expect(cancelKey.loopHash == fromRequest.loopHash)
        #expect(cancelKey.cancelledInvite?.loopHash == fromRequest.loopHash)
        // A response's key (the TU sending on the transaction) is the request's, on its loop.
        let responseKey = ServerTransactionKey(response: try Fixtures.response(200, to: invite))
        #expect(responseKey == fromRequest)
        #expect(responseKey?.loopHash == fromRequest.loopHash)
        #expect(
            ClientTransactionKey(response: try Fixtures.response(200, to: invite))?.loopHash == fromRequest.loopHash)
        // A key read back from its text form does not know its loop, and equals the one that does.
        let read = try #require(ServerTransactionKey(fromRequest.description))
        #expect(read.loopHash == 0 && read == fromRequest)
    }

    @Test("keys that differ only past the branch, in the sent-by's port, stay apart when packed")
    func packedPort() {
        let a = ServerTransactionKey(branch: "z9hG4bK1", sentBy: "h:5060", method: .invite)
        let b = ServerTransactionKey(branch: "z9hG4bK1h", sentBy: ":5060", method: .invite)
        #expect(a != b)
        #expect(a.branch == "z9hG4bK1")
        #expect(b.branch == "z9hG4bK1h")
        #expect(Set([a, b, ServerTransactionKey(branch: "z9hG4bK1", sentBy: "h:5060", method: .invite)]).count == 2)
    }

    @Test("the digest a table files server transactions under: equal for equal keys, distinct for distinct ones")
    func digests() {
        let a = ServerTransactionKey(branch: "z9hG4bK74b21", sentBy: "client.biloxi.example.com:5060", method: .invite)
        let ack = ServerTransactionKey(branch: "z9hG4bK74b21", sentBy: "client.biloxi.example.com:5060", method: .ack)
        let long = String(repeating: "x", count: 80)
        #expect(ack == a && ack.digest == a.digest)
        #expect(ServerTransactionKey("\(a)")?.digest == a.digest)
        #expect(
            ServerTransactionKey(branch: "z9hG4bK\(long)", sentBy: "h:5060", method: .bye).digest
                == ServerTransactionKey(branch: "z9hG4bK\(long)", sentBy: "h:5060", method: .bye).digest)
        // Keys that differ in one field only: branch, sent-by, method, packed or spelled out.
        var digests = Set<ServerTransactionKey.Digest>()
        var lows = Set<Int>()
        for i in 0..<20_000 {
            let branch = i % 4 == 0 ? "z9hG4bK\(long)\(i)" : "z9hG4bK\(i)"
            let method: SIPMethod = i % 3 == 0 ? .bye : .invite
            let k = ServerTransactionKey(branch: branch, sentBy: "10.0.0.\(i % 7):5060", method: method)
            digests.insert(k.digest)
            lows.insert(k.digest.low)
            #expect(k.digest != a.digest)
        }
        #expect(digests.count == 20_000 && lows.count == 20_000)
        // An extension method keeps its name with the identity; a standard one is a byte.
        let foo = ServerTransactionKey(branch: "z9hG4bK74b21", sentBy: "client.biloxi.example.com:5060", method: "FOO")
        let bar = ServerTransactionKey(branch: "z9hG4bK74b21", sentBy: "client.biloxi.example.com:5060", method: "BAR")
        #expect(foo.method == "FOO" && foo.branch == "z9hG4bK74b21" && foo.sentBy == "client.biloxi.example.com:5060")
        #expect(foo != bar && foo.digest != bar.digest && foo != a && foo.digest != a.digest)
        #expect(
            foo == ServerTransactionKey(foo.description) && foo.digest == ServerTransactionKey(foo.description)?.digest)
        #expect(a.method == .invite && ack.method == .invite && MemoryLayout<ServerTransactionKey>.size <= 88)
        #expect(
            ServerTransactionKey(branch: "z9hG4bK74b21", sentBy: "client.biloxi.example.com:5060", method: .bye).digest
                != a.digest)
    }
}

@Suite("Call-ID hashes")
struct CallIDHashTests {
    @Test(
        "a message built here hashes its Call-ID as the same message does once parsed, blanks around it or not, long form or compact",
        arguments: [
            ("Call-ID", "a84b4c76e66710@pc33.atlanta.com", "a84b4c76e66710@pc33.atlanta.com"), ("i", "  x@y ", "x@y"),
            ("Call-ID", "short", "short"),
        ])
    func builtAndParsed(name: String, value: String, bare: String) throws {
        var m = SIPMessage.request(method: .options, uri: try URI("sip:bob@example.com"))
        m.headers.append(SIPHeaderName(name), value)
        m.headers.append(.via, "SIP/2.0/UDP h:5060;branch=z9hG4bK1")
        m.headers.append(.cseq, "1 OPTIONS")
        let parsed = try SIPMessage(parsing: m.serialized())
        #expect(CallIDHash.of(m) == CallIDHash.of(parsed))
        #expect(CallIDHash.of(m) == CallIDHash.of(bare))
        #expect(CallIDHash.of(m) != 0)
    }
}
