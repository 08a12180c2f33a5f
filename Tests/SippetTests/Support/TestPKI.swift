import Foundation
import NIOSSL
import SIPTransport

/// A throwaway public-key infrastructure for TLS tests, made at run time with the `openssl`
/// command line in a temporary directory, once per test process: a self-signed CA (CA:TRUE) and
/// a server certificate it signed for `localhost`, 127.0.0.1 and ::1.
struct TestPKI: Sendable {
    /// The directory holding the files.
    let directory: String
    /// The CA's certificate (PEM): what a client trusts.
    let caPath: String
    /// The server's certificate followed by the CA's (PEM).
    let certificateChainPath: String
    /// The server's private key (PEM, PKCS #8).
    let privateKeyPath: String

    /// The process's PKI, made on first use. Swift runs a static initializer once, whichever
    /// thread asks first; the others wait for it.
    static var shared: TestPKI {
        get throws { try made.get() }
    }
    private static let made = Result<TestPKI, any Error> { try TestPKI.make() }

    /// A server (and client) configuration presenting the test certificate and trusting the CA.
    func serverTLS() throws -> SIPTLSConfiguration {
        try .pem(certificateChain: certificateChainPath, privateKey: privateKeyPath, trustRoots: .file(caPath))
    }

    /// A client configuration trusting the test CA.
    func clientTLS() -> SIPTLSConfiguration { .clientOnly(trustRoots: .file(caPath)) }

    /// A client configuration trusting only the system's roots, which do not include the test CA.
    func systemTrustClientTLS() -> SIPTLSConfiguration { .clientOnly(trustRoots: .default) }

    struct OpenSSLError: Error, CustomStringConvertible {
        var arguments: [String]
        var status: Int32
        var output: String
        var description: String { "openssl \(arguments.joined(separator: " ")) exited \(status): \(output)" }
    }

    /// Runs `/usr/bin/openssl` with `arguments` in `directory`, feeding it `input`; returns what it
    /// wrote on standard output.
    @discardableResult
    static func openssl(_ arguments: [String], input: [UInt8]? = nil, in directory: String? = nil) throws -> [UInt8] {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        process.arguments = arguments
        if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
        let output = Pipe()
        let errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        let stdin = Pipe()
        process.standardInput = stdin
        try process.run()
        if let input { stdin.fileHandleForWriting.write(Data(input)) }
        try stdin.fileHandleForWriting.close()
        let out = output.fileHandleForReading.readDataToEndOfFile()
        let err = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw OpenSSLError(
                arguments: arguments, status: process.terminationStatus,
                output: String(decoding: err, as: UTF8.self))
        }
        return Array(out)
    }

    private static func make() throws -> TestPKI {
        let dir = FileManager.default.temporaryDirectory
            .appendingPathComponent("sippet-test-pki-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        // Removed when the test process exits: the keys are of no use after it.
        pkiDirectory = dir
        atexit {
            if let dir = pkiDirectory { try? FileManager.default.removeItem(atPath: dir) }
        }
        func write(_ name: String, _ text: String) throws {
            try text.write(toFile: dir + "/" + name, atomically: true, encoding: .utf8)
        }
        // Own configuration files, so that the system's openssl.cnf adds no extension of its own.
        try write(
            "ca.cnf",
            """
            [req]
            distinguished_name = dn
            prompt = no
            x509_extensions = ca
            [dn]
            CN = Sippet Test CA
            [ca]
            basicConstraints = critical,CA:TRUE
            keyUsage = critical,keyCertSign,cRLSign
            subjectKeyIdentifier = hash
            """)
        try write(
            "server.cnf",
            """
            [req]
            distinguished_name = dn
            prompt = no
            [dn]
            CN = localhost
            [server]
            basicConstraints = critical,CA:FALSE
            keyUsage = critical,digitalSignature
            extendedKeyUsage = serverAuth
            subjectAltName = DNS:localhost,IP:127.0.0.1,IP:::1
            subjectKeyIdentifier = hash
            authorityKeyIdentifier = keyid
            """)
        let curve = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        try openssl(
            ["req", "-x509", "-config", "ca.cnf"] + curve
                + ["-keyout", "ca-key.pem", "-out", "ca.pem", "-days", "2"], in: dir)
        try openssl(
            ["req", "-new", "-config", "server.cnf"] + curve
                + ["-keyout", "server-key.pem", "-out", "server.csr"], in: dir)
        let serial = "0x" + (0..<8).map { _ in String(format: "%02x", UInt8.random(in: 1...255)) }.joined()
        try openssl(
            [
                "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca-key.pem",
                "-set_serial", serial, "-days", "2", "-extfile", "server.cnf", "-extensions", "server",
                "-out", "server.pem",
            ], in: dir)
        let chain =
            try String(contentsOfFile: dir + "/server.pem", encoding: .utf8)
            + String(contentsOfFile: dir + "/ca.pem", encoding: .utf8)
        try write("server-chain.pem", chain)
        return TestPKI(
            directory: dir, caPath: dir + "/ca.pem", certificateChainPath: dir + "/server-chain.pem",
            privateKeyPath: dir + "/server-key.pem")
    }
}

/// The directory ``TestPKI`` made, for the exit handler to remove. Written once, by the static
/// initializer that makes the PKI, before the handler is registered.
nonisolated(unsafe) private var pkiDirectory: String?
