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
        .library(name: "SIPTransport", targets: ["SIPTransport"]),
        .library(name: "SIPDialog", targets: ["SIPDialog"]),
        .library(name: "SippetDNS", targets: ["SippetDNS"]),
        .library(name: "Sippet", targets: ["Sippet"]),
        .library(name: "SippetTesting", targets: ["SippetTesting"]),
        .library(name: "SippetEndpoint", targets: ["SippetEndpoint"]),
        .library(name: "SippetAuth", targets: ["SippetAuth"]),
        .library(name: "SippetProxy", targets: ["SippetProxy"]),
        .library(name: "SippetUserAgent", targets: ["SippetUserAgent"]),
        .library(name: "SippetLocationSQLite", targets: ["SippetLocationSQLite"]),
        .library(name: "SippetLocationPostgres", targets: ["SippetLocationPostgres"]),
        .executable(name: "sippet", targets: ["sippet"]),
        // The benchmarks (sippet-bench-parse, -transactions, -options) are executable targets of
        // this package but no products: `swift build -c release --product sippet-bench-parse`
        // builds one here, and a package that depends on swift-sippet never sees them.
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-crypto", "3.12.3"..<"5.0.0"),
        .package(url: "https://github.com/vapor/sqlite-nio", from: "1.13.2"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
    ],
    targets: [
        // RFC 3261 syntax: message, URI, headers, parser, serializer. No I/O, no dependencies,
        // so that the fuzzer and the parse benchmark build it with plain swiftc.
        .target(name: "SIPSyntax", swiftSettings: strict),
        // RFC 3261 §17 + RFC 6026 transaction state machines, keys, table and timer queue. Sans-IO:
        // no clock, no event loop; it depends on the syntax layer only.
        .target(name: "SIPTransaction", dependencies: ["SIPSyntax"], swiftSettings: strict),
        // RFC 3261 §18 transports on SwiftNIO: UDP, TCP, TLS, WebSocket (RFC 7118), behind one
        // `SIPTransport` protocol that a user's own transport implements the same way.
        .target(
            name: "SIPTransport",
            dependencies: [
                "SIPSyntax",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        // RFC 3261 §12-15 dialogs, RFC 3262 reliable provisionals, RFC 4028 session timers: values
        // with no I/O and no clock, like the transaction machines.
        .target(name: "SIPDialog", dependencies: ["SIPSyntax"], swiftSettings: strict),
        // A DNS stub resolver on SwiftNIO (RFC 1035, RFC 2308 negative caching, RFC 7766 TCP): the
        // record types RFC 3263 needs (NAPTR, SRV, A, AAAA, CNAME). Its message parser has no
        // imports, so that the fuzzer builds it with plain swiftc.
        .target(
            name: "SippetDNS",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        // The stack: transports + transactions + a core (Sippet's API), routing (§18, RFC 3263
        // §4), validation of incoming requests, logging, metrics, ServiceLifecycle.
        .target(
            name: "Sippet",
            dependencies: [
                "SIPSyntax", "SIPTransaction", "SIPTransport", "SippetDNS",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        // An in-memory transport (with loss injection) for users' tests and ours.
        .target(
            name: "SippetTesting",
            dependencies: ["SIPSyntax", "SIPTransport", .product(name: "NIOCore", package: "swift-nio")],
            swiftSettings: strict
        ),
        // RFC 3261 §22, RFC 7616, RFC 8760 digest authentication, both sides. Sans-IO: a request and
        // the time in, a decision or a request out. swift-crypto for MD5, SHA-256 and HMAC.
        .target(
            name: "SippetAuth",
            dependencies: [
                "SIPSyntax",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            swiftSettings: strict
        ),
        // The core of `sippet serve`: a UAS and an RFC 3261 §10.3 registrar.
        .target(
            name: "SippetEndpoint",
            dependencies: [
                "Sippet", "SippetAuth", "SIPDialog", "SIPSyntax", "SIPTransaction", "SIPTransport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        // RFC 3261 §16: the stateful proxy as a part a core drives, and the registrar-and-proxy core
        // of `sippet proxy`.
        .target(
            name: "SippetProxy",
            dependencies: [
                "Sippet", "SippetAuth", "SippetEndpoint", "SIPSyntax", "SIPTransaction", "SIPTransport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        // A user agent for applications on the dialog layer: calls you await, calls you accept,
        // and a B2BUA helper.
        .target(
            name: "SippetUserAgent",
            dependencies: [
                "Sippet", "SippetAuth", "SIPDialog", "SIPSyntax", "SIPTransaction", "SIPTransport",
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        // The registrar's location store in an SQLite file (WAL, durable commits) and in
        // PostgreSQL (shared by several servers): each a product of its own, so that a user of the
        // stack builds no database driver it does not use.
        .target(
            name: "SippetLocationSQLite",
            dependencies: [
                "SippetEndpoint", "SIPSyntax",
                .product(name: "SQLiteNIO", package: "sqlite-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "SippetLocationPostgres",
            dependencies: [
                "SippetEndpoint", "SIPSyntax",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        // The B2BUA of the DocC article "Writing a B2BUA", as it stands there (a test checks it);
        // the interop suite runs it between sipp agents. An example, not a product.
        .executableTarget(
            name: "b2bua-example",
            dependencies: ["SippetUserAgent", "Sippet", "SIPSyntax", "SIPTransport"],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "sippet",
            dependencies: [
                "SippetProxy", "SippetDNS", "SIPDialog", "SippetLocationSQLite", "SippetLocationPostgres",
                "SIPSyntax", "SIPTransaction", "SIPTransport", "Sippet", "SippetEndpoint", "SippetAuth",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        .executableTarget(name: "sippet-bench-parse", dependencies: ["SIPSyntax"], swiftSettings: strict),
        .executableTarget(
            name: "sippet-bench-transactions", dependencies: ["SIPSyntax", "SIPTransaction"], swiftSettings: strict
        ),
        .executableTarget(
            name: "sippet-bench-options",
            dependencies: ["Sippet", "SIPSyntax", "SIPTransport", .product(name: "NIOPosix", package: "swift-nio")],
            swiftSettings: strict
        ),
        .testTarget(name: "SIPSyntaxTests", dependencies: ["SIPSyntax"], swiftSettings: strict),
        .testTarget(name: "SIPDialogTests", dependencies: ["SIPDialog", "SIPSyntax"], swiftSettings: strict),
        .testTarget(name: "SippetAuthTests", dependencies: ["SippetAuth", "SIPSyntax"], swiftSettings: strict),
        .testTarget(name: "SIPTransactionTests", dependencies: ["SIPSyntax", "SIPTransaction"], swiftSettings: strict),
        .testTarget(
            name: "SippetTests",
            dependencies: [
                "Sippet", "SIPSyntax", "SIPTransaction", "SIPTransport", "SippetTesting", "SippetEndpoint", "SippetAuth",
                "SippetProxy", "SippetDNS", "SippetUserAgent", "SIPDialog", "SippetLocationSQLite",
                "SippetLocationPostgres",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "MetricsTestKit", package: "swift-metrics"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
    ]
)
