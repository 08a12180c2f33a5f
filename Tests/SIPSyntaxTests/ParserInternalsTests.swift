import Foundation
import Testing

@testable import SIPSyntax

@Suite("Parser internals")
struct ParserInternalsTests {
    @Test("the hot-path header ids are those of the table") func knownHeaderIDs() {
        let ids: [(UInt8, String)] = [
            (KnownHeader.via, "Via"), (KnownHeader.from, "From"), (KnownHeader.to, "To"),
            (KnownHeader.callID, "Call-ID"),
            (KnownHeader.cseq, "CSeq"), (KnownHeader.contentLength, "Content-Length"),
            (KnownHeader.maxForwards, "Max-Forwards"),
            (KnownHeader.contact, "Contact"), (KnownHeader.contentType, "Content-Type"), (KnownHeader.route, "Route"),
            (KnownHeader.recordRoute, "Record-Route"), (KnownHeader.timestamp, "Timestamp"),
        ]
        for (id, name) in ids { #expect(id == KnownHeader.id(name), "\(name)") }
    }
}

extension ParserInternalsTests {
    @Test("header names are found in any case, whatever follows them in the buffer") func lookupNames() {
        for (i, entry) in KnownHeader.all.enumerated() {
            let id = UInt8(i + 1)
            for name in [entry.name, entry.name.lowercased(), entry.name.uppercased()] {
                let b = Array(name.utf8)
                // alone (fewer than 8 bytes after the start of some words), and inside a longer line
                #expect(KnownHeader.lookup(b, 0..<b.count) == id, "\(name)")
                let line = Array("x\(name): value of the header\r\n".utf8)
                #expect(KnownHeader.lookup(line, 1..<(1 + b.count)) == id, "\(name)")
                // one byte changed, one byte short, one byte more: not this header
                var changed = b
                changed[changed.count - 1] ^= 0x01
                #expect(KnownHeader.lookup(changed, 0..<changed.count) != id, "\(name)")
                if b.count > 2 { #expect(KnownHeader.lookup(b, 0..<(b.count - 1)) != id, "\(name)") }  // "T" is To
                let longer = b + [UInt8(ascii: "s")]
                #expect(KnownHeader.lookup(longer, 0..<longer.count) != id, "\(name)")
            }
            if let c = entry.compact {
                #expect(KnownHeader.lookup([c], 0..<1) == id)
                #expect(KnownHeader.lookup([ASCII.lower(c) &- 0x20], 0..<1) == id)
            }
        }
        // bytes that ASCII.lower leaves alone are not folded onto letters, digits or '-'
        #expect(KnownHeader.lookup(Array("Call\rID".utf8), 0..<7) == nil)
        #expect(KnownHeader.lookup(Array("\u{16}ia".utf8), 0..<3) == nil)
        #expect(KnownHeader.lookup(Array("V\u{C9}a".utf8), 0..<4) == nil)
        #expect(KnownHeader.lookup(Array("".utf8), 0..<0) == nil)
    }

    @Test("Via values are counted outside quotes and angle brackets") func listCounting() {
        func count(_ s: String) -> Int {
            let b = Array(s.utf8)
            return MessageParser.countListValues(b, 0..<b.count)
        }
        #expect(count("SIP/2.0/UDP a;branch=z9hG4bK1") == 1)
        #expect(count("SIP/2.0/UDP a, SIP/2.0/UDP b,SIP/2.0/TCP c") == 3)
        #expect(count("SIP/2.0/UDP a;x=\"1,2\\\",3\", SIP/2.0/UDP b") == 2)
        #expect(count("<sip:a,b>, <sip:c>") == 2)
    }
}

extension ParserInternalsTests {
    @Test("the URI grammar's union masks are the unions of their classes") func unionMasks() {
        for v in 0...255 {
            let b = UInt8(v)
            let user = ASCII.is(b, .unreserved) || ASCII.is(b, .userUnreserved) || b == ASCII.percent
            let password = ASCII.is(b, .unreserved) || ASCII.is(b, .passwordExtra) || b == ASCII.percent
            // password characters are user characters: the userinfo run needs no second check of its user part
            #expect(!password || user, "\(v)")
            let (ul, uh) = ASCII.userinfoMasks
            #expect(ASCII.isIn(b, ul, uh) == (user || password || b == ASCII.colon), "\(v)")
            let (pl, ph) = ASCII.paramCharMasks
            #expect(ASCII.isIn(b, pl, ph) == URIGrammar.isParamChar(b), "\(v)")
        }
    }

    @Test("request methods come out as written") func methods() throws {
        for name in ["ACK", "BYE", "INVITE", "CANCEL", "OPTIONS", "MESSAGE", "REGISTER", "PUBLISH", "INVITe", "FOO"] {
            let m = try SIPMessage(
                parsing:
                    "\(name) sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:b@c>\r\nCall-ID: x\r\nCSeq: 1 \(name)\r\nContent-Length: 0\r\n\r\n"
            )
            #expect(m.method?.rawValue == name)
        }
    }
}

@Suite("Generated code")
struct GeneratedCodeTests {
    /// The header-name tables and switch in `SIPHeaderName.swift` are written by
    /// `scripts/generate-header-names.py` from its one table; `--check` fails (exit 1) when the file
    /// differs from what the script writes, so an edit by hand or a table change not regenerated
    /// fails here.
    @Test("SIPHeaderName.swift is what scripts/generate-header-names.py writes") func headerNamesUpToDate() throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "scripts/generate-header-names.py", "--check"]
        process.currentDirectoryURL = Corpus.packageRoot
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        process.waitUntilExit()
        let said = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(process.terminationStatus == 0, "\(said)")
    }
}
