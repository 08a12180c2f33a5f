#!/usr/bin/env bash
# Fuzz the network-input parsers with libFuzzer, two targets:
#   sip  the SIPSyntax parser (and the stream framer, when the sources have one, the Digest header
#        readers of SippetAuth, and SDP): OUTDIR/sippet-fuzz, from Sources/SIPSyntax and
#        Fuzz/FuzzParser.swift (+ FuzzFramer, FuzzAuth); regressions in Fuzz/regressions/, corpus
#        Fuzz/corpus-work/ (seeded from the RFC 4475 / RFC 5118 torture tests and the benchmark
#        corpus in ../shared, and Fuzz/seeds/), dictionary Fuzz/sip.dict;
#   dns  the DNS message reader of SippetDNS: OUTDIR/sippet-fuzz-dns, from
#        Sources/SippetDNS/DNSMessage.swift and Fuzz/FuzzDNS.swift; regressions in
#        Fuzz/regressions-dns/, corpus Fuzz/corpus-dns/ (seeded from Fuzz/seeds-dns/), dictionary
#        Fuzz/dns.dict.
#
#   Fuzz/run.sh SECONDS [OUTDIR]
#
# Builds both with swiftc -sanitize=fuzzer,address (default OUTDIR: Fuzz/out), replays every
# regression input of each, then fuzzes the SIP target for SECONDS and the DNS target for
# DNS_SECONDS (default: a quarter of SECONDS, at least 10; 0: build and replay only), one core. A new crash input: minimize it with
#   OUTDIR/sippet-fuzz -minimize_crash=1 -max_total_time=120 -exact_artifact_path=min.bin CRASH
# fix the bug, and add min.bin to Fuzz/regressions/ (Tests/SIPSyntaxTests/FuzzRegressionTests.swift
# replays them under swift test too).
# Crash, leak and timeout inputs are written to OUTDIR/ (crash-*, leak-*, timeout-*, slow-unit-*),
# the full libFuzzer log to OUTDIR/fuzz.log. Ends with one line:
#
#   fuzz: execs=N seconds=S crashes=0
#
# (the sum over both targets) and exits non-zero when anything crashed, leaked, hung or failed to build.
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
SHARED=$ROOT/../shared

# Swift's own crash backtracer would hold the crashing process (and the pipe) for a long while;
# libFuzzer and ASan report the crash themselves.
export SWIFT_BACKTRACE=enable=no
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=0:handle_sigill=1:print_summary=1}

# --- build ---------------------------------------------------------------------------------------
# build BIN MODULE DEFINES_VAR SOURCES...: BIN from SOURCES, unless it is newer than all of them and
# was built from the same list.
build() {
    local bin=$1 module=$2 defines_var=$3
    shift 3
    local -n defines=$defines_var
    local stamp=$bin.inputs inputs="$* ${defines[*]:-}"
    if [[ -x $bin && -f $stamp && $(cat "$stamp") == "$inputs" ]] \
        && [[ -z $(find "$@" Fuzz/run.sh -newer "$bin" 2>/dev/null) ]]; then
        return 0
    fi
    echo "fuzz: building $bin"
    rm -f "$bin"
    # -wmo: one frontend process (one core), and the optimizer sees the whole module. Built from
    # OUTDIR, where swiftc leaves its module files.
    if ! (cd "$OUT" && flock /tmp/swift-build.lock swiftc -sanitize=fuzzer,address -parse-as-library -O -g -wmo \
        -swift-version 6 -module-name "$module" -package-name swift_sippet ${defines[@]+"${defines[@]}"} \
        "${@/#/$ROOT/}" -o "$bin") >"$bin.build.log" 2>&1; then
        grep -v "Cannot export local symbol '__asan" "$bin.build.log" >&2 || true
        echo "fuzz: build of $bin failed" >&2
        echo "fuzz: execs=0 seconds=0 crashes=1"
        exit 1
    fi
    echo "$inputs" >"$stamp"
}

mapfile -t SOURCES < <(find Sources/SIPSyntax -name '*.swift' | LC_ALL=C sort)
FUZZ_SOURCES=(Fuzz/FuzzParser.swift)
DEFINES=()
if grep -rq "struct SIPStreamFramer" Sources/SIPSyntax; then
    FUZZ_SOURCES+=(Fuzz/FuzzFramer.swift)
    DEFINES+=(-D SIPPET_FUZZ_FRAMER)
    echo "fuzz: the SIP target includes the stream framer (Fuzz/FuzzFramer.swift)"
fi
# The Digest challenge and credentials readers: SippetAuth's parsing files only (its hashing needs
# swift-crypto, which plain swiftc cannot build here).
AUTH_SOURCES=(Sources/SippetAuth/DigestValues.swift Sources/SippetAuth/DigestAlgorithm.swift)
if [[ -f ${AUTH_SOURCES[0]} ]]; then
    FUZZ_SOURCES+=("${AUTH_SOURCES[@]}" Fuzz/FuzzAuth.swift)
    DEFINES+=(-D SIPPET_FUZZ_AUTH)
    echo "fuzz: the SIP target includes the Digest header readers (Fuzz/FuzzAuth.swift)"
fi
BIN=$OUT/sippet-fuzz
DNS_BIN=$OUT/sippet-fuzz-dns
NO_DEFINES=()
build "$BIN" SIPSyntax DEFINES "${SOURCES[@]}" "${FUZZ_SOURCES[@]}"
build "$DNS_BIN" SippetDNS NO_DEFINES Sources/SippetDNS/DNSMessage.swift Fuzz/FuzzDNS.swift

COMMON=(-rss_limit_mb=2048 -detect_leaks=1 -timeout=10 -max_len=8192)
shopt -s nullglob

# --- regressions ---------------------------------------------------------------------------------
# replay BIN DIR: every input in DIR passes.
replay() {
    local bin=$1 dir=$2 log=$1.regressions.log
    local inputs=("$dir"/*)
    [[ ${#inputs[@]} -gt 0 ]] || return 0
    if ! "$bin" "${COMMON[@]}" "${inputs[@]}" >"$log" 2>&1; then
        tail -n 60 "$log" >&2
        echo "fuzz: a regression input in $dir fails (log: $log)" >&2
        echo "fuzz: execs=0 seconds=0 crashes=1"
        exit 1
    fi
    echo "fuzz: ${#inputs[@]} regression inputs of $(basename "$bin") pass"
}
replay "$BIN" "$ROOT/Fuzz/regressions"
replay "$DNS_BIN" "$ROOT/Fuzz/regressions-dns"

DNS_SECONDS=${DNS_SECONDS:-$((FUZZ_SECONDS / 4 < 10 ? 10 : FUZZ_SECONDS / 4))}
if [[ $FUZZ_SECONDS == 0 ]]; then
    # (libFuzzer would take -max_total_time=0 as "no limit".)
    echo "fuzz: SECONDS is 0: built and replayed the regressions only"
    echo "fuzz: execs=0 seconds=0 crashes=0"
    exit 0
fi

# --- seed corpora --------------------------------------------------------------------------------
# seed CORPUS FILE...: copies each seed into CORPUS once.
seed() {
    local corpus=$1 f dest n=0
    shift
    mkdir -p "$corpus"
    for f in "$@"; do
        dest=$corpus/seed-$(basename "$(dirname "$f")")-$(basename "$f")
        [[ -e $dest ]] || cp "$f" "$dest"
        n=$((n + 1))
    done
    echo "fuzz: $n seed files, $(find "$corpus" -type f | wc -l) inputs in $corpus"
    [[ $n -gt 0 ]] || echo "fuzz: warning: no seed files for $corpus" >&2
}
seed "$ROOT/Fuzz/corpus-work" "$SHARED"/conformance/rfc4475/*.dat "$SHARED"/conformance/rfc5118/*.dat \
    "$SHARED"/bench/corpus/*.sip "$ROOT"/Fuzz/seeds/*
seed "$ROOT/Fuzz/corpus-dns" "$ROOT"/Fuzz/seeds-dns/*

# --- fuzz ----------------------------------------------------------------------------------------
TOTAL_EXECS=0
TOTAL_SECS=0
# run BIN CORPUS DICT SECONDS: fuzz; on a crash, leak or hang, print it and exit 1.
run() {
    local bin=$1 corpus=$2 dict=$3 seconds=$4 log=$1.log started status=0 elapsed execs secs artifact
    echo "fuzz: running $(basename "$bin") for ${seconds}s (log: $log)"
    started=$(date +%s)
    "$bin" "$corpus" -dict="$dict" "${COMMON[@]}" -max_total_time="$seconds" \
        -print_final_stats=1 -artifact_prefix="$OUT/" >"$log" 2>&1 || status=$?
    elapsed=$(($(date +%s) - started))
    execs=$(sed -n 's/^stat::number_of_executed_units: *\([0-9]*\).*/\1/p' "$log" | tail -n 1)
    secs=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$log" | tail -n 1)
    TOTAL_EXECS=$((TOTAL_EXECS + ${execs:-0}))
    TOTAL_SECS=$((TOTAL_SECS + ${secs:-$elapsed}))
    if [[ $status -ne 0 ]] || grep -qE '^(==[0-9]+==ERROR|SUMMARY: (Address|Leak)Sanitizer)|ERROR: libFuzzer' "$log"; then
        grep -vE '^#[0-9]+' "$log" | tail -n 80 >&2
        artifact=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)
        echo "fuzz: FAILED (exit $status); input: ${artifact:-none}; minimize with: $bin -minimize_crash=1 -runs=100000 ${artifact:-CRASH}" >&2
        echo "fuzz: execs=$TOTAL_EXECS seconds=$TOTAL_SECS crashes=1"
        exit 1
    fi
    echo "fuzz: $(basename "$bin"): execs=${execs:-0} seconds=${secs:-$elapsed}"
}
run "$BIN" "$ROOT/Fuzz/corpus-work" "$ROOT/Fuzz/sip.dict" "$FUZZ_SECONDS"
run "$DNS_BIN" "$ROOT/Fuzz/corpus-dns" "$ROOT/Fuzz/dns.dict" "$DNS_SECONDS"
echo "fuzz: execs=$TOTAL_EXECS seconds=$TOTAL_SECS crashes=0"
