#!/usr/bin/env bash
# The steady phase of the load benchmark: a 60 s INVITE/200/ACK/BYE/200 load per server, and the
# server's CPU ticks (user + system, all threads or processes, from /proc/PID/stat) from second 38
# to second 58, when the transactions of the last 32 s are held and end as fast as they start.
#
#   scripts/bench-steady.sh RATE SERVER...
#
# SERVER is the path of a `sippet` binary, or `kamailio` (../shared/bench's stateful
# configuration). Give several, alternating (A B A B), to see the spread of identical runs.
# Prints one line per run. Needs kamailio, sipp and GNU time (../shared/bench/install-deps.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 2 ] || { sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
RATE=$1; shift
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
cp -r ../shared/bench "$WORK/bench"
chmod -R u+w "$WORK/bench"
B="$WORK/bench"
export SIPP_PROCS=${SIPP_PROCS:-2}
ticks() { # PATTERN -> "user system" summed over matching processes
  local u=0 s=0 p f
  for p in $(pgrep -f "$1"); do
    read -r -a f < "/proc/$p/stat" || continue
    u=$((u + f[13])); s=$((s + f[14]))
  done
  echo "$u $s"
}
for server in "$@"; do
  if [ "$server" = kamailio ]; then
    pattern="kamailio -DD"
    "$B/load-kamailio.sh" stateful-invite "$RATE" 60 > "$WORK/run.txt" &
  else
    pattern="serve --udp 127.0.0.1:5070"
    SERVER_CMD="$server serve --udp 127.0.0.1:{PORT}" "$B/load-kamailio.sh" stateful-invite "$RATE" 60 > "$WORK/run.txt" &
  fi
  run=$!
  sleep 38
  read -r u0 s0 <<< "$(ticks "$pattern")"
  sleep 20
  read -r u1 s1 <<< "$(ticks "$pattern")"
  wait "$run" || true
  echo "$(basename "$server") rate=$RATE steady20s user=$((u1 - u0)) sys=$((s1 - s0)) total=$((u1 - u0 + s1 - s0))" \
    "$(grep -o 'failed=[0-9]*\|kam_rss_mb=[0-9]*\|result=[A-Z]*' "$WORK/run.txt" | tr '\n' ' ')"
  sleep 2
done
