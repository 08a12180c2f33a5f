import Testing

@testable import SippetEndpoint

/// The endpoint's dialog IDs, on their own.
@Suite("Endpoint dialog IDs")
struct EndpointDialogIDTests {
    @Test(
        "dialog IDs are equal from strings and from bytes, packed up to 61 bytes and spelled out beyond, and keep their parts",
        arguments: [(20, 15, 26), (20, 15, 27), (1, 1, 1), (0, 15, 15), (40, 15, 20), (200, 15, 15)])
    func dialogIDs(callIDLength: Int, localLength: Int, remoteLength: Int) {
        let alphabet = Array("abcdefghij@1234567890.example")
        let callID = String((0..<callIDLength).map { alphabet[$0 % alphabet.count] })
        let local = String(repeating: "f", count: localLength)
        let remote = String(repeating: "9", count: remoteLength)
        let fromStrings = DialogID(callID: callID, localTag: local, remoteTag: remote)
        let fromBytes = DialogID(
            callID: Array(callID.utf8), localTag: Array(local.utf8)[...], remoteTag: Array(remote.utf8))
        // A collection without contiguous storage is copied byte by byte, to the same ID.
        let fromLazy = DialogID(
            callID: callID.utf8.lazy.map { $0 }, localTag: local.utf8.lazy.map { $0 },
            remoteTag: remote.utf8.lazy.map { $0 })
        #expect(fromStrings == fromBytes)
        #expect(fromLazy == fromBytes)
        #expect(fromStrings.hashValue == fromBytes.hashValue)
        let parts = fromBytes.parts
        #expect(parts.callID == callID && parts.localTag == local && parts.remoteTag == remote)
        let packed: Bool
        if case .packed = fromStrings.text { packed = true } else { packed = false }
        #expect(packed == (callIDLength + localLength + remoteLength <= 61))
        // The same bytes split differently are another dialog.
        if callIDLength > 0 {
            let shifted = DialogID(
                callID: String(callID.dropLast()), localTag: String(callID.last!) + local, remoteTag: remote)
            #expect(shifted != fromStrings)
        }
        #expect(
            DialogID(callID: callID, localTag: remote, remoteTag: local) != fromStrings || local == remote)
    }
}
