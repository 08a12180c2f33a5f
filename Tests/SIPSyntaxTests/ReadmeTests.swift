import Foundation
import SIPSyntax
import Testing

/// The README's library example, compiled and run here; the test also checks that the README
/// shows exactly this code.
@Suite("README")
struct ReadmeTests {
    @Test("the README example compiles, runs, and is the one in README.md") func example() throws {
        // README-BEGIN
        let bytes = Array(
            """
            OPTIONS sip:carol@chicago.example.com SIP/2.0\r
            Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bKhjhs8ass877\r
            Max-Forwards: 70\r
            To: <sip:carol@chicago.example.com>\r
            From: Alice <sip:alice@atlanta.example.com>;tag=1928301774\r
            Call-ID: a84b4c76e66711\r
            CSeq: 63104 OPTIONS\r
            Content-Length: 0\r
            \r

            """.utf8)

        // Parse: the start line, framing and the hot headers are checked now; the rest when read.
        let request = try SIPMessage(parsing: bytes)
        let branch = request.topVia?.branch  // "z9hG4bKhjhs8ass877"
        let user = request.requestURI?.sipURI?.user  // "carol"
        let aor = try request.headers.first(.from)?.uri  // sip:alice@atlanta.example.com

        // Decide as a UAS would (RFC 3261 §8.2), then answer (§8.2.6).
        guard case .accept = SIPValidator.validate(request) else { return }
        var ok = request.makeResponse(status: 200)
        ok.headers.set(.allow, [.invite, .ack, .bye, .cancel, .options])
        ok.headers.append(.contact, .address(NameAddress(uri: try URI("sip:carol@192.0.2.4"))))
        let wire: [UInt8] = ok.serialized()  // ready for a socket
        // README-END
        #expect(branch == "z9hG4bKhjhs8ass877")
        #expect(user == "carol")
        #expect(aor?.description == "sip:alice@atlanta.example.com")
        let parsed = try SIPMessage(parsing: wire)
        #expect(parsed.status == 200)
        #expect(parsed.headers[.allow] == "INVITE, ACK, BYE, CANCEL, OPTIONS")
        #expect(parsed.to?.tag != nil)

        let source = try String(contentsOf: URL(fileURLWithPath: #filePath), encoding: .utf8)
        let readme = try String(contentsOf: Corpus.packageRoot.appendingPathComponent("README.md"), encoding: .utf8)
        let lines = source.components(separatedBy: "\n")
        guard let b = lines.firstIndex(where: { $0.hasSuffix("// README-BEGIN") }),
            let e = lines.firstIndex(where: { $0.hasSuffix("// README-END") })
        else {
            Issue.record("markers")
            return
        }
        let snippet = lines[(b + 1)..<e].map {
            $0.count >= 8 ? String($0.dropFirst(8)) : $0.trimmingCharacters(in: .whitespaces)
        }
        #expect(readme.contains(snippet.joined(separator: "\n")))
    }
}
