import NIOCore
import SIPTransport
import Testing

/// A request from a client transport to a server transport and the response back, as the stream
/// transport tests run it.
enum RoundTrip {
    static func request(_ kind: SIPTransportKind) -> [UInt8] {
        Array(
            ("OPTIONS sip:b@example.com SIP/2.0\r\nVia: SIP/2.0/\(kind) client.invalid;branch=z9hG4bK776asdhds\r\n"
                + "Max-Forwards: 70\r\nTo: <sip:b@example.com>\r\nFrom: <sip:a@example.com>;tag=1928301774\r\n"
                + "Call-ID: a84b4c76e66710\r\nCSeq: 63104 OPTIONS\r\nContent-Length: 0\r\n\r\n").utf8)
    }

    static func response(_ kind: SIPTransportKind) -> [UInt8] {
        Array(
            ("SIP/2.0 200 OK\r\nVia: SIP/2.0/\(kind) client.invalid;branch=z9hG4bK776asdhds\r\n"
                + "To: <sip:b@example.com>;tag=93810874\r\nFrom: <sip:a@example.com>;tag=1928301774\r\n"
                + "Call-ID: a84b4c76e66710\r\nCSeq: 63104 OPTIONS\r\nContent-Length: 0\r\n\r\n").utf8)
    }

    /// Sends `bytes` and waits for the send's completion.
    static func send(
        _ bytes: [UInt8], from transport: any SIPTransport,
        to target: SIPTransportTarget
    ) async -> Result<Void, SIPTransportError> {
        await withCheckedContinuation { (c: CheckedContinuation<Result<Void, SIPTransportError>, Never>) in
            transport.send(bytes, to: target, completion: { c.resume(returning: $0) })
        }
    }

    /// `client` sends a request to `server`'s address; `server` gets exactly those bytes with a
    /// connection handle, answers on that connection, and `client` gets the response on the
    /// connection it opened: one connection on each side.
    static func run(
        client: any SIPTransport, server: any SIPTransport, clientDelegate: RecordingDelegate,
        serverDelegate: RecordingDelegate, connectionCounts: () -> (client: Int, server: Int),
        sourceLocation: SourceLocation = #_sourceLocation
    ) async throws {
        let serverAddress = try #require(server.localAddress, sourceLocation: sourceLocation)
        let request = request(server.kind)
        let response = response(server.kind)
        let sent = await send(request, from: client, to: SIPTransportTarget(address: serverAddress))
        #expect(throws: Never.self, sourceLocation: sourceLocation) { try sent.get() }

        let got = await serverDelegate.waitForMessages(1)
        try #require(got.count == 1, sourceLocation: sourceLocation)
        let incoming = got[0]
        #expect(incoming.bytes == request, sourceLocation: sourceLocation)
        let handle = try #require(incoming.connection, sourceLocation: sourceLocation)
        #expect(incoming.source.port != serverAddress.port, sourceLocation: sourceLocation)

        let answered = await send(
            response, from: server,
            to: SIPTransportTarget(address: incoming.source, connection: handle))
        #expect(throws: Never.self, sourceLocation: sourceLocation) { try answered.get() }
        let back = await clientDelegate.waitForMessages(1)
        try #require(back.count == 1, sourceLocation: sourceLocation)
        #expect(back[0].bytes == response, sourceLocation: sourceLocation)
        #expect(back[0].connection != nil, sourceLocation: sourceLocation)
        #expect(back[0].source == serverAddress, sourceLocation: sourceLocation)

        let counts = connectionCounts()
        #expect(counts.client == 1, sourceLocation: sourceLocation)
        #expect(counts.server == 1, sourceLocation: sourceLocation)
    }
}

extension RecordingDelegate {
    /// Waits until an event matching `match` was observed, for at most `timeout`.
    func waitForEvent(
        timeout: Duration = .seconds(5),
        _ match: (SIPTransportEvent) -> Bool
    ) async -> SIPTransportEvent? {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let e = events.first(where: match) { return e }
            try? await Task.sleep(for: .milliseconds(5))
        }
        return events.first(where: match)
    }

    /// Waits until a connection was dropped; returns the reason.
    func waitForDrop(timeout: Duration = .seconds(5)) async -> String? {
        let event = await waitForEvent(timeout: timeout) {
            if case .connectionDropped = $0 { return true } else { return false }
        }
        if case .connectionDropped(_, let reason) = event { return reason }
        return nil
    }
}
