import NIOConcurrencyHelpers
import NIOCore
import SIPTransport

/// A transport delegate that records what arrives and lets a test wait for it.
final class RecordingDelegate: SIPTransportDelegate {
    private let state = NIOLockedValueBox<(messages: [SIPReceivedMessage], events: [SIPTransportEvent])>(([], []))

    func transport(_ transport: any SIPTransport, received message: SIPReceivedMessage) {
        state.withLockedValue { $0.messages.append(message) }
    }

    func transport(_ transport: any SIPTransport, observed event: SIPTransportEvent) {
        state.withLockedValue { $0.events.append(event) }
    }

    var messages: [SIPReceivedMessage] { state.withLockedValue { $0.messages } }
    var events: [SIPTransportEvent] { state.withLockedValue { $0.events } }

    /// Waits until `count` messages arrived, for at most `timeout`; returns them.
    func waitForMessages(_ count: Int, timeout: Duration = .seconds(5)) async -> [SIPReceivedMessage] {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let m = messages
            if m.count >= count { return m }
            try? await Task.sleep(for: .milliseconds(5))
        }
        return messages
    }
}
