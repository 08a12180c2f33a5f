import Foundation
import NIOCore
import SIPSyntax
import SIPTransaction
import SIPTransport
import Sippet
import Synchronization
import Testing

// DOCC-CORE-BEGIN
/// Answers OPTIONS, keeps registrations (RFC 3261 §10.3, in brief), refuses other methods.
final class TinyRegistrar: SIPCore {
    private let bindings = Mutex<[String: [ContactValue]]>([:])

    func receiveRequest(_ request: SIPMessage, key: ServerTransactionKey?, stack: SIPStack) {
        guard key != nil else { return }  // an ACK for a 2xx: nothing to answer
        switch request.method {
        case .options?:
            var ok = request.makeResponse(status: 200)
            ok.headers.set(.allow, [.options, .register])
            _ = try? stack.send(ok)
        case .register?:
            guard let aor = request.to?.uri.description else { return }
            let expires = (try? request.headers.first(.expires)) ?? 3600
            let contacts = request.contact
            let current = bindings.withLock { table in
                table[aor] = expires == 0 ? nil : contacts
                return table[aor] ?? []
            }
            var ok = request.makeResponse(status: 200)
            for contact in current { ok.headers.append(.contact, contact) }
            _ = try? stack.send(ok)
        default:
            _ = try? stack.send(request.makeResponse(status: 405))
        }
    }

    func receiveResponse(_ response: SIPMessage, key: ClientTransactionKey?, stack: SIPStack) {}
    func receiveError(_ error: SIPStackError, key: TransactionKey, stack: SIPStack) {}
}
// DOCC-CORE-END

// DOCC-START-BEGIN
func startRegistrar(port: Int) async throws -> SIPStack {
    let stack = SIPStack(
        name: "registrar",
        transports: [
            UDPTransport(host: "127.0.0.1", port: port),
            try TCPTransport(host: "127.0.0.1", port: port),
        ])
    stack.register(core: TinyRegistrar())
    try await stack.start()
    return stack
}
// DOCC-START-END

/// The article "Writing a Core" and the README show this file's code; this suite runs it and
/// checks that they show it as it is here.
@Suite("Writing a Core")
struct WritingACoreTests {
    @Test("The tiny registrar answers OPTIONS and keeps bindings")
    func runs() async throws {
        // Port 0: the article's 5060 may be taken on a test machine. UDP and TCP get different
        // free ports, which is fine for this test, which talks UDP.
        let stack = SIPStack(
            name: "registrar", configuration: testConfiguration(),
            transports: [UDPTransport(host: "127.0.0.1", port: 0)])
        stack.register(core: TinyRegistrar())
        try await stack.start()
        let port = try #require(stack.transports[0].localAddress?.port)
        let uac = SIPStack(
            name: "uac", configuration: testConfiguration(), transports: [UDPTransport(host: "127.0.0.1", port: 0)])
        let log = EventLog(uac)
        try await uac.start()
        let target = "sip:registrar@127.0.0.1:\(port)"
        let dialer = Dialer(from: "sip:alice@example.com", to: "sip:alice@example.com")
        let options = try uac.send(try dialer.request(.options, target))
        #expect(await log.finalStatuses(options) == [200])
        let register = try uac.send(try dialer.request(.register, target, extra: [(.expires, "600")]))
        #expect(await log.finalStatuses(register) == [200])
        let ok = log.events.compactMap { e -> SIPMessage? in
            if case .response(let r, let k) = e, k.map(TransactionKey.client) == register {
                return r
            } else {
                return nil
            }
        }.last
        #expect(ok?.contact.first?.address?.uri.description == "sip:alice@example.com")
        let bye = try uac.send(try dialer.request(.bye, target))
        #expect(await log.finalStatuses(bye) == [405])
        await uac.shutdown()
        await stack.shutdown()
    }

    @Test("The article and the README show this code as it is")
    func documented() throws {
        let source = try String(contentsOf: URL(fileURLWithPath: #filePath), encoding: .utf8)
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let article = try String(
            contentsOf: root.appendingPathComponent("Sources/Sippet/Sippet.docc/WritingACore.md"), encoding: .utf8)
        let readme = try String(contentsOf: root.appendingPathComponent("README.md"), encoding: .utf8)
        for marker in ["CORE", "START"] {
            let lines = source.components(separatedBy: "\n")
            guard let b = lines.firstIndex(of: "// DOCC-\(marker)-BEGIN"),
                let e = lines.firstIndex(of: "// DOCC-\(marker)-END")
            else {
                Issue.record("markers")
                return
            }
            let snippet = lines[(b + 1)..<e].joined(separator: "\n")
            #expect(article.contains(snippet), "the article shows the \(marker) code")
            if marker == "CORE" { #expect(readme.contains(snippet), "the README shows the core") }
        }
    }
}
