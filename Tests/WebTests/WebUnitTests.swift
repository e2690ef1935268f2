import Testing

@testable import Web

@Suite struct WebUnitTests {
    @Test func tokensDiffer() { #expect(Token.make() != Token.make()) }
}
