import Foundation
import NIOCore
import SippetDNS
import Testing

@Suite("DNS wire format (RFC 1035 §4) and resolv.conf")
struct DNSMessageTests {
    /// A response with one record of each type RFC 3263 reads, in every section.
    static func sample() -> DNSMessage {
        var m = DNSMessage(id: 0xbeef, isResponse: true)
        m.isAuthoritative = true
        m.questions = [("example.test", .naptr)]
        m.answers = [
            DNSRecord(
                name: "example.test", type: .naptr, ttl: 300,
                data: .naptr(
                    order: 10, preference: 50, flags: "s", services: "SIP+D2T", regexp: "",
                    replacement: "_sip._tcp.example.test")),
            DNSRecord(name: "alias.example.test", type: .cname, ttl: 60, data: .cname("a.example.test")),
        ]
        m.authority = [
            DNSRecord(
                name: "example.test", type: .soa, ttl: 5,
                data: .soa(
                    primary: "ns.example.test", mailbox: "admin.example.test", serial: 1, refresh: 1200, retry: 180,
                    expire: 1_209_600, minimum: 5))
        ]
        m.additional = [
            DNSRecord(
                name: "_sip._tcp.example.test", type: .srv, ttl: 300,
                data: .srv(priority: 0, weight: 10, port: 5080, target: "a.example.test")),
            DNSRecord(name: "a.example.test", type: .a, ttl: 300, data: .a([192, 0, 2, 1])),
            DNSRecord(
                name: "a.example.test", type: .aaaa, ttl: 300,
                data: .aaaa([0x20, 0x01, 0x0d, 0xb8] + Array(repeating: 0, count: 11) + [1])),
        ]
        return m
    }

    @Test("A message written and read back is equal, every record type included")
    func roundTrip() throws {
        let m = Self.sample()
        let back = try DNSMessage(parsing: try m.serialized())
        #expect(back == m)
        #expect(back.additional[2].addressText == "2001:db8::1")
        #expect(back.additional[1].addressText == "192.0.2.1")
        #expect("\(back.answers[0])" == #"example.test 300 NAPTR 10 50 "s" "SIP+D2T" "" _sip._tcp.example.test"#)
    }

    @Test("A query is the RFC 1035 §4.1 header, the name as labels, QTYPE and class IN")
    func queryBytes() throws {
        let q = try DNSMessage.query(id: 0x1234, name: "a.bc", type: .srv)
        #expect(q == [0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 1, 97, 2, 98, 99, 0, 0, 33, 0, 1])
        #expect(try DNSMessage.query(id: 1, name: "a.bc.", type: .srv).count == q.count, "a final dot changes nothing")
        #expect(throws: DNSParseError.self) { try DNSMessage.query(id: 1, name: "a..b", type: .a) }
        #expect(throws: DNSParseError.self) {
            try DNSMessage.query(id: 1, name: String(repeating: "x", count: 64), type: .a)
        }
        let long = Array(repeating: String(repeating: "x", count: 63), count: 4).joined(separator: ".")
        #expect(throws: DNSParseError.self) { try DNSMessage.query(id: 1, name: long, type: .a) }
    }

    /// A response whose answer's name is a compression pointer to the question's (RFC 1035
    /// §4.1.4), as servers write them.
    @Test("Compressed names are followed; a pointer that does not point backward is refused")
    func compression() throws {
        let header: [UInt8] = [0, 7, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0]
        let question: [UInt8] = [1, 97, 4, 116, 101, 115, 116, 0, 0, 1, 0, 1]  // a.test A IN
        // Name: pointer to offset 12; type A, class IN, TTL 60, 4 bytes.
        let answer: [UInt8] = [0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 10, 0, 0, 1]
        let m = try DNSMessage(parsing: header + question + answer)
        #expect(m.answers == [DNSRecord(name: "a.test", type: .a, ttl: 60, data: .a([10, 0, 0, 1]))])
        // A pointer to itself (offset 24) loops: refused.
        var looping = header + question + answer
        looping[24] = 0xc0
        looping[25] = 24
        #expect(throws: DNSParseError(.badPointer, at: 24)) { try DNSMessage(parsing: looping) }
        // A pointer forward (to the record data): refused.
        var forward = header + question + answer
        forward[25] = 36
        #expect(throws: DNSParseError(.badPointer, at: 24)) { try DNSMessage(parsing: forward) }
        // Label type 01 (reserved).
        var reserved = header + question + answer
        reserved[24] = 0x40
        #expect(throws: DNSParseError(.badLabelType, at: 24)) { try DNSMessage(parsing: reserved) }
    }

    @Test("Counts the bytes cannot hold, records cut short, bad record lengths and trailing bytes are typed errors")
    func bounds() throws {
        let good = try Self.sample().serialized()
        // Every prefix is an error, never a crash.
        for n in 0..<good.count {
            #expect(throws: DNSParseError.self) { try DNSMessage(parsing: Array(good[0..<n])) }
        }
        var counts = good
        counts[6] = 0xff
        counts[7] = 0xff
        #expect(throws: DNSParseError(.truncated, at: 4)) { try DNSMessage(parsing: counts) }
        #expect(throws: DNSParseError(.trailingBytes, at: good.count)) { try DNSMessage(parsing: good + [0]) }
        // An A record of 5 bytes.
        let header: [UInt8] = [0, 7, 0x81, 0x80, 0, 0, 0, 1, 0, 0, 0, 0]
        let a5: [UInt8] = [1, 97, 0, 0, 1, 0, 1, 0, 0, 0, 60, 0, 5, 10, 0, 0, 1, 9]
        #expect(throws: DNSParseError(.badRecordData, at: 25)) { try DNSMessage(parsing: header + a5) }
        // RFC 2181 §8: a TTL with its top bit set is zero.
        var topBit = header + a5
        topBit[24] = 4
        topBit.removeLast()
        topBit[19] = 0x80
        #expect(try DNSMessage(parsing: topBit).answers.first?.ttl == 0)
    }

    @Test("Limit: a message of more than DNSMessage.maxRecords records is refused, one of exactly that many read")
    func recordLimit() throws {
        func message(records n: Int) throws -> [UInt8] {
            var m = DNSMessage(id: 1, isResponse: true)
            m.answers = Array(repeating: DNSRecord(name: "", type: .a, ttl: 1, data: .a([10, 0, 0, 1])), count: n)
            return try m.serialized()
        }
        #expect(try DNSMessage(parsing: try message(records: DNSMessage.maxRecords)).answers.count == 1024)
        #expect(throws: DNSParseError(.tooManyRecords, at: 4)) {
            try DNSMessage(parsing: try message(records: DNSMessage.maxRecords + 1))
        }
    }

    @Test("A truncated response (TC) is read for its question only")
    func truncated() throws {
        var m = Self.sample()
        m.isTruncated = true
        var bytes = try m.serialized()
        bytes.removeLast(20)
        let read = try DNSMessage(parsing: bytes)
        #expect(read.isTruncated)
        #expect(read.questions.count == 1 && read.questions[0].name == "example.test")
        #expect(read.answers.isEmpty)
    }

    @Test("resolv.conf: nameservers (at most three), search, domain, options; hosts(5)")
    func resolvConf() throws {
        let c = DNSConfiguration(
            resolvConf: """
                # a comment
                nameserver 10.0.0.1
                nameserver ::1 ; trailing
                nameserver bogus
                nameserver 10.0.0.2
                nameserver 10.0.0.3
                search a.test b.test
                options ndots:2 timeout:3 attempts:4 rotate
                """)
        #expect(c.servers.map { "\($0.ipAddress ?? "")/\($0.port ?? 0)" } == ["10.0.0.1/53", "::1/53", "10.0.0.2/53"])
        #expect(c.search == ["a.test", "b.test"])
        #expect(c.ndots == 2 && c.timeout == .seconds(3) && c.attempts == 4)
        #expect(
            c.candidateNames(for: "x.y") == ["x.y.a.test", "x.y.b.test", "x.y"], "fewer dots than ndots: search first")
        #expect(c.candidateNames(for: "x.y.z") == ["x.y.z", "x.y.z.a.test", "x.y.z.b.test"])
        #expect(c.candidateNames(for: "x.y.") == ["x.y"], "an absolute name is not searched")
        #expect(DNSConfiguration(resolvConf: "").servers.map(\.ipAddress) == ["127.0.0.1"])
        let hosts = DNSConfiguration.hosts("127.0.0.1 localhost loopback\n::1 localhost # v6\nbad line\n")
        #expect(hosts["localhost"]?.compactMap(\.ipAddress) == ["127.0.0.1", "::1"])
        #expect(hosts["loopback"]?.count == 1)
    }
}

/// Replays the inputs the fuzzer once broke the DNS reader with (Fuzz/regressions-dns/, see
/// Fuzz/run.sh): each is refused with a DNSParseError or read, and what is read and written back
/// reads back equal.
@Suite struct DNSFuzzRegressionTests {
    /// The files of Fuzz/regressions-dns/ (this file is Tests/SippetTests/DNSMessageTests.swift).
    static let files: [URL] = {
        var root = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { root.deleteLastPathComponent() }
        let directory = root.appendingPathComponent("Fuzz/regressions-dns")
        let found = (try? FileManager.default.contentsOfDirectory(at: directory, includingPropertiesForKeys: nil)) ?? []
        return found.filter { !$0.lastPathComponent.hasPrefix(".") }.sorted { $0.path < $1.path }
    }()

    @Test("Every input the fuzzer once broke the DNS reader with reads (or is refused) and round-trips")
    func replay() throws {
        #expect(!Self.files.isEmpty, "no inputs in Fuzz/regressions-dns")
        for file in Self.files {
            let bytes = Array(try Data(contentsOf: file))
            guard let message = try? DNSMessage(parsing: bytes), let written = try? message.serialized() else {
                continue
            }
            #expect(try DNSMessage(parsing: written) == message, "\(file.lastPathComponent)")
        }
    }

    @Test("A label holding a dot is refused (it could not be told from two labels)")
    func labelWithDot() {
        let header: [UInt8] = [0, 7, 0x81, 0x80, 0, 1, 0, 0, 0, 0, 0, 0]
        #expect(throws: DNSParseError(.badLabelType, at: 12)) {
            try DNSMessage(parsing: header + [3, 97, 46, 98, 0, 0, 1, 0, 1])
        }
    }
}
