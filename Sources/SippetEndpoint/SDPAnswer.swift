/// The SDP (RFC 8866) of the endpoint's 2xx: an answer to the INVITE's offer (RFC 3264 §6), or
/// an offer of its own when the INVITE had none (§13.2.1; the ACK then answers it).
enum SDPAnswer {
    /// RFC 3264 §6: an answer with one m= line per offered one, each taking the first format
    /// offered. This endpoint sends and receives no media, so each stream is `inactive`. Without
    /// an offer, the 2xx carries an offer of its own (§13.2.1, the ACK then answers it).
    /// `session` is the o= line's session id (RFC 8866 §5.2: unique to this endpoint).
    static func answer(offer: ArraySlice<UInt8>, host: String, session: UInt64) -> [UInt8] {
        let ipv6 = host.contains(":")
        let address = ipv6 ? String(host.drop { $0 == "[" }.prefix { $0 != "]" }) : host
        let ip = ipv6 ? "IP6" : "IP4"
        var sdp: [UInt8] = []
        sdp.reserveCapacity(128 + offer.count / 2)
        sdp += "v=0\r\no=sippet ".utf8
        sdp += String(session).utf8
        sdp += " 1 IN ".utf8
        sdp += ip.utf8
        sdp.append(UInt8(ascii: " "))
        sdp += address.utf8
        sdp += "\r\ns=-\r\nc=IN ".utf8
        sdp += ip.utf8
        sdp.append(UInt8(ascii: " "))
        sdp += address.utf8
        sdp += "\r\nt=0 0\r\n".utf8
        var media = 0
        var lineStart = offer.startIndex
        while lineStart < offer.endIndex {
            let lineEnd = offer[lineStart...].firstIndex { $0 == 13 || $0 == 10 } ?? offer.endIndex
            let line = offer[lineStart..<lineEnd]
            lineStart = lineEnd < offer.endIndex ? offer.index(after: lineEnd) : lineEnd
            // "m=<media> <port> <proto> <fmt> …" (§5.14) → "m=<media> 9 <proto> <first fmt>".
            guard line.count > 2, line.first == UInt8(ascii: "m"),
                line[line.index(after: line.startIndex)] == UInt8(ascii: "=")
            else { continue }
            // The first four space-separated fields, found in place (a split allocates an array).
            var f: (ArraySlice<UInt8>, ArraySlice<UInt8>, ArraySlice<UInt8>) = ([], [], [])
            var rest = line.dropFirst(2)
            var n = 0
            while n < 4, !rest.isEmpty {
                let end = rest.firstIndex(of: UInt8(ascii: " ")) ?? rest.endIndex
                let field = rest[rest.startIndex..<end]
                rest = rest[end...].drop { $0 == UInt8(ascii: " ") }
                guard !field.isEmpty else { continue }
                switch n {
                case 0: f.0 = field
                case 2: f.1 = field
                case 3: f.2 = field
                default: break
                }
                n += 1
            }
            guard n == 4 else { continue }
            sdp += "m=".utf8
            sdp += f.0
            sdp += " 9 ".utf8
            sdp += f.1
            sdp.append(UInt8(ascii: " "))
            sdp += f.2
            sdp += "\r\na=inactive\r\n".utf8
            media += 1
        }
        if media == 0 { sdp += "m=audio 9 RTP/AVP 0\r\na=inactive\r\n".utf8 }
        return sdp
    }
}
