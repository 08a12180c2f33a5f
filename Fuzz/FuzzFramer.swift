// The stream-framer half of the fuzz target. Fuzz/run.sh compiles this file (with
// -D SIPPET_FUZZ_FRAMER, which makes FuzzParser.swift call fuzzFramer) only when
// Sources/SIPSyntax declares `struct SIPStreamFramer`.
//
// Properties: the framer never traps and never holds more than the input; feeding the stream in
// chunks of any size gives the same frames (and the same failure) as feeding it at once; every
// message it cuts parses with `framing: .stream`, or fails with a SIPParseError, and a parsed one
// passes the same checks as a datagram.

/// What one run of the framer produced.
struct FramerRun: Equatable {
    var frames: [SIPStreamFramer.Frame] = []
    var error: SIPParseError?

    /// Same frames, and the same failure (its offset aside: it counts from the start of the
    /// framer's buffer, which depends on how the stream was cut).
    static func == (a: FramerRun, b: FramerRun) -> Bool {
        guard a.frames == b.frames else { return false }
        switch (a.error, b.error) {
        case (nil, nil): return true
        case (let x?, let y?): return x.kind == y.kind && x.detail == y.detail && x.limit == y.limit
        default: return false
        }
    }
}

/// Feeds `bytes` to a new framer in pieces of the sizes `chunkSizes` gives, draining it after each.
func runFramer(_ bytes: [UInt8], chunkSizes: (Int) -> Int) -> FramerRun {
    var framer = SIPStreamFramer(limits: .default)
    var run = FramerRun()
    var offset = 0
    var k = 0
    feeding: while offset < bytes.count {
        let n = Swift.max(1, Swift.min(chunkSizes(k), bytes.count - offset))
        framer.append(bytes[offset..<(offset + n)])
        offset += n
        k += 1
        fuzzCheck(
            framer.bufferedByteCount >= 0 && framer.bufferedByteCount <= offset,
            "the framer buffers \(framer.bufferedByteCount) bytes after \(offset) were given", bytes)
        while true {
            do {
                guard let frame = try framer.next() else { break }
                run.frames.append(frame)
            } catch {
                run.error = error
                // A failed framer stays failed.
                do {
                    _ = try framer.next()
                    fuzzCheck(false, "the framer recovered after \(error)", bytes)
                } catch {
                    fuzzCheck(error == run.error, "the framer threw \(error) after \(run.error!)", bytes)
                }
                break feeding
            }
        }
    }
    return run
}

func fuzzFramer(_ bytes: [UInt8]) {
    // All at once.
    let whole = runFramer(bytes, chunkSizes: { _ in bytes.count })
    // A byte at a time (bounded, to keep each input fast), and in pseudo-random pieces derived
    // from the input.
    var seed = UInt64(truncatingIfNeeded: bytes.count) &* 0x9E37_79B9_7F4A_7C15 ^ UInt64(bytes.first ?? 0)
    let pieces = runFramer(
        bytes,
        chunkSizes: { _ in
            seed = seed &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int(truncatingIfNeeded: (seed >> 33) % 97) + 1
        })
    fuzzCheck(
        pieces == whole,
        "framing in pieces differs from framing at once: \(pieces.frames.count) frames, "
            + "error \(String(describing: pieces.error)) vs \(whole.frames.count) frames, error \(String(describing: whole.error))",
        bytes)
    if bytes.count <= 1024 {
        let single = runFramer(bytes, chunkSizes: { _ in 1 })
        fuzzCheck(
            single == whole,
            "framing a byte at a time differs from framing at once: \(single.frames.count) frames, "
                + "error \(String(describing: single.error)) vs \(whole.frames.count) frames, error \(String(describing: whole.error))",
            bytes)
    }
    var framed = 0
    for frame in whole.frames {
        guard case .message(let message) = frame else {
            framed += frame == .ping ? 4 : 1
            continue
        }
        framed += message.count
        fuzzCheck(
            !message.isEmpty && message.count <= SIPLimits.default.maxMessageSize + SIPLimits.default.maxBodySize,
            "the framer cut a message of \(message.count) bytes", bytes)
        switch Result(catching: { () throws(SIPParseError) in
            try SIPMessage(parsing: message, limits: .default, framing: .stream)
        }) {
        case .success(let m):
            fuzzCheck(m.serialized().count == message.count, "a framed message parses to a different length", bytes)
            exercise(m, framing: .stream, input: message)
        case .failure(let error): sink(error.description)
        }
    }
    fuzzCheck(framed <= bytes.count, "the framer returned \(framed) bytes of \(bytes.count)", bytes)
}
