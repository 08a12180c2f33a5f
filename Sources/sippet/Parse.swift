import ArgumentParser
import SIPSyntax

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// `sippet parse [--json] [--validate] [FILE]`: parse one message and print it.
struct Parse: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Parse a SIP message and print it serialized, or as JSON.",
        discussion: """
            Exits 0 for a valid message, 65 for an invalid one (with one line on standard error saying \
            what is wrong and where). Every header the library knows is checked.
            """
    )

    @Flag(help: "Print the message's typed view as one JSON object.")
    var json = false

    @Flag(help: "First print what a UAS answers by RFC 3261 §8.2: 'accept', 'reject CODE REASON' or 'drop WHY'.")
    var validate = false

    @Argument(help: "The message file; standard input when absent.")
    var file: String?

    func run() throws {
        let bytes = try readAll(file)
        var message: SIPMessage? = nil
        var failure: SIPParseError? = nil
        do {
            let m = try SIPMessage(parsing: bytes)
            try m.headers.validateKnownHeaders()
            message = m
        } catch {
            failure = error
        }
        if validate {
            let verdict: SIPVerdict
            if let message {
                verdict = SIPValidator.validate(message)
            } else if let failure {
                verdict = SIPValidator.verdictForUnparseable(bytes, failure, policy: .userAgent)
            } else {
                verdict = .drop("no message")
            }
            writeStdout(Array((verdict.description + "\n").utf8))
        }
        guard let message else {
            writeStderr("sippet: invalid message: \(failure?.description ?? "unknown error")")
            throw ExitCode(65)
        }
        if json {
            writeStdout(Array((JSONView.message(message).rendered + "\n").utf8))
        } else {
            writeStdout(message.serialized())
        }
    }
}
