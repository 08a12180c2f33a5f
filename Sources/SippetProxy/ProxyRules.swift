import SIPSyntax

/// The request checks and edits of RFC 3261 §16.3, §16.4 and §16.6 that need no state: values in,
/// values out, so that each rule is tested by itself.
public enum ProxyRules {
    /// RFC 3261 §16.3: what a proxy checks before it proxies a request, and the response when the
    /// check fails — 416 for a Request-URI scheme it does not know (item 2), 483 when Max-Forwards
    /// is 0 (item 3), 482 for a loop (item 4, see ``isLoop(_:isLocal:)``), 420 with Unsupported
    /// for a Proxy-Require (item 6: this proxy supports no extension there), 440 when
    /// Max-Breadth is 0 (RFC 5393 §5). Nil when the request may be proxied.
    public static func check(_ request: SIPMessage, isLocal: (String, Int?) -> Bool) -> SIPMessage? {
        guard let uri = request.requestURI else { return nil }
        switch uri {
        case .sip: break
        default:
            if uri.description.prefix(while: { $0 != ":" }).lowercased() != "tel" {
                return SIPRejection(status: 416, detail: "the Request-URI scheme is not supported").response(
                    to: request)
            }
        }
        if let mf = request.maxForwards, mf <= 0 {
            return SIPRejection(status: 483, detail: "Max-Forwards is 0").response(to: request)
        }
        if isLoop(request, isLocal: isLocal) {
            return SIPRejection(status: 482, detail: "the request came back with this proxy's branch").response(
                to: request)
        }
        let required = request.headers.values(.proxyRequire).flatMap { $0.split(separator: ",") }.map {
            String($0.filter { $0 != " " && $0 != "\t" })
        }.filter { !$0.isEmpty }
        if !required.isEmpty {
            let unsupported = SIPHeaderField(name: .unsupported, value: required.joined(separator: ", "))
            return SIPRejection(
                status: 420, detail: "Proxy-Require names extensions this proxy does not have",
                headers: [
                    unsupported
                ]
            ).response(to: request)
        }
        if let breadth = request.headers[SIPHeaderName("Max-Breadth")].flatMap({ Int($0.filter { $0 != " " }) }),
            breadth <= 0
        {
            return SIPRejection(status: 440, reason: "Max-Breadth Exceeded", detail: "Max-Breadth is 0").response(
                to: request)
        }
        return nil
    }

    /// The magic cookie and the mark of the branches this proxy writes.
    static let branchPrefix = "z9hG4bK-sp"

    /// RFC 3261 §16.6 item 8: a branch for a copy of `request` that lets §16.3 item 4 tell a loop
    /// from a spiral — the magic cookie, a hash of what a spiral changes (the Request-URI as
    /// received, the From and To tags, the Call-ID, the CSeq number, Proxy-Require and
    /// Proxy-Authorization), and `unique` to tell the copies apart. (The topmost Via, which the RFC
    /// also hashes, is left out: it is the previous hop's, which differs on every pass of a loop.)
    public static func branch(for request: SIPMessage, unique: String) -> String {
        branchPrefix + hex(loopHash(request)) + "." + unique
    }

    /// §16.3 item 4: whether `request` carries a Via of this element (`isLocal` on its sent-by)
    /// whose branch has the hash this request has now: it was here before with nothing a spiral
    /// changes, so it loops.
    public static func isLoop(_ request: SIPMessage, isLocal: (String, Int?) -> Bool) -> Bool {
        guard let vias = try? request.headers.all(.via) else { return false }
        var own: String?
        for via in vias {
            guard let b = via.branch, b.hasPrefix(branchPrefix), isLocal(via.host.text, via.port) else { continue }
            let hashPart = b.dropFirst(branchPrefix.count).prefix { $0 != "." }
            if own == nil { own = hex(loopHash(request)) }
            if hashPart == own! { return true }
        }
        return false
    }

    static func loopHash(_ request: SIPMessage) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        func mix(_ s: String?) {
            for b in (s ?? "").utf8 {
                h ^= UInt64(b)
                h = h &* 0x100_0000_01b3
            }
            h ^= 0xff
            h = h &* 0x100_0000_01b3
        }
        mix(request.requestURI?.description)
        mix(request.fromTag)
        mix(request.toTag)
        mix(request.callID)
        mix(request.cseq.map { String($0.sequence) })
        for v in request.headers.values(.proxyRequire) { mix(v) }
        for v in request.headers.values(.proxyAuthorization) { mix(v) }
        return h
    }

    /// RFC 3261 §16.4: the Route processing of a received request. A Request-URI this proxy put in
    /// a Record-Route means the previous hop was a strict router: the last Route becomes the
    /// Request-URI. Then every Route on top that names this proxy is removed (two when it
    /// record-routed twice, §16.6 item 4). Returns whether a Route of this proxy was removed.
    @discardableResult
    public static func processRoutes(_ request: inout SIPMessage, isLocal: (String, Int?) -> Bool) -> Bool {
        if let sip = request.requestURI?.sipURI, isLocal(sip.host.text, sip.port),
            sip.parameters.value("lr") != nil
                || sip.escapedUser == nil && request.headers.contains(.route),
            let last = request.headers.indices(of: .route).last,
            let value = try? NameAddress(request.headers[last].value), case .request(var line) = request.startLine
        {
            // A strict router sent it: RFC 3261 §16.4, the Request-URI restored from the last Route.
            line.uri = value.uri
            request.startLine = .request(line)
            request.headers.remove(at: last)
        }
        var removed = false
        while let first = request.headers.indices(of: .route).first,
            let route = try? NameAddress(firstRouteValue(request.headers[first].value)),
            let sip = route.uri.sipURI, isLocal(sip.host.text, sip.port)
        {
            removeFirstRouteValue(&request, at: first)
            removed = true
        }
        return removed
    }

    /// The first value of a Route header field that may hold several, comma-separated.
    static func firstRouteValue(_ text: String) -> String {
        var depth = 0
        var quoted = false
        for (i, c) in zip(text.indices, text) {
            if c == "\"" { quoted.toggle() }
            if quoted { continue }
            if c == "<" { depth += 1 }
            if c == ">" { depth -= 1 }
            if c == ",", depth == 0 { return String(text[..<i]) }
        }
        return text
    }

    static func removeFirstRouteValue(_ request: inout SIPMessage, at index: Int) {
        let text = request.headers[index].value
        let first = firstRouteValue(text)
        if first.count == text.count {
            request.headers.remove(at: index)
        } else {
            let rest = text.dropFirst(first.count + 1).drop { $0 == " " || $0 == "\t" }
            request.headers.replaceValue(at: index, with: String(rest))
        }
    }

    /// RFC 3261 §16.6 items 3 and 4: a copy of `request` for one target — its Request-URI the
    /// target's, Max-Forwards one less (70 when it had none), `route` (a Path, RFC 3327, or a
    /// pre-loaded route set) on top of its Route, and `recordRoute` (outermost first: two
    /// entries when the request changes transport, so that each side reads an address it can
    /// reach) on top of its Record-Route.
    public static func copy(
        of request: SIPMessage, to uri: URI, route: [String] = [], recordRoute: [SIPURI] = [], maxBreadth: Int? = nil
    ) -> SIPMessage {
        var out = request
        if case .request(var line) = out.startLine {
            line.uri = uri
            out.startLine = .request(line)
        }
        let mf = request.maxForwards ?? 71
        out.headers.set(.maxForwards, String(max(0, mf - 1)))
        for r in route.reversed() { out.headers.insert(.route, r, at: 0) }
        for rr in recordRoute.reversed() {
            var u = rr
            u.parameters.set("lr", nil)
            out.headers.insert(.recordRoute, "<\(u)>", at: 0)
        }
        if let maxBreadth { out.headers.set(SIPHeaderName("Max-Breadth"), String(maxBreadth)) }
        return out
    }

    static func hex(_ v: UInt64) -> String {
        let s = String(v, radix: 16)
        return String(repeating: "0", count: 16 - s.count) + s
    }

}
