import Testing
@testable import SIPSyntax

@Suite("Parser internals")
struct ParserInternalsTests {
    @Test("the hot-path header ids are those of the table") func knownHeaderIDs() {
        let ids: [(UInt8, String)] = [
            (KnownHeader.via, "Via"), (KnownHeader.from, "From"), (KnownHeader.to, "To"), (KnownHeader.callID, "Call-ID"),
            (KnownHeader.cseq, "CSeq"), (KnownHeader.contentLength, "Content-Length"), (KnownHeader.maxForwards, "Max-Forwards"),
            (KnownHeader.contact, "Contact"), (KnownHeader.contentType, "Content-Type"), (KnownHeader.route, "Route"),
            (KnownHeader.recordRoute, "Record-Route"),
        ]
        for (id, name) in ids { #expect(id == KnownHeader.id(name), "\(name)") }
    }
}
