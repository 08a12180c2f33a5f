extension SIPMessage {
    /// The message as bytes for the wire.
    ///
    /// A parsed message nobody changed comes out byte-identical to what was received (trailing bytes
    /// after its body excluded). Otherwise the start line and changed fields are written canonically,
    /// unchanged fields byte-identical, and Content-Length is set to the body's size in bytes (§20.14).
    public func serialized() -> [UInt8] {
        if let wire, !startLineChanged, !bodyChanged, cache != nil { return Array(wire) }
        return serialized(canonical: false)
    }

    /// The message with every field written canonically (`Name: value`, folds removed, long names).
    public func serialized(canonical: Bool) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity((wire?.count ?? 256) + 64)
        writeStartLine(into: &out)
        var sawContentLength = false
        let h = headers
        for i in h.fields.indices {
            let id = h.fields[i].id
            if id == KnownHeader.contentLength {
                if sawContentLength { continue }
                sawContentLength = true
                if h.isRaw(i), !canonical, h.valueText(at: i) == String(body.count) {
                    out += rawLine(h, i)
                } else {
                    out += Array("Content-Length: \(body.count)\r\n".utf8)
                }
                continue
            }
            if h.isRaw(i), !canonical {
                out += rawLine(h, i)
            } else {
                out += Array(h.name(at: i).text.utf8)
                out += [ASCII.colon, ASCII.sp]
                out += Array(h.valueText(at: i).utf8)
                out += [ASCII.cr, ASCII.lf]
            }
        }
        if !sawContentLength { out += Array("Content-Length: \(body.count)\r\n".utf8) }
        out += [ASCII.cr, ASCII.lf]
        out += body
        return out
    }

    /// The message as text (the body decoded as UTF-8, with replacement characters where it is not).
    public var text: String { String(decoding: serialized(), as: UTF8.self) }

    private func rawLine(_ h: SIPHeaders, _ i: Int) -> ArraySlice<UInt8> {
        guard case .raw(_, let ls, _, _, _, let le) = h.fields[i] else { return [] }
        var slice = h.source[Int(ls)..<Int(le)]
        // A line that ended in a bare LF on the wire is sent with CRLF.
        if slice.last == ASCII.lf, slice.count >= 2, slice[slice.endIndex - 2] != ASCII.cr {
            var a = Array(slice.dropLast())
            a += [ASCII.cr, ASCII.lf]
            slice = a[...]
        }
        return slice
    }

    private func writeStartLine(into out: inout [UInt8]) {
        if !startLineChanged, let wire, let lf = wire.firstIndex(of: ASCII.lf) {
            var line = wire[wire.startIndex..<lf]
            if line.last == ASCII.cr { line = line.dropLast() }
            out += line
            out += [ASCII.cr, ASCII.lf]
            return
        }
        switch startLine {
        case .request(let l):
            out += Array("\(l.method.rawValue) \(l.uri.description) \(l.version)\r\n".utf8)
        case .response(let l):
            out += Array("\(l.version) \(l.status) \(l.reason)\r\n".utf8)
        }
    }
}

extension SIPMessage: Equatable {
    /// Messages are equal when their start lines, their header fields (names compared as names,
    /// values with folds and runs of LWS made one SP, in order) and their bodies are. Content-Length
    /// is left out: it follows from the body, which is compared.
    public static func == (a: SIPMessage, b: SIPMessage) -> Bool {
        guard a.startLine == b.startLine, a.body.elementsEqual(b.body) else { return false }
        let x = a.headers.filter { $0.name != .contentLength }, y = b.headers.filter { $0.name != .contentLength }
        return x == y
    }
}

extension SIPMessage: CustomStringConvertible {
    public var description: String { text }
}
