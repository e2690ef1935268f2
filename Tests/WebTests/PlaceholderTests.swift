import Testing

@testable import Web

@Test func placeholder() { #expect(Bool(true)) }
