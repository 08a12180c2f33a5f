// libFuzzer target for the SIP parser, the typed headers, validation and the stream framer.
// Built by Fuzz/run.sh with `swiftc -sanitize=fuzzer,address` over Sources/SIPSyntax.
// A crash, a trap, a leak or a round trip that breaks is a bug: no input may do any of these.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    for framing in [SIPFraming.datagram, .stream] {
        guard let m = try? SIPMessage(parsing: bytes, framing: framing) else { continue }
        exercise(m)
        // An unchanged message serializes to its own bytes, which parse again.
        let out = m.serialized()
        guard (try? SIPMessage(parsing: out, framing: framing)) != nil else { trap("unchanged serialization does not parse") }
        // A canonical serialization parses to an equal message.
        guard let again = try? SIPMessage(parsing: m.serialized(canonical: true)) else { trap("canonical serialization does not parse") }
        if again != m { trap("canonical round trip changed the message") }
    }
    _ = SIPValidator.validate(bytes: bytes)
    // The framer, fed in uneven chunks.
    var framer = SIPStreamFramer(limits: SIPLimits(maxMessageSize: 4096, maxBodySize: 4096))
    var i = 0
    var chunk = 1
    while i < bytes.count {
        framer.append(bytes[i..<min(i + chunk, bytes.count)])
        i += chunk
        chunk = chunk * 3 % 97 + 1
        do {
            while let frame = try framer.next() {
                if case .message(let m) = frame { _ = try? SIPMessage(parsing: m, framing: .stream) }
            }
        } catch {
            break
        }
    }
    return 0
}

func exercise(_ m: SIPMessage) {
    _ = m.essentials
    _ = m.via
    _ = m.from?.description
    _ = m.to?.tag
    _ = m.contact.map(\.description)
    _ = m.cseq
    _ = m.requestURI?.description
    for h in m.headers { _ = h.value }
    try? m.headers.validateKnownHeaders()
    _ = SIPValidator.validate(m)
    _ = m.makeResponse(status: 400).serialized()
}

func trap(_ why: String) -> Never {
    print("fuzz: \(why)")
    abort()
}

#if canImport(Glibc)
import Glibc
#endif
