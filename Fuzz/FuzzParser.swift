// libFuzzer target for the SIPSyntax parser (and, when Fuzz/FuzzFramer.swift is compiled in with
// -D SIPPET_FUZZ_FRAMER, the stream framer). Built and run by Fuzz/run.sh; it is compiled in the
// same module as Sources/SIPSyntax, so it may read internal state.
//
// Every byte from the network is hostile: whatever the input, the parser either throws a
// SIPParseError or returns a message whose accessors, serializers and canonical round trip work.
// A violated property traps (fuzzCheck), and libFuzzer reports the input.

/// Limits for re-parsing our own serialization: the canonical form writes long header names
/// (`v:` becomes `Via: `), CRLF for bare LF and a Content-Length line when there was none, so it
/// may be a few bytes past limits that the original only just met. Counts that serialization
/// does not change (Via values, body) keep the defaults.
let roundTripLimits = SIPLimits(
    maxMessageSize: SIPLimits.default.maxMessageSize * 4,
    maxHeaderCount: SIPLimits.default.maxHeaderCount + 1,
    maxHeaderLineLength: SIPLimits.default.maxHeaderLineLength * 2,
    maxStartLineLength: SIPLimits.default.maxStartLineLength * 2,
    maxViaCount: SIPLimits.default.maxViaCount,
    maxBodySize: SIPLimits.default.maxBodySize)

@inline(never)
func fuzzCheck(
    _ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String,
    _ input: @autoclosure () -> [UInt8]
) {
    if !condition() {
        let text = String(decoding: input(), as: UTF8.self)
        fatalError(
            "fuzz property violated: \(message())\n--- input (\(input().count) bytes) ---\n\(text.debugDescription)")
    }
}

/// Keeps the optimizer from dropping reads whose results are otherwise unused.
@inline(never)
func sink<T>(_ value: T) { withExtendedLifetime(value) {} }

/// Reads everything a user of a parsed message may read, and checks the serialization round trip.
func exercise(_ m: SIPMessage, framing: SIPFraming, input: [UInt8]) {
    // Accessors.
    if let e = m.essentials {
        sink(e.branch?.string)
        sink(e.transport?.string)
        sink(e.sentByHost?.string)
        sink(e.sentByPort)
        sink(e.received?.string)
        sink(e.callID?.string)
        sink(e.cseqMethod?.string)
        sink(e.fromTag?.string)
        sink(e.toTag?.string)
        sink(e.requestURIUser?.string)
        sink(e.requestURIHost?.string)
        if let b = e.branch { sink(b.hashValue) }
    } else {
        fuzzCheck(false, "a parsed message has no essentials", input)
    }
    for v in m.via {
        sink(v.description)
        sink(v.branch)
        sink(v.received)
        sink(v.rport)
        sink(v.maddr)
        sink(v.ttl)
        sink(v.host.canonical)
        sink(v.host.isIPv4)
        sink(v.host.address)
    }
    sink(m.topVia)
    for a in [m.from, m.to].compactMap({ $0 }) {
        sink(a.description)
        sink(a.tag)
        sink(a.uri.description)
        sink(a.uri.scheme)
        if let u = a.uri.sipURI {
            sink(u.user)
            sink(u.password)
            sink(u.transport)
            sink(u.hashValue)
        }
    }
    for c in m.contact {
        sink(c.description)
        sink(c.expires)
        sink(c.q)
        if let u = c.address?.uri.sipURI {
            sink(u.user)
            sink(u.isLooseRouter)
            sink(u.maddr)
        }
    }
    sink(m.cseq?.description)
    sink(m.callID)
    sink(m.maxForwards)
    if let uri = m.requestURI {
        sink(uri.description)
        sink(uri.scheme)
        sink(uri.hashValue)
        if let u = uri.sipURI {
            sink(u.user)
            sink(u.password)
            sink(u.host.canonical)
            sink(u.transport)
        }
    }
    sink(m.method)
    sink(m.status)
    sink(m.reasonPhrase)
    for i in m.headers.indices {
        let f = m.headers[i]
        sink(f.description)
        sink(f.name.isList)
        sink(m.headers.wireName(at: i))
    }

    // Other typed headers (errors are fine: these are parsed when read, not when the message is).
    for key in [
        SIPHeaderKey<NameAddress>.route, .recordRoute, .path, .serviceRoute, .pAssertedIdentity, .replyTo,
        .referTo, .referredBy,
    ] {
        if let all = try? m.headers.all(key) { for a in all { sink(a.description) } }
    }
    for key in [SIPHeaderKey<Int>.expires, .minExpires, .rseq, .contentLength] { sink(try? m.headers.first(key)) }

    // Typed values write text that parses again.
    for v in m.via { roundTrip(v.description, "Via", input) { t throws(SIPParseError) in _ = try Via(t) } }
    for a in [m.from, m.to].compactMap({ $0 }) + m.contact.compactMap(\.address) {
        roundTrip(a.description, "NameAddress", input) { t throws(SIPParseError) in _ = try NameAddress(t) }
    }
    if let uri = m.requestURI { roundTrip(uri.description, "URI", input) { t throws(SIPParseError) in _ = try URI(t) } }

    // A UAS answers every request it parsed (RFC 3261 §8.2.6): the response must be a valid message.
    if m.isRequest {
        let r = m.makeResponse(status: 486, toTag: "fuzz")
        let rb = r.serialized()
        switch Result(catching: { () throws(SIPParseError) in try SIPMessage(parsing: rb, limits: roundTripLimits) }) {
        case .success: break
        case .failure(let error):
            fuzzCheck(
                false,
                "the response to a parsed request does not parse: \(error)\n--- response ---\n"
                    + String(decoding: rb, as: UTF8.self).debugDescription, input)
        }
        sink(r.essentials)
    }

    // Serialization.
    let wire = m.serialized()
    let canonical = m.serialized(canonical: true)
    sink(m.serialized(canonical: false))

    // What we send must parse again: the received bytes (a parsed message nobody changed is sent as
    // it came) and the canonical form.
    switch Result(catching: { () throws(SIPParseError) in
        try SIPMessage(parsing: wire, limits: roundTripLimits, framing: framing)
    }) {
    case .success: break
    case .failure(let error): fuzzCheck(false, "serialized() does not parse again: \(error)", input)
    }
    let again: SIPMessage
    switch Result(catching: { () throws(SIPParseError) in
        try SIPMessage(parsing: canonical, limits: roundTripLimits, framing: framing)
    }) {
    case .success(let m2): again = m2
    case .failure(let error):
        fuzzCheck(
            false,
            "serialized(canonical: true) does not parse again: \(error)\n--- canonical ---\n"
                + String(decoding: canonical, as: UTF8.self).debugDescription, input)
        return
    }
    // The canonical form is a fixed point, and it keeps the start line and the body.
    let canonical2 = again.serialized(canonical: true)
    fuzzCheck(
        canonical2 == canonical,
        "canonical serialization is not stable:\n"
            + String(decoding: canonical, as: UTF8.self).debugDescription + "\n"
            + String(decoding: canonical2, as: UTF8.self).debugDescription, input)
    fuzzCheck(again.startLine == m.startLine, "the canonical form changes the start line", input)
    fuzzCheck(again.body.elementsEqual(m.body), "the canonical form changes the body", input)
}

/// `text`, written by a typed value's `description`, must parse with `parse`.
func roundTrip(_ text: String, _ what: String, _ input: [UInt8], _ parse: (String) throws(SIPParseError) -> Void) {
    do { try parse(text) } catch {
        fuzzCheck(false, "\(what) writes \(text.debugDescription), which does not parse: \(error)", input)
    }
}

/// Parses `bytes` with the given framing; on success exercises the message.
func fuzzParse(_ bytes: [UInt8], framing: SIPFraming) {
    switch Result(catching: { () throws(SIPParseError) in
        try SIPMessage(parsing: bytes, limits: .default, framing: framing)
    }) {
    case .success(let m):
        if framing == .stream {
            // A framed message is all message: its bytes end where Content-Length says (only the
            // CRLFs before the start line are not part of it).
            let lead = bytes.prefix { $0 == 0x0D || $0 == 0x0A }.count
            fuzzCheck(
                m.serialized().elementsEqual(bytes.dropFirst(lead)),
                "a stream message of \(bytes.count) bytes parses as \(m.serialized().count) bytes", bytes)
        }
        exercise(m, framing: framing, input: bytes)
    case .failure(let error):
        sink(error.description)
        sink(error.suggestedStatus)
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    fuzzParse(bytes, framing: .datagram)
    fuzzParse(bytes, framing: .stream)
    #if SIPPET_FUZZ_FRAMER
        fuzzFramer(bytes)
    #endif
    #if SIPPET_FUZZ_AUTH
        fuzzAuth(bytes)
    #endif
    fuzzSDP(bytes)
    return 0
}

/// SDP bodies (RFC 8866), read from the input as a whole and from a message's body: a typed error
/// or a description that writes back to the text it was read from, and reads back equal.
func fuzzSDP(_ bytes: [UInt8]) {
    var bodies: [[UInt8]] = [bytes]
    if let m = try? SIPMessage(parsing: bytes), !m.body.isEmpty { bodies.append(Array(m.body)) }
    for body in bodies {
        guard let text = String(validating: body, as: UTF8.self), let sdp = try? SessionDescription(text) else {
            continue
        }
        let written = sdp.description
        guard let again = try? SessionDescription(written), again == sdp else {
            fatalError("SDP does not read back: \(written.debugDescription)")
        }
        // Without CR, every line ends the same way: the text comes back byte for byte.
        if !body.contains(0x0D), written != text {
            fatalError("SDP is not written back as read: \(text.debugDescription)")
        }
        _ = sdp.media.map { ($0.attributes.count, $0.direction) }
    }
}
