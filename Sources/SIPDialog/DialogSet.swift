import SIPSyntax

/// The dialogs one INVITE makes on its UAC side (RFC 3261 §13.2.2.4): a forking proxy can bring
/// back provisional responses with different To tags (several early dialogs) and more than one
/// 2xx (several confirmed ones).
///
/// The first 2xx is the session kept; a 2xx from another fork makes a dialog too, which the UAC
/// must acknowledge and, unless the application keeps it, end with a BYE. A final failure ends
/// every early dialog (§12.3, §13.2.2.3).
public struct DialogSet: Sendable {
    /// The INVITE that makes the dialogs.
    public let invite: SIPMessage
    /// The dialogs by remote tag.
    public private(set) var dialogs: [String: Dialog] = [:]
    /// The remote tag of the dialog whose 2xx came first: the one kept.
    public private(set) var answered: String?

    /// What a response to the INVITE did.
    public enum Event: Hashable, Sendable {
        /// A provisional response with no To tag: no dialog.
        case provisional
        /// A provisional response made (or moved) an early dialog.
        case early(Dialog)
        /// The first 2xx: this dialog is the session. ACK it (``Dialog/makeAck(cseq:headers:body:)``).
        case confirmed(Dialog)
        /// A retransmission of the kept dialog's 2xx: ACK it again (§13.2.2.4).
        case retransmission(Dialog)
        /// A 2xx from another fork after the first: ACK it, then end it with a BYE unless the
        /// application keeps it (§13.2.2.4). A retransmission of it comes again as this event.
        case otherFork(Dialog)
        /// A final failure: every early dialog has ended.
        case failed(status: Int)
        /// The response does not belong to this INVITE or makes no dialog.
        case ignored
    }

    /// The set for `invite`, sent.
    public init(invite: SIPMessage) { self.invite = invite }

    /// A request in the dialog of remote tag `tag` (a PRACK in an early one, a BYE in the kept
    /// one): see ``Dialog/makeRequest(_:contact:headers:body:)``. Throws when there is no such
    /// dialog or it has ended.
    public mutating func makeRequest(
        in tag: String, _ method: SIPMethod, contact: URI? = nil, headers: [(SIPHeaderName, String)] = [],
        body: [UInt8] = []
    ) throws(DialogError) -> SIPMessage {
        guard var dialog = dialogs[tag] else { throw .terminated }
        let request = try dialog.makeRequest(method, contact: contact, headers: headers, body: body)
        dialogs[tag] = dialog
        return request
    }

    /// Checks a request the other side sent in one of the set's dialogs (its From tag names the
    /// dialog): see ``Dialog/receive(request:)``. A request in none gets 481 (§12.2.2).
    public mutating func receive(request: SIPMessage) -> Dialog.RequestVerdict {
        guard let tag = request.fromTag, var dialog = dialogs[tag] else { return .reject(status: 481) }
        let verdict = dialog.receive(request: request)
        dialogs[tag] = dialog
        return verdict
    }

    /// Ends the dialog of remote tag `tag` (a BYE sent in it).
    public mutating func terminate(_ tag: String) { dialogs[tag]?.terminate() }

    /// Takes a response to the INVITE.
    public mutating func receive(_ response: SIPMessage) -> Event {
        guard let status = response.status, response.callID == invite.callID else { return .ignored }
        if status >= 300 {
            for tag in dialogs.keys where dialogs[tag]?.state == .early { dialogs[tag]?.terminate() }
            return .failed(status: status)
        }
        guard let tag = response.toTag else { return status < 200 ? .provisional : .ignored }
        if var dialog = dialogs[tag] {
            let wasConfirmed = dialog.state == .confirmed
            dialog.receive(response: response, to: .invite)
            dialogs[tag] = dialog
            guard status >= 200 else { return .early(dialog) }
            if answered == nil {
                answered = tag
                return .confirmed(dialog)
            }
            if answered == tag { return wasConfirmed ? .retransmission(dialog) : .confirmed(dialog) }
            return .otherFork(dialog)
        }
        guard let dialog = try? Dialog.uac(request: invite, response: response) else { return .ignored }
        dialogs[tag] = dialog
        guard status >= 200 else { return .early(dialog) }
        if answered == nil {
            answered = tag
            return .confirmed(dialog)
        }
        return .otherFork(dialog)
    }
}
