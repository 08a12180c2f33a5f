#!/usr/bin/env bash
# Proxied calls: `sippet proxy` against Kamailio as a registrar and stateful proxy (tm, rr,
# registrar lookup: Interop/kamailio/proxy.cfg), side by side in one run, with the same sipp load
# on both ends. A sipp UAS registers (by `sippet register`) as the contact of sip:svc@…; a sipp
# UAC calls it through the proxy: INVITE, 180, 200, ACK, BYE, 200, every message through the proxy.
#
#   scripts/bench-proxy.sh [SECONDS] [RATE...]       (default: 10 s at 500, 1000 and 2000 calls/s)
#
# For each rate and each proxy: calls that succeeded and failed (the UAC's statistics), the run's
# wall time, and the proxy's CPU time during the run (utime + stime of its process group, from
# /proc), per call. Needs sipp, kamailio and a release build:
#   swift build -c release --product sippet
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-10}
shift || true
RATES=("$@")
[ ${#RATES[@]} -gt 0 ] || RATES=(500 1000 2000)
BIN="$PWD/.build/release/sippet"
[ -x "$BIN" ] || { echo "build it first: swift build -c release --product sippet" >&2; exit 2; }
HOST=127.0.0.1 PORT=15290 UAS_PORT=15295 UAC_PORT=15296
WORK=$(mktemp -d)
SERVER_PID="" UAS_PID=""
cleanup() {
  [ -n "$UAS_PID" ] && kill "$UAS_PID" 2>/dev/null || true
  if [ -n "$SERVER_PID" ]; then kill -TERM -- -"$SERVER_PID" 2>/dev/null || true; sleep 0.5; kill -KILL -- -"$SERVER_PID" 2>/dev/null || true; fi
  [ -n "${KEEP_WORK:-}" ] && echo "work: $WORK" || rm -rf "$WORK"
}
trap cleanup EXIT
. scripts/bench-common.sh



start_server() {
  case $1 in
    sippet) setsid "$BIN" proxy --udp "$HOST:$PORT" --log-level error < /dev/null > "$WORK/sippet.log" 2>&1 & ;;
    kamailio)
      setsid kamailio -DD -E -f Interop/kamailio/proxy.cfg -Y "$WORK" -m 512 -M 32 -A "SIP_PORT=$PORT" \
        < /dev/null > "$WORK/kamailio.log" 2>&1 &
      ;;
  esac
  SERVER_PID=$!
  wait_port "$PORT" || { echo "$1 did not start" >&2; exit 1; }
  sleep 0.5
}



printf '%-9s %6s %7s %7s %8s %9s %12s\n' proxy rate ok failed wall_s cpu_s cpu_ms/call
for rate in "${RATES[@]}"; do
  for server in kamailio sippet; do
    start_server "$server"
    total=$((rate * SECS))
    sipp -sn uas -i "$HOST" -p "$UAS_PORT" -mp 25000 -m "$total" -buff_size 4194304 -nostdin \
      -timeout $((SECS * 3 + 40))s < /dev/null > "$WORK/uas.out" 2>&1 &
    UAS_PID=$!
    wait_port "$UAS_PORT"
    "$BIN" register "sip:svc@$HOST:$PORT" --contact "sip:uas@$HOST:$UAS_PORT" --expires 3600 > "$WORK/reg.out" 2>&1 \
      || { echo "register failed on $server" >&2; cat "$WORK/reg.out" >&2; }
    c0=$(cputicks "$SERVER_PID")
    t0=$(date +%s.%N)
    rm -f "$WORK/stat.csv"
    timeout $((SECS * 3 + 30)) sipp "$HOST:$PORT" -sn uac -s svc -i "$HOST" -p "$UAC_PORT" -mp 26000 \
      -r "$rate" -m "$total" -l $((rate * 4 + 10)) -buff_size 4194304 \
      -timeout $((SECS * 2 + 20))s -recv_timeout 10000 -nostdin -trace_stat -stf "$WORK/stat.csv" -fd 1 \
      < /dev/null > "$WORK/uac.out" 2>&1 || true
    c1=$(cputicks "$SERVER_PID")
    t1=$(date +%s.%N)
    kill "$UAS_PID" 2>/dev/null || true
    wait "$UAS_PID" 2>/dev/null || true
    UAS_PID=""
    ok=$(csv_last "$WORK/stat.csv" 'SuccessfulCall(C)')
    failed=$(csv_last "$WORK/stat.csv" 'FailedCall(C)')
    report "$server" "$rate" "$ok" "$failed" $((c1 - c0)) "$t0" "$t1"
    stop_server
  done
done
