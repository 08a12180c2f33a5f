#!/usr/bin/env bash
# The load benchmark: `sippet serve` against Kamailio, side by side, in one run, with the same sipp
# load (../shared/bench: load-kamailio.sh and find-ceiling.sh; SERVER_CMD runs our server in
# Kamailio's place).
#
#   scripts/bench-load.sh [STEP_SECONDS] [HOLD_SECONDS]
#
# For each server and each flow (stateful OPTIONS; INVITE/200/ACK/BYE/200) it finds the highest
# rate held with 0 failed calls (find-ceiling.sh, STEP_SECONDS per step, default 10), then holds
# sippet's ceiling for HOLD_SECONDS (default 40: longer than Timer J, 64·T1 = 32 s, so that the
# transactions of the last 32 s are all in memory when RSS is read). Needs kamailio, sipp and
# GNU time (../shared/bench/install-deps.sh) and a release build:
#   swift build -c release --product sippet
# Prints the result lines; BENCHMARKS.md has the table and how to read it.
set -euo pipefail
cd "$(dirname "$0")/.."
STEP=${1:-10} HOLD=${2:-40}
BIN="$PWD/.build/release/sippet"
[ -x "$BIN" ] || { echo "build it first: swift build -c release --product sippet" >&2; exit 2; }
[ -d ../shared/bench ] || { echo "../shared/bench is missing" >&2; exit 2; }
WORK=$(mktemp -d)
cp -r ../shared/bench "$WORK/bench"
chmod -R u+w "$WORK/bench"
B="$WORK/bench"
export SIPP_PROCS=${SIPP_PROCS:-2}
SERVE="$BIN serve --udp 127.0.0.1:{PORT} ${SERVE_ARGS:-}"

ceiling() { # NAME MODE START STEP [SERVER_CMD]
  local name=$1 mode=$2 start=$3 step=$4 line
  if [ -n "${5:-}" ]; then
    line=$(SERVER_CMD="$5" "$B/find-ceiling.sh" "$mode" "$start" "$step" "$STEP" 2>/dev/null | tail -1)
  else
    line=$("$B/find-ceiling.sh" "$mode" "$start" "$step" "$STEP" 2>/dev/null | tail -1)
  fi
  echo "$name $line"
}

KO=$(ceiling kamailio-options stateful 10000 2000); echo "$KO"
SO=$(ceiling sippet-options stateful 6000 2000 "$SERVE"); echo "$SO"
KI=$(ceiling kamailio-invite stateful-invite 4000 1000); echo "$KI"
SI=$(ceiling sippet-invite stateful-invite 3000 1000 "$SERVE"); echo "$SI"

# Hold sippet's ceilings for longer than Timer J (32 s): the memory of a full 32 s of transactions.
rate_of() { grep -o ' rate=[0-9]*' <<< "$1" | head -1 | cut -d= -f2; }
for pair in "stateful:$SO" "stateful-invite:$SI"; do
  mode=${pair%%:*} r=$(rate_of "${pair#*:}")
  [ -n "$r" ] || continue
  echo "sippet-hold $(SERVER_CMD="$SERVE" "$B/load-kamailio.sh" "$mode" "$r" "$HOLD" || true)"
done
rm -rf "$WORK"
