// The parse benchmark, with the command line of ../shared/bench's peers:
//   sippet-bench-parse [--roundtrip | --dump] CORPUS_DIR SECONDS
//   sippet-bench-parse --passes N CORPUS_DIR     (N untimed passes, for counting allocations under valgrind)
// Per message: parse from the raw bytes, read the transaction essentials (top Via branch and
// sent-by, CSeq, Call-ID, From/To tags, method and Request-URI user/host or the status), optionally
// serialize, release.
import SIPSyntax

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

let peerName = "sippet"

func printError(_ s: String) {
    var line = s + "\n"
    line.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
}

func fail(_ s: String, code: Int32 = 1) -> Never {
    printError("\(peerName): \(s)")
    exit(code)
}

func now() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}

func loadCorpus(_ dir: String) -> [(name: String, bytes: [UInt8])] {
    guard let d = opendir(dir) else { fail("cannot open corpus dir \(dir)") }
    var names: [String] = []
    while let e = readdir(d) {
        let name = withUnsafeBytes(of: e.pointee.d_name) {
            String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self)
        }
        if name.hasSuffix(".sip") { names.append(name) }
    }
    closedir(d)
    names.sort()
    guard !names.isEmpty else { fail("no *.sip files in \(dir)") }
    return names.map { name in
        guard let f = fopen(dir + "/" + name, "rb") else { fail("cannot read \(name)") }
        defer { fclose(f) }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = fread(&chunk, 1, chunk.count, f)
            if n <= 0 { break }
            out += chunk[0..<n]
        }
        return (name, out)
    }
}

/// The EXPECTED.txt rendering of one message's essentials, or nil when one is missing.
func render(_ m: SIPMessage) -> String? {
    guard let e = m.essentials, let branch = e.branch, let host = e.sentByHost, let cseq = e.cseqNumber,
        let cseqMethod = e.cseqMethod, let callID = e.callID, m.headers.contains(.from), m.headers.contains(.to)
    else { return nil }
    func s(_ v: ByteView?) -> String { v.map { $0.isEmpty ? "-" : $0.string } ?? "-" }
    let kind: String
    let status: String
    let user: String
    let rhost: String
    switch m.startLine {
    case .request(let l):
        kind = "REQ"
        status = l.method.rawValue
        user = s(e.requestURIUser)
        rhost = s(e.requestURIHost)
    case .response(let l):
        kind = "RESP"
        status = String(l.status)
        user = "-"
        rhost = "-"
    }
    return [
        kind, status, user, rhost, branch.string, host.string, e.sentByPort.map(String.init) ?? "-", String(cseq),
        cseqMethod.string, callID.string, s(e.fromTag), s(e.toTag),
    ].joined(separator: "|")
}

@inline(never)
func onePass(_ corpus: [(name: String, bytes: [UInt8])], roundtrip: Bool) -> UInt64 {
    var sink: UInt64 = 0
    for msg in corpus {
        guard let m = try? SIPMessage(parsing: msg.bytes) else {
            fail("ERROR: parse failed during run (\(msg.name))", code: 3)
        }
        guard let e = m.essentials, let branch = e.branch, let host = e.sentByHost, let cseq = e.cseqNumber,
            let method = e.cseqMethod, let callID = e.callID
        else { fail("ERROR: extract failed during run (\(msg.name))", code: 3) }
        // consume: touch the first byte of every extracted value
        sink &+= UInt64(m.status ?? 0) &+ UInt64(e.sentByPort ?? 0) &+ UInt64(cseq)
        sink &+=
            UInt64(branch.first ?? 0) &+ UInt64(host.first ?? 0) &+ UInt64(method.first ?? 0)
            &+ UInt64(callID.first ?? 0)
        if let t = e.fromTag { sink &+= UInt64(t.first ?? 0) }
        if let t = e.toTag { sink &+= UInt64(t.first ?? 0) }
        if let u = e.requestURIUser { sink &+= UInt64(u.first ?? 0) }
        if let h = e.requestURIHost { sink &+= UInt64(h.first ?? 0) }
        if let mm = m.method { sink &+= UInt64(mm.rawValue.utf8.first ?? 0) }
        if roundtrip {
            let out = m.serialized(canonical: true)
            sink &+= UInt64(out.count) &+ UInt64(out[out.count / 2])
        }
    }
    return sink
}

var args = Array(CommandLine.arguments.dropFirst())
var roundtrip = false
var dump = false
var passes: Int? = nil
if let f = args.first, f == "--roundtrip" {
    roundtrip = true
    args.removeFirst()
}
if let f = args.first, f == "--dump" {
    dump = true
    args.removeFirst()
}
if let f = args.first, f == "--passes", args.count >= 3 {
    passes = Int(args[1])
    args.removeFirst(2)
}
guard args.count >= (passes == nil && !dump ? 2 : 1) else {
    printError("usage: sippet-bench-parse [--roundtrip|--dump] CORPUS_DIR SECONDS")
    exit(2)
}
let corpus = loadCorpus(args[0])

// Verification before timing: every message parses with its essentials; a round trip keeps them.
for msg in corpus {
    guard let m = try? SIPMessage(parsing: msg.bytes) else { fail("ERROR: failed to parse \(msg.name)") }
    guard let line = render(m) else { fail("ERROR: missing transaction essentials in \(msg.name)") }
    if dump { print("\(msg.name)|\(line)") }
    if roundtrip {
        let out = m.serialized(canonical: true)
        guard let again = try? SIPMessage(parsing: out), render(again) == line else {
            fail("ERROR: round-trip changed essentials of \(msg.name)")
        }
    }
}
if dump { exit(0) }

if let passes {
    var sink: UInt64 = 0
    for _ in 0..<passes { sink &+= onePass(corpus, roundtrip: roundtrip) }
    print("passes=\(passes) messages=\(passes * corpus.count) sink=\(sink % 10)")
    exit(0)
}

guard let seconds = Double(args[1]), seconds > 0 else { fail("SECONDS must be a positive number", code: 2) }
var warm = min(max(seconds * 0.2, 0.2), 2.0)
if let w = getenv("BENCH_WARMUP"), let v = Double(String(cString: w)) { warm = v }
var sink: UInt64 = 0
let t0 = now()
while now() - t0 < warm { sink &+= onePass(corpus, roundtrip: roundtrip) }
var count = 0
let start = now()
var elapsed = 0.0
repeat {
    sink &+= onePass(corpus, roundtrip: roundtrip)
    count += corpus.count
    elapsed = now() - start
} while elapsed < seconds
let name = peerName + (roundtrip ? ":roundtrip" : "")
print(
    "\(name) msgs_per_sec=\(Int((Double(count) / elapsed).rounded())) ns_per_msg=\(Int((elapsed * 1e9 / Double(count)).rounded()))"
)
if sink == 42 { printError("") }
