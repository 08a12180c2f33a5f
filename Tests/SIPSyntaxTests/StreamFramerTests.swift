import Testing

@testable import SIPSyntax

@Suite("Stream framing (RFC 3261 §18.3, RFC 5626 §3.5.1)")
struct StreamFramerTests {
    static let message = Array("OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\nl: 4\r\n\r\nbody".utf8)

    @Test("messages split at Content-Length, whatever the chunking", arguments: [1, 2, 3, 7, 64, 1000])
    func chunking(_ size: Int) throws {
        let stream = [13, 10, 13, 10] + Self.message + Self.message + [13, 10]
        var f = SIPStreamFramer()
        var frames: [SIPStreamFramer.Frame] = []
        var i = 0
        while i < stream.count {
            f.append(stream[i..<min(i + size, stream.count)])
            i += size
            while let fr = try f.next() { frames.append(fr) }
        }
        f.append(Array("OPTIONS".utf8))
        while let fr = try f.next() { frames.append(fr) }
        #expect(frames == [.ping, .message(Self.message), .message(Self.message), .pong])
        let m = try SIPMessage(parsing: Self.message, framing: .stream)
        #expect(Array(m.body) == Array("body".utf8))
    }

    @Test("Content-Length is mandatory on a stream") func mandatoryLength() {
        var f = SIPStreamFramer()
        f.append(Array("OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/TCP h\r\n\r\n".utf8))
        #expect(throws: SIPParseError.self) { try f.next() }
        #expect(throws: SIPParseError.self) { try f.next() }
    }

    @Test("a Content-Length of 10^9 is refused at once, not waited for") func hugeLength() {
        var f = SIPStreamFramer()
        f.append(Array("INVITE sip:a@b SIP/2.0\r\nContent-Length: 1000000000\r\n\r\n".utf8))
        do {
            _ = try f.next()
            Issue.record("accepted")
        } catch { #expect(error.limit?.limit == .bodySize) }
    }

    @Test("an endless header line stops at the message size limit") func endlessLine() {
        var f = SIPStreamFramer(limits: SIPLimits(maxMessageSize: 4096))
        f.append(Array("INVITE sip:a@b SIP/2.0\r\nSubject: ".utf8))
        var error: SIPParseError? = nil
        for _ in 0..<100 {
            f.append([UInt8](repeating: 0x61, count: 100))
            do { _ = try f.next() } catch let e {
                error = e
                break
            }
        }
        #expect(error?.limit?.limit == .messageSize)
        #expect(f.bufferedByteCount <= 4096 + 100)
    }

    @Test("conflicting and negative Content-Length break the stream (RFC 4475 §3.1.2.3, §3.3.9)") func badLengths() {
        for header in ["Content-Length: -999\r\n", "Content-Length: 13\r\nl: 5\r\n"] {
            var f = SIPStreamFramer()
            f.append(Array("OPTIONS sip:a@b SIP/2.0\r\n\(header)\r\n0123456789abcdef".utf8))
            #expect(throws: SIPParseError.self) { try f.next() }
        }
    }
}

@Suite("Stream framing agrees with the parser")
struct StreamFramerAgreementTests {
    /// A header section closed by a bare-LF empty line ends there, as the parser reads it; the next
    /// message on the stream is its own frame, not swallowed by the first.
    @Test("a bare-LF empty line ends the header section", arguments: [1, 5, 1000])
    func bareLF(_ size: Int) throws {
        let first = Array("OPTIONS sip:a@b SIP/2.0\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\nl: 0\n\n".utf8)
        let second = Array("OPTIONS sip:c@d SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK2\r\nl: 0\r\n\r\n".utf8)
        let stream = first + second
        var f = SIPStreamFramer()
        var frames: [[UInt8]] = []
        var i = 0
        while i < stream.count {
            f.append(stream[i..<min(i + size, stream.count)])
            i += size
            while let fr = try f.next() { if case .message(let m) = fr { frames.append(m) } }
        }
        #expect(frames == [first, second])
        #expect(try SIPMessage(parsing: frames[0], framing: .stream).essentials?.branch?.string == "z9hG4bK1")
        #expect(try SIPMessage(parsing: frames[1], framing: .stream).essentials?.branch?.string == "z9hG4bK2")
    }
}
