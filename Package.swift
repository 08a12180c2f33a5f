// swift-tools-version: 6.2
import PackageDescription

let strict: [SwiftSetting] = [
    .treatAllWarnings(as: .error),
    .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
    name: "swift-sippet",
    products: [
        .library(name: "SIPSyntax", targets: ["SIPSyntax"]),
        .library(name: "SIPTransaction", targets: ["SIPTransaction"]),
        .executable(name: "sippet", targets: ["sippet"]),
        .executable(name: "sippet-bench-parse", targets: ["sippet-bench-parse"]),
        .executable(name: "sippet-bench-transactions", targets: ["sippet-bench-transactions"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // RFC 3261 syntax: message, URI, headers, parser, serializer. No I/O, no dependencies,
        // so that the fuzzer and the parse benchmark build it with plain swiftc.
        .target(name: "SIPSyntax", swiftSettings: strict),
        // RFC 3261 §17 + RFC 6026 transaction state machines, keys, table and timer queue. Sans-IO:
        // no clock, no event loop; it depends on the syntax layer only.
        .target(name: "SIPTransaction", dependencies: ["SIPSyntax"], swiftSettings: strict),
        .executableTarget(
            name: "sippet",
            dependencies: [
                "SIPSyntax",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strict
        ),
        .executableTarget(name: "sippet-bench-parse", dependencies: ["SIPSyntax"], swiftSettings: strict),
        .executableTarget(
            name: "sippet-bench-transactions", dependencies: ["SIPSyntax", "SIPTransaction"], swiftSettings: strict
        ),
        .testTarget(name: "SIPSyntaxTests", dependencies: ["SIPSyntax"], swiftSettings: strict),
        .testTarget(name: "SIPTransactionTests", dependencies: ["SIPSyntax", "SIPTransaction"], swiftSettings: strict),
    ]
)
