import Testing
@testable import SIPSyntax
