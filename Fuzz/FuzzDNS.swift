// The DNS fuzz target: Fuzz/run.sh builds it into a binary of its own (OUTDIR/sippet-fuzz-dns)
// from Sources/SippetDNS/DNSMessage.swift, which has no imports, and this file.
//
// Properties: a DNS message of any bytes either throws a DNSParseError or parses, within the
// reader's bounds (no crash, no hang on compression loops, no allocation the bytes do not
// justify); a message read and written back (when it can be: a name read from invalid UTF-8 may
// grow past 255 octets) reads back equal.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzDNS(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    guard let message = try? DNSMessage(parsing: bytes) else { return 0 }
    for record in message.answers + message.authority + message.additional {
        _ = record.description
        _ = record.addressText
    }
    guard let written = try? message.serialized() else { return 0 }
    guard let again = try? DNSMessage(parsing: written) else {
        fatalError("a written message does not parse: \(written)")
    }
    guard again == message else {
        fatalError("a message does not round-trip: \(message.answers) vs \(again.answers)")
    }
    return 0
}
