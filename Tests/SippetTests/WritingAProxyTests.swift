import Foundation
import NIOCore
import NIOPosix
import SIPSyntax
import SIPTransaction
import SIPTransport
import Sippet
import SippetProxy
import SippetTesting
import Testing

// DOCC-PROXY-BEGIN
/// Calls for sales ring the desk phone and the mobile at once; every other request goes where
/// its Request-URI says.
final class SalesRouter: SIPCore {
    let proxy: SIPProxy
    let phones = [try! URI("sip:desk@192.0.2.10"), try! URI("sip:mobile@192.0.2.11")]

    init(stack: SIPStack) { proxy = SIPProxy(stack: stack) }

    func receiveRequest(_ request: SIPMessage, key: ServerTransactionKey?, stack: SIPStack) {
        let isLocal: (String, Int?) -> Bool = { stack.isLocal(host: $0, port: $1) }
        if request.method == .cancel, let key { return proxy.cancel(request, key: key) }
        if let rejection = ProxyRules.check(request, isLocal: isLocal) {
            _ = try? stack.send(rejection)
            return
        }
        var request = request
        ProxyRules.processRoutes(&request, isLocal: isLocal)
        if request.method == .ack {  // for a 2xx: no transaction (RFC 3261 §16.11)
            _ = try? stack.forward(request)
            return
        }
        guard let uri = request.requestURI else { return }
        let sales = uri.sipURI?.user == "sales"
        let targets = sales ? phones.map { ProxyTarget(uri: $0) } : [ProxyTarget(uri: uri)]
        proxy.proxy(request, key: key, to: targets)
    }

    func receiveResponse(_ response: SIPMessage, key: ClientTransactionKey?, stack: SIPStack) {
        proxy.receiveResponse(response, key: key)
    }

    func receiveError(_ error: SIPStackError, key: TransactionKey, stack: SIPStack) {
        proxy.receiveError(error, key: key)
    }
}
// DOCC-PROXY-END

/// The article "Writing a Proxy" shows this file's core; this suite runs it between in-memory
/// peers and checks that the article holds it as it is.
@Suite("Writing a Proxy (DocC article)")
struct WritingAProxyTests {
    @Test("The sales router forks a call to sales to both phones, record-routed")
    func forks() async throws {
        let network = InMemoryNetwork()
        let proxyAddress = try SocketAddress(ipAddress: "192.0.2.1", port: 5060)
        let stack = SIPStack(
            name: "router", configuration: testConfiguration(),
            transports: [
                InMemoryTransport(
                    network: network, address: proxyAddress, loop: MultiThreadedEventLoopGroup.singleton.next())
            ])
        stack.register(core: SalesRouter(stack: stack))
        try await stack.start()
        let caller = try ProxyTests.Peer(network, "192.0.2.20")
        let desk = try ProxyTests.Peer(network, "192.0.2.10")
        let mobile = try ProxyTests.Peer(network, "192.0.2.11")
        for p in [caller, desk, mobile] { try await p.transport.start(delegate: p) }
        caller.send(
            "INVITE sip:sales@192.0.2.1 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.20;branch=z9hG4bKs1\r\nMax-Forwards: 70\r\n"
                + "From: <sip:c@192.0.2.20>;tag=c\r\nTo: <sip:sales@192.0.2.1>\r\nCall-ID: sales-1\r\nCSeq: 1 INVITE\r\n"
                + "Contact: <sip:c@192.0.2.20>\r\nContent-Length: 0\r\n\r\n", to: proxyAddress)
        #expect(await desk.wait { !$0.requests(.invite).isEmpty })
        #expect(await mobile.wait { !$0.requests(.invite).isEmpty })
        #expect(desk.requests(.invite).first?.requestURI?.description == "sip:desk@192.0.2.10")
        #expect(mobile.requests(.invite).first?.headers.values(.recordRoute) == ["<sip:192.0.2.1:5060;lr>"])
        await stack.shutdown()
        for p in [caller, desk, mobile] { await p.transport.shutdown() }
    }

    @Test("The article shows this code as it is")
    func articleHoldsTheCode() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let article = try String(
            contentsOf: root.appendingPathComponent("Sources/SippetProxy/SippetProxy.docc/WritingAProxy.md"),
            encoding: .utf8)
        let source = try String(contentsOf: URL(fileURLWithPath: #filePath), encoding: .utf8)
        let lines = source.components(separatedBy: "\n")
        let b = try #require(lines.firstIndex(of: "// DOCC-PROXY-BEGIN"))
        let e = try #require(lines.firstIndex(of: "// DOCC-PROXY-END"))
        let snippet = lines[(b + 1)..<e].joined(separator: "\n")
        #expect(article.contains(snippet))
        #expect(e - b - 1 <= 45)
    }
}
