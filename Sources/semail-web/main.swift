import Web

try await Portal.main()
