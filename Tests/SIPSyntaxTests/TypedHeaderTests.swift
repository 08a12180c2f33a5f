import Foundation
import Testing

@testable import SIPSyntax

/// One header value given to a typed key, erased so that cases of different keys share a test.
struct HeaderCase: Sendable, CustomTestStringConvertible {
    let header: String
    let value: String
    /// The canonical text of each value, in order.
    let canonical: [String]
    let isList: Bool
    let parse: @Sendable (String) throws(SIPParseError) -> [String]

    var testDescription: String { "\(header): \(value)" }
}

func hc<V>(_ key: SIPHeaderKey<V>, _ value: String, _ canonical: String...) -> HeaderCase {
    HeaderCase(
        header: key.name.text, value: value, canonical: canonical, isList: key.isList,
        parse: { (text: String) throws(SIPParseError) -> [String] in try key.parse(text).map { key.writeValue($0) } })
}

/// The RFC 3261 §20 / §25 examples (and those of the extension RFCs), with their canonical text.
let rfcExamples: [HeaderCase] = [
    hc(
        .accept, "application/sdp;level=1, application/x-private, text/html",
        "application/sdp;level=1", "application/x-private", "text/html"),
    hc(.accept, "*/*;q=0.5,  application/*", "*/*;q=0.5", "application/*"),
    hc(.accept, ""),
    hc(.acceptEncoding, "gzip", "gzip"),
    hc(.acceptEncoding, "gzip;q=1.0, identity; q=0.5, *;q=0", "gzip;q=1.0", "identity;q=0.5", "*;q=0"),
    hc(.acceptLanguage, "da, en-gb;q=0.8, en;q=0.7", "da", "en-gb;q=0.8", "en;q=0.7"),
    hc(.acceptLanguage, ""),
    hc(.alertInfo, "<http://www.example.com/sounds/moo.wav>", "<http://www.example.com/sounds/moo.wav>"),
    hc(.allow, "INVITE, ACK, OPTIONS, CANCEL, BYE", "INVITE", "ACK", "OPTIONS", "CANCEL", "BYE"),
    hc(.allow, ""),
    hc(.authenticationInfo, "nextnonce=\"47364c23432d2e131a5fb210812c\"", "nextnonce=\"47364c23432d2e131a5fb210812c\""),
    hc(
        .authorization,
        "Digest username=\"Alice\", realm=\"atlanta.com\",\r\n nonce=\"84a4cc6f3082121f32b42a2187831a9e\",\r\n response=\"7587245234b3434cc3412213e5f113a5432\"",
        "Digest username=\"Alice\", realm=\"atlanta.com\", nonce=\"84a4cc6f3082121f32b42a2187831a9e\", response=\"7587245234b3434cc3412213e5f113a5432\""
    ),
    hc(.authorization, "NoOneKnowsThisScheme opaque-data=here", "NoOneKnowsThisScheme opaque-data=here"),
    hc(
        .callInfo,
        "<http://wwww.example.com/alice/photo.jpg> ;purpose=icon,\r\n <http://www.example.com/alice/> ;purpose=info",
        "<http://wwww.example.com/alice/photo.jpg>;purpose=icon", "<http://www.example.com/alice/>;purpose=info"),
    hc(.contentDisposition, "session", "session"),
    hc(.contentDisposition, "icon;handling=optional", "icon;handling=optional"),
    hc(.contentEncoding, "gzip", "gzip"),
    hc(.contentLanguage, "fr", "fr"),
    hc(.contentLanguage, "en-US, es-419", "en-US", "es-419"),
    hc(.contentType, "application/sdp", "application/sdp"),
    hc(.contentType, "text/html; charset=ISO-8859-4", "text/html;charset=ISO-8859-4"),
    hc(.contentType, "multipart/mixed;boundary=7a9cbec02ceef655", "multipart/mixed;boundary=7a9cbec02ceef655"),
    hc(.date, "Sat, 13 Nov 2010 23:29:00 GMT", "Sat, 13 Nov 2010 23:29:00 GMT"),
    hc(.errorInfo, "<sip:not-in-service-recording@atlanta.com>", "<sip:not-in-service-recording@atlanta.com>"),
    hc(
        .inReplyTo, "70710@saturn.bell-tel.com, 17320@saturn.bell-tel.com",
        "70710@saturn.bell-tel.com", "17320@saturn.bell-tel.com"),
    hc(.mimeVersion, "1.0", "1.0"),
    hc(.organization, "Boxes by Bob", "Boxes by Bob"),
    hc(.organization, ""),
    hc(.priority, "emergency", "emergency"),
    hc(
        .proxyAuthenticate,
        "Digest realm=\"atlanta.com\",\r\n domain=\"sip:ss1.carrier.com\", qop=\"auth\",\r\n nonce=\"f84f1cec41e6cbe5aea9c8e88d359\",\r\n opaque=\"\", stale=FALSE, algorithm=MD5",
        "Digest realm=\"atlanta.com\", domain=\"sip:ss1.carrier.com\", qop=\"auth\", nonce=\"f84f1cec41e6cbe5aea9c8e88d359\", opaque=\"\", stale=FALSE, algorithm=MD5"
    ),
    hc(
        .proxyAuthorization,
        "Digest username=\"Alice\", realm=\"atlanta.com\",\r\n nonce=\"c60f3082ee1212b402a21831ae\",\r\n response=\"245f23415f11432b3434341c022\"",
        "Digest username=\"Alice\", realm=\"atlanta.com\", nonce=\"c60f3082ee1212b402a21831ae\", response=\"245f23415f11432b3434341c022\""
    ),
    hc(.proxyRequire, "foo", "foo"),
    hc(.require, "100rel", "100rel"),
    hc(.retryAfter, "18000;duration=3600", "18000;duration=3600"),
    hc(.retryAfter, "120 (I'm in a meeting)", "120 (I'm in a meeting)"),
    hc(.server, "HomeServer v2", "HomeServer v2"),
    hc(.subject, "Need more boxes", "Need more boxes"),
    hc(.subject, "Tech Support", "Tech Support"),
    hc(.subject, ""),
    hc(.supported, "100rel", "100rel"),
    hc(.supported, ""),
    hc(.timestamp, "54", "54"),
    hc(.timestamp, "54.3 0.2", "54.3 0.2"),
    hc(.unsupported, "foo", "foo"),
    hc(.userAgent, "Softphone Beta1.5", "Softphone Beta1.5"),
    hc(.userAgent, "SIPimp.org/0.2.5 (curses)", "SIPimp.org/0.2.5 (curses)"),
    hc(
        .userAgent, "Linphone/5.2.0 (Ubuntu 22.04; x86_64) LinphoneCore/5.3.0",
        "Linphone/5.2.0 (Ubuntu 22.04; x86_64) LinphoneCore/5.3.0"),
    hc(
        .warning, "307 isi.edu \"Session parameter 'foo' not understood\"",
        "307 isi.edu \"Session parameter 'foo' not understood\""),
    hc(
        .warning, "301 isi.edu \"Incompatible network address type 'E.164'\", 399 [2001:db8::1]:5060 \"x\"",
        "301 isi.edu \"Incompatible network address type 'E.164'\"", "399 [2001:db8::1]:5060 \"x\""),
    hc(
        .wwwAuthenticate,
        "Digest realm=\"atlanta.com\",\r\n domain=\"sip:boxesbybob.com\", qop=\"auth\",\r\n nonce=\"f84f1cec41e6cbe5aea9c8e88d359\",\r\n opaque=\"\", stale=FALSE, algorithm=MD5",
        "Digest realm=\"atlanta.com\", domain=\"sip:boxesbybob.com\", qop=\"auth\", nonce=\"f84f1cec41e6cbe5aea9c8e88d359\", opaque=\"\", stale=FALSE, algorithm=MD5"
    ),
    // RFC 6665
    hc(.event, "presence;id=1", "presence;id=1"),
    hc(.event, "dialog", "dialog"),
    hc(.allowEvents, "presence, dialog, message-summary", "presence", "dialog", "message-summary"),
    hc(.subscriptionState, "active;expires=60", "active;expires=60"),
    hc(.subscriptionState, "terminated;reason=timeout;retry-after=30", "terminated;reason=timeout;retry-after=30"),
    // RFC 3891, 3262, 4028, 3323, 3326, 3841
    hc(
        .replaces, "425928@bobster.example.org;to-tag=7743;from-tag=6472",
        "425928@bobster.example.org;to-tag=7743;from-tag=6472"),
    hc(
        .replaces, "98732@sip.example.com\r\n ;from-tag=r33th4x0r\r\n ;to-tag=ff87ff;early-only",
        "98732@sip.example.com;from-tag=r33th4x0r;to-tag=ff87ff;early-only"),
    hc(.rack, "776656 1 INVITE", "776656 1 INVITE"),
    hc(.sessionExpires, "4000;refresher=uac", "4000;refresher=uac"),
    hc(.sessionExpires, "1800", "1800"),
    hc(.minSE, "3600", "3600"),
    hc(.privacy, "id;header", "id;header"),
    hc(.privacy, "none", "none"),
    hc(.reason, "SIP ;cause=200 ;text=\"Call completed elsewhere\"", "SIP;cause=200;text=\"Call completed elsewhere\""),
    hc(
        .reason, "Q.850 ;cause=16 ;text=\"Terminated\", SIP;cause=480",
        "Q.850;cause=16;text=\"Terminated\"", "SIP;cause=480"),
    hc(.acceptContact, "*;audio;require;explicit", "*;audio;require;explicit"),
    hc(
        .acceptContact, "*;+sip.instance=\"<urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6>\"",
        "*;+sip.instance=\"<urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6>\""),
    hc(.rejectContact, "*;actor=\"msg-taker\";video", "*;actor=\"msg-taker\";video"),
    hc(.requestDisposition, "proxy, recurse, parallel", "proxy", "recurse", "parallel"),
]

/// Values each header's grammar refuses.
let rejected: [(String, String)] = [
    ("Warning", "1812 overture \"In Progress\""),  // RFC 4475 §3.1.2.5: four-digit code
    ("Warning", "30 isi.edu \"x\""),
    ("Warning", "307 isi.edu Session"),  // text not quoted
    ("Warning", "307 isi.edu \"unterminated"),
    ("Date", "Fri, 01 Jan 2010 16:00:00 EST"),  // RFC 4475 §3.1.2.12
    ("Date", "Fri, 01 Jan 2010 16:00:00 UTC"),
    ("Date", "Fri, 01 Jan 2010 16:00:00"),
    ("Date", "Fri, 1 Jan 2010 16:00:00 GMT"),
    ("Date", "Fri, 30 Feb 2010 16:00:00 GMT"),
    ("Date", "Fri, 01 Jan 2010 24:00:00 GMT"),
    ("Date", "Fri 01 Jan 2010 16:00:00 GMT"),
    ("Date", "Fri, 01 Foo 2010 16:00:00 GMT"),
    ("Retry-After", "949302838503028349304023988"),  // RFC 4475 §3.1.2.5
    ("Retry-After", "1000000000000000000000000000000"),  // 10^30
    ("Retry-After", "4294967296"),
    ("Retry-After", "120 (unterminated"),
    ("Retry-After", "18000;duration=forever"),
    ("Retry-After", "-5"),
    ("Authorization", "Digest username=\"Alice, realm=\"atlanta.com\""),
    ("Authorization", "Digest username=\"Alice"),  // unterminated quoted string
    ("Authorization", "Digest"),
    ("Authorization", "Digest username"),
    ("Authorization", "Digest username=\"a\",, realm=\"b\""),
    ("Proxy-Authenticate", "Digest realm=\"a\" nonce=\"b\""),
    ("Content-Type", "application"),
    ("Content-Type", "*/*"),
    ("Content-Type", "application/sdp, text/html"),
    ("Content-Type", "text/html;charset"),
    ("Content-Type", ""),
    ("Accept", "*/sdp"),
    ("Accept", "application/sdp;q=2"),
    ("Accept", "application/sdp;q=0.1234"),
    ("Accept", "application/sdp,"),
    ("Accept-Language", "toolonglanguage"),
    ("Accept-Language", "en-"),
    ("Allow", "INVITE ACK"),
    ("Supported", "100rel timer"),
    ("Require", ""),
    ("Content-Encoding", ""),
    ("Subject", "bell \u{07} here"),
    ("MIME-Version", "1"),
    ("MIME-Version", "one.zero"),
    ("Timestamp", "abc"),
    ("Timestamp", "54 x"),
    ("RAck", "776656 1"),
    ("RAck", "776656 4294967296 INVITE"),
    ("RAck", "99999999999 1 INVITE"),
    ("Session-Expires", "4000;refresher=proxy"),
    ("Session-Expires", "soon"),
    ("Min-SE", "99999999999"),
    ("Subscription-State", "active;expires=never"),
    ("Event", ""),
    ("Event", "presence;id=\"1\""),
    ("Replaces", "425928@bobster.example.org;to-tag"),
    ("Reason", "SIP;cause=abc"),
    ("Reason", "SIP;text=unquoted"),
    ("Privacy", "id;"),
    ("Call-Info", "http://www.example.com/alice/"),  // no <>
    ("Call-Info", "<http://www.example.com/alice/"),
    ("Alert-Info", "<>"),
    ("In-Reply-To", "70710@"),
    ("Accept-Contact", "sip:a@b"),
    ("User-Agent", "Foo, Bar"),
    ("User-Agent", "Foo (unbalanced"),
    ("Priority", "very urgent"),
    ("Authentication-Info", "Digest nextnonce=\"a\""),
]

@Suite struct TypedHeaderTests {
    @Test(arguments: rfcExamples)
    func parsesAndRoundTrips(_ c: HeaderCase) throws {
        let values = try c.parse(c.value)
        #expect(values == c.canonical)
        // The canonical text parses back to the same values.
        let again =
            try c.isList ? c.parse(c.canonical.joined(separator: ", ")) : c.canonical.flatMap { try c.parse($0) }
        #expect(again == c.canonical)
    }

    @Test(arguments: rejected)
    func rejects(_ header: String, _ value: String) throws {
        let name = SIPHeaderName(header)
        #expect(name.known != 0)
        let check = try #require(HeaderChecks.byID[Int(name.known) - 1])
        var s = SIPScanner(value)
        s.header = name.text
        let error = #expect(throws: SIPParseError.self) { try check(&s) }
        #expect(error?.headerName == name.text)
    }

    // MARK: - Values

    @Test func authorization() throws {
        let a = try #require(
            try SIPHeaderKey.authorization.parse(
                "Digest username=\"Alice\", realm=\"atlanta.com\", nonce=\"84a4cc6f3082121f32b42a2187831a9e\", response=\"7587245234b3434cc3412213e5f113a5432\""
            ).first)
        #expect(a.scheme == "Digest")
        #expect(a.isDigest)
        #expect(a.parameters.map(\.name) == ["username", "realm", "nonce", "response"])
        #expect(a.parameters[0].value == "\"Alice\"")
        #expect(a.value("USERNAME") == "Alice")
        #expect(a.value("realm") == "atlanta.com")
        #expect(a.value("response") == "7587245234b3434cc3412213e5f113a5432")
        #expect(a.value("cnonce") == nil)

        let odd = try AuthValue("NoOneKnowsThisScheme opaque-data=here")
        #expect(odd.scheme == "NoOneKnowsThisScheme")
        #expect(!odd.isDigest)
        #expect(odd.value("opaque-data") == "here")

        let built = AuthValue(
            scheme: "Digest", parameters: [.quoted("username", "bob \"the\" builder"), AuthParameter("nc", "00000001")])
        #expect(built.description == "Digest username=\"bob \\\"the\\\" builder\", nc=00000001")
        #expect(try AuthValue(built.description).value("username") == "bob \"the\" builder")
    }

    @Test func authenticationInfo() throws {
        let info = try #require(
            try SIPHeaderKey.authenticationInfo.parse(
                "nextnonce=\"47364c23432d2e131a5fb210812c\", qop=auth, rspauth=\"6629fae49393a05397450978507c4ef1\", cnonce=\"0a4f113b\", nc=00000001"
            ).first)
        #expect(info.parameters.count == 5)
        #expect(info.value("nextnonce") == "47364c23432d2e131a5fb210812c")
        #expect(info.value("nc") == "00000001")
    }

    @Test func mediaTypes() throws {
        let ct = try MediaType("Application/SDP")
        #expect(ct == .sdp)
        #expect(ct.hashValue == MediaType.sdp.hashValue)
        #expect(ct.essence == "application/sdp")
        let accept = try SIPHeaderKey.accept.parse("application/sdp;level=1, application/x-private, text/html")
        #expect(accept.count == 3)
        #expect(accept[0].type == "application")
        #expect(accept[0].subtype == "sdp")
        #expect(accept[0].parameters.value("level") == "1")
        #expect(accept[0].matches(.sdp))
        #expect(!accept[2].matches(.sdp))

        #expect(MediaType.any.matches(.sdp))
        #expect(MediaType.sdp.matches(.any))
        let appStar = MediaType(type: "application", subtype: "*")
        #expect(appStar.matches(.sdp))
        #expect(appStar.matches(try MediaType("APPLICATION/pidf+xml")))
        #expect(!appStar.matches(.textPlain))
        #expect(!MediaType.sdp.matches(.sipfrag))
        #expect(appStar.isWildcard && !MediaType.sdp.isWildcard)
        #expect(try MediaType("text/*;q=0.5").q == 0.5)
    }

    @Test func date() throws {
        let d = try #require(try SIPHeaderKey.date.parse("Sat, 13 Nov 2010 23:29:00 GMT").first)
        #expect(d.weekday == 6)
        #expect(d.day == 13)
        #expect(d.month == 11)
        #expect(d.year == 2010)
        #expect(d.hour == 23 && d.minute == 29 && d.second == 0)
        #expect(d.secondsSince1970 == 1_289_690_940)
        #expect(SIPDate(secondsSince1970: 1_289_690_940) == d)
        #expect(try SIPDate("Sat, 15 Oct 2005 04:44:56 GMT").secondsSince1970 == 1_129_351_496)
        #expect(SIPDate(secondsSince1970: 951_825_600).description == "Tue, 29 Feb 2000 12:00:00 GMT")
        #expect(SIPDate(secondsSince1970: -1).description == "Wed, 31 Dec 1969 23:59:59 GMT")
        #expect(SIPDate(secondsSince1970: 0).description == "Thu, 01 Jan 1970 00:00:00 GMT")
        // Folded LWS between the parts is still LWS.
        #expect(try SIPDate("Sat,\r\n 13 Nov 2010 23:29:00 GMT") == d)
    }

    @Test func warning() throws {
        let w = try #require(
            try SIPHeaderKey.warning.parse("307 isi.edu \"Session parameter 'foo' not understood\"").first)
        #expect(w.code == 307)
        #expect(w.agent == "isi.edu")
        #expect(w.text == "Session parameter 'foo' not understood")
        #expect(
            SIPWarning(code: 399, agent: "pc33.atlanta.com:5060", text: "say \"hi\"").description
                == "399 pc33.atlanta.com:5060 \"say \\\"hi\\\"\"")
    }

    @Test func retryAfter() throws {
        let r = try #require(try SIPHeaderKey.retryAfter.parse("18000;duration=3600").first)
        #expect(r.seconds == 18000)
        #expect(r.duration == 3600)
        #expect(r.comment == nil)
        let m = try #require(try SIPHeaderKey.retryAfter.parse("120 (I'm in a meeting)").first)
        #expect(m.seconds == 120)
        #expect(m.comment == "I'm in a meeting")
        #expect(try SIPHeaderKey.retryAfter.parse("4294967295").first?.seconds == 4_294_967_295)
        #expect(
            try SIPHeaderKey.retryAfter.parse("5 (a (nested) \\) comment);duration=1").first?.comment
                == "a (nested) \\) comment")
    }

    @Test func smallValues() throws {
        let t = try #require(try SIPHeaderKey.timestamp.parse("54").first)
        #expect(t.value == "54" && t.delay == nil && t.time == 54)
        let td = try #require(try SIPHeaderKey.timestamp.parse("54.3 .2").first)
        #expect(td.time == 54.3 && td.delaySeconds == 0.2)

        let rack = try #require(try SIPHeaderKey.rack.parse("776656 1 INVITE").first)
        #expect(rack == RAck(responseNumber: 776_656, cseq: 1, method: .invite))

        let se = try #require(try SIPHeaderKey.sessionExpires.parse("4000;refresher=uac").first)
        #expect(se.deltaSeconds == 4000)
        #expect(se.parameters.value("refresher") == "uac")

        let ev = try #require(try SIPHeaderKey.event.parse("presence;id=1").first)
        #expect(ev.value == "presence" && ev.parameters.value("id") == "1")

        let ss = try #require(try SIPHeaderKey.subscriptionState.parse("active;expires=60").first)
        #expect(ss.value == "active" && ss.parameters.value("expires") == "60")

        let rep = try #require(
            try SIPHeaderKey.replaces.parse("425928@bobster.example.org;to-tag=7743;from-tag=6472").first)
        #expect(rep.value == "425928@bobster.example.org")
        #expect(rep.parameters.value("to-tag") == "7743" && rep.parameters.value("from-tag") == "6472")

        #expect(try SIPHeaderKey.privacy.parse("id;header").first == ["id", "header"])

        let reason = try #require(
            try SIPHeaderKey.reason.parse("SIP ;cause=200 ;text=\"Call completed elsewhere\"").first)
        #expect(reason.value == "SIP")
        #expect(reason.parameters.value("cause") == "200")
        #expect(reason.parameters.value("text") == "Call completed elsewhere")

        let lang = try SIPHeaderKey.acceptLanguage.parse("da, en-gb;q=0.8")
        #expect(lang.map(\.value) == ["da", "en-gb"] && lang[1].q == 0.8)

        let info = try #require(
            try SIPHeaderKey.callInfo.parse("<http://wwww.example.com/alice/photo.jpg> ;purpose=icon").first)
        #expect(info.purpose == "icon")
        #expect(info.uri.scheme == "http")

        #expect(try SIPHeaderKey.allow.parse("INVITE, ACK") == [.invite, .ack])
        #expect(try SIPHeaderKey.supported.parse("").isEmpty)
        #expect(try SIPHeaderKey.subject.parse("  Need\r\n more   boxes ") == ["Need more boxes"])
    }

    @Test func typedAccessOnAMessage() throws {
        var m = try SIPMessage(
            wire: """
                SIP/2.0 503 Service Unavailable
                Via: SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bK776asdhds
                To: <sip:bob@biloxi.com>;tag=a6c85cf
                From: <sip:alice@atlanta.com>;tag=1928301774
                Call-ID: a84b4c76e66710
                CSeq: 314159 INVITE
                Retry-After: 18000;duration=3600
                Warning: 307 isi.edu "Session parameter 'foo' not understood"
                Warning: 301 isi.edu "Incompatible network address type 'E.164'"
                Supported: 100rel,
                 timer
                c: application/sdp
                Date: Sat, 13 Nov 2010 23:29:00 GMT

                """)
        try m.headers.validateKnownHeaders()
        #expect(try m.headers.all(.warning).map(\.code) == [307, 301])
        #expect(try m.headers.all(.supported) == ["100rel", "timer"])
        #expect(try m.headers.first(.contentType) == .sdp)
        #expect(try m.headers.first(.retryAfter)?.duration == 3600)
        #expect(try m.headers.first(.date)?.secondsSince1970 == 1_289_690_940)

        m.headers.set(.supported, ["replaces", "100rel"])
        #expect(m.headers[.supported] == "replaces, 100rel")
        m.headers.set(.date, SIPDate(secondsSince1970: 0))
        #expect(m.headers[.date] == "Thu, 01 Jan 1970 00:00:00 GMT")
        m.headers.append(.warning, SIPWarning(code: 399, agent: "example.com", text: "bad"))
        try m.headers.validateKnownHeaders()

        m.headers.append(.date, "yesterday")
        let error = #expect(throws: SIPParseError.self) { try m.headers.validateKnownHeaders() }
        #expect(error?.headerName == "Date")
    }

    /// Every byte is hostile: truncated, flipped and spliced variants of the examples never trap,
    /// whatever they are checked as.
    @Test func mutatedValuesNeverTrap() {
        var seed: UInt64 = 0x5EED_5EED
        func next() -> Int {
            seed = seed &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int(truncatingIfNeeded: seed >> 33)
        }
        let interesting: [UInt8] = Array("\"\\<>();,=/:@*[]. \t\r\n\u{0}\u{7F}\u{FF}0123456789aZ".utf8)
        var failures = 0
        for c in rfcExamples {
            let base = Array(c.value.utf8)
            for _ in 0..<40 {
                var b = base
                switch next() % 4 {
                case 0: if !b.isEmpty { b.removeLast(next() % b.count + 1) }
                case 1: if !b.isEmpty { b[next() % b.count] = interesting[next() % interesting.count] }
                case 2: b.insert(interesting[next() % interesting.count], at: b.isEmpty ? 0 : next() % b.count)
                default: if !b.isEmpty { b.remove(at: next() % b.count) }
                }
                for e in HeaderChecks.entries {
                    var s = SIPScanner(b, range: 0..<b.count)
                    s.header = e.name.text
                    do { try e.check(&s) } catch { failures += 1 }
                }
            }
        }
        #expect(failures > 0)
    }

    // MARK: - Coverage

    @Test func everyKnownHeaderHasACheck() {
        var seen: Set<SIPHeaderName> = []
        for e in HeaderChecks.entries {
            #expect(e.name.known != 0, "\(e.name) is not a known header")
            #expect(seen.insert(e.name).inserted, "\(e.name) is listed twice")
            #expect(e.isList == e.name.isList, "\(e.name): the key and the known-header table disagree on isList")
        }
        for known in KnownHeader.all {
            let name = SIPHeaderName(known.name)
            #expect(seen.contains(name) != HeaderChecks.untyped.contains(name), "\(known.name) has no check")
        }
    }

    // MARK: - RFC 4475

    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    static func torture(_ name: String) throws -> SIPMessage {
        let url = packageRoot.deletingLastPathComponent().appendingPathComponent(
            "shared/conformance/rfc4475/\(name).dat")
        let data = try #require(FileManager.default.contents(atPath: url.path), "missing \(url.path)")
        return try SIPMessage(parsing: Array(data))
    }

    @Test(arguments: [
        "wsinv", "intmeth", "esc01", "escnull", "esc02", "lwsdisp", "longreq", "dblreq", "semiuri", "transports",
        "mpart01", "unreason", "noreason", "bcast", "bext01", "cparam01", "cparam02", "regescrt", "sdp01", "inv2543",
        "unkscm", "novelsc", "unksm2", "invut", "regaut01", "multi01", "zeromf", "insuf", "badbranch",
    ])
    func validTortureMessagesPass(_ name: String) throws {
        let m = try Self.torture(name)
        try m.headers.validateKnownHeaders()
    }

    @Test(arguments: [("baddate", "Date"), ("regbadct", "Contact")])
    func invalidTortureMessagesFail(_ name: String, _ header: String) throws {
        let m = try Self.torture(name)
        let error = #expect(throws: SIPParseError.self) { try m.headers.validateKnownHeaders() }
        #expect(error?.headerName == header)
    }

    @Test func scalarlgValues() throws {
        // RFC 4475 §3.1.2.5: the message itself fails on its CSeq; its Retry-After and Warning fail alone too.
        #expect(throws: SIPParseError.self) { try SIPHeaderKey.retryAfter.parse("949302838503028349304023988") }
        #expect(throws: SIPParseError.self) { try SIPHeaderKey.warning.parse("1812 overture \"In Progress\"") }
    }

    @Test func regaut01Credentials() throws {
        let m = try Self.torture("regaut01")
        let a = try #require(try m.headers.first(.authorization))
        #expect(a.scheme == "NoOneKnowsThisScheme")
        #expect(a.parameters == [AuthParameter("opaque-data", "here")])
    }

    @Test func mpart01Headers() throws {
        let m = try Self.torture("mpart01")
        #expect(try m.headers.first(.contentType)?.parameters.value("boundary") == "7a9cbec02ceef655")
        #expect(try m.headers.first(.date)?.secondsSince1970 == 1_129_351_496)
        #expect(try m.headers.first(.userAgent) == "SIPimp.org/0.2.5 (curses)")
    }

    @Test("removeFirstValue takes the first Via value only, from a line that holds three (RFC 3261 §7.3.1, §16.7)")
    func removeFirstVia() throws {
        var h = SIPHeaders()
        h.append(
            .via, "SIP/2.0/UDP a.example;branch=z9hG4bK1, SIP/2.0/UDP b.example;branch=z9hG4bK2 ,SIP/2.0/TCP c.example")
        h.append(.via, "SIP/2.0/UDP d.example;branch=z9hG4bK4")
        #expect(try h.removeFirstValue(.via))
        #expect(
            h.values(.via) == [
                "SIP/2.0/UDP b.example;branch=z9hG4bK2 ,SIP/2.0/TCP c.example", "SIP/2.0/UDP d.example;branch=z9hG4bK4",
            ])
        #expect(try h.removeFirstValue(.via))
        #expect(try h.all(.via).map(\.host.text) == ["c.example", "d.example"])
        #expect(try h.removeFirstValue(.via))
        #expect(try h.removeFirstValue(.via))
        #expect(!h.contains(.via))
        #expect(try !h.removeFirstValue(.via))
    }
}
