import NIOCore
import SIPSyntax
import Testing

@testable import Sippet

/// RFC 3261 §18.2.1: whether a request's sent-by host is its source address decides whether the
/// stack adds `received`. The IPv4 reading compares numbers; the text reading covers the rest.
@Suite("Sent-by and source address")
struct SentByTests {
    static let source = try! SocketAddress(ipAddress: "192.0.2.17", port: 5060)

    @Test(
        "A dotted quad is compared with the source's address as a number",
        arguments: [("192.0.2.17", true), ("192.0.2.1", false), ("192.0.2.170", false), ("10.0.0.1", false)])
    func dottedQuad(sentBy: String, same: Bool) {
        #expect(InboundProcessor.isIPv4(ByteView(sentBy), of: Self.source) == same)
        #expect(InboundProcessor.sameHost(ByteView(sentBy), "192.0.2.17") == same)
    }

    @Test(
        "Names, odd spellings, bad quads and IPv6 sources are left to the text comparison",
        arguments: [
            "pc33.atlanta.com", "192.0.2.017", "192.0.2", "192.0.2.17.1", "192.0.2.256", "192..2.17", "192.0.2.", "",
        ])
    func undecided(sentBy: String) throws {
        #expect(InboundProcessor.isIPv4(ByteView(sentBy), of: Self.source) == nil)
        #expect(InboundProcessor.isIPv4(ByteView("::1"), of: try SocketAddress(ipAddress: "::1", port: 5060)) == nil)
    }
}
