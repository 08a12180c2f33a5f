import NIOConcurrencyHelpers
import NIOCore
import NIOTLS

/// The futures a stream pipeline's `whenReady` hands the engine, one per connection the transport
/// makes: a handshake (TLS, the WebSocket upgrade of RFC 7118 §4) completes it; the connection
/// closing, or the handshake taking longer than `timeout` once the connection is up, fails it.
///
/// The engine writes nothing on a connection it made until its future succeeds, so that a message
/// is neither lost in a half-built pipeline nor reported as written when the handshake then fails.
/// The handshake's clock starts when the engine asks for the future, after the TCP connect: the
/// connect has its own timeout, and a timer started earlier could close a connection that is still
/// connecting, which would then be reported as closed rather than as a failed connect.
///
/// A connection can close before the engine asks (a TLS handshake refused within a round trip of
/// the connect): its entry then stays, failed with the handshake's own error, for `timeout`, so
/// that the engine still learns why (a TLS failure, not merely a closed connection).
final class ConnectionReadiness: Sendable {
    private struct Entry {
        let promise: EventLoopPromise<Void>
        let timeout: TimeAmount
        var closed = false
    }

    private let pending = NIOLockedValueBox([ObjectIdentifier: Entry]())

    /// Starts waiting for `channel`'s handshake; the pipeline completes the promise.
    func register(_ channel: any Channel, timeout: TimeAmount) -> EventLoopPromise<Void> {
        let promise = channel.eventLoop.makePromise(of: Void.self)
        let id = ObjectIdentifier(channel)
        let loop = channel.eventLoop
        pending.withLockedValue { $0[id] = Entry(promise: promise, timeout: timeout) }
        channel.closeFuture.whenComplete { [weak self] _ in
            // A handshake error that came first stays the result; this fails only a wait cut short.
            promise.fail(SIPTransportError(.connectionClosed, "closed during the handshake"))
            guard let self else { return }
            let kept = self.pending.withLockedValue { p -> Bool in
                guard p[id]?.promise.futureResult === promise.futureResult else { return false }
                p[id]?.closed = true
                return true
            }
            guard kept else { return }
            loop.scheduleTask(in: timeout) { [weak self] in
                self?.pending.withLockedValue { p in
                    if p[id]?.promise.futureResult === promise.futureResult { p[id] = nil }
                }
            }
        }
        return promise
    }

    /// The future of `channel`'s handshake, once its connect has succeeded: from now on the
    /// handshake has `timeout` to finish. Failed when the channel was never registered or closed
    /// longer than `timeout` ago.
    func future(for channel: any Channel) -> EventLoopFuture<Void> {
        guard let entry = pending.withLockedValue({ $0.removeValue(forKey: ObjectIdentifier(channel)) }) else {
            return channel.eventLoop.makeFailedFuture(
                SIPTransportError(.connectionClosed, "closed during the handshake"))
        }
        let promise = entry.promise
        if entry.closed { return promise.futureResult }
        let timer = channel.eventLoop.scheduleTask(in: entry.timeout) {
            promise.fail(SIPTransportError(.connectFailed, "handshake not done within the connect timeout"))
            channel.close(promise: nil)
        }
        promise.futureResult.whenComplete { _ in timer.cancel() }
        return promise.futureResult
    }
}

/// Completes a connection's readiness when its TLS handshake does, or fails it with the handshake's
/// error, so that a send to a server whose certificate is not trusted reports a TLS failure rather
/// than a closed connection. Removes itself once the handshake is done.
final class TLSHandshakeObserver: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny

    private let ready: EventLoopPromise<Void>

    init(ready: EventLoopPromise<Void>) { self.ready = ready }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        context.fireUserInboundEventTriggered(event)
        if let e = event as? TLSUserEvent, case .handshakeCompleted = e {
            ready.succeed()
            context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        ready.fail(error)
        context.fireErrorCaught(error)
    }
}
