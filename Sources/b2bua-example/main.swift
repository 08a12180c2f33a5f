import SIPSyntax
import SIPTransport
import Sippet
import SippetUserAgent

// b2bua-example PORT TARGET: every call to 127.0.0.1:PORT (UDP) is placed again, as a call of
// its own, to TARGET with the caller's offer. Ringing, the answer, a hang-up on either side and
// the caller's CANCEL pass from each leg to the other.
let arguments = CommandLine.arguments
let port = arguments.count > 1 ? Int(arguments[1]) ?? 5070 : 5070
let target = try URI(arguments.count > 2 ? arguments[2] : "sip:service@127.0.0.1:5060")

var configuration = SIPStack.Configuration()
configuration.validation = SIPUserAgent.validation
let stack = SIPStack(
    name: "b2bua", configuration: configuration, transports: [UDPTransport(host: "127.0.0.1", port: port)])
let agent = SIPUserAgent(stack: stack)
try await stack.start()

await withDiscardingTaskGroup { group in
    for await incoming in agent.incomingCalls {
        // Calls to a user are bridged; anything else is refused.
        guard let user = incoming.invite.requestURI?.sipURI?.user else {
            try? incoming.reject(404)
            continue
        }
        group.addTask {
            let outcome = await B2BUA.bridge(incoming, to: target)
            stack.logger.info("\(user): \(outcome)")
        }
    }
}
