import NIOCore
import SIPTransport
import Testing

@Suite("Source addresses as text")
struct SocketAddressTextTests {
    @Test(
        "an IPv4 source is written as NIO writes it, every octet width; IPv6 as NIO does",
        arguments: [
            "0.0.0.0", "127.0.0.1", "10.20.30.40", "192.168.100.255", "255.255.255.255", "1.22.133.9", "::1",
            "2001:db8::5",
        ]
    )
    func numericHost(ip: String) throws {
        let a = try SocketAddress(ipAddress: ip, port: 5060)
        #expect(a.numericHost == a.ipAddress)
        #expect(a.numericHost == ip)
    }
}
