#!/usr/bin/env bash
# Authenticated registrations: `sippet serve --users … --auth-algorithms MD5` against Kamailio's
# registrar with auth_db (Interop/kamailio/registrar-auth.cfg, db_text, MD5), side by side in one
# run, with the same sipp load: REGISTER -> 401 -> REGISTER with credentials -> 200 (one
# registration, Interop/sipp/register-auth-uac.xml).
#
#   scripts/bench-auth.sh [SECONDS] [RATE...]       (default: 10 s at 1000 and 3000 per second)
#
# USERS users (default 1000: user0000 …, password "secret") register in turn, each the same on
# both servers: sippet's users file holds their HA1s, Kamailio's subscriber table their passwords.
#
# For each rate and each server: registrations that succeeded and failed (sipp's statistics), the
# run's wall time (longer than SECONDS when the load could not be kept up), and the server's CPU
# time during the run (utime + stime of its whole process group, from /proc),
# per registration. Needs sipp, kamailio and a release build:
#   swift build -c release --product sippet
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-10}
shift || true
RATES=("$@")
[ ${#RATES[@]} -gt 0 ] || RATES=(1000 3000)
BIN="$PWD/.build/release/sippet"
[ -x "$BIN" ] || { echo "build it first: swift build -c release --product sippet" >&2; exit 2; }
HOST=127.0.0.1 PORT=15190 SIPP_PORT=15195 PASSWORD=secret USERS=${USERS:-1000}
WORK=$(mktemp -d)
SERVER_PID=""
cleanup() {
  if [ -n "$SERVER_PID" ]; then kill -TERM -- -"$SERVER_PID" 2>/dev/null || true; sleep 0.5; kill -KILL -- -"$SERVER_PID" 2>/dev/null || true; fi
  [ -n "${KEEP_WORK:-}" ] && echo "work: $WORK" || rm -rf "$WORK"
}
trap cleanup EXIT
. scripts/bench-common.sh



start_server() { # start_server sippet|kamailio: in a process group of its own
  case $1 in
    sippet)
      setsid "$BIN" serve --udp "$HOST:$PORT" --users "$WORK/users.txt" --auth-algorithms MD5 --log-level error \
        < /dev/null > "$WORK/sippet.log" 2>&1 &
      ;;
    kamailio)
      Interop/kamailio/make-dbtext.sh "$WORK/dbtext" user "$PASSWORD" "$HOST" "$USERS"
      setsid kamailio -DD -E -f Interop/kamailio/registrar-auth.cfg -Y "$WORK" -m 256 -M 16 \
        -A "SIP_PORT=$PORT" -A "DBURL=\"text://$WORK/dbtext\"" < /dev/null > "$WORK/kamailio.log" 2>&1 &
      ;;
  esac
  SERVER_PID=$!
  wait_port "$PORT" || { echo "$1 did not start" >&2; exit 1; }
  sleep 0.5
}


# The users: sippet's users file (their MD5 HA1s) and sipp's injection file.
python3 - "$WORK" "$USERS" "$HOST" "$PASSWORD" <<'PY'
import hashlib, sys
work, n, realm, password = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
with open(f"{work}/users.txt", "w") as users, open(f"{work}/users.csv", "w") as csv:
    csv.write("SEQUENTIAL\n")
    for i in range(n):
        u = f"user{i:04d}"
        users.write(f"{u}:{realm}:MD5:{hashlib.md5(f'{u}:{realm}:{password}'.encode()).hexdigest()}\n")
        csv.write(f"{u};[authentication username={u} password={password}]\n")
PY


printf '%-9s %6s %7s %7s %8s %9s %12s\n' server rate ok failed wall_s cpu_s cpu_ms/reg
for rate in "${RATES[@]}"; do
  for server in kamailio sippet; do
    start_server "$server"
    c0=$(cputicks "$SERVER_PID")
    t0=$(date +%s.%N)
    rm -f "$WORK/stat.csv"
    timeout $((SECS * 3 + 30)) sipp "$HOST:$PORT" -sf Interop/sipp/register-auth-uac.xml \
      -inf "$WORK/users.csv" -i "$HOST" -p "$SIPP_PORT" \
      -r "$rate" -m $((rate * SECS)) -l $((rate * 2 + 10)) -buff_size 4194304 \
      -timeout $((SECS * 2 + 20))s -recv_timeout 5000 -nostdin -trace_stat -stf "$WORK/stat.csv" -fd 1 \
      < /dev/null > "$WORK/sipp.out" 2>&1 || true
    c1=$(cputicks "$SERVER_PID")
    t1=$(date +%s.%N)
    ok=$(csv_last "$WORK/stat.csv" 'SuccessfulCall(C)')
    failed=$(csv_last "$WORK/stat.csv" 'FailedCall(C)')
    report "$server" "$rate" "$ok" "$failed" $((c1 - c0)) "$t0" "$t1"
    stop_server
  done
done
