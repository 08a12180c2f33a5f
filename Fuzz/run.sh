#!/usr/bin/env bash
# Fuzz the parser for SECONDS (default 60) with libFuzzer, seeded with the torture corpus and the
# benchmark corpus. Prints "fuzz: execs=N seconds=S" and exits non-zero on a crash, leak or timeout.
#   Fuzz/run.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
out=Fuzz/out
mkdir -p "$out" "$out/corpus"
sources=$(find Sources/SIPSyntax -name '*.swift' | sort)
# shellcheck disable=SC2086
if ! swiftc -sanitize=fuzzer,address -parse-as-library -O -g -module-name SIPSyntax $sources Fuzz/FuzzParser.swift \
    -o "$out/sippet-fuzz" >"$out/build.log" 2>&1; then
  grep -v "Cannot export local symbol" "$out/build.log" | tail -40
  exit 1
fi
for f in ../shared/conformance/rfc4475/*.dat ../shared/conformance/rfc5118/*.dat ../shared/bench/corpus/*.sip Fuzz/regressions/*; do
  [ -f "$f" ] && cp "$f" "$out/corpus/" || true
done
# Regressions first: each must run clean.
if compgen -G "Fuzz/regressions/*" >/dev/null; then "$out/sippet-fuzz" Fuzz/regressions/* >/dev/null 2>&1; fi
log="$out/fuzz.log"
set +e
ASAN_OPTIONS=detect_leaks=1 "$out/sippet-fuzz" "$out/corpus" -dict=Fuzz/sip.dict -max_total_time="$secs" -max_len=8192 \
  -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 -artifact_prefix="$out/" >"$log" 2>&1
rc=$?
set -e
execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
echo "fuzz: execs=${execs:-0} seconds=$secs rc=$rc"
if [ $rc -ne 0 ]; then tail -40 "$log"; exit 1; fi
