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
        var edits: [(at: Range<Int>, bytes: [UInt8])] = []
        var rportValue: [UInt8]?
        if let rport, let r = e.viaRport, r.range.isEmpty {
            let digits = Array(String(rport).utf8)
            rportValue = digits
            edits.append((r.range, [ASCII.equals] + digits))
        }
        var receivedValue: [UInt8]?
        if let received {
            let value = Array(received.utf8)
            if let r = e.viaReceived {
                if !source[r.range].elementsEqual(value) {
                    receivedValue = value
                    edits.append((r.range, value))
                }
            } else {
                receivedValue = value
                edits.append((Int(e.viaEnd)..<Int(e.viaEnd), Array(";received=".utf8) + value))
            }
        }
        if edits.isEmpty { return true }
        // At the same place, `=port` (right after the rport name) goes before `;received=…`.
        edits.sort { $0.at.lowerBound < $1.at.lowerBound }

        var bytes: [UInt8] = []
        bytes.reserveCapacity(source.count + edits.reduce(0) { $0 + $1.bytes.count })
        var copied = 0
        for edit in edits {
            bytes += source[copied..<edit.at.lowerBound]
            bytes += edit.bytes
            copied = edit.at.upperBound
        }
        bytes += source[copied...]

        /// Where a position of the old bytes is in the new ones. `end`: an insertion at the very
        /// position moves it (the end of the Via's value, of its line); otherwise the inserted
        /// bytes go after it (a parameter that ends where the new one starts).
        func moved(_ x: Int, end: Bool = false) -> Int {
            var d = 0
            for edit in edits where edit.at.lowerBound < x || (end && edit.at.lowerBound == x && edit.at.isEmpty) {
                d += edit.bytes.count - edit.at.count
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
        if let r = e.viaRport {
            let start = moved(Int(r.lo))
            e.viaRport = Span(rportValue.map { start + 1..<start + 1 + $0.count } ?? start..<moved(Int(r.hi)))
        }
        if let value = receivedValue {
            if let r = e.viaReceived {
                let start = moved(Int(r.lo))
                e.viaReceived = Span(start..<start + value.count)
            } else {
                let end = moved(Int(e.viaEnd), end: true)
                e.viaReceived = Span(end - value.count..<end)
            }
        } else {
            e.viaReceived = moved(e.viaReceived)
        }
        e.viaEnd = Int32(truncatingIfNeeded: moved(Int(e.viaEnd), end: true))

        var fields = storage.headers.fields
        for i in fields.indices {
            guard case .raw(let id, let ls, let ne, let vs, let ve, let le) = fields[i] else { continue }
            let end = i == via
            fields[i] = .raw(
                id: id, lineStart: Int32(moved(Int(ls))), nameEnd: Int32(moved(Int(ne))),
                valueStart: Int32(moved(Int(vs))), valueEnd: Int32(moved(Int(ve), end: end)),
                lineEnd: Int32(moved(Int(le), end: end)))
        }

        makeUnique()
        let body = storage.body
        storage.body = bytes[moved(body.startIndex)..<moved(body.endIndex)]
        if let wire = storage.wire { storage.wire = bytes[moved(wire.startIndex)..<moved(wire.endIndex)] }
        if case .request(var line) = storage.startLine, case .raw(_, let ranges) = line.storage {
            // The start line is before every edit: its ranges hold in the new bytes.
            line.storage = .raw(bytes, ranges)
            storage.startLine = .request(line)
        }
        storage.headers = SIPHeaders(source: bytes, fields: fields)
        storage.cache = e
        return true
    }

    /// The index of the header field that holds the top Via.
    private func topViaFieldIndex() -> Int? {
        storage.headers.fields.firstIndex { $0.id == KnownHeader.via }
    }
}
