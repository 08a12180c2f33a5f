// OPTIONS between two stacks over loopback UDP: transactions per second, for BENCHMARKS.md.
//
//   sippet-bench-options [--transactions N] [--window W] [--seconds S]
//
// A UAC stack keeps W OPTIONS transactions in flight against a UAS stack whose core answers 200
// on the loop (the fast path); each final response starts the next transaction. It stops after
// N transactions or S seconds, whichever comes first, and prints one line:
//
//   sippet-options transactions=N seconds=S tps=X timeouts=T
//
// Allocations per transaction: run it under `valgrind` with two counts and divide the difference
// of "total heap usage" by the difference of the counts (see BENCHMARKS.md).
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import SIPSyntax
import SIPTransaction
import SIPTransport
import Sippet

#if canImport(Glibc)
    import Glibc
#endif

struct Arguments {
    var transactions = 200_000
    var window = 64
    var seconds = 10.0

    init() {
        var args = CommandLine.arguments.dropFirst().makeIterator()
        while let a = args.next() {
            switch a {
            case "--transactions": transactions = args.next().flatMap { Int($0) } ?? transactions
            case "--window": window = args.next().flatMap { Int($0) } ?? window
            case "--seconds": seconds = args.next().flatMap { Double($0) } ?? seconds
            default:
                print("usage: sippet-bench-options [--transactions N] [--window W] [--seconds S]")
                exit(64)
            }
        }
    }
}

/// Answers every OPTIONS with 200, on the loop, on the transaction the stack named (as a core
/// that has the key does: the stack need not work the key out of the response again).
final class Responder: SIPCore {
    func receiveRequest(_ request: SIPMessage, key: ServerTransactionKey?, stack: SIPStack) {
        if let key { _ = try? stack.send(request.makeResponse(status: 200), for: key) }
    }
    func receiveResponse(_ response: SIPMessage, key: ClientTransactionKey?, stack: SIPStack) {}
    func receiveError(_ error: SIPStackError, key: TransactionKey, stack: SIPStack) {}
}

/// Keeps `window` OPTIONS transactions in flight until `total` completed.
final class Driver: SIPCore {
    struct Counts {
        var started = 0
        var completed = 0
        var timeouts = 0
    }

    let target: String
    let total: Int
    let counts = NIOLockedValueBox(Counts())
    let done: EventLoopPromise<Void>
    let callIDPrefix = SIPIdentifiers.callID()

    init(target: String, total: Int, done: EventLoopPromise<Void>) {
        self.target = target
        self.total = total
        self.done = done
    }

    func next(_ stack: SIPStack) {
        let n: Int? = counts.withLockedValue { c in
            guard c.started < total else { return nil }
            c.started += 1
            return c.started
        }
        guard let n else { return }
        let request = SIPMessage.request(
            method: .options, uri: (try? URI(target)) ?? .absolute(AbsoluteURI(scheme: "sip", rest: "")),
            headers: [
                (.from, "<sip:bench@127.0.0.1>;tag=b\(n)"), (.to, "<\(target)>"),
                (.callID, "\(n)-\(callIDPrefix)"), (.cseq, "1 OPTIONS"),
            ])
        _ = try? stack.send(request)
    }

    func finished(_ stack: SIPStack, timeout: Bool) {
        let all = counts.withLockedValue { c -> Bool in
            c.completed += 1
            if timeout { c.timeouts += 1 }
            return c.completed == total
        }
        if all { done.succeed() } else { next(stack) }
    }

    func receiveRequest(_ request: SIPMessage, key: ServerTransactionKey?, stack: SIPStack) {}
    func receiveResponse(_ response: SIPMessage, key: ClientTransactionKey?, stack: SIPStack) {
        if key != nil, let s = response.status, s >= 200 { finished(stack, timeout: false) }
    }
    func receiveError(_ error: SIPStackError, key: TransactionKey, stack: SIPStack) { finished(stack, timeout: true) }
}

let arguments = Arguments()
let group = MultiThreadedEventLoopGroup.singleton
var configuration = SIPStack.Configuration()
configuration.shutdownGracePeriod = .zero
let uas = SIPStack(name: "uas", configuration: configuration, transports: [UDPTransport(host: "127.0.0.1", port: 0)])
uas.register(core: Responder())
try await uas.start()
let uac = SIPStack(name: "uac", configuration: configuration, transports: [UDPTransport(host: "127.0.0.1", port: 0)])
guard let address = uas.transports[0].localAddress, let port = address.port else { exit(1) }
let done = group.next().makePromise(of: Void.self)
let driver = Driver(target: "sip:bench@127.0.0.1:\(port)", total: arguments.transactions, done: done)
uac.register(core: driver)
try await uac.start()

let clock = ContinuousClock()
let start = clock.now
for _ in 0..<min(arguments.window, arguments.transactions) { driver.next(uac) }
let deadline = group.next().scheduleTask(in: .nanoseconds(Int64(arguments.seconds * 1e9))) { done.succeed() }
try await done.futureResult.get()
deadline.cancel()
let elapsed = clock.now - start
let counts = driver.counts.withLockedValue { $0 }
let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
let rate = Double(counts.completed) / seconds
print(
    "sippet-options transactions=\(counts.completed) seconds=\(format3(seconds)) tps=\(Int(rate)) timeouts=\(counts.timeouts)"
)
await uac.shutdown()
await uas.shutdown()

func format3(_ x: Double) -> String {
    let scaled = Int((x * 1000).rounded())
    let frac = scaled % 1000
    return "\(scaled / 1000)." + String(repeating: "0", count: 3 - String(frac).count) + String(frac)
}
