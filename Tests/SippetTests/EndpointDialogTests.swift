import SIPSyntax
import SippetEndpoint
import Testing

/// `sippet serve` in a dialog (RFC 3261 §12.1.1, §12.2.2; RFC 3311 UPDATE; RFC 6086 INFO) and its
/// session timers (RFC 4028 §9), seen from a raw UDP peer.
@Suite("Endpoint dialogs and session timers")
struct EndpointDialogTests {
    typealias Rig = EndpointTests.Rig

    @Test("§12.1.1: the 2xx copies Record-Route; UPDATE and INFO in the dialog get 200; a lower CSeq gets 500")
    func inDialog() async throws {
        let rig = try await Rig.start()
        let callID = SIPIdentifiers.callID()
        let routes = "Record-Route: <sip:p2.example.com;lr>\r\nRecord-Route: <sip:p1.example.com;lr>\r\n"
        rig.send(rig.request("INVITE", callID: callID, body: EndpointTests.offer, extra: routes))
        #expect(await rig.peer.wait { !$0.responses(200, .invite).isEmpty })
        let ok = try #require(rig.peer.responses(200, .invite).first?.message)
        #expect(ok.headers.values(.recordRoute) == ["<sip:p2.example.com;lr>", "<sip:p1.example.com;lr>"])
        let tag = try #require(ok.toTag)
        rig.send(rig.request("ACK", callID: callID, cseqMethod: "ACK", toTag: tag))
        // UPDATE with an offer: 200 with an answer (RFC 3311 §5.2).
        rig.send(rig.request("UPDATE", callID: callID, cseq: 2, toTag: tag, body: EndpointTests.offer))
        #expect(await rig.peer.wait { !$0.responses(200, .update).isEmpty })
        let updated = try #require(rig.peer.responses(200, .update).first?.message)
        #expect(String(decoding: updated.body, as: UTF8.self).contains("m=audio 9 RTP/AVP 8"))
        rig.send(rig.request("INFO", callID: callID, cseq: 3, toTag: tag))
        #expect(await rig.peer.wait { !$0.responses(200, .info).isEmpty })
        // §12.2.2: a re-INVITE below the last CSeq (3) is out of order: 500, and the dialog stays.
        rig.send(rig.request("INVITE", callID: callID, cseq: 2, toTag: tag, body: EndpointTests.offer))
        #expect(await rig.peer.wait { !$0.responses(500, .invite).isEmpty })
        rig.send(rig.request("BYE", callID: callID, cseq: 4, toTag: tag))
        #expect(await rig.peer.wait { !$0.responses(200, .bye).isEmpty })
        // Outside any dialog: 481.
        rig.send(rig.request("UPDATE", callID: callID, cseq: 5, toTag: tag))
        rig.send(rig.request("INFO", callID: SIPIdentifiers.callID(), toTag: "nobody"))
        #expect(await rig.peer.wait { !$0.responses(481, .update).isEmpty && !$0.responses(481, .info).isEmpty })
        await rig.stop()
    }

    @Test("RFC 4028 §9: Session-Expires below Min-SE gets 422 with Min-SE; above it, the 2xx carries the timer")
    func sessionTimers() async throws {
        let rig = try await Rig.start { $0.minSE = 120 }
        rig.send(
            rig.request(
                "INVITE", callID: SIPIdentifiers.callID(), body: EndpointTests.offer, extra: "Session-Expires: 100\r\n")
        )
        #expect(await rig.peer.wait { !$0.responses(422, .invite).isEmpty })
        #expect(rig.peer.responses(422, .invite).first?.message.headers[.minSE] == "120")
        let timed = "Session-Expires: 1800\r\nSupported: timer\r\n"
        rig.send(rig.request("INVITE", callID: SIPIdentifiers.callID(), body: EndpointTests.offer, extra: timed))
        #expect(await rig.peer.wait { !$0.responses(200, .invite).isEmpty })
        let ok = try #require(rig.peer.responses(200, .invite).first?.message)
        #expect(ok.headers[.sessionExpires] == "1800;refresher=uac")
        #expect(ok.headers.values(.require).contains("timer"))
        await rig.stop()
    }

    @Test(
        "RFC 3262 §3: with 100rel the 180 is reliable: RSeq, retransmitted at T1, 3·T1 … until the PRACK; a wrong RAck gets 481"
    )
    func reliableRinging() async throws {
        let rig = try await Rig.start {
            $0.ringAfter = .zero
            $0.answerAfter = .seconds(2)
        }
        let callID = SIPIdentifiers.callID()
        let sent = ContinuousClock.now
        rig.send(rig.request("INVITE", callID: callID, body: EndpointTests.offer, extra: "Supported: 100rel\r\n"))
        #expect(await rig.peer.wait { $0.responses(180, .invite).count >= 3 })
        let copies = rig.peer.responses(180, .invite)
        EndpointTests.expectSchedule(copies.map(\.at), from: sent, [50, 150])
        let ringing = try #require(copies.first?.message)
        let rseq = try #require(ringing.headers[.rseq])
        #expect(ringing.headers.values(.require).contains("100rel"))
        let tag = try #require(ringing.toTag)
        rig.send(rig.request("PRACK", callID: callID, cseq: 2, toTag: tag, extra: "RAck: \(rseq) 9 INVITE\r\n"))
        #expect(await rig.peer.wait { !$0.responses(481, .prack).isEmpty }, "a RAck naming another CSeq")
        rig.send(rig.request("PRACK", callID: callID, cseq: 3, toTag: tag, extra: "RAck: \(rseq) 1 INVITE\r\n"))
        #expect(await rig.peer.wait { !$0.responses(200, .prack).isEmpty })
        #expect(
            await rig.peer.quiet(for: .milliseconds(500), by: .now + .seconds(1)) { $0.responses(180, .invite) },
            "no copy of the 180 after its PRACK")
        #expect(await rig.peer.wait { !$0.responses(200, .invite).isEmpty })
        await rig.stop()
    }

    @Test("RFC 3262 §3: a reliable 180 never PRACKed is given up after 64·T1: the INVITE gets 504")
    func reliableRingingGivenUp() async throws {
        let rig = try await Rig.start {
            $0.ringAfter = .zero
            $0.answerAfter = .seconds(30)
        }
        let start = ContinuousClock.now
        rig.send(
            rig.request(
                "INVITE", callID: SIPIdentifiers.callID(), body: EndpointTests.offer, extra: "Require: 100rel\r\n"))
        #expect(await rig.peer.wait(timeout: .seconds(10)) { !$0.responses(504, .invite).isEmpty })
        let at = try #require(rig.peer.responses(504, .invite).first?.at)
        #expect(EndpointTests.ms(at - start) >= 3200, "not before 64·T1 = 3.2 s")
        #expect(rig.peer.responses(200, .invite).isEmpty)
        await rig.stop()
    }
}
