/// Why an SDP body could not be read (RFC 8866 §5).
public struct SDPError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The line, from 1.
    public var line: Int
    /// What is wrong with it.
    public var reason: String

    /// The error of line `line`.
    public init(line: Int, reason: String) {
        self.line = line
        self.reason = reason
    }

    /// `SDP line N: reason`.
    public var description: String { "SDP line \(line): \(reason)" }
}

/// One `type=value` line of SDP (RFC 8866 §5), its value as written.
public struct SDPLine: Sendable, Hashable, CustomStringConvertible {
    /// The one-letter type (`v`, `o`, `m`, `a`, …).
    public var type: Character
    /// The text after `=`.
    public var value: String

    /// A line of `type` with `value`.
    public init(_ type: Character, _ value: String) {
        self.type = type
        self.value = value
    }

    /// `type=value`.
    public var description: String { "\(type)=\(value)" }
}

/// A media description (RFC 8866 §5.14): its `m=` line and the lines under it, in order.
public struct MediaDescription: Sendable, Hashable {
    /// Equal when the fields and lines are (however the `m=` line was spaced).
    public static func == (a: MediaDescription, b: MediaDescription) -> Bool {
        a.media == b.media && a.port == b.port && a.portCount == b.portCount && a.proto == b.proto
            && a.formats == b.formats && a.lines == b.lines
    }

    /// Hashes the fields and lines.
    public func hash(into h: inout Hasher) {
        h.combine(media)
        h.combine(port)
        h.combine(proto)
        h.combine(formats)
        h.combine(lines)
    }

    /// The media type (`audio`, `video`, `application`, …).
    public var media: String
    /// The transport port; 0 refuses or disables the stream (RFC 3264 §6, §8.2).
    public var port: Int
    /// The number of ports (`49170/2`), when written.
    public var portCount: Int?
    /// The transport protocol (`RTP/AVP`, `RTP/SAVP`, `UDP/TLS/RTP/SAVPF`, …).
    public var proto: String
    /// The formats: RTP payload types for RTP protocols.
    public var formats: [String]
    /// The lines after the `m=` line (`i=`, `c=`, `b=`, `k=`, `a=`), in order, unknown ones kept.
    public var lines: [SDPLine]
    /// The `m=` value as read, and as its fields wrote it then: written as read while the fields
    /// have not changed.
    var read: (raw: String, canonical: String)?

    /// A media description with these values and no other line.
    public init(
        media: String, port: Int, portCount: Int? = nil, proto: String, formats: [String], lines: [SDPLine] = []
    ) {
        self.media = media
        self.port = port
        self.portCount = portCount
        self.proto = proto
        self.formats = formats
        self.lines = lines
    }

    /// The `m=` line's value: as read while the fields are unchanged, else from the fields.
    public var mediaLineValue: String {
        if let read, read.canonical == fieldsValue { return read.raw }
        return fieldsValue
    }

    /// The fields written with single spaces.
    var fieldsValue: String {
        "\(media) \(port)\(portCount.map { "/\($0)" } ?? "") \(proto)"
            + (formats.isEmpty ? "" : " " + formats.joined(separator: " "))
    }

    /// The attributes (`a=name:value` or `a=name`), in order.
    public var attributes: [(name: String, value: String?)] { SessionDescription.attributes(of: lines) }

    /// The value of the first attribute named `name`; nil when absent (and for a flag).
    public func attribute(_ name: String) -> String? { attributes.first { $0.name == name }?.value }

    /// `a=rtpmap` for payload type `format`: the encoding name and clock rate (`PCMU/8000`).
    public func rtpmap(_ format: String) -> String? {
        for a in attributes where a.name == "rtpmap" {
            guard let v = a.value, let space = v.firstIndex(of: " "), v[..<space] == format else { continue }
            return String(v[v.index(after: space)...])
        }
        return nil
    }

    /// The direction attribute (RFC 3264 §5.1): `sendrecv` when none is written here.
    public var direction: String {
        attributes.first { ["sendrecv", "sendonly", "recvonly", "inactive"].contains($0.name) }?.name ?? "sendrecv"
    }
}

/// A session description (RFC 8866): the session-level lines and the media descriptions, each
/// line kept as written, in order, so that a body read and written again with no change is
/// byte for byte the same.
public struct SessionDescription: Sendable, Hashable, CustomStringConvertible {
    /// The session-level lines (`v=`, `o=`, `s=`, `c=`, `t=`, `a=`, …) in order.
    public var sessionLines: [SDPLine]
    /// The media descriptions, in order (RFC 3264 §6: an answer has as many, in the same order).
    public var media: [MediaDescription]
    /// The line ending the body used (`\r\n` as RFC 8866 §5 asks, or a bare `\n`, which §5 asks
    /// readers to accept).
    public var lineEnding: String
    /// Whether the last line had its line ending.
    public var endsWithLineEnding: Bool

    /// A description with these lines, written with CRLF.
    public init(sessionLines: [SDPLine], media: [MediaDescription]) {
        self.sessionLines = sessionLines
        self.media = media
        lineEnding = "\r\n"
        endsWithLineEnding = true
    }

    /// The most lines a body may have: more is refused, so that hostile input stays bounded.
    public static let maxLines = 1024

    /// Reads an SDP body (RFC 8866 §5): `type=value` lines, `v=` first, a one-letter type of a
    /// lower-case letter. Lines are kept as written; the `m=` lines are read into their fields.
    public init(_ text: String) throws(SDPError) {
        let bytes = Array(text.utf8)
        lineEnding = bytes.firstIndex(of: 0x0A).map { $0 > 0 && bytes[$0 - 1] == 0x0D ? "\r\n" : "\n" } ?? "\r\n"
        endsWithLineEnding = bytes.last == 0x0A
        // Split on LF by bytes ("\r\n" is one Character in Swift); a CR before it is dropped.
        var rawLines = bytes.split(separator: 0x0A, omittingEmptySubsequences: false)
        if endsWithLineEnding { rawLines.removeLast() }
        guard rawLines.count <= Self.maxLines else { throw SDPError(line: Self.maxLines + 1, reason: "too many lines") }
        sessionLines = []
        media = []
        for (i, raw) in rawLines.enumerated() {
            var line = raw
            // A line ended by LF loses the CRs before it (CRLF, or a stray CR that no writer
            // could keep apart from the line ending); a last line with no LF keeps its CRs.
            if i < rawLines.count - 1 || endsWithLineEnding {
                while line.last == 0x0D { line.removeLast() }
            }
            guard line.count >= 2, let type = line.first, line[line.startIndex + 1] == UInt8(ascii: "="),
                type >= UInt8(ascii: "a"), type <= UInt8(ascii: "z")
            else { throw SDPError(line: i + 1, reason: "not type=value") }
            let kind = Character(Unicode.Scalar(type))
            let value = String(decoding: line.dropFirst(2), as: UTF8.self)
            if i == 0, kind != "v" { throw SDPError(line: 1, reason: "the first line is not v=") }
            if kind == "m" {
                media.append(try Self.mediaLine(value, line: i + 1))
            } else if media.isEmpty {
                sessionLines.append(SDPLine(kind, value))
            } else {
                media[media.count - 1].lines.append(SDPLine(kind, value))
            }
        }
        guard !sessionLines.isEmpty else { throw SDPError(line: 1, reason: "empty") }
    }

    /// `m=<media> <port>[/<count>] <proto> <fmt> …` (RFC 8866 §5.14).
    static func mediaLine(_ value: String, line: Int) throws(SDPError) -> MediaDescription {
        let fields = value.split(separator: " ", omittingEmptySubsequences: true)
        guard fields.count >= 3 else { throw SDPError(line: line, reason: "an m= line needs media, port and proto") }
        let portField = fields[1].split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard let port = Int(portField[0]), (0...65_535).contains(port) else {
            throw SDPError(line: line, reason: "the port is not 0-65535")
        }
        var count: Int?
        if portField.count == 2 {
            guard let c = Int(portField[1]), c > 0 else { throw SDPError(line: line, reason: "bad port count") }
            count = c
        }
        var m = MediaDescription(
            media: String(fields[0]), port: port, portCount: count, proto: String(fields[2]),
            formats: fields.dropFirst(3).map(String.init))
        m.read = (value, m.fieldsValue)
        return m
    }

    /// The body as text: each line and its line ending, as read (a media line written from its
    /// fields only when they changed).
    public var description: String {
        var out: [String] = sessionLines.map(\.description)
        for m in media {
            out.append("m=" + m.mediaLineValue)
            out += m.lines.map(\.description)
        }
        return out.joined(separator: lineEnding) + (endsWithLineEnding ? lineEnding : "")
    }

    /// The session-level attributes, in order.
    public var attributes: [(name: String, value: String?)] { Self.attributes(of: sessionLines) }

    /// The session's connection address (`c=IN IP4 192.0.2.1`): the address, when present.
    public var connectionAddress: String? {
        sessionLines.first { $0.type == "c" }.flatMap { Self.connectionAddress($0.value) }
    }

    /// The address of a `c=` value (`IN IP4 192.0.2.1/127` gives `192.0.2.1`).
    public static func connectionAddress(_ value: String) -> String? {
        let f = value.split(separator: " ")
        guard f.count >= 3 else { return nil }
        return String(f[2].prefix { $0 != "/" })
    }

    static func attributes(of lines: [SDPLine]) -> [(name: String, value: String?)] {
        lines.compactMap { l in
            guard l.type == "a" else { return nil }
            if let colon = l.value.firstIndex(of: ":") {
                return (String(l.value[..<colon]), String(l.value[l.value.index(after: colon)...]))
            }
            return (l.value, nil)
        }
    }

    /// Two descriptions are equal when their lines are.
    public static func == (a: SessionDescription, b: SessionDescription) -> Bool {
        a.sessionLines == b.sessionLines && a.media == b.media
    }

    /// Hashes the lines.
    public func hash(into h: inout Hasher) {
        h.combine(sessionLines)
        h.combine(media)
    }
}

extension SessionDescription {
    /// RFC 3264 §6: an answer to `offer` — one media description per offered one, in the same
    /// order. `choose` picks the formats accepted for each offered stream (nil refuses it: port
    /// 0, the offered formats kept, §6); an accepted stream gets `port` (counting up by 2 for
    /// each stream, as RTP and RTCP pairs) and `a=rtpmap` lines for the chosen formats copied from
    /// the offer. The direction answers the offer's (§6.1: sendonly gets recvonly and the other
    /// way round).
    public static func answer(
        to offer: SessionDescription, origin: String, address: String, port: Int,
        choose: (MediaDescription) -> [String]?
    ) -> SessionDescription {
        let ip = address.contains(":") ? "IP6" : "IP4"
        var next = port
        let answered: [MediaDescription] = offer.media.map { m in
            guard m.port != 0, let formats = choose(m), !formats.isEmpty else {
                return MediaDescription(media: m.media, port: 0, proto: m.proto, formats: m.formats)
            }
            var lines: [SDPLine] = []
            for f in formats {
                if let map = m.rtpmap(f) { lines.append(SDPLine("a", "rtpmap:\(f) \(map)")) }
                for a in m.attributes where a.name == "fmtp" && a.value?.hasPrefix(f + " ") == true {
                    lines.append(SDPLine("a", "fmtp:\(a.value!)"))
                }
            }
            let direction =
                switch m.direction {
                case "sendonly": "recvonly"
                case "recvonly": "sendonly"
                case "inactive": "inactive"
                default: "sendrecv"
                }
            lines.append(SDPLine("a", direction))
            defer { next += 2 }
            return MediaDescription(media: m.media, port: next, proto: m.proto, formats: formats, lines: lines)
        }
        let session = [
            SDPLine("v", "0"), SDPLine("o", origin), SDPLine("s", "-"), SDPLine("c", "IN \(ip) \(address)"),
            SDPLine("t", "0 0"),
        ]
        return SessionDescription(sessionLines: session, media: answered)
    }
}
