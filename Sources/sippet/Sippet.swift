import ArgumentParser
import SIPSyntax

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

@main
struct Sippet: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sippet",
        abstract: "A SIP (RFC 3261) toolkit built on swift-sippet.",
        subcommands: [
            Serve.self, OptionsCommand.self, CallCommand.self, RegisterCommand.self, Passwd.self, ProxyCommand.self,
            ResolveCommand.self, LocationsCommand.self, Parse.self,
        ]
    )
}

/// Reads a whole file (or standard input) as bytes.
func readAll(_ path: String?) throws -> [UInt8] {
    let f: UnsafeMutablePointer<FILE>?
    if let path { f = fopen(path, "rb") } else { f = fdopen(0, "rb") }
    guard let f else { throw ValidationError("cannot open \(path ?? "standard input")") }
    defer { if path != nil { fclose(f) } }
    var out: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65_536)
    while true {
        let n = fread(&chunk, 1, chunk.count, f)
        if n <= 0 { break }
        out += chunk[0..<n]
    }
    return out
}

func writeStdout(_ bytes: [UInt8]) {
    _ = bytes.withUnsafeBufferPointer { write(1, $0.baseAddress, $0.count) }
}

func writeStderr(_ s: String) {
    var line = s + "\n"
    line.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
}

/// Writes one line to standard output at once (unbuffered, so that a script reading a pipe sees
/// it when it is said).
func say(_ s: String) {
    var line = s + "\n"
    line.withUTF8 { _ = write(1, $0.baseAddress, $0.count) }
}
