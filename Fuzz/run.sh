#!/usr/bin/env bash
# Fuzz the SIPSyntax parser (and the stream framer, when the sources have one, and the Digest
# header readers of SippetAuth) with libFuzzer.
#
#   Fuzz/run.sh SECONDS [OUTDIR]
#
# Builds OUTDIR/sippet-fuzz (default OUTDIR: Fuzz/out) from Sources/SIPSyntax and Fuzz/*.swift with
# swiftc -sanitize=fuzzer,address, replays every input in Fuzz/regressions/, then fuzzes for
# SECONDS (0: build and replay only) on one core from the work corpus Fuzz/corpus-work/ (seeded
# from the RFC 4475 / RFC 5118 torture tests and the benchmark corpus in ../shared), with the
# dictionary Fuzz/sip.dict. A new crash input: minimize it with
#   OUTDIR/sippet-fuzz -minimize_crash=1 -max_total_time=120 -exact_artifact_path=min.bin CRASH
# fix the bug, and add min.bin to Fuzz/regressions/ (Tests/SIPSyntaxTests/FuzzRegressionTests.swift
# replays them under swift test too).
# Crash, leak and timeout inputs are written to OUTDIR/ (crash-*, leak-*, timeout-*, slow-unit-*),
# the full libFuzzer log to OUTDIR/fuzz.log. Ends with one line:
#
#   fuzz: execs=N seconds=S crashes=0
#
# and exits non-zero when anything crashed, leaked, hung or failed to build.
# Every compile takes /tmp/swift-build.lock (the machine is shared); the fuzzer uses one core.
set -euo pipefail

if [[ $# -lt 1 || ! $1 =~ ^[0-9]+$ ]]; then
    echo "usage: $0 SECONDS [OUTDIR]" >&2
    exit 2
fi
FUZZ_SECONDS=$1
if [[ $# -ge 2 ]]; then
    mkdir -p "$2"
    OUT=$(cd "$2" && pwd)
fi
cd "$(dirname "$0")/.."
ROOT=$(pwd)
OUT=${OUT:-$ROOT/Fuzz/out}
mkdir -p "$OUT"
BIN=$OUT/sippet-fuzz
CORPUS=$ROOT/Fuzz/corpus-work
SHARED=$ROOT/../shared

# Swift's own crash backtracer would hold the crashing process (and the pipe) for a long while;
# libFuzzer and ASan report the crash themselves.
export SWIFT_BACKTRACE=enable=no
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=0:handle_sigill=1:print_summary=1}

# --- build ---------------------------------------------------------------------------------------
mapfile -t SOURCES < <(find Sources/SIPSyntax -name '*.swift' | LC_ALL=C sort)
FUZZ_SOURCES=(Fuzz/FuzzParser.swift)
DEFINES=()
if grep -rq "struct SIPStreamFramer" Sources/SIPSyntax; then
    FUZZ_SOURCES+=(Fuzz/FuzzFramer.swift)
    DEFINES+=(-D SIPPET_FUZZ_FRAMER)
    echo "fuzz: the target includes the stream framer (Fuzz/FuzzFramer.swift)"
else
    echo "fuzz: Sources/SIPSyntax has no SIPStreamFramer; fuzzing the parser only"
fi
# The Digest challenge and credentials readers: SippetAuth's parsing files only (its hashing needs
# swift-crypto, which plain swiftc cannot build here).
AUTH_SOURCES=(Sources/SippetAuth/DigestValues.swift Sources/SippetAuth/DigestAlgorithm.swift)
if [[ -f ${AUTH_SOURCES[0]} ]]; then
    FUZZ_SOURCES+=("${AUTH_SOURCES[@]}" Fuzz/FuzzAuth.swift)
    DEFINES+=(-D SIPPET_FUZZ_AUTH)
    echo "fuzz: the target includes the Digest header readers (Fuzz/FuzzAuth.swift)"
fi
stamp=$OUT/.build-inputs
inputs="${SOURCES[*]} ${FUZZ_SOURCES[*]} ${DEFINES[*]:-}"
needs_build=1
if [[ -x $BIN && -f $stamp && $(cat "$stamp") == "$inputs" ]] \
    && [[ -z $(find "${SOURCES[@]}" "${FUZZ_SOURCES[@]}" Fuzz/run.sh -newer "$BIN" 2>/dev/null) ]]; then
    needs_build=0
fi
if [[ $needs_build == 1 ]]; then
    echo "fuzz: building $BIN"
    rm -f "$BIN"
    # -wmo: one frontend process (one core), and the optimizer sees the whole module. Built from
    # OUTDIR, where swiftc leaves its module files.
    if ! (cd "$OUT" && flock /tmp/swift-build.lock swiftc -sanitize=fuzzer,address -parse-as-library -O -g -wmo \
        -swift-version 6 -module-name SIPSyntax -package-name swift_sippet ${DEFINES[@]+"${DEFINES[@]}"} \
        "${SOURCES[@]/#/$ROOT/}" "${FUZZ_SOURCES[@]/#/$ROOT/}" -o "$BIN") >"$OUT/build.log" 2>&1; then
        grep -v "Cannot export local symbol '__asan" "$OUT/build.log" >&2 || true
        echo "fuzz: build failed" >&2
        exit 1
    fi
    echo "$inputs" >"$stamp"
fi

COMMON=(-rss_limit_mb=2048 -detect_leaks=1 -timeout=10 -max_len=8192)

# --- regressions ---------------------------------------------------------------------------------
shopt -s nullglob
regressions=("$ROOT"/Fuzz/regressions/*)
if [[ ${#regressions[@]} -gt 0 ]]; then
    if ! "$BIN" "${COMMON[@]}" "${regressions[@]}" >"$OUT/regressions.log" 2>&1; then
        tail -n 60 "$OUT/regressions.log" >&2
        echo "fuzz: a regression input in Fuzz/regressions/ fails (log: $OUT/regressions.log)" >&2
        echo "fuzz: execs=0 seconds=0 crashes=1"
        exit 1
    fi
    echo "fuzz: ${#regressions[@]} regression inputs pass"
fi

if [[ $FUZZ_SECONDS == 0 ]]; then
    # (libFuzzer would take -max_total_time=0 as "no limit".)
    echo "fuzz: SECONDS is 0: built and replayed the regressions only"
    echo "fuzz: execs=0 seconds=0 crashes=0"
    exit 0
fi

# --- seed corpus ---------------------------------------------------------------------------------
mkdir -p "$CORPUS"
seeds=0
for f in "$SHARED"/conformance/rfc4475/*.dat "$SHARED"/conformance/rfc5118/*.dat "$SHARED"/bench/corpus/*.sip \
    "$ROOT"/Fuzz/seeds/*; do
    dest=$CORPUS/seed-$(basename "$(dirname "$f")")-$(basename "$f")
    [[ -e $dest ]] || cp "$f" "$dest"
    seeds=$((seeds + 1))
done
[[ $seeds -gt 0 ]] || echo "fuzz: warning: no seed files found under $SHARED" >&2
echo "fuzz: $seeds seed files, $(find "$CORPUS" -type f | wc -l) inputs in $CORPUS"

# --- fuzz ----------------------------------------------------------------------------------------
echo "fuzz: running for ${FUZZ_SECONDS}s (log: $OUT/fuzz.log)"
started=$(date +%s)
status=0
"$BIN" "$CORPUS" -dict="$ROOT/Fuzz/sip.dict" "${COMMON[@]}" -max_total_time="$FUZZ_SECONDS" \
    -print_final_stats=1 -artifact_prefix="$OUT/" >"$OUT/fuzz.log" 2>&1 || status=$?
elapsed=$(($(date +%s) - started))

execs=$(sed -n 's/^stat::number_of_executed_units: *\([0-9]*\).*/\1/p' "$OUT/fuzz.log" | tail -n 1)
secs=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$OUT/fuzz.log" | tail -n 1)
execs=${execs:-0}
secs=${secs:-$elapsed}
if [[ $status -ne 0 ]] || grep -qE '^(==[0-9]+==ERROR|SUMMARY: (Address|Leak)Sanitizer)|ERROR: libFuzzer' "$OUT/fuzz.log"; then
    grep -vE '^#[0-9]+' "$OUT/fuzz.log" | tail -n 80 >&2
    artifact=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$OUT/fuzz.log" | tail -n 1)
    echo "fuzz: FAILED (exit $status); input: ${artifact:-none}; minimize with: $BIN -minimize_crash=1 -runs=100000 ${artifact:-CRASH}" >&2
    echo "fuzz: execs=$execs seconds=$secs crashes=1"
    exit 1
fi
echo "fuzz: execs=$execs seconds=$secs crashes=0"
