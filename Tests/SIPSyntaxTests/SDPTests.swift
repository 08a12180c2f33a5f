import SIPSyntax
import Testing

/// SDP (RFC 8866) read and written line by line, and the answer of RFC 3264 §6.
@Suite("SDP (RFC 8866) and offer/answer (RFC 3264)")
struct SDPTests {
    /// RFC 3264 §10.1: Alice's offer.
    static let offer = [
        "v=0", "o=alice 2890844526 2890844526 IN IP4 host.atlanta.example.com", "s=",
        "c=IN IP4 host.atlanta.example.com", "t=0 0", "m=audio 49170 RTP/AVP 0 8 97", "a=rtpmap:0 PCMU/8000",
        "a=rtpmap:8 PCMA/8000", "a=rtpmap:97 iLBC/8000", "m=video 51372 RTP/AVP 31 32", "a=rtpmap:31 H261/90000",
        "a=rtpmap:32 MPV/90000",
    ]

    @Test("RFC 3264 §10.1's offer reads into its media and writes back byte for byte, with CRLF or bare LF")
    func roundTrip() throws {
        for ending in ["\r\n", "\n"] {
            let text = Self.offer.joined(separator: ending) + ending
            let sdp = try SessionDescription(text)
            #expect(sdp.description == text)
            #expect(sdp.media.count == 2)
            #expect(sdp.media[0].media == "audio")
            #expect(sdp.media[0].port == 49170)
            #expect(sdp.media[0].proto == "RTP/AVP")
            #expect(sdp.media[0].formats == ["0", "8", "97"])
            #expect(sdp.media[0].rtpmap("97") == "iLBC/8000")
            #expect(sdp.media[1].formats == ["31", "32"])
            #expect(sdp.connectionAddress == "host.atlanta.example.com")
            #expect(sdp.media[0].direction == "sendrecv")
        }
        // Unknown lines and attributes are kept where they were.
        let odd = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nz=0 1\r\nt=0 0\r\nm=audio 9 RTP/AVP 0\r\na=x-custom:1\r\n"
        #expect(try SessionDescription(odd).description == odd)
        // A last line with no line ending keeps a CR it ends with (found by the fuzzer).
        let cut = "v=0\r\ns=-\r\na=sendrecv\r\r"
        let read = try SessionDescription(cut)
        #expect(read.description == cut)
        #expect(try SessionDescription(read.description) == read)
        // Mixed line endings, a stray CR before an LF: read back the same whatever the ending.
        let mixed = try SessionDescription("v=0\na=x\r\r\ns=-\r\n")
        #expect(mixed.sessionLines.map(\.value) == ["0", "x", "-"])
        #expect(try SessionDescription(mixed.description) == mixed)
    }

    @Test("Bad SDP is a typed error naming its line: no v= first, not type=value, a bad m= port, too many lines")
    func errors() {
        #expect(throws: SDPError(line: 1, reason: "the first line is not v=")) { try SessionDescription("o=x\r\n") }
        #expect(throws: SDPError(line: 2, reason: "not type=value")) { try SessionDescription("v=0\r\nhello\r\n") }
        #expect(throws: SDPError(line: 2, reason: "the port is not 0-65535")) {
            try SessionDescription("v=0\r\nm=audio 70000 RTP/AVP 0\r\n")
        }
        let many = "v=0\r\n" + String(repeating: "a=x\r\n", count: SessionDescription.maxLines)
        #expect(throws: SDPError(line: SessionDescription.maxLines + 1, reason: "too many lines")) {
            try SessionDescription(many)
        }
    }

    @Test(
        "RFC 3264 §6: the answer has one m= line per offered one, in order; a refused stream gets port 0; sendonly is answered recvonly"
    )
    func answer() throws {
        var lines = Self.offer
        lines.insert("a=sendonly", at: 9)
        let offer = try SessionDescription(lines.joined(separator: "\r\n") + "\r\n")
        let answer = SessionDescription.answer(
            to: offer, origin: "bob 1 1 IN IP4 192.0.2.2", address: "192.0.2.2", port: 40000
        ) { m in
            m.media == "audio"
                ? m.formats.filter { ["PCMU/8000", "PCMA/8000"].contains(m.rtpmap($0)) }.prefix(1).map { $0 } : nil
        }
        #expect(answer.media.count == 2)
        #expect(answer.media[0].media == "audio")
        #expect(answer.media[0].port == 40000)
        #expect(answer.media[0].formats == ["0"])
        #expect(answer.media[0].rtpmap("0") == "PCMU/8000")
        #expect(answer.media[0].direction == "recvonly")
        #expect(answer.media[1].media == "video")
        #expect(answer.media[1].port == 0)
        #expect(answer.connectionAddress == "192.0.2.2")
        // What is written reads back the same.
        #expect(try SessionDescription(answer.description) == answer)
    }
}
