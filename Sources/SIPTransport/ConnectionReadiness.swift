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
final class ConnectionReadiness: Sendable {
    private let pending = NIOLockedValueBox([ObjectIdentifier: (promise: EventLoopPromise<Void>, timeout: TimeAmount)]())

    /// Starts waiting for `channel`'s handshake; the pipeline completes the promise.
    func register(_ channel: any Channel, timeout: TimeAmount) -> EventLoopPromise<Void> {
        let promise = channel.eventLoop.makePromise(of: Void.self)
        let id = ObjectIdentifier(channel)
        pending.withLockedValue { $0[id] = (promise, timeout) }
        channel.closeFuture.whenComplete { [weak self] _ in
            _ = self?.pending.withLockedValue { $0.removeValue(forKey: id) }
            promise.fail(SIPTransportError(.connectionClosed, "closed during the handshake"))
        }
        return promise
    }

    /// The future of `channel`'s handshake, once its connect has succeeded: from now on the
    /// handshake has `timeout` to finish. Failed when the channel was never registered or has
    /// closed since.
    func future(for channel: any Channel) -> EventLoopFuture<Void> {
        guard let (promise, timeout) = pending.withLockedValue({ $0.removeValue(forKey: ObjectIdentifier(channel)) }) else {
            return channel.eventLoop.makeFailedFuture(SIPTransportError(.connectionClosed, "closed during the handshake"))
        }
        let timer = channel.eventLoop.scheduleTask(in: timeout) {
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
