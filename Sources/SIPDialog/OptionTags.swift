import SIPSyntax

extension SIPMessage {
    /// Whether the option-tag list `key` (Require, Supported: RFC 3261 §20.32, §20.37) names
    /// `tag`, compared without regard to case. A list that does not parse names nothing.
    public func hasOption(_ tag: String, in key: SIPHeaderKey<String>) -> Bool {
        guard let tags = try? headers.all(key) else { return false }
        let wanted = tag.lowercased()
        return tags.contains { $0.lowercased() == wanted }
    }
}
