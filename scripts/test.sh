#!/usr/bin/env bash
# The test command: lint and doc-comment checks, build (warnings are errors, Package.swift), run
# every test, the interop suite
# with sipp and tshark (scripts/interop.sh), then fuzz the parser for a bounded time (FUZZ_SECONDS,
# default 60; 0 skips it).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -d ../shared/conformance ] || { echo "test.sh: ../shared/conformance is missing (the torture corpus)" >&2; exit 2; }
# Style and documentation first (seconds): swift-format with the repository's .swift-format, and a
# doc comment on every public declaration of the library modules.
swift format lint --strict -r Sources Tests Fuzz
python3 scripts/check-doc-comments.py --quiet
swift build --build-tests
# The run's log is long (transport events); a failure is repeated at its end, where it is seen.
log=$(mktemp)
pg=""
stop_pg() { if [ -n "$pg" ]; then scripts/postgres.sh stop "$pg"; rm -rf "$pg"; fi; }
trap 'rm -f "$log"; stop_pg' EXIT
# PostgreSQL for the location store's tests and interop flows: a throwaway server on a free port
# (scripts/postgres.sh), unless SIPPET_TEST_POSTGRES names one already.
if [ -z "${SIPPET_TEST_POSTGRES:-}" ] && ls /usr/lib/postgresql/*/bin/postgres > /dev/null 2>&1; then
  pg=$(mktemp -d)
  SIPPET_TEST_POSTGRES=$(scripts/postgres.sh start "$pg")
  export SIPPET_TEST_POSTGRES
fi
if ! swift test 2>&1 | tee "$log"; then
  echo "test.sh: swift test failed; the failures:" >&2
  grep -E '✘|error:|Fatal error|Crash' "$log" | grep -v 'Test run with' >&2 || true
  exit 1
fi
# The interop suite: sipp against `sippet serve`, `sippet` against sipp, tshark on the capture.
if command -v sipp >/dev/null; then
  SIPPET=.build/debug/sippet scripts/interop.sh
elif [ -n "${SIPPET_REQUIRE_INTEROP:-}" ]; then
  echo "test.sh: sipp is missing (apt-get install sip-tester) and the interop suite is required" >&2
  exit 1
else
  echo "test.sh: sipp is not installed (apt-get install sip-tester): interop suite SKIPPED" >&2
fi
if [ -x Fuzz/run.sh ] && [ "${FUZZ_SECONDS:-60}" != 0 ]; then
  Fuzz/run.sh "${FUZZ_SECONDS:-60}"
fi
