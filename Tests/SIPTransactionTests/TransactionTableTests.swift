import SIPSyntax
import SIPTransaction
import Testing

/// Matching (RFC 3261 §17.1.3, §17.2.3) and the life of table entries.
@Suite("Transaction table")
struct TransactionTableTests {

    // MARK: - Server side matching

    @Test("a retransmitted request hits its server transaction")
    func retransmittedRequest() throws {
        var t = TableClock()
        let options = try Fixtures.request()
        let first = t.receive(options)
        let key = try #require(first.server)
        #expect(key.isNew)
        #expect(first.actions.passedToTU.count == 1)
        let again = t.receive(try Fixtures.request())
        #expect(again.server?.key == key.key)
        #expect(again.server?.isNew == false)
        #expect(again.actions.isEmpty, "Trying absorbs it")
        #expect(t.table.count == 1)
        #expect(t.table.match(options) == .server(key.key))
    }

    /// What a driver keeps with a transaction: made with it, ignored by a retransmission, handed
    /// back by every event on the transaction, the one that ended it too, and gone with it.
    @Test("a transaction's context: kept while live, handed back by each event, the ending one too")
    func context() throws {
        final class Route: Sendable {}
        let first = Route()
        let second = Route()
        var table = TransactionTable<Route>(configuration: .init(timers: .default))
        let options = try Fixtures.request()
        guard case .server(let key, let made, true) = table.receive(options, reliability: .reliable, context: first)
        else {
            Issue.record("no new server transaction")
            return
        }
        #expect(made.context === first)
        guard
            case .server(_, let again, false) = table.receive(
                try Fixtures.request(), reliability: .reliable, context: second)
        else {
            Issue.record("the retransmission made a transaction")
            return
        }
        #expect(again.context === first, "a retransmission's context is the live transaction's")
        #expect(table.context(of: .server(key)) === first)
        // Over a reliable transport the final response ends a non-INVITE server transaction (Timer J is 0).
        let response = Fixtures.serverResponse(200, to: options)
        guard let sent = table.send(response: response, on: key) else {
            Issue.record("no server transaction")
            return
        }
        #expect(sent.actions.terminates && sent.actions.sent.count == 1)
        #expect(sent.context === first, "the event that ended it hands its context back")
        #expect(table.count == 0)
        #expect(table.context(of: .server(key)) == nil)
        let gone = table.terminate(.server(key))
        #expect(gone.actions.isEmpty && gone.context == nil)
    }

    @Test("a retransmitted INVITE hits its server transaction and gets the latest provisional again")
    func retransmittedInvite() throws {
        var t = TableClock()
        let invite = try Fixtures.proxiedInvite()
        let key = try #require(t.receive(invite).server?.key)
        t.send(response: Fixtures.serverResponse(180, to: invite), on: key)
        let again = t.receive(try Fixtures.proxiedInvite())
        #expect(again.server?.key == key)
        #expect(again.actions.sent.map(firstLine) == ["SIP/2.0 180 Ringing"])
    }

    @Test("an ACK for a non-2xx hits the INVITE's server transaction")
    func ackForNon2xx() throws {
        var t = TableClock()
        let invite = try Fixtures.proxiedInvite()
        let key = try #require(t.receive(invite).server?.key)
        t.send(response: Fixtures.serverResponse(486, to: invite, toTag: "314159"), on: key)
        let ack = try Fixtures.ack(for: invite, response: Fixtures.response(486, to: invite, toTag: "314159"))
        #expect(t.table.match(ack) == .server(key))
        let r = t.receive(ack)
        #expect(r.server?.key == key)
        #expect(r.server?.isNew == false)
        #expect(r.actions.passedToTU.isEmpty)
        #expect(t.table.inviteServer(key)?.state == .confirmed)
    }

    @Test("an ACK for a 2xx matches no transaction and creates none")
    func ackFor2xx() throws {
        var t = TableClock()
        let invite = try Fixtures.proxiedInvite()
        let key = try #require(t.receive(invite).server?.key)
        t.send(response: Fixtures.serverResponse(200, to: invite), on: key)
        let ack = try Fixtures.ackFor2xx(invite: invite, response: Fixtures.response(200, to: invite, toTag: "314159"))
        #expect(t.table.match(ack) == nil)
        #expect(t.receive(ack).isUnmatched)
        #expect(t.table.count == 1)
        #expect(t.table.inviteServer(key)?.state == .accepted, "the INVITE transaction waits in Accepted for Timer L")
    }

    @Test("a CANCEL is a transaction of its own, related to the INVITE it cancels")
    func cancelOwnTransaction() throws {
        var t = TableClock()
        let invite = try Fixtures.invite()
        let inviteKey = try #require(t.receive(invite).server?.key)
        let cancel = try Fixtures.cancel(for: invite)
        let r = t.receive(cancel)
        let cancelKey = try #require(r.server)
        #expect(cancelKey.isNew)
        #expect(cancelKey.key != inviteKey)
        #expect(cancelKey.key.method == .cancel)
        #expect(r.actions.passedToTU.map(\.method) == [.cancel])
        #expect(t.table.inviteTransaction(cancelledBy: cancelKey.key) == inviteKey)
        #expect(t.table.count == 2)
        #expect(t.table.inviteServer(inviteKey)?.state == .proceeding, "the CANCEL does not touch the INVITE's machine")
    }

    @Test("the same branch from another sent-by is another server transaction")
    func sentByDistinguishes() throws {
        var t = TableClock()
        let a = try #require(t.receive(try Fixtures.request(via: "pc33.atlanta.example.com")).server)
        let b = try #require(t.receive(try Fixtures.request(via: "pc34.atlanta.example.com")).server)
        #expect(a.key != b.key)
        #expect(b.isNew)
    }

    // MARK: - Client side matching

    @Test("a response matches its client transaction by branch and CSeq method; another method does not match")
    func responseMatching() throws {
        var t = TableClock()
        let invite = try Fixtures.invite()
        let key = try t.send(request: invite)
        let ringing = try Fixtures.response(180, to: invite)
        #expect(t.table.match(ringing) == .client(key))
        #expect(t.receive(ringing).client == key)
        #expect(t.passed.map(\.message.status) == [180])
        // Same branch, CSeq method CANCEL: there is no CANCEL client transaction.
        let cancelOK = try Fixtures.response(200, to: Fixtures.cancel(for: invite))
        #expect(t.table.match(cancelOK) == nil)
        #expect(t.receive(cancelOK).isUnmatched)
        #expect(t.table.inviteClient(key)?.state == .proceeding)
    }

    @Test("an INVITE and its CANCEL share a branch; their responses go to their own client transactions")
    func inviteAndCancelClients() throws {
        var t = TableClock()
        let invite = try Fixtures.invite()
        let inviteKey = try t.send(request: invite)
        let cancelKey = try t.send(request: Fixtures.cancel(for: invite))
        #expect(inviteKey.branch == cancelKey.branch)
        #expect(inviteKey != cancelKey)
        #expect(t.receive(try Fixtures.response(200, to: Fixtures.cancel(for: invite))).client == cancelKey)
        #expect(t.receive(try Fixtures.response(487, to: invite)).client == inviteKey)
        #expect(t.table.inviteClient(inviteKey)?.state == .completed)
        #expect(t.table.nonInviteClient(cancelKey)?.state == .completed)
    }

    @Test("a response with an unknown branch matches nothing")
    func unknownBranch() throws {
        var t = TableClock()
        _ = try t.send(request: Fixtures.invite())
        #expect(t.receive(try Fixtures.response(200, to: Fixtures.invite(branch: "z9hG4bKother"))).isUnmatched)
    }

    @Test("the table refuses to start a transaction for an ACK, a request without branch, or a duplicate key")
    func sendRefusals() throws {
        var t = TableClock()
        #expect(throws: TransactionTableError.ackHasNoTransaction) {
            try t.table.send(request: Fixtures.request("ACK"), reliability: .unreliable)
        }
        var noBranch = try Fixtures.request()
        noBranch.headers.set(.via, "SIP/2.0/UDP pc33.atlanta.example.com")
        #expect(throws: TransactionTableError.missingBranch) {
            try t.table.send(request: noBranch, reliability: .unreliable)
        }
        let key = try t.send(request: Fixtures.request())
        #expect(throws: TransactionTableError.duplicateKey(.client(key))) {
            try t.table.send(request: Fixtures.request(), reliability: .unreliable)
        }
    }

    // MARK: - RFC 2543 (no magic cookie)

    @Test("RFC 2543 INVITE (inv2543): retransmission matches; the ACK with the final response's To tag matches")
    func rfc2543Invite() throws {
        var t = TableClock()
        let invite = try Fixtures.inv2543()
        let created = try #require(t.receive(invite).server)
        #expect(created.key.isRFC2543)
        #expect(t.receive(try Fixtures.inv2543()).server?.key == created.key)
        t.send(response: Fixtures.serverResponse(486, to: invite, toTag: "a6c85cf"), on: created.key)
        // An ACK with another To tag acknowledges something else.
        #expect(t.table.match(try Fixtures.ack2543(toTag: "someone-else")) == nil)
        let ack = try Fixtures.ack2543(toTag: "a6c85cf")
        #expect(t.table.match(ack) == .server(created.key))
        #expect(t.receive(ack).server?.key == created.key)
        #expect(t.table.inviteServer(created.key)?.state == .confirmed)
    }

    @Test("RFC 2543: an ACK for an INVITE that already had the To tag matches directly")
    func rfc2543ReInvite() throws {
        var t = TableClock()
        var invite = try Fixtures.inv2543()
        var to = try #require(invite.to)
        to.tag = "dialog-tag"
        invite.headers.set(.to, to)
        invite = try SIPMessage(parsing: invite.serialized())
        let key = try #require(t.receive(invite).server?.key)
        t.send(response: Fixtures.serverResponse(500, to: invite), on: key)
        #expect(t.receive(try Fixtures.ack2543(toTag: "dialog-tag")).server?.key == key)
    }

    @Test("RFC 2543: another Call-ID, CSeq or method is another transaction (badbranch)")
    func rfc2543Distinct() throws {
        var t = TableClock()
        let first = try #require(t.receive(try Fixtures.badbranch()).server)
        #expect(first.key.isRFC2543)
        #expect(t.receive(try Fixtures.badbranch()).server?.key == first.key, "retransmission")
        let other = try #require(t.receive(try Fixtures.badbranch(callID: "another-call")).server)
        #expect(other.isNew)
        #expect(other.key != first.key)
        #expect(t.table.count == 2)
    }

    @Test("RFC 2543 alias entries leave with their transaction")
    func rfc2543Cleanup() throws {
        var t = TableClock()
        let invite = try Fixtures.inv2543()
        let key = try #require(t.receive(invite).server?.key)
        t.send(response: Fixtures.serverResponse(486, to: invite, toTag: "a6c85cf"), on: key)
        t.run(until: s(40))
        #expect(t.table.count == 0)
        #expect(t.errors.map(\.error.reason) == [.timeout(.h)])
        #expect(t.receive(try Fixtures.ack2543(toTag: "a6c85cf")).isUnmatched)
    }

    // MARK: - Life of entries

    @Test("entries leave the table when their machine terminates")
    func removal() throws {
        var t = TableClock()
        let request = try Fixtures.request()
        let key = try #require(t.receive(request).server?.key)
        t.send(response: Fixtures.serverResponse(200, to: request), on: key)
        #expect(t.table.count == 1)
        t.run(until: s(31.999))
        #expect(t.table.nonInviteServer(key)?.state == .completed)
        t.run(until: s(32))
        #expect(t.table.count == 0)
        #expect(t.terminated.map(\.at) == [s(32)])
        #expect(t.queue.count == 0)
        let late = t.receive(request)
        #expect(late.server?.isNew == true, "after Timer J the same request is new again")
    }

    @Test("over a reliable transport a non-INVITE server leaves the table with its final response")
    func reliableRemoval() throws {
        var t = TableClock()
        let request = try Fixtures.request()
        let key = try #require(t.receive(request, reliability: .reliable).server?.key)
        let a = t.send(response: Fixtures.serverResponse(200, to: request), on: key)
        #expect(a?.terminates == true)
        #expect(t.table.count == 0)
        #expect(
            t.send(response: Fixtures.serverResponse(200, to: request), on: key) == nil,
            "no transaction: the caller sends statelessly")
    }

    @Test("terminate(key) ends a client INVITE in Proceeding and removes it")
    func terminateKey() throws {
        var t = TableClock()
        let invite = try Fixtures.invite()
        let key = try t.send(request: invite)
        t.receive(try Fixtures.response(180, to: invite))
        let a = t.table.terminate(.client(key)).actions
        t.apply(a, for: .client(key))
        #expect(a.terminates)
        #expect(t.table.count == 0)
        #expect(t.queue.count == 0)
        #expect(t.table.terminate(.client(key)).actions.isEmpty)
        #expect(t.receive(try Fixtures.response(200, to: invite)).isUnmatched)
    }

    @Test("timeouts and transport errors reach the TU naming the transaction")
    func errorsNameTransaction() throws {
        var t = TableClock()
        let invite = try Fixtures.invite()
        let key = try t.send(request: invite)
        let options = try t.send(request: Fixtures.request())
        let a = t.table.transportError("host unreachable", for: .client(options)).actions
        t.apply(a, for: .client(options))
        t.run(until: s(64))
        #expect(t.errors.map(\.key) == [.client(options), .client(key)])
        #expect(t.errors.map(\.error.reason) == [.transportError("host unreachable"), .timeout(.b)])
        #expect(t.errors.map(\.at) == [s(0), s(32)])
        #expect(t.table.count == 0)
    }

    @Test("a table that is full refuses new transactions")
    func limit() throws {
        var t = TableClock(.init(maxTransactions: 1))
        _ = t.receive(try Fixtures.request())
        let r = t.receive(try Fixtures.request(branch: "z9hG4bKsecond"))
        guard case .rejected(let e) = r else {
            Issue.record("expected a rejection, got \(r)")
            return
        }
        #expect(e == .tooManyTransactions(live: 1, maximum: 1))
        // A retransmission of the live one still finds it (RFC 3261 §17.2.3).
        let again = t.receive(try Fixtures.request())
        #expect(again.server?.isNew == false)
        #expect(t.table.count == 1)
        #expect(throws: TransactionTableError.tooManyTransactions(live: 1, maximum: 1)) {
            try t.table.send(request: Fixtures.invite(), reliability: .unreliable)
        }
    }

    @Test("client timeouts can reach the TU as a locally made 408")
    func timeout408() throws {
        var t = TableClock(.init(timeoutReport: .response408))
        let key = try t.send(request: Fixtures.request())
        t.run(until: s(40))
        #expect(t.errors.isEmpty)
        #expect(t.passed.map(\.message.status) == [408])
        #expect(t.passed.first?.key == .client(key))
    }
}

extension TransactionTable.Received {
    /// Whether this made a new server transaction (nil when it is no server transaction at all).
    var isNewServer: Bool? { if case .server(_, _, let isNew) = self { return isNew } else { return nil } }
}
