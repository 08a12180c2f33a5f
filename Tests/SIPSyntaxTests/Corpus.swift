import Foundation

@testable import SIPSyntax

/// The shared conformance corpus (RFC 4475, RFC 5118) beside the package: ../shared/conformance.
enum Corpus {
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    static let conformance = packageRoot.deletingLastPathComponent().appendingPathComponent("shared/conformance")

    struct Entry: Sendable, CustomStringConvertible {
        let rfc: String
        let name: String
        let expected: String
        var description: String { name }
    }

    /// MANIFEST.tsv: rfc, name, section, expected, …
    static let manifest: [Entry] = {
        guard let text = try? String(contentsOf: conformance.appendingPathComponent("MANIFEST.tsv"), encoding: .utf8)
        else { return [] }
        return text.split(separator: "\n").dropFirst().compactMap { line in
            let f = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            guard f.count > 3 else { return nil }
            return Entry(rfc: f[0], name: f[1], expected: f[3])
        }
    }()

    static func raw(_ e: Entry) -> [UInt8] {
        let dir = e.rfc == "RFC5118" ? "rfc5118" : "rfc4475"
        return (try? [UInt8](Data(contentsOf: conformance.appendingPathComponent("\(dir)/\(e.name).dat")))) ?? []
    }

    static func entry(_ name: String) -> Entry {
        manifest.first { $0.name == name } ?? Entry(rfc: "RFC4475", name: name, expected: "?")
    }

    /// The bytes as they go on the wire. RFC 4475 files are used as they are. RFC 5118 files are kept
    /// as that RFC's archive has them (bare LF, some Content-Lengths off, two without the empty line,
    /// see PROVENANCE.md): here they get CRLF line ends, an empty line closing the header section,
    /// and a Content-Length equal to the body's real length.
    static func wire(_ e: Entry) -> [UInt8] {
        let b = raw(e)
        guard e.rfc == "RFC5118" else { return b }
        let text = String(decoding: b, as: UTF8.self)
        let parts = text.components(separatedBy: "\n\n")
        var head = parts[0].split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        while head.last == "" { head.removeLast() }
        let body =
            parts.count > 1
            ? parts.dropFirst().joined(separator: "\n\n").replacingOccurrences(of: "\n", with: "\r\n") : ""
        head = head.map { line in
            line.lowercased().hasPrefix("content-length:") || line.lowercased().hasPrefix("l:")
                ? "Content-Length: \(body.utf8.count)" : line
        }
        return Array((head.joined(separator: "\r\n") + "\r\n\r\n" + body).utf8)
    }

    static func parse(_ name: String) throws -> SIPMessage { try SIPMessage(parsing: wire(entry(name))) }
}
