import SIPSyntax
import Sippet

/// A message body with its media type (RFC 3261 §7.4): an SDP offer or answer, the payload of an
/// INFO.
public struct SIPBody: Sendable, Hashable {
    /// The Content-Type value, such as `application/sdp`.
    public var contentType: String
    /// The bytes.
    public var bytes: [UInt8]

    /// A body of `contentType` holding `bytes`.
    public init(contentType: String, bytes: [UInt8]) {
        self.contentType = contentType
        self.bytes = bytes
    }

    /// A session description (RFC 8866) as `application/sdp`.
    public static func sdp(_ text: String) -> SIPBody {
        SIPBody(contentType: "application/sdp", bytes: Array(text.utf8))
    }

    /// The body of `message`, or nil when it has none. A body without Content-Type is taken as
    /// `application/sdp` (RFC 3261 §20.15 requires the header; RFC 3264 bodies are SDP).
    public init?(of message: SIPMessage) {
        guard !message.body.isEmpty else { return nil }
        contentType = message.headers[.contentType] ?? "application/sdp"
        bytes = Array(message.body)
    }

    /// The body as text (UTF-8).
    public var text: String { String(decoding: bytes, as: UTF8.self) }
}

extension SIPMessage {
    /// Sets the body and its Content-Type, or removes both for nil.
    mutating func setBody(_ body: SIPBody?) {
        _ = headers.remove(.contentType)
        if let body {
            headers.append(.contentType, body.contentType)
            self.body = body.bytes[...]
        } else {
            self.body = []
        }
    }
}

/// Why a call or a request in it failed.
public enum CallFailure: Error, Sendable, CustomStringConvertible {
    /// The other side (or a proxy) answered with a final failure: 3xx, 4xx, 5xx or 6xx.
    case rejected(SIPMessage)
    /// The stack could not send the request or no final response came (RFC 3261 §17 timeouts).
    case stack(SIPStackError)
    /// The call has ended: nothing more can be sent in it.
    case ended
    /// The incoming call has its final response already, or was cancelled (RFC 3261 §9.2).
    case alreadyAnswered
    /// An offer is outstanding in the session, or an INVITE in progress (RFC 3261 §14.1, RFC 3264
    /// §4): wait for it to end.
    case exchangeInProgress

    /// "rejected: 486 Busy Here", "timeout (Timer B)", …
    public var description: String {
        switch self {
        case .rejected(let r): "rejected: \(r.status ?? 0) \(r.reasonPhrase ?? "")"
        case .stack(let e): e.description
        case .ended: "the call has ended"
        case .alreadyAnswered: "the call is answered or cancelled already"
        case .exchangeInProgress: "an offer or an INVITE is in progress"
        }
    }

    /// The final response's status for ``rejected(_:)``; nil otherwise.
    public var status: Int? { if case .rejected(let r) = self { r.status } else { nil } }
}
