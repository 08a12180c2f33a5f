import NIOCore
import NIOEmbedded
import NIOSSL
import Testing

@testable import SIPTransport

/// How a connection's handshake (TLS, the WebSocket upgrade) reaches the engine that made it.
@Suite("Connection readiness")
struct ConnectionReadinessTests {
    /// A failure recorded by `future`'s callbacks.
    final class Outcome: @unchecked Sendable {
        var error: (any Error)?
        var succeeded = false
    }

    func outcome(of future: EventLoopFuture<Void>, on channel: EmbeddedChannel) -> Outcome {
        let o = Outcome()
        future.whenComplete { result in
            switch result {
            case .success: o.succeeded = true
            case .failure(let e): o.error = e
            }
        }
        channel.embeddedEventLoop.run()
        return o
    }

    /// A channel registered with a 5 s handshake timeout whose TLS handshake was refused at once.
    static func handshakeRefused() throws -> (ConnectionReadiness, EmbeddedChannel) {
        let readiness = ConnectionReadiness()
        let channel = EmbeddedChannel()
        let ready = readiness.register(channel, timeout: .seconds(5))
        try channel.pipeline.syncOperations.addHandler(TLSHandshakeObserver(ready: ready))
        channel.pipeline.fireErrorCaught(NIOSSLError.handshakeFailed(.sslError([])))
        return (readiness, channel)
    }

    @Test("A TLS handshake refused and closed before the engine asks still reports a TLS failure")
    func refusedBeforeAsked() throws {
        let (readiness, channel) = try Self.handshakeRefused()
        _ = try? channel.finish()
        let o = outcome(of: readiness.future(for: channel), on: channel)
        let error = try #require(o.error)
        #expect(StreamEngine.transportError(error).kind == .tlsFailure, "\(error)")
    }

    @Test("Limit: a closed connection's entry is kept only for the handshake timeout")
    func closedEntryExpires() throws {
        let (readiness, channel) = try Self.handshakeRefused()
        channel.close(promise: nil)
        channel.embeddedEventLoop.advanceTime(by: .seconds(6))
        // The entry is gone: all that is left to say is that the connection closed.
        let o = outcome(of: readiness.future(for: channel), on: channel)
        let error = try #require(o.error)
        #expect(StreamEngine.transportError(error).kind == .connectionClosed, "\(error)")
    }

    @Test("A connection closed during the handshake reports a closed connection; a finished one is ready")
    func closedOrReady() throws {
        let readiness = ConnectionReadiness()
        let closing = EmbeddedChannel()
        _ = readiness.register(closing, timeout: .seconds(5))
        let pendingFuture = readiness.future(for: closing)
        _ = try? closing.finish()
        let closed = outcome(of: pendingFuture, on: closing)
        #expect(StreamEngine.transportError(try #require(closed.error)).kind == .connectionClosed)

        let open = EmbeddedChannel()
        let ready = readiness.register(open, timeout: .seconds(5))
        let future = readiness.future(for: open)
        ready.succeed()
        #expect(outcome(of: future, on: open).succeeded)
        _ = try? open.finish()
    }

    @Test("A handshake not done within the timeout fails as a failed connect and closes the connection")
    func timeout() throws {
        let readiness = ConnectionReadiness()
        let channel = EmbeddedChannel()
        _ = readiness.register(channel, timeout: .seconds(5))
        let future = readiness.future(for: channel)
        channel.embeddedEventLoop.advanceTime(by: .seconds(6))
        let o = outcome(of: future, on: channel)
        #expect(StreamEngine.transportError(try #require(o.error)).kind == .connectFailed)
        #expect(!channel.isActive)
    }
}
