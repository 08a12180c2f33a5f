import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import SIPSyntax
import SIPTransaction
import SIPTransport
import Sippet
import SippetEndpoint
import SippetProxy
import SippetTesting
import Testing

/// RFC 3261 §16 rule by rule: a proxy on the in-memory network between raw peers that send
/// requests and responses as text and record what reaches them.
@Suite("Proxy (RFC 3261 §16)")
struct ProxyTests {
    /// A peer: an in-memory transport that records what arrives.
    final class Peer: SIPTransportDelegate {
        let transport: InMemoryTransport
        let address: SocketAddress
        private let got = NIOLockedValueBox<[SIPMessage]>([])

        init(_ network: InMemoryNetwork, _ ip: String, kind: SIPTransportKind = .udp) throws {
            address = try SocketAddress(ipAddress: ip, port: 5060)
            transport = InMemoryTransport(
                network: network, address: address, kind: kind, loop: MultiThreadedEventLoopGroup.singleton.next())
        }

        func transport(_ transport: any SIPTransport, received m: SIPReceivedMessage) {
            if let message = try? SIPMessage(parsing: m.bytes) { got.withLockedValue { $0.append(message) } }
        }
        func transport(_ transport: any SIPTransport, observed event: SIPTransportEvent) {}

        var messages: [SIPMessage] { got.withLockedValue { $0 } }
        func requests(_ method: SIPMethod) -> [SIPMessage] { messages.filter { $0.method == method } }
        func responses(_ status: Int) -> [SIPMessage] { messages.filter { $0.status == status } }

        func send(_ text: String, to: SocketAddress) {
            transport.send(Array(text.utf8), to: SIPTransportTarget(address: to), completion: nil)
        }

        func wait(_ timeout: Duration = .seconds(5), until condition: (Peer) -> Bool) async -> Bool {
            let deadline = ContinuousClock.now + timeout
            while ContinuousClock.now < deadline {
                if condition(self) { return true }
                try? await Task.sleep(for: .milliseconds(5))
            }
            return condition(self)
        }
    }

    /// A core that proxies every request (but CANCEL and ACK) to fixed targets, as a user's
    /// routing core would.
    final class RoutingCore: SIPCore {
        let targets: [ProxyTarget]
        let options: ProxyOptions
        let stateless: Bool
        let proxy: NIOLockedValueBox<SIPProxy?> = NIOLockedValueBox(nil)
        init(targets: [ProxyTarget], options: ProxyOptions, stateless: Bool = false) {
            self.targets = targets
            self.options = options
            self.stateless = stateless
        }
        func receiveRequest(_ request: SIPMessage, key: ServerTransactionKey?, stack: SIPStack) {
            guard let proxy = proxy.withLockedValue({ $0 }) else { return }
            let isLocal: (String, Int?) -> Bool = { stack.isLocal(host: $0, port: $1) }
            if stateless {
                _ = try? proxy.forwardStatelessly(request, to: targets[0])
                return
            }
            if request.method == .cancel, let key {
                proxy.cancel(request, key: key)
                return
            }
            if let rejection = ProxyRules.check(request, isLocal: isLocal) {
                _ = try? stack.send(rejection)
                return
            }
            var r = request
            ProxyRules.processRoutes(&r, isLocal: isLocal)
            proxy.proxy(r, key: key, to: targets, options: options)
        }
        func receiveResponse(_ response: SIPMessage, key: ClientTransactionKey?, stack: SIPStack) {
            proxy.withLockedValue { $0 }?.receiveResponse(response, key: key)
        }
        func receiveError(_ error: SIPStackError, key: TransactionKey, stack: SIPStack) {
            proxy.withLockedValue { $0 }?.receiveError(error, key: key)
        }
    }

    struct Rig {
        let network: InMemoryNetwork
        let stack: SIPStack
        let proxyAddress: SocketAddress
        let caller: Peer
        let callees: [Peer]

        static func start(
            targets: (_ callees: [Peer]) -> [ProxyTarget], callees count: Int = 2,
            options: ProxyOptions = ProxyOptions(), tcpToo: Bool = false, stateless: Bool = false
        ) async throws -> Rig {
            let network = InMemoryNetwork()
            let group = MultiThreadedEventLoopGroup.singleton
            let proxyAddress = try SocketAddress(ipAddress: "10.0.0.1", port: 5060)
            var transports: [any SIPTransport] = [
                InMemoryTransport(network: network, address: proxyAddress, loop: group.next())
            ]
            if tcpToo {
                transports.append(
                    InMemoryTransport(
                        network: network, address: try SocketAddress(ipAddress: "10.0.0.1", port: 5061), kind: .tcp,
                        loop: group.next()))
            }
            var configuration = testConfiguration()
            configuration.validation = .proxy
            configuration.validation.allowedMethods = SIPMethod.standard
            configuration.statelessRequests = stateless
            let stack = SIPStack(name: "proxy", configuration: configuration, transports: transports)
            let caller = try Peer(network, "10.0.0.2")
            let callees = try (0..<count).map { try Peer(network, "10.0.0.\(3 + $0)") }
            let core = RoutingCore(targets: targets(callees), options: options, stateless: stateless)
            core.proxy.withLockedValue { $0 = SIPProxy(stack: stack) }
            stack.register(core: core)
            try await stack.start()
            for p in [caller] + callees { try await p.transport.start(delegate: p) }
            return Rig(network: network, stack: stack, proxyAddress: proxyAddress, caller: caller, callees: callees)
        }

        func stop() async {
            await stack.shutdown()
            for p in [caller] + callees { await p.transport.shutdown() }
        }

        /// An INVITE from the caller to sip:bob@10.0.0.1.
        func invite(callID: String = SIPIdentifiers.callID(), extra: String = "", maxForwards: Int = 70) -> String {
            "INVITE sip:bob@10.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.2:5060;branch=\(SIPIdentifiers.branch())\r\n"
                + "Max-Forwards: \(maxForwards)\r\nFrom: <sip:alice@10.0.0.2>;tag=a1\r\nTo: <sip:bob@10.0.0.1>\r\n"
                + "Call-ID: \(callID)\r\nCSeq: 1 INVITE\r\nContact: <sip:alice@10.0.0.2>\r\n\(extra)Content-Length: 0\r\n\r\n"
        }

        /// `request` answered by `peer` with `status` (its Vias, From, To with `tag`, Call-ID, CSeq).
        func answer(
            _ request: SIPMessage, _ status: Int, from peer: Peer, tag: String = "b1",
            extra: [(SIPHeaderName, String)] = []
        ) {
            var r = request.makeResponse(status: status, toTag: status == 100 ? nil : tag)
            for (n, v) in extra { r.headers.append(n, v) }
            peer.send(String(decoding: r.serialized(), as: UTF8.self), to: proxyAddress)
        }
    }

    static func uri(_ peer: Peer, user: String = "bob") -> ProxyTarget {
        ProxyTarget(uri: try! URI("sip:\(user)@\(peer.address.ipAddress!)"))
    }

    @Test(
        "§16.6: the copy has the target as Request-URI, Max-Forwards one less, Record-Route with lr on top, a new top Via with a fresh branch above the caller's"
    )
    func forwarding() async throws {
        let rig = try await Rig.start(targets: { [Self.uri($0[0])] }, callees: 1)
        rig.caller.send(rig.invite(maxForwards: 70), to: rig.proxyAddress)
        #expect(await rig.callees[0].wait { !$0.requests(.invite).isEmpty })
        let copy = try #require(rig.callees[0].requests(.invite).first)
        #expect(copy.requestURI?.description == "sip:bob@10.0.0.3")
        #expect(copy.maxForwards == 69)
        #expect(copy.headers.values(.recordRoute).first == "<sip:10.0.0.1:5060;lr>")
        let vias = try copy.headers.all(.via)
        #expect(vias.count == 2)
        #expect(vias[0].host.text == "10.0.0.1")
        #expect(vias[0].branch?.hasPrefix("z9hG4bK") == true)
        #expect(vias[1].host.text == "10.0.0.2")
        await rig.stop()
    }

    @Test("§16.3: Max-Forwards 0 gets 483; a Proxy-Require gets 420 with Unsupported naming it")
    func checks() async throws {
        let rig = try await Rig.start(targets: { [Self.uri($0[0])] }, callees: 1)
        rig.caller.send(rig.invite(maxForwards: 0), to: rig.proxyAddress)
        rig.caller.send(rig.invite(extra: "Proxy-Require: foo\r\n"), to: rig.proxyAddress)
        #expect(await rig.caller.wait { !$0.responses(483).isEmpty && !$0.responses(420).isEmpty })
        #expect(rig.caller.responses(420).first?.headers[.unsupported] == "foo")
        #expect(rig.callees[0].requests(.invite).isEmpty)
        await rig.stop()
    }

    @Test(
        "§16.3 item 4: a request that comes back with this proxy's branch for the same request loops (482); a spiral with another Request-URI does not"
    )
    func loops() throws {
        let invite = try SIPMessage(
            parsing:
                "INVITE sip:bob@10.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.2;branch=z9hG4bK1\r\nMax-Forwards: 70\r\n"
                + "From: <sip:a@x>;tag=1\r\nTo: <sip:b@x>\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n")
        let branch = ProxyRules.branch(for: invite, unique: "1")
        let isLocal: (String, Int?) -> Bool = { h, _ in h == "10.0.0.1" }
        var back = invite
        back.headers.insert(.via, "SIP/2.0/UDP 10.0.0.1:5060;branch=\(branch)", at: 0)
        #expect(ProxyRules.isLoop(back, isLocal: isLocal))
        #expect(ProxyRules.check(back, isLocal: isLocal)?.status == 482)
        var spiral = back
        if case .request(var line) = spiral.startLine {
            line.uri = try URI("sip:carol@10.0.0.1")
            spiral.startLine = .request(line)
        }
        #expect(!ProxyRules.isLoop(spiral, isLocal: isLocal))
    }

    @Test(
        "§16.4: a Route naming this proxy is removed (both when it record-routed twice); a strict router's Request-URI is restored from the last Route"
    )
    func routes() throws {
        let isLocal: (String, Int?) -> Bool = { h, _ in h == "10.0.0.1" }
        var twice = try SIPMessage(
            parsing: "BYE sip:bob@10.0.0.3 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.2;branch=z9hG4bK1\r\n"
                + "Route: <sip:10.0.0.1:5061;transport=tcp;lr>, <sip:10.0.0.1:5060;lr>\r\nRoute: <sip:10.0.0.9;lr>\r\n"
                + "From: <sip:a@x>;tag=1\r\nTo: <sip:b@x>;tag=2\r\nCall-ID: c\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n"
        )
        #expect(ProxyRules.processRoutes(&twice, isLocal: isLocal))
        #expect(twice.headers.values(.route) == ["<sip:10.0.0.9;lr>"])
        var strict = try SIPMessage(
            parsing: "BYE sip:10.0.0.1;lr SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.2;branch=z9hG4bK1\r\n"
                + "Route: <sip:bob@10.0.0.3>\r\n"
                + "From: <sip:a@x>;tag=1\r\nTo: <sip:b@x>;tag=2\r\nCall-ID: c\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n"
        )
        ProxyRules.processRoutes(&strict, isLocal: isLocal)
        #expect(strict.requestURI?.description == "sip:bob@10.0.0.3")
        #expect(strict.headers.values(.route).isEmpty)
    }

    @Test(
        "§16.7: 100 stays; 180 goes up without the proxy's Via; a 2xx goes up at once and the other branch is cancelled after its provisional"
    )
    func responses() async throws {
        let rig = try await Rig.start(targets: { [Self.uri($0[0]), Self.uri($0[1])] })
        rig.caller.send(rig.invite(), to: rig.proxyAddress)
        #expect(await rig.callees[1].wait { !$0.requests(.invite).isEmpty })
        #expect(await rig.callees[0].wait { !$0.requests(.invite).isEmpty })
        let a = try #require(rig.callees[0].requests(.invite).first)
        let b = try #require(rig.callees[1].requests(.invite).first)
        rig.answer(a, 100, from: rig.callees[0])
        rig.answer(a, 180, from: rig.callees[0], tag: "ta")
        rig.answer(b, 180, from: rig.callees[1], tag: "tb")
        #expect(await rig.caller.wait { $0.responses(180).count >= 2 })
        #expect(rig.caller.responses(100).allSatisfy { $0.headers.count(.via) == 1 })
        #expect(rig.caller.responses(180).allSatisfy { $0.headers.count(.via) == 1 })
        rig.answer(a, 200, from: rig.callees[0], tag: "ta")
        #expect(await rig.caller.wait { !$0.responses(200).isEmpty })
        #expect(await rig.callees[1].wait { !$0.requests(.cancel).isEmpty })
        let cancel = try #require(rig.callees[1].requests(.cancel).first)
        #expect(cancel.topVia?.branch == b.topVia?.branch)
        await rig.stop()
    }

    @Test(
        "§16.7 item 6: the best final — a 6xx wins over a 4xx; a lone 503 goes up as 500; 401 and 407 challenges are merged into one response",
        arguments: [([486, 603], 603), ([503], 500), ([401, 407], 401)])
    func bestResponse(statuses: [Int], expected: Int) async throws {
        let rig = try await Rig.start(
            targets: { c in statuses.indices.map { Self.uri(c[$0]) } }, callees: statuses.count)
        rig.caller.send(rig.invite(), to: rig.proxyAddress)
        for (i, status) in statuses.enumerated() {
            let peer = rig.callees[i]
            #expect(await peer.wait { !$0.requests(.invite).isEmpty })
            let extra: [(SIPHeaderName, String)] =
                status == 401
                ? [(.wwwAuthenticate, "Digest realm=\"a\", nonce=\"1\"")]
                : status == 407 ? [(.proxyAuthenticate, "Digest realm=\"b\", nonce=\"2\"")] : []
            rig.answer(peer.requests(.invite)[0], status, from: peer, tag: "t\(i)", extra: extra)
        }
        #expect(await rig.caller.wait { !$0.responses(expected).isEmpty })
        let final = try #require(rig.caller.responses(expected).first)
        // One final goes up (the server transaction may send it again until an ACK that this raw
        // peer never sends, §17.2.1): every final the caller got is that one.
        #expect(Set(rig.caller.messages.compactMap { $0.status }.filter { $0 >= 300 }) == [expected])
        if expected == 401 {
            #expect(final.headers.values(.wwwAuthenticate).count == 1)
            #expect(final.headers.values(.proxyAuthenticate).count == 1)
        }
        await rig.stop()
    }

    @Test("§16.6 item 1: q-values in order — the lower q is tried only when the higher one failed")
    func sequential() async throws {
        let rig = try await Rig.start(targets: { c in
            [ProxyTarget(uri: Self.uri(c[0]).uri, q: 0.5), ProxyTarget(uri: Self.uri(c[1]).uri, q: 1.0)]
        })
        rig.caller.send(rig.invite(), to: rig.proxyAddress)
        #expect(await rig.callees[1].wait { !$0.requests(.invite).isEmpty })
        try await Task.sleep(for: .milliseconds(100))
        #expect(rig.callees[0].requests(.invite).isEmpty)
        rig.answer(rig.callees[1].requests(.invite)[0], 486, from: rig.callees[1])
        #expect(await rig.callees[0].wait { !$0.requests(.invite).isEmpty })
        rig.answer(rig.callees[0].requests(.invite)[0], 200, from: rig.callees[0])
        #expect(await rig.caller.wait { !$0.responses(200).isEmpty })
        #expect(rig.caller.responses(486).isEmpty)
        await rig.stop()
    }

    @Test(
        "§16.10: CANCEL gets 200 at once and goes to every pending branch that has sent a provisional; the 487 goes up")
    func cancel() async throws {
        let rig = try await Rig.start(targets: { [Self.uri($0[0]), Self.uri($0[1])] })
        let invite = rig.invite(callID: "cancel-1")
        rig.caller.send(invite, to: rig.proxyAddress)
        for p in rig.callees { #expect(await p.wait { !$0.requests(.invite).isEmpty }) }
        for (i, p) in rig.callees.enumerated() { rig.answer(p.requests(.invite)[0], 180, from: p, tag: "t\(i)") }
        #expect(await rig.caller.wait { $0.responses(180).count >= 2 })
        let sent = try SIPMessage(parsing: invite)
        let cancel = try #require(sent.makeCancel())
        rig.caller.send(String(decoding: cancel.serialized(), as: UTF8.self), to: rig.proxyAddress)
        #expect(await rig.caller.wait { $0.messages.contains { $0.status == 200 && $0.cseq?.method == .cancel } })
        for p in rig.callees { #expect(await p.wait { !$0.requests(.cancel).isEmpty }) }
        for (i, p) in rig.callees.enumerated() { rig.answer(p.requests(.invite)[0], 487, from: p, tag: "t\(i)") }
        #expect(await rig.caller.wait { !$0.responses(487).isEmpty })
        await rig.stop()
    }

    @Test("§16.6 item 11, Timer C: a branch with a provisional is cancelled when it fires; one without ends as 408")
    func timerC() async throws {
        // Timer C runs from the INVITE: the 180 must reach the proxy before it first fires, so
        // this branch's Timer C (2 s) leaves the 180 ample time even on a loaded machine; it then
        // starts again from the 180 and fires before Timer B could matter (the branch is in
        // Proceeding). The events say when the 180 arrived.
        var ringing = ProxyOptions()
        ringing.timerC = .seconds(2)
        let arrived = NIOLockedValueBox<ContinuousClock.Instant?>(nil)
        ringing.events = { event in
            if case .response(_, let r) = event, r.status == 180 { arrived.withLockedValue { $0 = $0 ?? .now } }
        }
        let rig = try await Rig.start(targets: { [Self.uri($0[0])] }, callees: 1, options: ringing)
        rig.caller.send(rig.invite(), to: rig.proxyAddress)
        #expect(await rig.callees[0].wait { !$0.requests(.invite).isEmpty })
        rig.answer(rig.callees[0].requests(.invite)[0], 180, from: rig.callees[0])
        #expect(await rig.callees[0].wait(.seconds(6)) { !$0.requests(.cancel).isEmpty })
        #expect(arrived.withLockedValue { $0 } != nil)
        await rig.stop()

        var options = ProxyOptions()
        options.timerC = .milliseconds(300)
        let silent = try await Rig.start(targets: { [Self.uri($0[0])] }, callees: 1, options: options)
        silent.caller.send(silent.invite(), to: silent.proxyAddress)
        #expect(await silent.caller.wait(.seconds(3)) { !$0.responses(408).isEmpty })
        await silent.stop()
    }

    @Test(
        "§16.6 item 4: a request that changes transport (UDP in, TCP out) is record-routed twice, the outbound side on top"
    )
    func doubleRecordRoute() async throws {
        let rig = try await Rig.start(
            targets: { _ in [ProxyTarget(uri: try! URI("sip:bob@10.0.0.7;transport=tcp"))] }, callees: 0, tcpToo: true)
        let tcpPeer = try Peer(rig.network, "10.0.0.7", kind: .tcp)
        try await tcpPeer.transport.start(delegate: tcpPeer)
        rig.caller.send(rig.invite(), to: rig.proxyAddress)
        #expect(await tcpPeer.wait { !$0.requests(.invite).isEmpty })
        let copy = try #require(tcpPeer.requests(.invite).first)
        #expect(
            copy.headers.values(.recordRoute) == ["<sip:10.0.0.1:5061;transport=tcp;lr>", "<sip:10.0.0.1:5060;lr>"])
        #expect(copy.topVia?.transport == "TCP")
        await tcpPeer.transport.shutdown()
        await rig.stop()
    }

    @Test(
        "RFC 7118 §5, RFC 5626: a WebSocket client registered over WS is reached over its connection when a UDP caller calls it"
    )
    func webSocketFlow() async throws {
        let proxyStack = SIPStack(
            name: "proxy", configuration: testConfiguration(),
            transports: [UDPTransport(host: "127.0.0.1", port: 0), try WebSocketTransport(host: "127.0.0.1", port: 0)])
        let core = RegistrarProxyCore(stack: proxyStack)
        proxyStack.register(core: core)
        try await proxyStack.start()
        let udpPort = try #require(proxyStack.transports[0].localAddress?.port)
        let wsPort = try #require(proxyStack.transports[1].localAddress?.port)
        // The WebSocket client: a stack whose only transport is WS; it answers INVITEs (180, 200).
        let ws = try await WebSocketClient.start()
        let (client, callee) = (ws.stack, ws.callee)
        _ = try client.send(ws.register("sip:bob@127.0.0.1", to: try URI("sip:127.0.0.1:\(wsPort);transport=ws")))
        let deadline = ContinuousClock.now + .seconds(5)
        while core.location.count == 0, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(5)) }
        #expect(core.location.count == 1)
        // A caller over UDP: the INVITE reaches the client over the connection it registered on.
        let caller = SIPStack(
            name: "caller", configuration: testConfiguration(), transports: [UDPTransport(host: "127.0.0.1", port: 0)])
        let callerLog = EventLog(caller)
        try await caller.start()
        let invite = SIPMessage.request(
            method: .invite, uri: try URI("sip:bob@127.0.0.1:\(udpPort)"),
            headers: [
                (.from, "<sip:alice@127.0.0.1>;tag=a1"), (.to, "<sip:bob@127.0.0.1>"),
                (.callID, SIPIdentifiers.callID()),
                (.cseq, "1 INVITE"), (.contact, "<sip:alice@127.0.0.1>"),
            ])
        let called = try caller.send(invite)
        callerLog.sentInvite(invite, key: called)
        #expect(await callerLog.finalStatuses(called).contains(200))
        #expect(callee.count(.invite) == 1)
        await caller.shutdown()
        await client.shutdown()
        await proxyStack.shutdown()
    }

    @Test(
        "§16.11 stateless: a retransmission is forwarded again with the same branch, and so is the CANCEL; responses go back by Via; no 100 of the proxy's own"
    )
    func stateless() async throws {
        let rig = try await Rig.start(targets: { [Self.uri($0[0])] }, callees: 1, stateless: true)
        let invite = rig.invite(callID: "stateless-1")
        rig.caller.send(invite, to: rig.proxyAddress)
        rig.caller.send(invite, to: rig.proxyAddress)
        #expect(await rig.callees[0].wait { $0.requests(.invite).count == 2 })
        let copies = rig.callees[0].requests(.invite)
        #expect(copies[0].topVia?.branch == copies[1].topVia?.branch)
        #expect(copies[0].topVia?.host.text == "10.0.0.1")
        rig.answer(copies[0], 180, from: rig.callees[0])
        #expect(await rig.caller.wait { !$0.responses(180).isEmpty })
        #expect(rig.caller.responses(180).first?.headers.count(.via) == 1)
        let cancel = try #require(try SIPMessage(parsing: invite).makeCancel())
        rig.caller.send(String(decoding: cancel.serialized(), as: UTF8.self), to: rig.proxyAddress)
        #expect(await rig.callees[0].wait { !$0.requests(.cancel).isEmpty })
        #expect(rig.callees[0].requests(.cancel).first?.topVia?.branch == copies[0].topVia?.branch)
        #expect(rig.caller.responses(100).isEmpty)
        await rig.stop()
    }

    @Test(
        "RFC 5393: Max-Breadth 0 gets 440; §16.3: an unknown Request-URI scheme gets 416; RFC 3327: a binding's Path is the copy's pre-loaded Route, on top"
    )
    func breadthAndPath() throws {
        let isLocal: (String, Int?) -> Bool = { h, _ in h == "10.0.0.1" }
        let text =
            "INVITE sip:bob@10.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.2;branch=z9hG4bK1\r\nMax-Forwards: 70\r\n"
            + "From: <sip:a@x>;tag=1\r\nTo: <sip:b@x>\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\n"
        let narrow = try SIPMessage(parsing: text + "Max-Breadth: 0\r\nContent-Length: 0\r\n\r\n")
        #expect(ProxyRules.check(narrow, isLocal: isLocal)?.status == 440)
        // §16.3 item 2: a Request-URI scheme the proxy does not know gets 416.
        let mail = try SIPMessage(
            parsing: "INVITE mailto:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.2;branch=z9hG4bK2\r\n"
                + "Max-Forwards: 70\r\nFrom: <sip:a@x>;tag=1\r\nTo: <sip:b@x>\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\n"
                + "Content-Length: 0\r\n\r\n")
        #expect(ProxyRules.check(mail, isLocal: isLocal)?.status == 416)
        let invite = try SIPMessage(parsing: text + "Route: <sip:next.example.com;lr>\r\nContent-Length: 0\r\n\r\n")
        let copy = ProxyRules.copy(
            of: invite, to: try URI("sip:bob@192.0.2.9"),
            route: ["<sip:edge1.example.com;lr>", "<sip:edge2.example.com;lr>"])
        #expect(
            copy.headers.values(.route) == [
                "<sip:edge1.example.com;lr>", "<sip:edge2.example.com;lr>", "<sip:next.example.com;lr>",
            ])
    }

    @Test(
        "§16.5 targets of bindings: a UDP contact behind a NAT is reached at its REGISTER's source, one that is not at its contact; a TCP or WS one over its flow; with its Path and q"
    )
    func bindingTargets() throws {
        func binding(_ contact: String, _ source: Registrar.Source, path: [String] = []) throws -> Registrar.Binding {
            Registrar.Binding(
                contact: try NameAddress(contact), callID: "c", cseq: 1, expiresAt: 1, source: source, path: path)
        }
        let natted = RegistrarProxyCore.target(
            try binding(
                "<sip:bob@192.168.1.20:5060>;q=0.7",
                Registrar.Source(transport: "UDP", host: "198.51.100.7", port: 40000, isBehindNAT: true),
                path: ["<sip:edge.example.com;lr>"]))
        #expect(natted.destination?.description == "sip:198.51.100.7:40000")
        #expect(natted.uri.description == "sip:bob@192.168.1.20:5060")
        #expect(natted.q == 0.7)
        #expect(natted.route == ["<sip:edge.example.com;lr>"])
        let direct = RegistrarProxyCore.target(
            try binding("<sip:bob@192.0.2.5>", Registrar.Source(transport: "UDP", host: "192.0.2.5", port: 5060)))
        #expect(direct.destination == nil)
        let flow = RegistrarProxyCore.target(
            try binding(
                "<sip:bob@df7jal23ls0d.invalid;transport=ws>",
                Registrar.Source(transport: "WS", host: "192.0.2.6", port: 51000, isBehindNAT: true)))
        #expect(flow.destination?.description == "sip:192.0.2.6:51000;transport=ws")
    }
}
