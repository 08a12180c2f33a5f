import Foundation
import Testing

@testable import SIPSyntax

/// Replays the inputs the fuzzer once broke the parser with (Fuzz/regressions/, see Fuzz/run.sh):
/// each must parse or be refused with a SIPParseError, never trap; a stream message must end where
/// its Content-Length says; and what a parsed one writes (its canonical form, its typed Via / From /
/// To / Contact values, its Request-URI) must parse again.
@Suite struct FuzzRegressionTests {
    /// The package root: this file is Tests/SIPSyntaxTests/FuzzRegressionTests.swift.
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    static let directory = packageRoot.appendingPathComponent("Fuzz/regressions")

    static func inputs() -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        return names.filter { !$0.hasPrefix(".") }.sorted()
    }

    @Test func regressionDirectoryIsFound() {
        #expect(!Self.inputs().isEmpty, "no inputs in \(Self.directory.path)")
    }

    @Test(arguments: inputs())
    func replay(_ name: String) throws {
        let bytes = Array(try Data(contentsOf: Self.directory.appendingPathComponent(name)))
        for framing in [SIPFraming.datagram, .stream] {
            let message: SIPMessage
            do {
                message = try SIPMessage(parsing: bytes, limits: .default, framing: framing)
            } catch {
                // Refused with a SIPParseError (the only error the parser throws): fine.
                _ = error.description
                continue
            }
            if framing == .stream {
                // A framed message ends where Content-Length says.
                #expect(message.serialized().elementsEqual(bytes.drop { $0 == 0x0D || $0 == 0x0A }), "\(name) (stream)")
            }
            _ = message.essentials
            for i in message.headers.indices { _ = message.headers[i] }
            let canonical = message.serialized(canonical: true)
            #expect(throws: Never.self, "canonical form of \(name) (\(framing))") {
                _ = try SIPMessage(parsing: canonical, limits: .default, framing: framing)
            }
            for via in message.via {
                #expect(throws: Never.self, "\(via.description)") { _ = try Via(via.description) }
            }
            for address in [message.from, message.to].compactMap({ $0 }) + message.contact.compactMap(\.address) {
                #expect(throws: Never.self, "\(address.description)") { _ = try NameAddress(address.description) }
            }
            if let uri = message.requestURI {
                #expect(throws: Never.self, "\(uri.description)") { _ = try URI(uri.description) }
            }
        }
    }
}
