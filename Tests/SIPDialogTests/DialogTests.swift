import Foundation
import SIPDialog
import SIPSyntax
import Testing

/// Messages of a call from Alice to Bob through two record-routing proxies, in the shape of RFC
/// 3261 §24.2 and RFC 3665 §3.
enum Call {
    static let invite = SIPMessage.request(
        method: .invite, uri: try! URI("sip:bob@biloxi.example.com"),
        headers: [
            (.via, "SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds"),
            (.to, "Bob <sip:bob@biloxi.example.com>"), (.from, "Alice <sip:alice@atlanta.example.com>;tag=1928301774"),
            (.callID, "a84b4c76e66710@pc33.atlanta.example.com"), (.cseq, "314159 INVITE"),
            (.contact, "<sip:alice@pc33.atlanta.example.com>"),
        ])

    /// The INVITE as Bob receives it: the proxies added Record-Route, the last one on top.
    static let invitedAtBob: SIPMessage = {
        var m = invite
        m.headers.insert(.recordRoute, "<sip:ss2.biloxi.example.com;lr>", at: 0)
        m.headers.insert(.recordRoute, "<sip:ss1.atlanta.example.com;lr>", at: 1)
        return m
    }()

    static func response(_ status: Int, tag: String = "a6c85cf", contact: String = "sip:bob@192.0.2.4") -> SIPMessage {
        invitedAtBob.makeDialogResponse(status: status, toTag: tag, contact: try! URI(contact))
    }
}

@Suite("Dialogs (RFC 3261 §12)")
struct DialogTests {
    @Test("§12.1.2: the UAC's dialog from its INVITE and the 2xx: route set reversed, remote target the Contact")
    func uacDialog() throws {
        let d = try Dialog.uac(request: Call.invite, response: Call.response(200))
        #expect(
            d.id
                == Dialog.ID(
                    callID: "a84b4c76e66710@pc33.atlanta.example.com", localTag: "1928301774", remoteTag: "a6c85cf"))
        #expect(d.state == .confirmed && d.role == .uac)
        #expect(d.localSequence == 314159 && d.remoteSequence == nil)
        #expect(d.remoteTarget.description == "sip:bob@192.0.2.4")
        #expect(
            d.routeSet.map(\.description) == ["<sip:ss1.atlanta.example.com;lr>", "<sip:ss2.biloxi.example.com;lr>"])
        #expect(d.localURI.description == "Alice <sip:alice@atlanta.example.com>")
        #expect(d.remoteURI.description == "Bob <sip:bob@biloxi.example.com>")
        #expect(!d.isSecure)
    }

    @Test("§12.2.1.1: a BYE from the UAC: next CSeq, Request-URI the remote target, Route the route set (loose)")
    func uacBye() throws {
        var d = try Dialog.uac(request: Call.invite, response: Call.response(200))
        let bye = try d.makeRequest(.bye)
        #expect(bye.requestURI?.description == "sip:bob@192.0.2.4")
        #expect(bye.cseq == CSeq(314160, .bye))
        #expect(bye.headers.values(.route) == ["<sip:ss1.atlanta.example.com;lr>", "<sip:ss2.biloxi.example.com;lr>"])
        #expect(bye.toTag == "a6c85cf" && bye.fromTag == "1928301774")
        #expect(bye.callID == "a84b4c76e66710@pc33.atlanta.example.com")
        #expect(d.localSequence == 314160)
        // §13.2.2.4: the ACK for the 2xx has the INVITE's CSeq number and leaves the sequence.
        let ack = d.makeAck(cseq: 314159)
        #expect(ack.cseq == CSeq(314159, .ack) && ack.requestURI?.description == "sip:bob@192.0.2.4")
        #expect(d.localSequence == 314160)
    }

    @Test("§12.1.1: the UAS's dialog: route set in order, its first request starts the local sequence")
    func uasDialog() throws {
        var d = try Dialog.uas(request: Call.invitedAtBob, response: Call.response(200))
        #expect(
            d.id
                == Dialog.ID(
                    callID: "a84b4c76e66710@pc33.atlanta.example.com", localTag: "a6c85cf", remoteTag: "1928301774"))
        #expect(d.remoteSequence == 314159 && d.localSequence == nil)
        #expect(d.remoteTarget.description == "sip:alice@pc33.atlanta.example.com")
        #expect(
            d.routeSet.map(\.description) == ["<sip:ss2.biloxi.example.com;lr>", "<sip:ss1.atlanta.example.com;lr>"])
        let bye = try d.makeRequest(.bye)
        #expect(bye.cseq?.sequence == Dialog.initialSequence)
        #expect(bye.requestURI?.description == "sip:alice@pc33.atlanta.example.com")
        #expect(bye.headers.values(.route).first == "<sip:ss2.biloxi.example.com;lr>")
        #expect(bye.toTag == "1928301774" && bye.fromTag == "a6c85cf")
        #expect(try d.makeRequest(.info).cseq?.sequence == Dialog.initialSequence + 1)
    }

    @Test("§12.2.1.1 strict routing: the first route (without lr) is the Request-URI, the remote target goes last")
    func strictRouting() throws {
        var invite = Call.invitedAtBob
        _ = invite.headers.remove(.recordRoute)
        invite.headers.append(.recordRoute, "<sip:strict.example.com;method=INVITE?Subject=x>")
        invite.headers.append(.recordRoute, "<sip:ss1.atlanta.example.com;lr>")
        var d = try Dialog.uas(request: invite, response: Call.response(200))
        let bye = try d.makeRequest(.bye)
        #expect(bye.requestURI?.description == "sip:strict.example.com", "method parameter and headers stripped")
        #expect(
            bye.headers.values(.route) == ["<sip:ss1.atlanta.example.com;lr>", "<sip:alice@pc33.atlanta.example.com>"])
    }

    @Test("§12.2.2: a lower CSeq gets 500; a re-INVITE refreshes the target; BYE ends it, then 481")
    func incomingRequests() throws {
        var d = try Dialog.uas(request: Call.invitedAtBob, response: Call.response(200))
        var uac = try Dialog.uac(request: Call.invite, response: Call.response(200))
        var reinvite = try uac.makeRequest(.invite, contact: try URI("sip:alice@198.51.100.7"))
        #expect(d.receive(request: reinvite) == .accept)
        #expect(d.remoteSequence == 314160 && d.remoteTarget.description == "sip:alice@198.51.100.7")
        reinvite.headers.set(.cseq, "314000 INVITE")
        #expect(d.receive(request: reinvite) == .reject(status: 500))
        #expect(d.remoteSequence == 314160, "an out-of-order request changes nothing")
        let ack = uac.makeAck(cseq: 314160)
        #expect(d.receive(request: ack) == .accept)
        #expect(d.receive(request: try uac.makeRequest(.bye)) == .accept)
        #expect(d.state == .terminated)
        #expect(d.receive(request: try uac.makeRequest(.info)) == .reject(status: 481))
        #expect(throws: DialogError.terminated) { try d.makeRequest(.bye) }
    }

    @Test("§13.2.2.4: an early dialog confirmed by the 2xx takes the 2xx's route set; §12.2.1.2: 481 ends a dialog")
    func earlyToConfirmed() throws {
        var ringing = Call.response(180)
        _ = ringing.headers.remove(.recordRoute)
        ringing.headers.append(.recordRoute, "<sip:ss2.biloxi.example.com;lr>")
        var d = try Dialog.uac(request: Call.invite, response: ringing)
        #expect(d.state == .early && d.routeSet.count == 1)
        d.receive(response: Call.response(200, contact: "sip:bob@192.0.2.99"), to: .invite)
        #expect(d.state == .confirmed && d.routeSet.count == 2)
        #expect(d.remoteTarget.description == "sip:bob@192.0.2.99")
        _ = try d.makeRequest(.info)
        d.receive(response: Call.invite.makeResponse(status: 481), to: .info)
        #expect(d.state == .terminated)
        // A failure ends an early dialog (§12.3).
        var early = try Dialog.uac(request: Call.invite, response: Call.response(183))
        early.receive(response: Call.response(486), to: .invite)
        #expect(early.state == .terminated)
        var untagged = Call.response(180)
        untagged.headers.set(.to, "Bob <sip:bob@biloxi.example.com>")
        #expect(throws: DialogError.noRemoteTag) { try Dialog.uac(request: Call.invite, response: untagged) }
    }

    @Test("A dialog saved (Codable) and read back is the same, and can still send a BYE")
    func savedAndRebuilt() throws {
        var d = try Dialog.uac(request: Call.invite, response: Call.response(200))
        _ = try d.makeRequest(.info)
        let data = try JSONEncoder().encode(d)
        var back = try JSONDecoder().decode(Dialog.self, from: data)
        #expect(back == d)
        #expect(try back.makeRequest(.bye).cseq == CSeq(314161, .bye))
    }

    @Test("§13.2.2.4 forking: early dialogs per To tag, the first 2xx kept, another fork's 2xx to be ACKed and ended")
    func forking() throws {
        var set = DialogSet(invite: Call.invite)
        #expect(set.receive(Call.invitedAtBob.makeResponse(status: 100)) == .provisional)
        guard case .early(let a) = set.receive(Call.response(180, tag: "a")),
            case .early = set.receive(Call.response(180, tag: "b"))
        else {
            Issue.record("no early dialogs")
            return
        }
        #expect(a.id.remoteTag == "a" && set.dialogs.count == 2)
        guard case .confirmed(let kept) = set.receive(Call.response(200, tag: "b")) else {
            Issue.record("the first 2xx does not confirm")
            return
        }
        #expect(kept.id.remoteTag == "b" && kept.state == .confirmed && set.answered == "b")
        guard case .otherFork(let other) = set.receive(Call.response(200, tag: "a")) else {
            Issue.record("another fork's 2xx is not reported")
            return
        }
        #expect(other.id.remoteTag == "a" && other.state == .confirmed)
        guard case .retransmission = set.receive(Call.response(200, tag: "b")) else {
            Issue.record("a retransmitted 2xx is not reported for a new ACK")
            return
        }
        guard case .otherFork = set.receive(Call.response(200, tag: "c")) else {
            Issue.record("a 2xx of a fork with no early dialog is not reported")
            return
        }
    }

    @Test("§12.3: a final failure ends every early dialog of the set")
    func forkingFailure() throws {
        var set = DialogSet(invite: Call.invite)
        _ = set.receive(Call.response(180, tag: "a"))
        _ = set.receive(Call.response(183, tag: "b"))
        #expect(set.receive(Call.invitedAtBob.makeResponse(status: 486, toTag: "a")) == .failed(status: 486))
        #expect(set.dialogs.values.allSatisfy { $0.state == .terminated })
    }

    @Test(
        "§12.2.2 in a set: a request from the callee reaches its dialog by From tag; a lower CSeq gets 500, another dialog 481"
    )
    func requestsFromTheCallee() throws {
        var set = DialogSet(invite: Call.invite)
        _ = set.receive(Call.response(200))
        var callee = try Dialog.uas(request: Call.invitedAtBob, response: Call.response(200))
        _ = try callee.makeRequest(.info)
        let update = try callee.makeRequest(.update)
        #expect(update.cseq?.sequence == Dialog.initialSequence + 1)
        #expect(set.receive(request: update) == .accept)
        var info = try callee.makeRequest(.info)
        info.headers.set(.cseq, "\(Dialog.initialSequence) INFO")
        #expect(set.receive(request: info) == .reject(status: 500))
        var stranger = try callee.makeRequest(.info)
        stranger.headers.set(.from, "<sip:bob@biloxi.example.com>;tag=someone-else")
        #expect(set.receive(request: stranger) == .reject(status: 481))
    }
}
