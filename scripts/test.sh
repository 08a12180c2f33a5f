#!/usr/bin/env bash
# The test command: build (warnings are errors, Package.swift), run every test, then fuzz the
# parser for a bounded time (FUZZ_SECONDS, default 60; 0 skips it).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -d ../shared/conformance ] || { echo "test.sh: ../shared/conformance is missing (the torture corpus)" >&2; exit 2; }
swift build --build-tests
swift test
if [ -x Fuzz/run.sh ] && [ "${FUZZ_SECONDS:-60}" != 0 ]; then
  Fuzz/run.sh "${FUZZ_SECONDS:-60}"
fi
