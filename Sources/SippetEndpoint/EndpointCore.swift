import Logging
import NIOCore
import NIOPosix
import SIPSyntax
import SIPTransaction
import Sippet
import SippetAuth
import Synchronization

/// The core of `sippet serve`: a user agent server and a registrar on one stack.
///
/// - OPTIONS: 200 with Allow, Accept and Supported (RFC 3261 §11.2).
/// - REGISTER: a ``Registrar`` (§10.3).
/// - INVITE: 180 after ``Options/ringAfter`` (if set), then the final response
///   ``Options/answer`` after ``Options/answerAfter`` (§13.3.1). A 2xx carries a Contact and an
///   SDP answer (RFC 3264), makes a dialog (§12.1.1) and is retransmitted by this core until the
///   ACK arrives: at T1, then doubling up to T2; after 64·T1 without an ACK the dialog is ended
///   with a BYE (§13.3.1.4). The 100 Trying is the transaction layer's (§17.2.1).
/// - CANCEL of an INVITE not yet answered: 200 to the CANCEL and 487 to the INVITE (§9.2).
/// - BYE: 200 in a known dialog, 481 otherwise (§15.1.2). A re-INVITE in a known dialog gets 200
///   with a new SDP answer, UPDATE (RFC 3311) 200 (with an answer when it offers) and INFO (RFC
///   6086) 200; outside a dialog they get 481. A request of the dialog with a CSeq below the last
///   one gets 500 (§12.2.2). The 2xx copies the INVITE's Record-Route (§12.1.1).
/// - Reliable provisional responses (RFC 3262): when the INVITE requires or supports `100rel`,
///   the 180 carries RSeq and `Require: 100rel` and is sent again at T1, 2·T1, 4·T1 … until its
///   PRACK (200; a PRACK that matches nothing gets 481); after 64·T1 without one the INVITE gets
///   504.
/// - Session timers (RFC 4028): an INVITE whose Session-Expires is below ``Options/minSE`` gets
///   422 with Min-SE; otherwise its 2xx carries the Session-Expires and refresher negotiated, with
///   `Require: timer` when the caller supports it.
/// - MESSAGE: 200 (RFC 3428 §7).
/// - With an ``Options/authenticator``, REGISTER and the out-of-dialog INVITE, MESSAGE and
///   SUBSCRIBE need digest credentials (RFC 3261 §22); OPTIONS never does (it serves as a
///   keepalive), nor do ACK and CANCEL (§22.1) or requests inside a dialog.
/// - Any other method: 405 with Allow if it is a known one, 501 if not (§8.2.1). (The stack's own
///   validation normally answers these before they reach the core.)
///
/// It is a dispatcher. A call's state (pending INVITEs, dialogs and their timers) lives on the
/// event loop its Call-ID hashes to (``EndpointCalls``), a registration on the loop its
/// address-of-record hashes to (``LoopRegistrar``); a request read on another loop is handed
/// over, in batches. Nothing is shared between loops but two counters: no lock.
public final class EndpointCore: SIPCore {
    /// What the endpoint answers, and when.
    public struct Options: Sendable {
        /// The final response to an INVITE (`--answer`).
        public var answer: Int = 200
        /// When to send 180 Ringing after the INVITE arrived; nil sends none (`--ring-after-ms`).
        public var ringAfter: Duration?
        /// When to send the final response after the INVITE arrived (`--answer-after-ms`).
        public var answerAfter: Duration = .zero
        /// §13.3.1.4: the 2xx retransmission intervals, T1 doubling up to T2, for 64·T1.
        public var t1: Duration = .milliseconds(500)
        /// §13.3.1.4: the cap of the 2xx retransmission interval (T2).
        public var t2: Duration = .seconds(4)
        /// The registrar's limits.
        public var registrar = Registrar.Policy()
        /// Dialogs held at once; an INVITE beyond it gets 503 with Retry-After (a protection).
        public var maxDialogs = 200_000
        /// The user part of this endpoint's Contact.
        public var contactUser = "sippet"
        /// Digest authentication of REGISTER and of out-of-dialog INVITE, MESSAGE and SUBSCRIBE;
        /// nil: none (`--users`).
        public var authenticator: DigestAuthenticator?
        /// The smallest session interval accepted (RFC 4028 Min-SE, `--min-se`; at least 90 s).
        public var minSE: UInt32 = 90
        /// A registrar on a durable store (`--db sqlite:…`, `postgres://…`): REGISTER goes there,
        /// each one a transaction of the store, instead of to the in-memory registrar.
        public var storedRegistrar: StoredRegistrar?

        /// Answer at once with 200, no 180; the RFC's T1 and T2; default limits.
        public init() {}
    }

    /// The methods this core implements (the Allow header, §20.5).
    public static let allowedMethods: [SIPMethod] = [
        .invite, .ack, .cancel, .bye, .options, .register, .message, .update, .info, .prack,
    ]

    /// The extensions this core supports (RFC 3261 §20.37): reliable provisional responses (RFC
    /// 3262) and session timers (RFC 4028). Give them to the stack's validation
    /// (`SIPValidationPolicy.supportedExtensions`), so that a request requiring them gets no 420.
    public static let supportedExtensions: [String] = ["100rel", "timer"]

    /// The Supported header of this core's responses.
    static let supportedHeader = supportedExtensions.joined(separator: ", ")

    static let allowHeader = allowedMethods.map(\.rawValue).joined(separator: ", ")

    /// What the loops' parts share: the dialog limit, a count of dialogs, the logger.
    final class Shared: Sendable {
        let maxDialogs: Int
        let logger: Logger
        /// Dialogs and pending INVITEs held, over all loops, for ``Options/maxDialogs``.
        let held = Atomic<Int>(0)
        /// Dialogs held, over all loops.
        let dialogs = Atomic<Int>(0)

        init(maxDialogs: Int, logger: Logger) {
            self.maxDialogs = maxDialogs
            self.logger = logger
        }

        /// Counts one more dialog or pending INVITE, unless ``Options/maxDialogs`` are held.
        func admitOne() -> Bool {
            if held.wrappingAdd(1, ordering: .relaxed).newValue <= maxDialogs { return true }
            held.wrappingSubtract(1, ordering: .relaxed)
            return false
        }

        /// A dialog or pending INVITE is gone.
        func releaseOne() { held.wrappingSubtract(1, ordering: .relaxed) }
    }

    /// What the endpoint answers, and when.
    public let options: Options
    let logger: Logger
    private let shared: Shared
    private let registrar: LoopRegistrar
    /// The calls of each loop, by Call-ID (``EndpointCalls``).
    private let calls: [EndpointCalls]
    private let handOff: LoopHandOff<CallRequest>

    /// A request of a call on its way to the loop of its Call-ID.
    struct CallRequest: Sendable {
        var request: SIPMessage
        var key: ServerTransactionKey?
        var stack: SIPStack
    }

    /// An endpoint whose calls and registrations live on the loops of `group` (the first `loops`
    /// of them when given): give it the group and the number of loops its stack's transactions
    /// use (``SIPStack/Configuration/transactionLoops``), and every request of a call is handled
    /// on the loop the stack delivers it on, with no hand-over.
    public init(
        options: Options = Options(), group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        loops limit: Int? = nil, logger: Logger = Logger(label: "sippet.endpoint")
    ) {
        self.options = options
        self.logger = logger
        let loops = group.allLoops(limit: limit)
        let shared = Shared(maxDialogs: options.maxDialogs, logger: logger)
        self.shared = shared
        self.registrar = LoopRegistrar(policy: options.registrar, loops: loops)
        let calls = loops.enumerated().map { EndpointCalls(loop: $1, index: $0, options: options, shared: shared) }
        self.calls = calls
        self.handOff = LoopHandOff(loops: loops) { i, r in calls[i].handle(r.request, key: r.key, stack: r.stack) }
    }

    /// The number of dialogs held.
    public var dialogCount: Int { shared.dialogs.load(ordering: .relaxed) }
    /// The number of registered bindings.
    public var bindingCount: Int { registrar.count }

    // MARK: - SIPCore

    /// Answers OPTIONS here, hands REGISTER to the registrar's loop for its address-of-record and
    /// the requests of a call (INVITE, ACK, CANCEL, BYE) to the loop of their Call-ID; other
    /// methods get 405 (a known one, with Allow) or 501 (RFC 3261 §8.2.1).
    public func receiveRequest(_ request: SIPMessage, key: ServerTransactionKey?, stack: SIPStack) {
        guard let method = request.method else { return }
        if let authenticator = options.authenticator, Self.needsCredentials(request, method) {
            switch authenticator.authenticate(request, source: DigestAuthenticator.sourceAddress(of: request)) {
            case .authorized, .exempt: break
            case .challenge(let response), .forbidden(let response):
                Self.send(response, key, stack, logger: logger)
                return
            }
        }
        switch method {
        case .options: Self.send(options(request), key, stack, logger: logger)
        case .message: Self.send(request.makeResponse(status: 200), key, stack, logger: logger)
        case .register:
            if let stored = options.storedRegistrar {
                Task { [logger] in Self.send(await stored.handle(request), key, stack, logger: logger) }
            } else {
                registrar.handle(request) { [logger] in Self.send($0, key, stack, logger: logger) }
            }
        case .invite, .ack, .cancel, .bye, .update, .info, .prack:
            handOff.send(CallRequest(request: request, key: key, stack: stack), to: loop(of: request))
        default:
            let status = SIPMethod.standard.contains(method) ? 405 : 501
            let allow = SIPHeaderField(name: .allow, value: Self.allowHeader)
            let rejection = SIPRejection(status: status, detail: "\(method) is not handled here", headers: [allow])
            Self.send(rejection.response(to: request), key, stack, logger: logger)
        }
    }

    /// Only the BYEs this core sends after a lost ACK get responses; nothing to do with them.
    public func receiveResponse(_ response: SIPMessage, key: ClientTransactionKey?, stack: SIPStack) {}

    /// Logged at debug level: the endpoint's transactions fail only when a peer goes away.
    public func receiveError(_ error: SIPStackError, key: TransactionKey, stack: SIPStack) {
        logger.debug("transaction failed", metadata: ["sip.transaction": "\(key)", "sip.error": "\(error)"])
    }

    /// Whether `request` must carry credentials: REGISTER, and INVITE, MESSAGE and SUBSCRIBE
    /// outside a dialog (no To tag, §12.2.2). In-dialog requests were authorized with the dialog.
    static func needsCredentials(_ request: SIPMessage, _ method: SIPMethod) -> Bool {
        switch method {
        case .register: true
        case .invite, .message, .subscribe: request.toTag == nil
        default: false
        }
    }

    /// The loop of a call: by the hash of its Call-ID (§8.1.1.4), the same for every request of
    /// the call and the one the stack spreads transactions by (``CallIDHash``), so that with the
    /// same loops a request is handled where the stack delivered it.
    private func loop(of request: SIPMessage) -> Int {
        CallIDHash.index(CallIDHash.of(request), of: calls.count)
    }

    // MARK: - OPTIONS

    /// RFC 3261 §11.2: what a UAS can do — Allow, Accept, Accept-Encoding, Accept-Language and
    /// Supported (session timers, RFC 4028).
    func options(_ request: SIPMessage) -> SIPMessage {
        var r = request.makeResponse(status: 200)
        r.headers.append(.allow, Self.allowHeader)
        r.headers.append(.accept, "application/sdp")
        r.headers.append(.acceptEncoding, "identity")
        r.headers.append(.acceptLanguage, "en")
        r.headers.append(.supported, Self.supportedHeader)
        return r
    }

    /// Sends a response on the request's server transaction (statelessly when `key` is nil).
    static func send(_ response: SIPMessage, _ key: ServerTransactionKey?, _ stack: SIPStack, logger: Logger) {
        do {
            if let key { try stack.send(response, for: key) } else { try stack.send(response) }
        } catch {
            logger.debug("response not sent", metadata: ["sip.error": "\(error)"])
        }
    }
}
