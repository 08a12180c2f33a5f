# What scripts/bench-auth.sh and scripts/bench-proxy.sh share: sourced, not run. Each sets WORK
# (a temporary folder) and SERVER_PID (the server's process group, or empty) before using these.

TCK=$(getconf CLK_TCK)

# cputicks PGID: the utime + stime of every process of a process group, in clock ticks.
cputicks() {
  local t=0 f
  for f in /proc/[0-9]*/stat; do
    # fields after "(comm)": 3 state, 5 pgrp, 14 utime, 15 stime
    read -r -a v < <(sed 's/^.*) //' "$f" 2>/dev/null) || continue
    [ "${v[2]:-}" = "$1" ] && t=$((t + v[11] + v[12]))
  done
  echo "$t"
}

# wait_port PORT: until something is bound to UDP PORT, up to 10 s.
wait_port() {
  for _ in $(seq 1 100); do
    awk -v p="$(printf ':%04X' "$1")" 'NR>1 && $2 ~ p"$" {f=1} END {exit !f}' /proc/net/udp && return 0
    sleep 0.1
  done
  return 1
}

# stop_server: SIGTERM to the server's process group, SIGKILL after 5 s.
stop_server() {
  kill -TERM -- -"$SERVER_PID" 2>/dev/null || true
  for _ in $(seq 1 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
  kill -KILL -- -"$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=""
}

# csv_last FILE COLUMN: COLUMN of the last line of a sipp -trace_stat file.
csv_last() {
  awk -F';' -v col="$2" 'NR == 1 {for (i = 1; i <= NF; i++) c[$i] = i; next}
    {last = $0} END {split(last, v, ";"); print (col in c) ? v[c[col]] + 0 : 0}' "$1"
}

# report NAME RATE OK FAILED TICKS T0 T1 UNIT: one line of the table.
report() {
  awk -v s="$1" -v r="$2" -v ok="$3" -v f="$4" -v t="$5" -v hz="$TCK" -v t0="$6" -v t1="$7" 'BEGIN {
    per = (ok > 0) ? sprintf("%.4f", t / hz * 1000 / ok) : "n/a"
    printf "%-9s %6d %7d %7d %8.1f %9.2f %12s\n", s, r, ok, f, t1 - t0, t / hz, per }'
}
