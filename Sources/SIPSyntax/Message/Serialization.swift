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
    ///
    /// Written straight into one buffer: no field goes through a `String` or an array of its own.
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
                    appendRawLine(h, i, into: &out)
                } else {
                    Self.appendContentLength(body.count, into: &out)
                }
                continue
            }
            if h.isRaw(i), !canonical {
                appendRawLine(h, i, into: &out)
            } else {
                out.append(contentsOf: h.name(at: i).text.utf8)
                out.append(ASCII.colon)
                out.append(ASCII.sp)
                if case .text(_, let value) = h.fields[i], SIPHeaders.isPlain(value) {
                    out.append(contentsOf: value.utf8)
                } else {
                    let (bytes, range) = h.valueBytes(at: i)
                    appendUnfolded(bytes, range, into: &out)
                }
                out.append(ASCII.cr)
                out.append(ASCII.lf)
            }
        }
        if !sawContentLength { Self.appendContentLength(body.count, into: &out) }
        out.append(ASCII.cr)
        out.append(ASCII.lf)
        out.append(contentsOf: body)
        return out
    }

    /// The message as text (the body decoded as UTF-8, with replacement characters where it is not).
    public var text: String { String(decoding: serialized(), as: UTF8.self) }

    /// `Content-Length: N` and its CRLF (RFC 3261 §20.14).
    private static func appendContentLength(_ n: Int, into out: inout [UInt8]) {
        out.append(contentsOf: "Content-Length: ".utf8)
        out.append(contentsOf: String(n).utf8)
        out.append(ASCII.cr)
        out.append(ASCII.lf)
    }

    /// A field as it was received; a line that ended in a bare LF on the wire is sent with CRLF.
    private func appendRawLine(_ h: SIPHeaders, _ i: Int, into out: inout [UInt8]) {
        guard case .raw(_, let ls, _, _, _, let le) = h.fields[i] else { return }
        var end = Int(le)
        let bareLF = end - Int(ls) >= 2 && h.source[end - 1] == ASCII.lf && h.source[end - 2] != ASCII.cr
        if bareLF { end -= 1 }
        out.append(contentsOf: h.source[Int(ls)..<end])
        if bareLF {
            out.append(ASCII.cr)
            out.append(ASCII.lf)
        }
    }

    private func writeStartLine(into out: inout [UInt8]) {
        if !startLineChanged, let wire, let lf = wire.firstIndex(of: ASCII.lf) {
            var line = wire[wire.startIndex..<lf]
            if line.last == ASCII.cr { line = line.dropLast() }
            out.append(contentsOf: line)
            out.append(ASCII.cr)
            out.append(ASCII.lf)
            return
        }
        switch startLine {
        case .request(let l):
            out.append(contentsOf: l.method.rawValue.utf8)
            out.append(ASCII.sp)
            if case .sip(let u) = l.uri { u.write(into: &out) } else { out.append(contentsOf: l.uri.description.utf8) }
            out.append(ASCII.sp)
            out.append(contentsOf: l.version.utf8)
        case .response(let l):
            out.append(contentsOf: l.version.utf8)
            out.append(ASCII.sp)
            out.append(contentsOf: String(l.status).utf8)
            out.append(ASCII.sp)
            out.append(contentsOf: l.reason.utf8)
        }
        out.append(ASCII.cr)
        out.append(ASCII.lf)
    }
}

extension SIPMessage: Equatable {
    /// Messages are equal when their start lines, their header fields (names compared as names,
    /// values with folds and runs of LWS made one SP, in order) and their bodies are. Content-Length
    /// is left out: it follows from the body, which is compared.
    public static func == (a: SIPMessage, b: SIPMessage) -> Bool {
        guard a.startLine == b.startLine, a.body.elementsEqual(b.body) else { return false }
        let x = a.headers.filter { $0.name != .contentLength }
        let y = b.headers.filter { $0.name != .contentLength }
        return x == y
    }
}

extension SIPMessage: CustomStringConvertible {
    /// The message as text, as ``text`` gives it.
    public var description: String { text }
}
