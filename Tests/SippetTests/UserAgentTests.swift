import Foundation
import NIOCore
import NIOPosix
import SIPDialog
import SIPSyntax
import SIPTransaction
import SIPTransport
import Sippet
import SippetTesting
import SippetUserAgent
import Testing

/// User agents on an in-memory network, each on a stack of its own at 192.0.2.x:5060.
enum Agents {
    static let offer = SIPBody.sdp(
        "v=0\r\no=alice 1 1 IN IP4 192.0.2.31\r\ns=-\r\nc=IN IP4 192.0.2.31\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n")
    static let answer = SIPBody.sdp(
        "v=0\r\no=bob 1 1 IN IP4 192.0.2.32\r\ns=-\r\nc=IN IP4 192.0.2.32\r\nt=0 0\r\nm=audio 5000 RTP/AVP 0\r\n")

    static func make(
        _ network: InMemoryNetwork, _ ip: String, configure: (inout SIPUserAgent.Configuration) -> Void = { _ in }
    ) async throws -> SIPUserAgent {
        var c = testConfiguration()
        c.validation = SIPUserAgent.validation
        c.validation.acceptedContentTypes.append("text/plain")
        let address = try SocketAddress(ipAddress: ip, port: 5060)
        let stack = SIPStack(
            name: ip, configuration: c,
            transports: [
                InMemoryTransport(
                    network: network, address: address, loop: MultiThreadedEventLoopGroup.singleton.next())
            ])
        var ua = SIPUserAgent.Configuration()
        configure(&ua)
        let agent = SIPUserAgent(stack: stack, configuration: ua)
        try await stack.start()
        return agent
    }

    /// Agents at each of `ips`, on one in-memory network.
    static func make(_ ips: String...) async throws -> [SIPUserAgent] {
        let network = InMemoryNetwork()
        var agents: [SIPUserAgent] = []
        for ip in ips { agents.append(try await make(network, ip)) }
        return agents
    }

    /// Shuts the agents' stacks down.
    static func stop(_ agents: [SIPUserAgent]) async {
        for a in agents { await a.stack.shutdown() }
    }

    /// A call from `caller` to `callee`, answered: the caller's side and the callee's.
    static func established(_ caller: SIPUserAgent, _ callee: SIPUserAgent) async throws -> (Call, Call) {
        let address = try #require(callee.stack.transports[0].localAddress?.ipAddress)
        let outgoing = try caller.call(to: URI("sip:bob@\(address)"), offer: offer)
        let answered = try #require(await nextCall(callee)).accept(answer: answer)
        return (try await outgoing.answer(), answered)
    }

    /// The provisional statuses of `outgoing` and its call, answered with ``answer``.
    static func read(_ outgoing: OutgoingCall) async -> (statuses: [Int], call: Call?) {
        var statuses: [Int] = []
        var answered: Call?
        for await event in outgoing.events {
            switch event {
            case .provisional(let r): statuses.append(r.status ?? 0)
            case .answered(let call, let ok):
                answered = call
                #expect(SIPBody(of: ok) == answer)
            case .rejected, .failed: Issue.record("\(event)")
            }
        }
        return (statuses, answered)
    }

    /// The status of the final failure `outgoing` ends with; nil when it is answered.
    static func failure(of outgoing: OutgoingCall) async -> Int? {
        do {
            _ = try await outgoing.answer()
            return nil
        } catch {
            return error.status
        }
    }

    /// The next incoming call of `agent`, or nil after 5 s.
    static func nextCall(_ agent: SIPUserAgent) async -> IncomingCall? {
        await within { () -> IncomingCall? in
            var it = agent.incomingCalls.makeAsyncIterator()
            return await it.next()
        } ?? nil
    }

    /// The first event of `stream` (nil after `limit`).
    static func first<E: Sendable>(_ stream: AsyncStream<E>, _ limit: Duration = .seconds(5)) async -> E? {
        await within(limit) { () -> E? in
            var it = stream.makeAsyncIterator()
            return await it.next()
        } ?? nil
    }

    /// `body`'s result, or nil when it takes longer than `limit` (it is cancelled).
    static func within<T: Sendable>(_ limit: Duration = .seconds(5), _ body: @escaping @Sendable () async -> T) async
        -> T?
    {
        await withTaskGroup(of: T?.self) { group in
            group.addTask { await body() }
            group.addTask {
                try? await Task.sleep(for: limit)
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first
        }
    }

    /// Answers every request of `call` with 200 (an answer for an offer) until the call ends.
    static func answerRequests(of call: Call, with body: SIPBody = answer) -> Task<[SIPMethod], Never> {
        Task {
            var seen: [SIPMethod] = []
            for await event in call.events {
                guard case .request(let r) = event, let m = r.message.method else { continue }
                seen.append(m)
                r.respond(200, body: r.body == nil ? nil : body)
            }
            return seen
        }
    }
}

@Suite("User agent (RFC 3261 §12–15 over the stack)")
struct UserAgentTests {
    @Test("A call: 180, 200 with the answer, ACK; BYE ends it on both sides")
    func callAndBye() async throws {
        let agents = try await Agents.make("192.0.2.31", "192.0.2.32")
        let (alice, bob) = (agents[0], agents[1])
        let outgoing = try alice.call(to: URI("sip:bob@192.0.2.32"), offer: Agents.offer)
        let incoming = try #require(await Agents.nextCall(bob))
        #expect(incoming.offer == Agents.offer)
        #expect(incoming.invite.hasOption("100rel", in: .supported))
        try incoming.progress()
        let bobCall = try incoming.accept(answer: Agents.answer)
        let (statuses, answered) = await Agents.read(outgoing)
        let aliceCall = try #require(answered)
        #expect(statuses.contains(180))
        #expect(aliceCall.id.callID == bobCall.id.callID)
        #expect(aliceCall.id.localTag == bobCall.id.remoteTag && aliceCall.id.remoteTag == bobCall.id.localTag)
        #expect(aliceCall.dialog.state == .confirmed && bobCall.dialog.state == .confirmed)
        #expect(aliceCall.remoteBody == Agents.answer && bobCall.remoteBody == Agents.offer)
        // answer() after the fact gives the same call.
        #expect(try await outgoing.answer() === aliceCall)
        let ok = try await aliceCall.bye()
        #expect(ok.status == 200)
        guard case .ended(let reason)? = await Agents.first(bobCall.events) else {
            Issue.record("bob's call did not end")
            return
        }
        #expect(reason == .remoteBye)
        #expect(aliceCall.isEnded && bobCall.isEnded)
        await Agents.stop(agents)
    }

    @Test("§9: a CANCEL while it rings gets 200, the INVITE 487, and the callee sees it cancelled")
    func cancel() async throws {
        let agents = try await Agents.make("192.0.2.41", "192.0.2.42")
        let (alice, bob) = (agents[0], agents[1])
        let outgoing = try alice.call(to: URI("sip:bob@192.0.2.42"), offer: Agents.offer)
        let incoming = try #require(await Agents.nextCall(bob))
        try incoming.progress()
        guard case .provisional? = await Agents.first(outgoing.events) else {
            Issue.record("no provisional")
            return
        }
        outgoing.cancel()
        guard case .cancelled(let cancel)? = await Agents.first(incoming.events) else {
            Issue.record("the callee saw no CANCEL")
            return
        }
        #expect(cancel.method == .cancel)
        #expect(await Agents.failure(of: outgoing) == 487)
        #expect(throws: CallFailure.self) { try incoming.accept(answer: Agents.answer) }
        await Agents.stop(agents)
    }

    @Test("maxPendingIncoming: a call past the calls not yet answered gets 503 with Retry-After")
    func pendingLimit() async throws {
        let network = InMemoryNetwork()
        let alice = try await Agents.make(network, "192.0.2.55")
        let bob = try await Agents.make(network, "192.0.2.56") { $0.maxPendingIncoming = 1 }
        _ = try alice.call(to: URI("sip:bob@192.0.2.56"), offer: Agents.offer)
        let first = try #require(await Agents.nextCall(bob))
        let second = try alice.call(to: URI("sip:bob@192.0.2.56"), offer: Agents.offer)
        #expect(await Agents.failure(of: second) == 503)
        try first.reject(486)
        await Agents.stop([alice, bob])
    }

    @Test("Rejected 486 and redirected 302 with the Contact")
    func rejectAndRedirect() async throws {
        let agents = try await Agents.make("192.0.2.51", "192.0.2.52")
        let (alice, bob) = (agents[0], agents[1])
        let busy = try alice.call(to: URI("sip:bob@192.0.2.52"), offer: Agents.offer)
        try #require(await Agents.nextCall(bob)).reject(486)
        #expect(await Agents.failure(of: busy) == 486)
        let moved = try alice.call(to: URI("sip:bob@192.0.2.52"), offer: Agents.offer)
        try #require(await Agents.nextCall(bob)).redirect(to: [URI("sip:bob@192.0.2.99")])
        // (A 100 Trying the stack sends first, when the answer takes over 200 ms, is skipped.)
        let outcome = await Agents.within {
            await moved.events.first { if case .provisional = $0 { false } else { true } }
        }
        guard case .rejected(let r)?? = outcome else {
            Issue.record("no redirect")
            return
        }
        #expect(r.status == 302 && r.headers.values(.contact) == ["<sip:bob@192.0.2.99>"])
        await Agents.stop(agents)
    }

    @Test("INFO, re-INVITE and UPDATE in the call reach the other side and come back answered")
    func inDialogRequests() async throws {
        let agents = try await Agents.make("192.0.2.61", "192.0.2.62")
        let (alice, bob) = (agents[0], agents[1])
        let (aliceCall, bobCall) = try await Agents.established(alice, bob)
        let seen = Agents.answerRequests(of: bobCall)
        let info = try await aliceCall.info(
            SIPBody(contentType: "application/dtmf-relay", bytes: Array("Signal=5".utf8)))
        #expect(info.status == 200)
        let offer2 = SIPBody.sdp(Agents.offer.text.replacingOccurrences(of: "4000", with: "4002"))
        let reinvite = try await aliceCall.reinvite(offer: offer2)
        #expect(reinvite.status == 200 && SIPBody(of: reinvite) == Agents.answer)
        #expect(bobCall.remoteBody == offer2)
        let update = try await aliceCall.update()
        #expect(update.status == 200)
        // From the callee's side too: its first CSeq in the dialog, and the caller answers.
        let back = Agents.answerRequests(of: aliceCall)
        #expect(try await bobCall.info(SIPBody(contentType: "text/plain", bytes: [0x41])).status == 200)
        #expect(try await bobCall.bye().status == 200)
        #expect(await seen.value == [.info, .invite, .update])
        #expect(await back.value == [.info])
        #expect(aliceCall.isEnded)
        await Agents.stop(agents)
    }

    @Test("RFC 3262: a reliable 183 with early media is PRACKed by the caller; the 200 follows the PRACK")
    func reliableProvisional() async throws {
        let agents = try await Agents.make("192.0.2.67", "192.0.2.68")
        let (alice, bob) = (agents[0], agents[1])
        let outgoing = try alice.call(to: URI("sip:bob@192.0.2.68"), offer: Agents.offer)
        let incoming = try #require(await Agents.nextCall(bob))
        try incoming.progress(183, body: Agents.answer, reliable: true)
        // The 200 is held until the 183's PRACK, which the caller's agent sends by itself.
        let bobCall = try incoming.accept(answer: Agents.answer)
        let (statuses, call) = await Agents.read(outgoing)
        let aliceCall = try #require(call)
        #expect(statuses.filter { $0 == 183 }.count == 1)
        #expect(aliceCall.dialog.state == .confirmed)
        #expect(try await bobCall.bye().status == 200)
        await Agents.stop(agents)
    }

    @Test("RFC 3264 §4: a call with no offer; the 2xx carries the callee's, the ACK waits for the caller's answer")
    func lateOffer() async throws {
        let agents = try await Agents.make("192.0.2.65", "192.0.2.66")
        let (alice, bob) = (agents[0], agents[1])
        let outgoing = try alice.call(to: URI("sip:bob@192.0.2.66"), offer: nil)
        let incoming = try #require(await Agents.nextCall(bob))
        #expect(incoming.offer == nil)
        let bobCall = try incoming.accept(answer: Agents.answer)
        let aliceCall = try await outgoing.answer()
        #expect(aliceCall.needsAnswer && aliceCall.remoteBody == Agents.answer)
        try aliceCall.acknowledge(answer: Agents.offer)
        #expect(!aliceCall.needsAnswer)
        guard case .acknowledged(let answer)? = await Agents.first(bobCall.events) else {
            Issue.record("the callee saw no answer in the ACK")
            return
        }
        #expect(answer == Agents.offer && bobCall.remoteBody == Agents.offer)
        #expect(try await aliceCall.bye().status == 200)
        await Agents.stop(agents)
    }

    @Test("A dialog saved as JSON rebuilds the call on a restarted agent, which can still send BYE")
    func restore() async throws {
        let network = InMemoryNetwork()
        let alice = try await Agents.make(network, "192.0.2.71")
        let bob = try await Agents.make(network, "192.0.2.72")
        let (aliceCall, bobCall) = try await Agents.established(alice, bob)
        let saved = try JSONEncoder().encode(aliceCall.dialog)
        await alice.stack.shutdown()
        let restarted = try await Agents.make(network, "192.0.2.71")
        let call = restarted.restore(try JSONDecoder().decode(Dialog.self, from: saved))
        #expect(try await call.bye().status == 200)
        guard case .ended(.remoteBye)? = await Agents.first(bobCall.events) else {
            Issue.record("bob's call did not end by BYE")
            return
        }
        await Agents.stop([restarted, bob])
    }
}

@Suite("User agent against a raw peer: 2xx retransmission and glare")
struct UserAgentPeerTests {
    static func invite(callID: String, to ua: String, from peer: String) -> String {
        "INVITE sip:ua@\(ua) SIP/2.0\r\nVia: SIP/2.0/UDP \(peer);branch=z9hG4bK-\(callID)-1\r\nMax-Forwards: 70\r\n"
            + "From: <sip:peer@\(peer)>;tag=p\r\nTo: <sip:ua@\(ua)>\r\nCall-ID: \(callID)\r\nCSeq: 1 INVITE\r\n"
            + "Contact: <sip:peer@\(peer)>\r\nContent-Type: application/sdp\r\nContent-Length: \(Agents.offer.bytes.count)"
            + "\r\n\r\n\(Agents.offer.text)"
    }

    @Test("§13.3.1.4: a 2xx with no ACK is sent again and again, then BYE after 64·T1; the call ends .noAck")
    func noAck() async throws {
        let network = InMemoryNetwork()
        let ua = try await Agents.make(network, "192.0.2.81")
        let peer = try ProxyTests.Peer(network, "192.0.2.82")
        try await peer.transport.start(delegate: peer)
        peer.send(
            Self.invite(callID: "noack-1", to: "192.0.2.81", from: "192.0.2.82"),
            to: ua.stack.transports[0].localAddress!)
        let call = try #require(await Agents.nextCall(ua)).accept(answer: Agents.answer)
        // T1 = 50 ms: 64·T1 = 3.2 s.
        guard case .ended(let reason)? = await Agents.first(call.events, .seconds(8)) else {
            Issue.record("the call did not end")
            return
        }
        #expect(reason == .noAck)
        // 0, T1, 3·T1, 7·T1, then every T2 (400 ms) up to 3.2 s: 11 sends at least, the first
        // one included.
        #expect(peer.responses(200).count >= 10)
        #expect(await peer.wait { $0.requests(.bye).count == 1 })
        #expect(peer.requests(.bye).first?.requestURI?.description == "sip:peer@192.0.2.82")
        await ua.stack.shutdown()
        await peer.transport.shutdown()
    }

    @Test("RFC 3262 §3: a reliable 180 is sent again from T1 doubling until the PRACK (200); the held 200 then goes")
    func reliableUntilPRACK() async throws {
        let network = InMemoryNetwork()
        let ua = try await Agents.make(network, "192.0.2.85")
        let peer = try ProxyTests.Peer(network, "192.0.2.86")
        try await peer.transport.start(delegate: peer)
        let uaAddress = try #require(ua.stack.transports[0].localAddress)
        let invite = Self.invite(callID: "rel-1", to: "192.0.2.85", from: "192.0.2.86")
            .replacingOccurrences(of: "CSeq: 1 INVITE\r\n", with: "CSeq: 1 INVITE\r\nRequire: 100rel\r\n")
        peer.send(invite, to: uaAddress)
        let incoming = try #require(await Agents.nextCall(ua))
        try incoming.progress()  // reliable: the INVITE requires 100rel
        _ = try incoming.accept(answer: Agents.answer)
        // T1 = 50 ms: copies at 0, 50, 150, 350 ms …; no 200 before the PRACK.
        #expect(await peer.wait { $0.responses(180).count >= 3 })
        #expect(peer.responses(200).isEmpty)
        let ringing = try #require(peer.responses(180).first)
        #expect(ringing.hasOption("100rel", in: .require))
        let rseq = try #require(ringing.headers[.rseq])
        let tag = try #require(ringing.toTag)
        peer.send(
            "PRACK sip:ua@192.0.2.85 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.86;branch=z9hG4bK-rel-pr\r\nMax-Forwards: 70\r\n"
                + "From: <sip:peer@192.0.2.86>;tag=p\r\nTo: <sip:ua@192.0.2.85>;tag=\(tag)\r\nCall-ID: rel-1\r\n"
                + "CSeq: 2 PRACK\r\nRAck: \(rseq) 1 INVITE\r\nContent-Length: 0\r\n\r\n", to: uaAddress)
        #expect(await peer.wait { $0.responses(200).contains { $0.cseq?.method == .prack } })
        #expect(await peer.wait { $0.responses(200).contains { $0.cseq?.method == .invite } })
        let copies = peer.responses(180).count
        try await Task.sleep(for: .milliseconds(300))
        #expect(peer.responses(180).count == copies)
        await ua.stack.shutdown()
        await peer.transport.shutdown()
    }

    @Test("RFC 3262 §3: no PRACK in 64·T1: the INVITE gets 504")
    func reliableGivenUp() async throws {
        let network = InMemoryNetwork()
        let ua = try await Agents.make(network, "192.0.2.87")
        let peer = try ProxyTests.Peer(network, "192.0.2.88")
        try await peer.transport.start(delegate: peer)
        let invite = Self.invite(callID: "rel-2", to: "192.0.2.87", from: "192.0.2.88")
            .replacingOccurrences(of: "CSeq: 1 INVITE\r\n", with: "CSeq: 1 INVITE\r\nSupported: 100rel\r\n")
        peer.send(invite, to: try #require(ua.stack.transports[0].localAddress))
        let incoming = try #require(await Agents.nextCall(ua))
        try incoming.progress(180, reliable: true)
        #expect(await peer.wait(.seconds(8)) { !$0.responses(504).isEmpty })
        #expect(throws: CallFailure.self) { try incoming.accept(answer: Agents.answer) }
        await ua.stack.shutdown()
        await peer.transport.shutdown()
    }

    @Test(
        "§14.2 glare: the peer's re-INVITE crossing the agent's gets 491; the agent's, after 491, is sent again with a higher CSeq and answered"
    )
    func glare() async throws {
        let network = InMemoryNetwork()
        let ua = try await Agents.make(network, "192.0.2.91")
        let peer = try ProxyTests.Peer(network, "192.0.2.92")
        try await peer.transport.start(delegate: peer)
        let uaAddress = ua.stack.transports[0].localAddress!
        peer.send(Self.invite(callID: "glare-1", to: "192.0.2.91", from: "192.0.2.92"), to: uaAddress)
        let call = try #require(await Agents.nextCall(ua)).accept(answer: Agents.answer)
        #expect(await peer.wait { !$0.responses(200).isEmpty })
        let ok = try #require(peer.responses(200).first)
        let tag = try #require(ok.toTag)
        func inDialog(_ method: SIPMethod, cseq: Int, branch: String, body: String = "") -> String {
            "\(method) sip:ua@192.0.2.91 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.92;branch=z9hG4bK-\(branch)\r\n"
                + "Max-Forwards: 70\r\nFrom: <sip:peer@192.0.2.92>;tag=p\r\nTo: <sip:ua@192.0.2.91>;tag=\(tag)\r\n"
                + "Call-ID: glare-1\r\nCSeq: \(cseq) \(method)\r\nContact: <sip:peer@192.0.2.92>\r\n"
                + (body.isEmpty ? "" : "Content-Type: application/sdp\r\n")
                + "Content-Length: \(body.utf8.count)\r\n\r\n\(body)"
        }
        peer.send(inDialog(.ack, cseq: 1, branch: "ack1"), to: uaAddress)
        // The agent's re-INVITE goes out; the peer does not answer it yet, and sends its own.
        let reinvite = Task { try await call.reinvite(offer: Agents.answer) }
        #expect(await peer.wait { !$0.requests(.invite).isEmpty })
        let first = try #require(peer.requests(.invite).first)
        peer.send(inDialog(.invite, cseq: 2, branch: "re2", body: Agents.offer.text), to: uaAddress)
        #expect(await peer.wait { !$0.responses(491).isEmpty })
        #expect(peer.responses(491).first?.cseq?.sequence == 2)
        // The peer answers the agent's re-INVITE 491 too (the stack ACKs it).
        var busy = first.makeResponse(status: 491, toTag: "p")
        _ = busy.headers.remove(.contentLength)
        peer.send(String(decoding: busy.serialized(), as: UTF8.self), to: uaAddress)
        // §14.1: the agent did not make the Call-ID, so it tries again within 0 to 2 s.
        // (Copies of the first, retransmitted over UDP before the 491, do not count.)
        let firstCSeq = try #require(first.cseq?.sequence)
        let retried: (ProxyTests.Peer) -> SIPMessage? = {
            $0.requests(.invite).first { ($0.cseq?.sequence ?? 0) > firstCSeq }
        }
        #expect(await peer.wait(.seconds(4)) { retried($0) != nil })
        let again = try #require(retried(peer))
        var accepted = again.makeResponse(status: 200, toTag: "p")
        accepted.headers.append(.contact, "<sip:peer@192.0.2.92>")
        peer.send(String(decoding: accepted.serialized(), as: UTF8.self), to: uaAddress)
        let final = try await reinvite.value
        #expect(final.status == 200)
        #expect(await peer.wait { $0.requests(.ack).contains { $0.cseq?.sequence == again.cseq?.sequence } })
        await ua.stack.shutdown()
        await peer.transport.shutdown()
    }
}

@Suite("Writing a B2BUA (DocC article)")
struct B2BUATests {
    @Test("A bridged call: ringing and the answer pass back, the callee's BYE ends the caller's leg")
    func bridged() async throws {
        let agents = try await Agents.make("192.0.2.101", "192.0.2.102", "192.0.2.103")
        let (alice, b2bua, bob) = (agents[0], agents[1], agents[2])
        let outgoing = try alice.call(
            to: URI("sip:bob@192.0.2.102"), from: NameAddress("Alice <sip:alice@a.example>"), offer: Agents.offer)
        let incoming = try #require(await Agents.nextCall(b2bua))
        let bridge = Task { await B2BUA.bridge(incoming, to: try! URI("sip:bob@192.0.2.103")) }
        let leg = try #require(await Agents.nextCall(bob))
        // The callee's leg is a call of its own, with the caller's offer and From user.
        #expect(leg.invite.callID != outgoing.invite.callID)
        #expect(leg.offer == Agents.offer)
        #expect(leg.invite.from?.uri.description == "sip:alice@a.example")
        try leg.progress(180)
        let bobCall = try leg.accept(answer: Agents.answer)
        let (statuses, aliceCall) = await Agents.read(outgoing)
        #expect(statuses.contains(180))
        let call = try #require(aliceCall)
        // An INFO from the caller reaches the callee, and its answer comes back.
        let seen = Agents.answerRequests(of: bobCall)
        #expect(try await call.info(SIPBody(contentType: "text/plain", bytes: [0x31])).status == 200)
        #expect(try await bobCall.bye().status == 200)
        guard case .ended(.remoteBye)? = await Agents.first(call.events) else {
            Issue.record("the caller's leg did not end by BYE")
            return
        }
        #expect(await bridge.value == .bridged(endedBy: .callee, reason: .remoteBye))
        #expect(await seen.value == [.info])
        await Agents.stop(agents)
    }

    @Test(
        "A late offer through the B2BUA: the callee's offer reaches the caller, whose answer in the ACK reaches the callee"
    )
    func lateOffer() async throws {
        let agents = try await Agents.make("192.0.2.121", "192.0.2.122", "192.0.2.123")
        let (alice, b2bua, bob) = (agents[0], agents[1], agents[2])
        let outgoing = try alice.call(to: URI("sip:bob@192.0.2.122"), offer: nil)
        let incoming = try #require(await Agents.nextCall(b2bua))
        let bridge = Task { await B2BUA.bridge(incoming, to: try! URI("sip:bob@192.0.2.123")) }
        let leg = try #require(await Agents.nextCall(bob))
        #expect(leg.offer == nil)
        let bobCall = try leg.accept(answer: Agents.answer)
        let aliceCall = try await outgoing.answer()
        #expect(aliceCall.needsAnswer && aliceCall.remoteBody == Agents.answer)
        try aliceCall.acknowledge(answer: Agents.offer)
        guard case .acknowledged(let answer)? = await Agents.first(bobCall.events) else {
            Issue.record("the callee saw no answer in its ACK")
            return
        }
        #expect(answer == Agents.offer)
        #expect(try await aliceCall.bye().status == 200)
        #expect(await bridge.value == .bridged(endedBy: .caller, reason: .remoteBye))
        await Agents.stop(agents)
    }

    @Test("The caller's CANCEL cancels the callee's leg; a rejection passes back with its status")
    func cancelAndReject() async throws {
        let agents = try await Agents.make("192.0.2.111", "192.0.2.112", "192.0.2.113")
        let (alice, b2bua, bob) = (agents[0], agents[1], agents[2])
        let target = try URI("sip:bob@192.0.2.113")
        let ringing = try alice.call(to: URI("sip:bob@192.0.2.112"), offer: Agents.offer)
        let first = try #require(await Agents.nextCall(b2bua))
        let bridge = Task { await B2BUA.bridge(first, to: target) }
        let leg = try #require(await Agents.nextCall(bob))
        try leg.progress(180)
        guard case .provisional? = await Agents.first(ringing.events) else {
            Issue.record("no ringing passed back")
            return
        }
        ringing.cancel()
        guard case .cancelled? = await Agents.first(leg.events) else {
            Issue.record("the callee's leg was not cancelled")
            return
        }
        let outcome = await bridge.value
        #expect(outcome == .cancelled || outcome == .rejected(status: 487))
        #expect(await Agents.failure(of: ringing) == 487)
        let busy = try alice.call(to: URI("sip:bob@192.0.2.112"), offer: Agents.offer)
        let second = try #require(await Agents.nextCall(b2bua))
        let bridge2 = Task { await B2BUA.bridge(second, to: target) }
        try #require(await Agents.nextCall(bob)).reject(486)
        #expect(await Agents.failure(of: busy) == 486)
        #expect(await bridge2.value == .rejected(status: 486))
        await Agents.stop(agents)
    }

    @Test("The article holds the example B2BUA as it is")
    func articleHoldsTheExample() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let article = try String(
            contentsOf: root.appendingPathComponent("Sources/SippetUserAgent/SippetUserAgent.docc/WritingAB2BUA.md"),
            encoding: .utf8)
        let example = try String(
            contentsOf: root.appendingPathComponent("Sources/b2bua-example/main.swift"), encoding: .utf8)
        #expect(article.contains("```swift\n" + example + "```\n"))
        let lines = example.split(separator: "\n", omittingEmptySubsequences: false).filter {
            !$0.isEmpty && !$0.hasPrefix("//") && !$0.hasPrefix("import")
        }
        #expect(lines.count <= 32, "the example is about thirty lines of code")
    }
}
