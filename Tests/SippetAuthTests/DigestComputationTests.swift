import SIPSyntax
import SippetAuth
import Testing

/// The hashes and digests against published values: FIPS 180-4's SHA-512/256 examples, RFC 7616
/// §3.9.1's MD5 and SHA-256 example, and the `-sess`, `auth-int` and RFC 2069 forms of §3.4.
@Suite("Digest computations (RFC 7616 §3.4, §3.9.1; FIPS 180-4)")
struct DigestComputationTests {
    static func hex(_ bytes: [UInt8]) -> String {
        bytes.map { String($0, radix: 16) }.map { $0.count == 1 ? "0" + $0 : $0 }.joined()
    }

    @Test("SHA-512/256 gives the published digests (empty, \"abc\", the two-block message, 1000 × \"a\")")
    func sha512_256Vectors() {
        #expect(
            Self.hex(SHA512_256.hash([UInt8]())) == "c672b8d1ef56ed28ab87c3622c5114069bdd3ad7b8f9737498d0c01ecef0967a")
        #expect(
            Self.hex(SHA512_256.hash(Array("abc".utf8)))
                == "53048e2681941ef99b2e29b76b4c7dabe4c2d0c634fc6d46e0e2f13107e7af23")
        let twoBlocks =
            "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu"
        #expect(
            Self.hex(SHA512_256.hash(Array(twoBlocks.utf8)))
                == "3928e184fb8690f840da3988121d31be65cb9d3ef83ee6146feac861e19b563a")
        // 1000 bytes: the padding spills into a block of its own at 112 bytes and beyond.
        #expect(
            Self.hex(SHA512_256.hash([UInt8](repeating: 0x61, count: 1000)))
                == "40eb4a70d4d69815407a9e272f0101cd67e3d11262a4a0bfc087712749c7fb53")
    }

    /// RFC 7616 §3.9.1: Mufasa, "Circle of Life", GET /dir/index.html.
    static let nonce = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v"
    static let cnonce = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ"
    static let realm = "http-auth@example.org"

    static func rfcResponse(_ algorithm: DigestAlgorithm, qop: DigestQoP? = .auth, body: [UInt8] = []) -> String {
        let ha1 = DigestComputation.ha1(user: "Mufasa", realm: realm, password: "Circle of Life", algorithm: algorithm)
        return DigestComputation.response(
            ha1: ha1, algorithm: algorithm, nonce: nonce, nonceCount: qop == nil ? nil : "00000001",
            cnonce: qop == nil ? nil : cnonce, qop: qop, method: "GET", uri: "/dir/index.html", body: body)
    }

    @Test("RFC 7616 §3.9.1: the MD5 and the SHA-256 response")
    func rfc7616Example() {
        #expect(Self.rfcResponse(.md5) == "8ca523f5e9506fed4657c9700eebdbec")
        #expect(Self.rfcResponse(.sha256) == "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1")
    }

    @Test("§3.4.2 -sess, §3.4.3 auth-int and RFC 2069 (no qop) with the same inputs")
    func variants() {
        #expect(Self.rfcResponse(.md5Session) == "e783283f46242139c486a698fec7211d")
        #expect(
            Self.rfcResponse(.md5, qop: .authInt, body: Array("v=0\r\n".utf8)) == "d1b8e2ac3f6782372de4bf3d8735b406")
        #expect(Self.rfcResponse(.md5, qop: nil) == "7b2cc3b30e75b4777ea31027084363fd")
    }

    @Test("The RFC's Authorization header parses into credentials, and is written back with qop and nc as tokens")
    func credentialsParse() throws {
        let text = """
            Digest username="Mufasa", realm="http-auth@example.org", uri="/dir/index.html", algorithm=SHA-256, \
            nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", nc=00000001, \
            cnonce="f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ", qop=auth, \
            response="753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1", \
            opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"
            """
        let c = try DigestCredentials(AuthValue(text))
        #expect(c.username == "Mufasa")
        #expect(c.algorithm == .sha256)
        #expect(c.qop == .auth)
        #expect(c.nonceCountValue == 1)
        #expect(c.opaque == "FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS")
        let written = c.authValue.description
        #expect(written.contains("qop=auth,") || written.contains("qop=auth "))
        #expect(written.contains("nc=00000001"))
        #expect(try DigestCredentials(AuthValue(written)) == c)
    }

    @Test(
        "Credentials that break §25.1 are typed errors: no nonce, a short response, an nc not 8 hex digits, qop without cnonce"
    )
    func malformedCredentials() throws {
        let base = #"Digest username="a", realm="r", uri="sip:x", "#
        #expect(throws: DigestError.missingParameter("nonce")) {
            try DigestCredentials(AuthValue(base + #"response="8ca523f5e9506fed4657c9700eebdbec""#))
        }
        #expect(throws: DigestError.malformedParameter("response")) {
            try DigestCredentials(AuthValue(base + #"nonce="n", response="8ca5""#))
        }
        #expect(throws: DigestError.malformedParameter("nc")) {
            try DigestCredentials(
                AuthValue(base + #"nonce="n", response="8ca523f5e9506fed4657c9700eebdbec", qop=auth, cnonce="c", nc=1"#)
            )
        }
        #expect(throws: DigestError.missingParameter("cnonce")) {
            try DigestCredentials(
                AuthValue(base + #"nonce="n", response="8ca523f5e9506fed4657c9700eebdbec", qop=auth, nc=00000001"#))
        }
        #expect(throws: DigestError.unsupportedAlgorithm("SHA-1")) {
            try DigestCredentials(
                AuthValue(base + #"nonce="n", response="8ca523f5e9506fed4657c9700eebdbec", algorithm=SHA-1"#))
        }
        #expect(throws: DigestError.notDigest(scheme: "Basic")) {
            try DigestCredentials(AuthValue("Basic realm=\"x\""))
        }
    }

    @Test("Algorithm names: the six of RFC 7616 in any case, written back as the RFC spells them")
    func algorithmNames() {
        for name in ["MD5", "MD5-sess", "SHA-256", "SHA-256-sess", "SHA-512-256", "SHA-512-256-sess"] {
            #expect(DigestAlgorithm(name: name)?.name == name)
            #expect(DigestAlgorithm(name: name.lowercased())?.name == name)
        }
        #expect(DigestAlgorithm(name: "SHA-512") == nil)
        #expect(DigestAlgorithm(name: "-sess") == nil)
    }

    @Test("A challenge without algorithm is MD5 (RFC 7616 §3.3); qop options and stale are read")
    func challengeParse() throws {
        let c = try DigestChallenge(
            AuthValue(#"Digest realm="atlanta.com", nonce="84a4cc6f", qop="auth,auth-int", stale=TRUE"#))
        #expect(c.algorithm == .md5)
        #expect(c.qop == [.auth, .authInt])
        #expect(c.isStale)
        #expect(try DigestChallenge(AuthValue(c.authValue.description)) == c)
    }

    @Test("A users file: USER:REALM:ALGORITHM:HA1 lines, a realm with ':', comments; bad lines named by number")
    func usersFile() throws {
        let lines = DigestUsersFile.lines(user: "alice", realm: "sip:example.com", password: "secret")
        #expect(lines.count == 3)
        #expect(lines[0].hasPrefix("alice:sip:example.com:MD5:"))
        let file = try DigestUsersFile(text: "# users\n\n" + lines.joined(separator: "\n") + "\n")
        #expect(file.count == 3)
        #expect(
            file.ha1(user: "alice", realm: "sip:example.com", hash: .sha512t256)
                == DigestComputation.ha1(
                    user: "alice", realm: "sip:example.com", password: "secret", algorithm: .sha512t256))
        #expect(file.ha1(user: "alice", realm: "example.com", hash: .md5) == nil)
        #expect(throws: DigestUsersFile.Error(line: 2, reason: "unknown algorithm SHA-1")) {
            try DigestUsersFile(text: lines[0] + "\nbob:r:SHA-1:00")
        }
        #expect(throws: DigestUsersFile.Error(line: 1, reason: "the HA1 is not 32 hexadecimal digits")) {
            try DigestUsersFile(text: "bob:r:MD5:abc")
        }
    }
}
