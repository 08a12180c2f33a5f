import SIPSyntax

/// A minimal JSON value for `sippet parse --json` (keys keep their insertion order).
indirect enum JSON {
    case string(String)
    case number(Int)
    case bool(Bool)
    case null
    case array([JSON])
    case object([(String, JSON)])

    var rendered: String {
        var out = ""
        render(into: &out)
        return out
    }

    func render(into out: inout String) {
        switch self {
        case .string(let s): JSON.escape(s, into: &out)
        case .number(let n): out += String(n)
        case .bool(let b): out += b ? "true" : "false"
        case .null: out += "null"
        case .array(let a):
            out += "["
            for (i, v) in a.enumerated() {
                if i > 0 { out += "," }
                v.render(into: &out)
            }
            out += "]"
        case .object(let o):
            out += "{"
            for (i, (k, v)) in o.enumerated() {
                if i > 0 { out += "," }
                JSON.escape(k, into: &out)
                out += ":"
                v.render(into: &out)
            }
            out += "}"
        }
    }

    static func escape(_ s: String, into out: inout String) {
        out += "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if u.value < 0x20 || u.value == 0x7F {
                    let hex = String(u.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(u)
                }
            }
        }
        out += "\""
    }

    static func optional(_ s: String?) -> JSON { s.map(JSON.string) ?? .null }
    static func optional(_ n: Int?) -> JSON { n.map(JSON.number) ?? .null }
}

/// The typed view of a message that `sippet parse --json` prints.
enum JSONView {
    static func message(_ m: SIPMessage) -> JSON {
        var o: [(String, JSON)] = []
        switch m.startLine {
        case .request(let l):
            o.append(("type", .string("request")))
            o.append(("method", .string(l.method.rawValue)))
            o.append(("uri", uri(l.uri)))
            o.append(("status", .null))
            o.append(("reason", .null))
        case .response(let l):
            o.append(("type", .string("response")))
            o.append(("method", .null))
            o.append(("uri", .null))
            o.append(("status", .number(l.status)))
            o.append(("reason", .string(l.reason)))
        }
        o.append(
            (
                "headers",
                .array(m.headers.map { .object([("name", .string($0.name.text)), ("value", .string($0.value))]) })
            ))
        o.append(("via", .array(m.via.map(via))))
        o.append(("from", m.from.map(nameAddress) ?? .null))
        o.append(("to", m.to.map(nameAddress) ?? .null))
        if !m.headers.contains(.contact) {
            o.append(("contact", .null))
        } else if m.contact.contains(.wildcard) {
            o.append(("contact", .string("*")))
        } else {
            o.append(("contact", .array(m.contact.compactMap { $0.address.map(nameAddress) })))
        }
        o.append(("callID", .optional(m.callID)))
        o.append(
            (
                "cseq",
                m.cseq.map { .object([("seq", .number(Int($0.sequence))), ("method", .string($0.method.rawValue))]) }
                    ?? .null
            ))
        o.append(("maxForwards", .optional(m.maxForwards)))
        o.append(("contentLength", .optional(try? m.headers.first(.contentLength))))
        o.append(("bodyLength", .number(m.body.count)))
        return .object(o)
    }

    static func pairs(_ p: [SIPParameter]) -> JSON {
        .array(p.map { .array([.string($0.name), $0.value.map { .string($0) } ?? .null]) })
    }

    static func uri(_ u: URI) -> JSON {
        switch u {
        case .sip(let s):
            return .object([
                ("scheme", .string(s.isSecure ? "sips" : "sip")), ("user", .optional(s.user)),
                ("password", .optional(s.password)),
                ("host", .string(s.host.text)), ("port", .optional(s.port)), ("params", pairs(Array(s.parameters))),
                ("headers", pairs(s.headers)),
            ])
        case .tel(let t):
            return .object([
                ("scheme", .string("tel")), ("user", .string(t.number)), ("password", .null), ("host", .null),
                ("port", .null),
                ("params", pairs(Array(t.parameters))), ("headers", .array([])),
            ])
        case .absolute(let a):
            return .object([
                ("scheme", .string(a.scheme.lowercased())), ("user", .null), ("password", .null), ("host", .null),
                ("port", .null),
                ("params", .array([])), ("headers", .array([])), ("opaque", .string(a.rest)),
            ])
        }
    }

    static func via(_ v: Via) -> JSON {
        .object([
            ("transport", .string(v.transport)), ("host", .string(v.host.text)), ("port", .optional(v.port)),
            ("params", pairs(Array(v.parameters))),
        ])
    }

    static func nameAddress(_ n: NameAddress) -> JSON {
        .object([("display", .optional(n.displayName)), ("uri", uri(n.uri)), ("params", pairs(Array(n.parameters)))])
    }
}
