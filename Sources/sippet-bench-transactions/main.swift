// Memory per parked server transaction (issue 3): N non-INVITE server transactions, each driven to
// Completed with a stored 200 of realistic size and left waiting for Timer J (RFC 3261 §17.2.2),
// as a stack holds them: in a TransactionTable, with Timer J pending in a TransactionTimerQueue
// and an object per transaction holding its timers (the stack's route entry holds them).
//
// Prints one line:
//   transactions=N rss_bytes_per_txn=R stored_message_bytes=M overhead_per_txn=R-M estimated_overhead_per_txn=E
// R is measured from the process's resident set (/proc/self/statm) before and after; E adds up
// MemoryLayout sizes, dictionary load and heap blocks. Build with -c release.
//
// Usage: sippet-bench-transactions [count]

import SIPSyntax
import SIPTransaction

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// Resident set size in bytes, from the second field of /proc/self/statm (pages).
func residentBytes() -> Int {
    let fd = open("/proc/self/statm", O_RDONLY)
    guard fd >= 0 else { return 0 }
    defer { close(fd) }
    var buffer = [UInt8](repeating: 0, count: 256)
    let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
    guard n > 0 else { return 0 }
    let fields = buffer[0..<n].split(separator: UInt8(ascii: " "))
    guard fields.count > 1, let pages = Int(String(decoding: fields[1], as: UTF8.self)) else { return 0 }
    return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
}

func hex(_ v: Int, width: Int) -> String {
    let s = String(v, radix: 16)
    return String(repeating: "0", count: max(0, width - s.count)) + s
}

/// A REGISTER as a softphone sends it; every one has its own branch, Call-ID, tag and address.
func register(_ i: Int) -> [UInt8] {
    let ip = "10.\((i >> 16) & 255).\((i >> 8) & 255).\(i & 255)"
    let text =
        "REGISTER sip:registrar.biloxi.example.com SIP/2.0\r\n"
        + "Via: SIP/2.0/UDP \(ip):5060;branch=z9hG4bK\(hex(i &* 2_654_435_761 & 0xffff_ffff, width: 8))\(hex(i, width: 8))nashds7\r\n"
        + "Max-Forwards: 70\r\n"
        + "To: Bob <sip:bob\(i)@biloxi.example.com>\r\n"
        + "From: Bob <sip:bob\(i)@biloxi.example.com>;tag=\(hex(i, width: 6))a73kszlfl\r\n"
        + "Call-ID: \(hex(i, width: 8))1j9FpLxk3uxtm8tn@\(ip)\r\n"
        + "CSeq: 1826 REGISTER\r\n"
        + "Contact: <sip:bob\(i)@\(ip):5060>\r\n"
        + "Expires: 7200\r\n"
        + "Content-Length: 0\r\n\r\n"
    return Array(text.utf8)
}

/// The registrar's 200 (RFC 3261 §10.3 step 8): the request's Via, From, To (tagged), Call-ID,
/// CSeq, the bindings and Date.
func ok(for request: SIPMessage, _ i: Int) -> SIPMessage {
    var r = request.makeResponse(status: 200, toTag: "2493k59kd\(hex(i, width: 6))")
    r.headers.append(SIPHeaderName.contact, request.headers[.contact].map { $0 + ";expires=7200" } ?? "*")
    r.headers.append(SIPHeaderName.date, "Sat, 13 Nov 2010 23:29:00 GMT")
    return r
}

/// A transaction's pending timers, kept with it as the stack's route entry keeps them.
final class Holder: TimerOwner, @unchecked Sendable {
    var timerPlaces = TimerPlaces()
}

let count = CommandLine.arguments.dropFirst().first.flatMap { Int($0) } ?? 100_000
let configuration = TransactionTableConfiguration()

// Warm up the runtime and allocator with a small table that is then dropped.
do {
    var warm = TransactionTable<Never>(configuration: configuration)
    var q = TransactionTimerQueue<Holder>()
    for i in 0..<1000 {
        guard let m = try? SIPMessage(parsing: register(count + i)),
            case .server(let k, let a, _) = warm.receive(m, reliability: .unreliable)
        else { continue }
        let h = Holder()
        q.apply(a.actions, for: h)
        if let a2 = warm.send(response: ok(for: m, i), on: k) { q.apply(a2.actions, for: h) }
    }
}

var table = TransactionTable<Never>(configuration: configuration)
var timers = TransactionTimerQueue<Holder>()
var storedBytes = 0
var keyHeapBytes = 0
var failures = 0

let before = residentBytes()
for i in 0..<count {
    guard let request = try? SIPMessage(parsing: register(i)),
        case .server(let key, let actions, true) = table.receive(request, reliability: .unreliable)
    else {
        failures += 1
        continue
    }
    let holder = Holder()
    timers.apply(actions.actions, for: holder)
    guard let sent = table.send(response: ok(for: request, i), on: key) else {
        failures += 1
        continue
    }
    timers.apply(sent.actions, for: holder)
    guard let t = table.nonInviteServer(key), t.state == .completed else {
        failures += 1
        continue
    }
    storedBytes += t.storedByteCount
    // Strings above 15 UTF-8 bytes live on the heap: a 32-byte header and the bytes, in a malloc block.
    for s in [key.branch ?? "", key.sentBy ?? ""] where s.utf8.count > 15 {
        keyHeapBytes += (32 + s.utf8.count + 1 + 15) / 16 * 16
    }
}
let after = residentBytes()

guard failures == 0, table.count == count, timers.count == count else {
    print("error: failures=\(failures) live=\(table.count) timers=\(timers.count)")
    exit(1)
}

let perTransaction = Double(after - before) / Double(count)
let stored = Double(storedBytes) / Double(count)

// Estimate: dictionary entry (key + machine) at the load the dictionary grows to (capacity a power
// of two, at most 3/4 full), the key's heap strings, the stored bytes' array header and malloc
// rounding, and the Timer J entry (a ring slot, and the object holding the transaction's timers).
func buckets(for n: Int) -> Int {
    var b = 1
    while b * 3 / 4 < n { b *= 2 }
    return b
}
let load = Double(buckets(for: count)) / Double(count)
let entry = Double(MemoryLayout<ServerTransactionKey>.stride + MemoryLayout<NonInviteServerTransaction>.stride) * load
let arrayHeader = 32.0 + 8.0  // header, and on average half a 16-byte malloc granule
let timerEntry =
    Double(MemoryLayout<Duration>.stride + 8 + MemoryLayout<(Holder, TransactionTimer)>.stride)
    + Double((16 + MemoryLayout<TimerPlaces>.stride + 15) / 16 * 16)
let estimated = entry + Double(keyHeapBytes) / Double(count) + arrayHeader + timerEntry

print(
    "transactions=\(count) rss_bytes_per_txn=\(Int(perTransaction.rounded())) stored_message_bytes=\(Int(stored.rounded())) "
        + "overhead_per_txn=\(Int((perTransaction - stored).rounded())) estimated_overhead_per_txn=\(Int(estimated.rounded()))"
)
