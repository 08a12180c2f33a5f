extension SIPMessage {
    /// RFC 3261 §18.2.1 and RFC 3581 §4: gives the top Via of a received request its `received`
    /// parameter (replacing the value of one it has) and the value of its `rport` parameter (when it
    /// has one without a value), in place.
    ///
    /// The received bytes are edited where the parameters go, the header fields and the cached
    /// essentials move with them, and the message stays parsed: nothing is serialized or parsed
    /// again, every other field still serializes byte-exact, and ``essentials`` reads the new values.
    /// Returns false, changing nothing, for a message that is not as parsed (its headers were
    /// changed, or it was built): edit its Via as a header then.
    @discardableResult
    package mutating func stampTopVia(received: String?, rport: Int?) -> Bool {
        guard var e = storage.cache, e.hasTopVia, let via = topViaFieldIndex() else { return false }
        let source = storage.headers.source
        var edits = ViaEdits()
        if let rport, let r = e.viaRport, r.range.isEmpty {
            edits.add(ViaEdit(at: r.range, text: .port(max(rport, 0))))
        }
        if let received {
            if let r = e.viaReceived {
                if !source[r.range].elementsEqual(received.utf8) {
                    edits.add(ViaEdit(at: r.range, text: .received(received, prefixed: false)))
                }
            } else {
                let end = Int(e.viaEnd)
                edits.add(ViaEdit(at: end..<end, text: .received(received, prefixed: true)))
            }
        }
        guard !edits.isEmpty else { return true }

        var bytes: [UInt8] = []
        bytes.reserveCapacity(source.count + edits.growth)
        var copied = 0
        var rportValue: Span?
        var receivedValue: Span?
        edits.each { edit in
            bytes.append(contentsOf: source[copied..<edit.at.lowerBound])
            let start = bytes.count
            edit.write(into: &bytes)
            switch edit.text {
            case .port:
                // The digits after the '='.
                rportValue = Span(start + 1..<bytes.count)
            case .received(let value, _):
                receivedValue = Span(bytes.count - value.utf8.count..<bytes.count)
            }
            copied = edit.at.upperBound
        }
        bytes.append(contentsOf: source[copied...])

        /// Where a position of the old bytes is in the new ones. `end`: an insertion at the very
        /// position moves it (the end of the Via's value, of its line); otherwise the inserted
        /// bytes go after it (a parameter that ends where the new one starts).
        func moved(_ x: Int, end: Bool = false) -> Int {
            var d = 0
            edits.each { edit in
                if edit.at.lowerBound < x || (end && edit.at.lowerBound == x && edit.at.isEmpty) {
                    d += edit.count - edit.at.count
                }
            }
            return x + d
        }
        func moved(_ s: Span?) -> Span? { s.map { Span(moved(Int($0.lo))..<moved(Int($0.hi))) } }

        e.viaTransport = moved(e.viaTransport) ?? e.viaTransport
        e.viaHost = moved(e.viaHost) ?? e.viaHost
        e.viaBranch = moved(e.viaBranch)
        e.viaMaddr = moved(e.viaMaddr)
        e.callID = moved(e.callID)
        e.cseqMethod = moved(e.cseqMethod)
        e.fromTag = moved(e.fromTag)
        e.toTag = moved(e.toTag)
        e.requestMethod = moved(e.requestMethod)
        e.viaRport = rportValue ?? moved(e.viaRport)
        e.viaReceived = receivedValue ?? moved(e.viaReceived)
        e.viaEnd = Int32(truncatingIfNeeded: moved(Int(e.viaEnd), end: true))

        makeUnique()
        // The fields from the top Via's on move (those before it end before every edit), in place.
        for i in via..<storage.headers.fields.count {
            guard case .raw(let id, let ls, let ne, let vs, let ve, let le) = storage.headers.fields[i] else {
                continue
            }
            let end = i == via
            storage.headers.fields[i] = .raw(
                id: id, lineStart: Int32(moved(Int(ls))), nameEnd: Int32(moved(Int(ne))),
                valueStart: Int32(moved(Int(vs))), valueEnd: Int32(moved(Int(ve), end: end)),
                lineEnd: Int32(moved(Int(le), end: end)))
        }
        let body = storage.body
        storage.body = bytes[moved(body.startIndex)..<moved(body.endIndex)]
        if let wire = storage.wire { storage.wire = bytes[moved(wire.startIndex)..<moved(wire.endIndex)] }
        if case .request(var line) = storage.startLine, case .raw(_, let ranges) = line.storage {
            // The start line is before every edit: its ranges hold in the new bytes.
            line.storage = .raw(bytes, ranges)
            storage.startLine = .request(line)
        }
        storage.headers.source = bytes
        storage.cache = e
        return true
    }

    /// The index of the header field that holds the top Via.
    private func topViaFieldIndex() -> Int? {
        storage.headers.fields.firstIndex { $0.id == KnownHeader.via }
    }
}

/// One edit of a top Via's bytes: `at` (empty for an insertion) becomes `text`.
private struct ViaEdit {
    enum Text {
        /// `=digits`, the value of a valueless rport (RFC 3581 §4).
        case port(Int)
        /// The received address, with `;received=` before it when the parameter is new.
        case received(String, prefixed: Bool)
    }

    var at: Range<Int>
    var text: Text

    /// The bytes it writes.
    var count: Int {
        switch text {
        case .port(let n): return 1 + Self.digits(n)
        case .received(let value, let prefixed): return (prefixed ? Self.receivedPrefix.count : 0) + value.utf8.count
        }
    }

    static let receivedPrefix: [UInt8] = Array(";received=".utf8)

    static func digits(_ n: Int) -> Int {
        var count = 1
        var rest = n / 10
        while rest > 0 {
            count += 1
            rest /= 10
        }
        return count
    }

    func write(into bytes: inout [UInt8]) {
        switch text {
        case .port(let n):
            bytes.append(ASCII.equals)
            var divisor = 1
            for _ in 1..<Self.digits(n) { divisor *= 10 }
            while divisor > 0 {
                bytes.append(UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: n / divisor % 10))
                divisor /= 10
            }
        case .received(let value, let prefixed):
            if prefixed { bytes.append(contentsOf: Self.receivedPrefix) }
            bytes.append(contentsOf: value.utf8)
        }
    }
}

/// At most two edits, in order of position; at the same position the rport value (right after
/// its name) goes before `;received=…`. Held inline: no array is made per request.
private struct ViaEdits {
    private var first: ViaEdit?
    private var second: ViaEdit?

    var isEmpty: Bool { first == nil }

    /// How many bytes the edits add.
    var growth: Int {
        var n = 0
        each { n += $0.count - $0.at.count }
        return n
    }

    /// Adds `edit`; the rport edit is added first.
    mutating func add(_ edit: ViaEdit) {
        guard let f = first else {
            first = edit
            return
        }
        if edit.at.lowerBound < f.at.lowerBound {
            second = f
            first = edit
        } else {
            second = edit
        }
    }

    func each(_ body: (ViaEdit) -> Void) {
        if let first { body(first) }
        if let second { body(second) }
    }
}
