// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "semailctl",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "semailctl", targets: ["semailctl"]),
        .executable(name: "semail-web", targets: ["semail-web"]),
        .library(name: "Provisioning", targets: ["Provisioning"])
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache", from: "2.1.1"),
        .package(url: "https://github.com/LebJe/TOMLKit", from: "0.6.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-auth", from: "2.5.0"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1")
    ],
    targets: [
        // C libraries, wrapped once at the edge.
        .systemLibrary(
            name: "CLDAP", path: "Sources/CLDAP", pkgConfig: "ldap",
            providers: [.apt(["libldap2-dev"])]),
        .systemLibrary(
            name: "CLVM2", path: "Sources/CLVM2",
            providers: [.apt(["liblvm2-dev"])]),
        .systemLibrary(
            name: "CCurl", path: "Sources/CCurl", pkgConfig: "libcurl",
            providers: [.apt(["libcurl4-openssl-dev"])]),

        .target(name: "CShims", linkerSettings: [.linkedLibrary("resolv")]),
        .target(name: "LDAPClient", dependencies: ["CLDAP"]),
        // The architecture: Core at the bottom; Directory, Storage, Containers
        // and DNS each on Core only (never on each other); Provisioning composes them.
        .target(
            name: "Core",
            dependencies: [
                "LDAPClient", "CShims",
                .product(name: "TOMLKit", package: "TOMLKit"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log")
            ]),
        .target(name: "Directory", dependencies: ["Core", "LDAPClient"]),
        .target(name: "Storage", dependencies: ["Core", "CShims", "CLVM2"]),
        .target(
            name: "Containers",
            dependencies: [
                "Core", "CCurl",
                .product(name: "Mustache", package: "swift-mustache")
            ]),
        .target(name: "DNS", dependencies: ["Core", "CShims"]),
        .target(
            name: "Provisioning",
            dependencies: [
                "Core", "Directory", "Storage", "Containers", "DNS",
                "LDAPClient", "CShims",
                .product(name: "Prometheus", package: "swift-prometheus")
            ]),
        .target(
            name: "Commands",
            dependencies: [
                "Provisioning", "Core", "Directory", "Storage", "Containers", "DNS", "LDAPClient",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log")
            ]),
        .executableTarget(name: "semailctl", dependencies: ["Commands"]),
        // The self-service portal: an unprivileged process that binds to LDAP
        // as the user and runs `semailctl ... --as-user` through sudo.
        .target(
            name: "Web",
            dependencies: [
                "Core", "Directory", "LDAPClient",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdAuth", package: "hummingbird-auth"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Mustache", package: "swift-mustache"),
                .product(name: "Logging", package: "swift-log")
            ]),
        .executableTarget(name: "semail-web", dependencies: ["Web"]),

        .target(
            name: "TestSupport", dependencies: ["Provisioning", "Core", "Containers", "LDAPClient"],
            path: "Tests/TestSupport"),
        .testTarget(name: "LDAPClientTests", dependencies: ["LDAPClient"]),
        .testTarget(
            name: "ProvisioningTests",
            dependencies: [
                "Provisioning", "Core", "Directory", "Storage", "Containers", "DNS", "LDAPClient",
                .product(name: "Logging", package: "swift-log")
            ]),
        .testTarget(name: "ZoneTests", dependencies: ["DNS"], exclude: ["Data"]),
        .testTarget(
            name: "IntegrationTests",
            dependencies: [
                "Provisioning", "Core", "Directory", "Storage", "Containers",
                "DNS", "LDAPClient", "TestSupport"
            ]),
        .testTarget(
            name: "WebTests",
            dependencies: [
                "Web", "Core",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log")
            ]),
        .testTarget(
            name: "SemailctlTests",
            dependencies: [
                "Commands", "Core", "Storage",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log")
            ])
    ],
    swiftLanguageModes: [.v6]
)
