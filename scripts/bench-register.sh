#!/usr/bin/env bash
# REGISTERs per second and CPU per REGISTER, `sippet serve --db` against Kamailio's registrar
# with usrloc writing through to the same database engine (db_mode=1), side by side in one run:
# SQLite, then PostgreSQL.
#
#   scripts/bench-register.sh [RATE] [SECONDS]     (default 1000 REGISTERs/s for 10 s)
#
# Each REGISTER is for an address-of-record of its own (Interop/sipp/register-load.xml), so each
# is an insert committed before its 200. sipp sends at RATE with at most 1000 outstanding; a
# REGISTER counts when its 200 came. Needs sipp, kamailio with kamailio-sqlite-modules and
# kamailio-postgres-modules, PostgreSQL (scripts/postgres.sh starts one), and a release build:
# swift build -c release --product sippet.
set -euo pipefail
cd "$(dirname "$0")/.."
RATE=${1:-1000} SECS=${2:-10}
SIPPET=${SIPPET:-.build/release/sippet}
HOST=127.0.0.1 PORT=15098
WORK=$(mktemp -d /tmp/sippet-bench-register.XXXXXX)
chmod 755 "$WORK"
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2> /dev/null || true; done
  scripts/postgres.sh stop "$WORK/pg" 2> /dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

ticks() { # ticks PID: utime+stime of PID and its children (threads included), in clock ticks
  local total=0 p
  for p in $1 $(pgrep -P "$1" || true); do
    total=$((total + $(awk '{print $14 + $15}' "/proc/$p/stat" 2> /dev/null || echo 0)))
  done
  echo "$total"
}
db_ticks() { # CPU ticks of every PostgreSQL process so far (0 before it starts)
  local total=0 p
  for p in $(pgrep -x postgres || true); do
    total=$((total + $(awk '{print $14 + $15}' "/proc/$p/stat" 2> /dev/null || echo 0)))
  done
  echo "$total"
}
wait_port() { for _ in $(seq 1 100); do ss -lun | grep -q ":$PORT " && return 0; sleep 0.1; done; return 1; }

# one NAME CMD...: start the server, load it, print a row
one() {
  local name=$1
  shift
  "$@" > "$WORK/$name.log" 2>&1 &
  local pid=$!
  PIDS+=("$pid")
  wait_port || { echo "$name: did not start"; tail -5 "$WORK/$name.log"; return; }
  sleep 1
  local t0 c0 c1 t1 d0 d1 ok
  t0=$(date +%s.%N)
  c0=$(ticks "$pid")
  d0=$(db_ticks)
  sipp "$HOST:$PORT" -sf Interop/sipp/register-load.xml -t u1 -i "$HOST" -p 15099 -m $((RATE * SECS)) -r "$RATE" \
    -l 1000 -timeout $((SECS + 20))s -recv_timeout 5000 -nostdin -trace_stat -stf "$WORK/$name.csv" < /dev/null \
    > "$WORK/$name.sipp" 2>&1 || true
  c1=$(ticks "$pid")
  d1=$(db_ticks)
  t1=$(date +%s.%N)
  ok=$(awk -F';' 'NR == 1 {for (i = 1; i <= NF; i++) c[$i] = i; next} {l = $0} END {split(l, v, ";"); print v[c["SuccessfulCall(C)"]] + 0, v[c["FailedCall(C)"]] + 0}' "$WORK/$name.csv")
  read -r good bad <<< "$ok"
  awk -v n="$name" -v g="$good" -v b="$bad" -v t0="$t0" -v t1="$t1" -v c="$((c1 - c0))" -v d="$((d1 - d0))" \
    -v hz="$(getconf CLK_TCK)" 'BEGIN {printf "%-18s %6d ok %6d failed %6.0f REGISTER/s  CPU per REGISTER: server %6.3f ms, PostgreSQL %6.3f ms\n",
      n, g, b, g / (t1 - t0), (g > 0 ? c * 1000 / hz / g : 0), (g > 0 ? d * 1000 / hz / g : 0)}'
  kill "$pid" 2> /dev/null || true
  wait "$pid" 2> /dev/null || true
}

echo "REGISTER load: $RATE/s for $SECS s, each a new address-of-record; $(nproc) cores"
# SQLite: sippet in WAL with synchronous=FULL; Kamailio's db_sqlite with the library's defaults.
python3 - "$WORK/kamailio.db" /usr/share/kamailio/db_sqlite/standard-create.sql /usr/share/kamailio/db_sqlite/usrloc-create.sql <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
for f in sys.argv[2:]:
    db.executescript(open(f).read())
db.commit()
PY
one "sippet sqlite" "$SIPPET" serve --udp "$HOST:$PORT" --db "sqlite:$WORK/sippet.db"
one "kamailio sqlite" kamailio -DD -E -f Interop/kamailio/registrar-db.cfg -A SIP_PORT=$PORT \
  -A "DBURL=\"sqlite://$WORK/kamailio.db\"" -A DB_SQLITE
# PostgreSQL: one server, a database each.
url=$(scripts/postgres.sh start "$WORK/pg")
pgport=${url##*:}
pgport=${pgport%%/*}
bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
"$bin/createdb" -h "$HOST" -p "$pgport" -U postgres kamailio
cat /usr/share/kamailio/postgres/standard-create.sql /usr/share/kamailio/postgres/usrloc-create.sql \
  | psql -q -h "$HOST" -p "$pgport" -U postgres kamailio > /dev/null
one "sippet postgres" "$SIPPET" serve --udp "$HOST:$PORT" --db "$url"
one "kamailio postgres" kamailio -DD -E -f Interop/kamailio/registrar-db.cfg -A SIP_PORT=$PORT \
  -A "DBURL=\"postgres://postgres@$HOST:$pgport/kamailio\"" -A DB_POSTGRES
