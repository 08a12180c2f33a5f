#!/usr/bin/env bash
# Interop suite: the `sippet` command-line endpoint against real SIP tools.
#
#   scripts/interop.sh            (after `swift build`; needs sipp 3.6, tshark optional)
#
# sipp (Interop/sipp/*.xml and its built-in scenarios) drives `sippet serve`:
#   1 options    OPTIONS -> 200 with Allow, Accept, Supported            UDP, TCP
#   2 uac        sipp's built-in uac: INVITE/200/ACK/BYE/200             UDP, TCP
#   3 register   REGISTER, refresh, stale CSeq -> 500, Expires 30 -> 423
#                with Min-Expires, Contact: * -> 200 without Contact      UDP, TCP
#   4 cancel     INVITE/180/CANCEL: 200 to the CANCEL, 487, ACK           UDP, TCP
#   5 486-noack  INVITE -> 486, ACK withheld: retransmissions after T1,
#                2*T1, 4*T1 (+-30 %), then ACK                             UDP
#     486        INVITE -> 486 -> ACK, and no retransmission              TCP
#   6 200-noack  INVITE -> 200, ACK withheld: 2xx retransmitted after T1,
#                2*T1 (+-30 %), then ACK, BYE                              UDP, TCP
# and `sippet options` / `sippet call` run as clients against sipp:
#   7 client-options, client-call                                          UDP, TCP
#   8 tshark     the whole run is captured on lo and dissected: SIP packets
#                > 0, none malformed, no SIP expert error (SKIP if no capture)
# and digest authentication (RFC 3261 §22, RFC 7616), `sippet serve --users … --auth-algorithms MD5`:
#   9 auth-register  sipp: REGISTER -> 401 (MD5, qop auth) -> REGISTER with
#                    credentials -> 200                                       UDP, TCP
#     auth-invite    sipp: INVITE -> 401 -> ACK -> INVITE with credentials
#                    -> 200 -> ACK -> BYE (in the dialog, not challenged)      UDP, TCP
#     auth-sippet    `sippet register --user --password`: 401 then 200 (exit 0);
#                    a wrong password: 401 twice, exit 1 (one retry, no loop)  UDP
#  10 baresip        baresip registers with a password (its "200 OK … binding"
#                    line)                                                    UDP, TCP
#  12 proxy          `sippet proxy` (RFC 3261 §16) between sipp user agents registered with
#                    it: sipp uac -> proxy -> sipp uas                          UDP, TCP
#     proxy-fork     a call forked to two contacts: one answers 486, the
#                    other 200; the caller gets the 200                         UDP
#     proxy-cancel   a call forked to a ringing contact and a proceeding one,
#                    cancelled: 200 to the CANCEL, 487, ACK on every branch     UDP
#     proxy-baresip  two baresip agents register with passwords (proxy
#                    --users) and call each other: established, ended by BYE  UDP+TCP
#  11 kamailio-auth  `sippet register --user --password` against Kamailio's
#                    registrar with auth_db (db_text), MD5 and SHA-256; a
#                    wrong password exits 1                                   UDP
#  13 dns            RFC 3263 against dnsmasq on 127.0.0.1:15053 (zone example.test):
#                    `sippet resolve` prints NAPTR -> SRV -> A candidates in order;
#                    `sippet options sip:…example.test --dns` reaches the second SRV
#                    target when the first refuses TCP, answers 503 (sipp), or
#                    never answers over UDP (left after Timer F, --t1-ms 50);
#                    --outbound-proxy sends a request for another domain there
#  14 dialogs        sipp against `sippet serve`: the 2xx copies Record-Route; re-INVITE,
#                    UPDATE and INFO in the dialog; a Session-Expires below Min-SE gets 422
#                    and the retry's 2xx carries the timer; with 100rel the 180 is
#                    reliable and sipp PRACKs it (RSeq, RAck, 200)             UDP, TCP
#                    `sippet call` against a sipp UAS that sends a reliable 180 (RFC 3262)
#                    and checks the PRACK's RAck, and record-routes: ACK and BYE
#                    must carry the Route; a callee that sends UPDATE (answered),
#                    INFO below the CSeq (500) and INFO (200) in the dialog    UDP, TCP
#                    baresip calls `sippet serve` and hangs up; `sippet call` calls
#                    baresip answering by itself                               UDP, TCP
#  15 b2bua          the example of the article "Writing a B2BUA" (B2BUA=…, default next to
#                    SIPPET): sipp uac -> b2bua-example -> sipp uas, 100 calls   UDP
#     b2bua-glare    the callee's re-INVITE, relayed, crosses the caller's: 491 both
#                    ways (§14.2), the B2BUA's sent again after the §14.1 wait
#                    with a new CSeq and answered, the answer relayed          UDP
#     b2bua-baresip  baresip calls baresip (answering by itself) through it; the caller's
#                    BYE ends the callee's leg                                UDP
#  16 locations     `sippet serve --db sqlite:…` and `--db postgres://…`: 3 bindings survive SIGTERM
#                    and SIGKILL (restart, `sippet locations`); a REGISTER load killed by
#                    SIGKILL: every REGISTER that got a 200 is in the database  UDP
#     two-proxies    two `sippet proxy --db postgres://…`: a phone registered through A is
#                    called through B, which reaches it through A (Path)      UDP
#     db-outage      PostgreSQL stopped under serve: REGISTER 500, logged; started again:
#                    200, with no restart                                     UDP
# A flow passes when sipp exits 0 and its statistics (-trace_stat, last line)
# show every call successful and none failed.
#
# Environment:
#   SIPPET=.build/debug/sippet  the binary under test
#   CALLS=200 RATE=100          calls per sipp run, and calls per second
#   CLIENT_COUNT=100            transactions/calls per `sippet options|call` run
#   T1_MS                       if set, serve runs with --t1-ms T1_MS (default T1: 500 ms)
#   SERVE_LOG_LEVEL             if set, serve runs with --log-level SERVE_LOG_LEVEL
#   KEEP_LOGS=1                 keep the log folder even when everything passed
#
# Ports (127.0.0.1, UDP and TCP): serve 15060 (defaults), 15062 (CANCEL
# config), 15064 (486 config); sipp UAS 15080 (UDP) / 15082 (TCP); sipp
# clients 15100 and up. Every process started here is stopped by its PID on exit.
set -euo pipefail
# SIPPET may be given relative to the caller's directory, or as a command in PATH
if [ -n "${SIPPET:-}" ]; then
  case $SIPPET in
    /*) ;;
    */*) SIPPET=$PWD/$SIPPET ;;
    *) SIPPET=$(command -v "$SIPPET" || echo "$SIPPET") ;;
  esac
fi
cd "$(dirname "$0")/.."

SIPPET=${SIPPET:-.build/debug/sippet}
CALLS=${CALLS:-200}
RATE=${RATE:-100}
CLIENT_COUNT=${CLIENT_COUNT:-100}
T1=${T1_MS:-500}
SCEN=Interop/sipp
HOST=127.0.0.1
PORT_DEFAULT=15060 PORT_CANCEL=15062 PORT_486=15064 PORT_AUTH=15066 PORT_REL=15065
PORT_BARESIP=15070 PORT_KAMAILIO=15090 PORT_PROXY=15068 PORT_PROXY_AUTH=15069
PORT_UAS_UDP=15080 PORT_UAS_TCP=15082
SIPP_TIMEOUT=60     # s, global bound of one sipp run (-timeout); -timeout_error makes it a failure
RECV_TIMEOUT=10000  # ms, bound of every <recv> without its own timeout (-recv_timeout)
CLIENT_TIMEOUT=90   # s, bound of one `sippet options|call` run

START=$SECONDS
PASSED=0 FAILED=0 SKIPPED=0
FAILED_NAMES=()
PIDS=()             # every background process we started, stopped by PID on exit
declare -A SERVE_PID=() SERVE_READY=()
NEXT_LPORT=15100    # local port of the next sipp client run

WORK=""

child_pids() { ps -o pid= --ppid "$1" 2>/dev/null || true; }

forget_pid() { # forget_pid PID: it has been reaped; never signal that number again
  local p keep=()
  for p in "${PIDS[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
  PIDS=("${keep[@]}")
}

stop_pid() { # stop_pid PID [SIGNAL]: signal it (and its children), wait up to 5 s, then SIGKILL
  local pid=$1 sig=${2:-TERM} c i
  if ! kill -0 "$pid" 2>/dev/null; then
    wait "$pid" 2>/dev/null || true
    forget_pid "$pid"
    return 0
  fi
  for c in $(child_pids "$pid"); do kill -"$sig" "$c" 2>/dev/null || true; done
  kill -"$sig" "$pid" 2>/dev/null || true
  for i in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then
    for c in $(child_pids "$pid"); do kill -KILL "$c" 2>/dev/null || true; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
  forget_pid "$pid"
}

cleanup() {
  local rc=$? i
  trap - EXIT INT TERM
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do stop_pid "${PIDS[$i]}"; done
  if [ -n "${PIDS_PG_DIR:-}" ]; then scripts/postgres.sh stop "$PIDS_PG_DIR"; rm -rf "$PIDS_PG_DIR"; fi
  if [ -n "$WORK" ]; then
    if [ "$rc" -eq 0 ] && [ -z "${KEEP_LOGS:-}" ]; then
      rm -rf "$WORK"
    else
      echo "logs: $WORK"
    fi
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'echo "interrupted"; exit 130' INT
trap 'echo "terminated"; exit 143' TERM

pass() { PASSED=$((PASSED + 1)); printf 'PASS  %-28s %s\n' "$1" "$2"; }
fail() { FAILED=$((FAILED + 1)); FAILED_NAMES+=("$1"); printf 'FAIL  %-28s %s\n' "$1" "$2"; }
skip() { SKIPPED=$((SKIPPED + 1)); printf 'SKIP  %-28s %s\n' "$1" "$2"; }
show() { # show FILE [LINES]: the tail of a log, indented
  [ -s "$1" ] || return 0
  echo "      --- tail of $1"
  tail -n "${2:-15}" "$1" | cut -c1-240 | sed 's/^/      | /'
}
show_head() { # show_head FILE [LINES]: the start of a log (sipp's first error event), indented
  [ -s "$1" ] || return 0
  echo "      --- start of $1"
  head -n "${2:-12}" "$1" | cut -c1-240 | sed 's/^/      | /'
}
show_screen() { # show_screen SIPP_OUTPUT: sipp's last scenario screen (per-message counts)
  [ -s "$1" ] || return 0
  echo "      --- sipp scenario screen ($1)"
  awk '/Scenario Screen/ {n = 0; keep = 1} keep {buf[n++] = $0} /Test Terminated/ && keep {keep = 0; last = n}
    END {for (i = 0; i < last; i++) print buf[i]}' "$1" | cut -c1-240 | sed 's/^/      | /'
}

port_busy() { # port_busy PORT: something bound to UDP PORT or listening on TCP PORT (IPv4/IPv6)
  local hex; hex=$(printf ':%04X' "$1")
  cat /proc/net/udp /proc/net/udp6 2>/dev/null | awk -v p="$hex" 'NR>1 && $2 ~ p"$" {f=1} END {exit !f}' && return 0
  cat /proc/net/tcp /proc/net/tcp6 2>/dev/null | awk -v p="$hex" '$2 ~ p"$" && $4 == "0A" {f=1} END {exit !f}'
}

# ---------------------------------------------------------------- prerequisites
if ! command -v sipp >/dev/null; then
  echo "interop.sh: sipp is not installed (apt-get install sip-tester)" >&2; exit 2
fi
if [ ! -x "$SIPPET" ]; then
  echo "interop.sh: $SIPPET is missing or not executable (run swift build first, or set SIPPET)" >&2; exit 2
fi
for p in $PORT_DEFAULT $PORT_CANCEL $PORT_486 $PORT_AUTH $PORT_REL $PORT_BARESIP $PORT_KAMAILIO $PORT_PROXY $PORT_PROXY_AUTH \
  $PORT_UAS_UDP $PORT_UAS_TCP 15053 15074 15076 15077 15078 15091 15092 15093 15094 15095 15096 15097; do
  if port_busy "$p"; then echo "interop.sh: port $p is already in use on this host" >&2; exit 2; fi
done
WORK=$(mktemp -d "${TMPDIR:-/tmp}/sippet-interop.XXXXXX")
echo "sippet interop: $SIPPET, sipp $(sipp -v 2>&1 | grep -o 'v[0-9][0-9.]*' | head -1), $CALLS calls per run at $RATE/s, logs in $WORK (kept on failure or with KEEP_LOGS=1)"

# ---------------------------------------------------------------- capture (8)
PCAP=$WORK/interop.pcapng
TSHARK_PID=""
if ! command -v tshark >/dev/null; then
  skip "tshark" "tshark is not installed: no capture"
else
  tshark -i lo -f "portrange 15060-15099" -w "$PCAP" < /dev/null > "$WORK/tshark.out" 2> "$WORK/tshark.err" &
  TSHARK_PID=$!
  PIDS+=("$TSHARK_PID")
  deadline=$((SECONDS + 20))
  until grep -q "Capturing on" "$WORK/tshark.err" 2>/dev/null; do
    if ! kill -0 "$TSHARK_PID" 2>/dev/null || [ $SECONDS -ge $deadline ]; then
      stop_pid "$TSHARK_PID"
      reason=$(grep -v '^Running as user' "$WORK/tshark.err" | tail -n 1)
      if [ "$(id -u)" -ne 0 ]; then
        skip "tshark" "cannot capture on lo (not root, no dumpcap capability?): ${reason:-no output}"
      else
        fail "tshark" "capture on lo did not start: ${reason:-no output}"
      fi
      TSHARK_PID=""
      break
    fi
    sleep 0.1
  done
fi

# ---------------------------------------------------------------- the servers
start_serve() { # start_serve NAME PORT [serve options...] (NAME proxy*: `sippet proxy`)
  local name=$1 port=$2 log=$WORK/serve-$1.log command=serve
  shift 2
  case $name in proxy*) command=proxy ;; esac
  "$SIPPET" $command --udp "$HOST:$port" --tcp "$HOST:$port" "$@" \
    ${T1_MS:+--t1-ms "$T1_MS"} ${SERVE_LOG_LEVEL:+--log-level "$SERVE_LOG_LEVEL"} < /dev/null > "$log" 2>&1 &
  SERVE_PID[$name]=$!
  PIDS+=("$!")
}
wait_serve() { # wait_serve NAME PORT: both "listening" lines within 20 s
  local name=$1 port=$2 log=$WORK/serve-$1.log pid=${SERVE_PID[$1]} deadline=$((SECONDS + 20))
  until grep -qE "listening udp $HOST:$port( |$)" "$log" && grep -qE "listening tcp $HOST:$port( |$)" "$log"; do
    if ! kill -0 "$pid" 2>/dev/null; then
      local st=0
      wait "$pid" 2>/dev/null || st=$?
      forget_pid "$pid"
      SERVE_PID[$name]=""
      fail "serve-$name start" "exited with status $st before listening on $port"; show "$log"; return 1
    fi
    if [ $SECONDS -ge $deadline ]; then
      fail "serve-$name start" "no 'listening udp/tcp $HOST:$port' within 20 s"; show "$log"; return 1
    fi
    sleep 0.1
  done
  SERVE_READY[$name]=1
  pass "serve-$name start" "listening udp+tcp $HOST:$port (pid $pid)"
}

serve_alive() { [ -n "${SERVE_PID[$1]}" ] && kill -0 "${SERVE_PID[$1]}" 2>/dev/null; }
serve_died() { # serve_died NAME CONTEXT: report a serve that exited by itself, collect its status
  local st=0
  wait "${SERVE_PID[$1]}" 2>/dev/null || st=$?
  forget_pid "${SERVE_PID[$1]}"
  SERVE_PID[$1]=""
  fail "serve-$1 alive" "exited with status $st $2"; show "$WORK/serve-$1.log"
}

start_serve default $PORT_DEFAULT
start_serve cancel $PORT_CANCEL --ring-after-ms 50 --answer-after-ms 5000
start_serve busy $PORT_486 --answer 486
start_serve rel $PORT_REL --ring-after-ms 0 --answer-after-ms 300
# The users file: alice, password "secret", in the realm serve takes by default (its host).
AUTH_USER=alice AUTH_PASSWORD=secret
echo "$AUTH_PASSWORD" | "$SIPPET" passwd "$AUTH_USER" --realm "$HOST" > "$WORK/users.txt"
start_serve auth $PORT_AUTH --users "$WORK/users.txt" --auth-algorithms MD5
wait_serve default $PORT_DEFAULT || true
wait_serve cancel $PORT_CANCEL || true
wait_serve busy $PORT_486 || true
wait_serve rel $PORT_REL || true
wait_serve auth $PORT_AUTH || true

# ---------------------------------------------------------------- sipp runs
csv_last() { # csv_last FILE COLUMN: value of COLUMN in the last line of a sipp -trace_stat file
  awk -F';' -v col="$2" 'NR == 1 {for (i = 1; i <= NF; i++) c[$i] = i; next}
    {last = $0} END {split(last, v, ";"); print (col in c) ? v[c[col]] + 0 : "?"}' "$1" 2>/dev/null || echo "?"
}

# sipp_check NAME RC CSV EXPECTED: PASS/FAIL line from sipp's exit status and statistics
SIPP_DETAIL=""
sipp_check() {
  local name=$1 rc=$2 csv=$3 want=$4 ok failed
  ok=$(csv_last "$csv" 'SuccessfulCall(C)')
  failed=$(csv_last "$csv" 'FailedCall(C)')
  if [ "$rc" -eq 0 ] && [ "$ok" = "$want" ] && [ "$failed" = 0 ]; then
    pass "$name" "$ok/$want calls successful, 0 failed${SIPP_DETAIL:+; $SIPP_DETAIL}"
    return 0
  fi
  fail "$name" "sipp exit $rc, successful $ok/$want, failed $failed"
  return 1
}

# run_sipp NAME SERVE TARGET_PORT TRANSPORT(u1|t1) SCENARIO_ARGS...
# One sipp client run of CALLS calls at RATE against serve NAME; logs in $WORK/NAME.*
run_sipp() {
  local name=$1 serve=$2 port=$3 tr=$4 base=$WORK/$1 rc=0 t0=$SECONDS
  shift 4
  local lport=$NEXT_LPORT
  NEXT_LPORT=$((NEXT_LPORT + 1))
  SIPP_DETAIL=""
  if [ -n "${SERVE_READY[$serve]:-}" ] && [ -n "${SERVE_PID[$serve]}" ] && ! serve_alive "$serve"; then
    serve_died "$serve" "before $name"
  fi
  if [ -z "${SERVE_READY[$serve]:-}" ] || ! serve_alive "$serve"; then
    fail "$name" "serve-$serve is not running"; return 0
  fi
  sipp "$HOST:$port" "$@" -t "$tr" -i "$HOST" -p "$lport" -mp $((lport + 1000)) \
    -m "$CALLS" -r "$RATE" -l 2000 -buff_size 1048576 \
    -timeout "${SIPP_TIMEOUT}s" -timeout_error -recv_timeout "$RECV_TIMEOUT" -nostdin \
    -trace_stat -stf "$base.csv" -fd 1 -trace_err -error_file "$base.err" \
    -trace_logs -log_file "$base.log" < /dev/null > "$base.out" 2>&1 &
  local pid=$!
  PIDS+=("$pid")
  wait "$pid" || rc=$?
  forget_pid "$pid"
  SIPP_DETAIL="$((SECONDS - t0)) s${SIPP_DETAIL:+, $SIPP_DETAIL}"
  if [ -n "${INTERVALS:-}" ] && [ -s "$base.log" ]; then
    # "intervals CALL D1 D2 [D3]" lines logged by the *-noack scenarios
    SIPP_DETAIL="$SIPP_DETAIL, retransmission intervals ms min/avg/max: $(awk '
      $1 == "intervals" {for (i = 3; i <= NF; i++) {v = $i + 0; n[i]++; s[i] += v
        if (!(i in lo) || v < lo[i]) lo[i] = v; if (!(i in hi) || v > hi[i]) hi[i] = v}; m = (NF > m) ? NF : m}
      END {for (i = 3; i <= m; i++) printf "%s%.0f/%.0f/%.0f", (i > 3 ? ", " : ""), lo[i], s[i] / n[i], hi[i]}' "$base.log")"
  fi
  if ! sipp_check "$name" "$rc" "$base.csv" "$CALLS"; then
    show_head "$base.err" 12; show "$base.log" 5; show_screen "$base.out"; show "$WORK/serve-$serve.log" 10
  fi
  if ! serve_alive "$serve"; then
    serve_died "$serve" "during $name"
  fi
  return 0
}

# run_sipp_both NAME SERVE TARGET_PORT SCENARIO_ARGS...: run_sipp over UDP, then over TCP, as
# NAME-udp and NAME-tcp.
run_sipp_both() {
  local name=$1 serve=$2 port=$3
  shift 3
  run_sipp "$name-udp" "$serve" "$port" u1 "$@"
  run_sipp "$name-tcp" "$serve" "$port" t1 "$@"
}

INTERVALS=""
run_sipp_both 1-options default $PORT_DEFAULT -sf $SCEN/options-uac.xml
run_sipp_both 2-uac default $PORT_DEFAULT -sn uac
run_sipp_both 3-register default $PORT_DEFAULT -sf $SCEN/register-uac.xml
run_sipp_both 4-cancel cancel $PORT_CANCEL -sf $SCEN/cancel-uac.xml
# -nr: sipp's own UDP retransmission detection would swallow the server's
# byte-identical retransmissions that these scenarios want to receive and time.
INTERVALS=1
run_sipp "5-486-noack-udp" busy $PORT_486 u1 -sf $SCEN/invite-486-noack-uac.xml -nr -set t1ms "$T1"
INTERVALS=""
run_sipp "5-486-tcp" busy $PORT_486 t1 -sf $SCEN/invite-486-uac.xml
INTERVALS=1
run_sipp_both 14-dialog default $PORT_DEFAULT -sf $SCEN/dialog-uac.xml
run_sipp_both 14-session-timer default $PORT_DEFAULT -sf $SCEN/session-timer-uac.xml
run_sipp_both 14-prack rel $PORT_REL -sf $SCEN/prack-uac.xml
run_sipp_both 6-200-noack default $PORT_DEFAULT -sf $SCEN/invite-200-noack-uac.xml -nr -set t1ms "$T1"
INTERVALS=""

# ---------------------------------------------------------------- 9-11: digest authentication
printf 'SEQUENTIAL\n%s;[authentication username=%s password=%s]\n' "$AUTH_USER" "$AUTH_USER" "$AUTH_PASSWORD" \
  > "$WORK/auth-users.csv"
run_sipp_both 9-auth-register auth $PORT_AUTH -sf $SCEN/register-auth-uac.xml -inf "$WORK/auth-users.csv"
run_sipp_both 9-auth-invite auth $PORT_AUTH -sf $SCEN/invite-auth-uac.xml \
  -s service -key from_user "$AUTH_USER" -au "$AUTH_USER" -ap "$AUTH_PASSWORD"

# expect_client NAME WANT_RC WANT_401 LOG SIPPET_ARGS...: a sippet client command exits WANT_RC
# after printing WANT_401 "401" status lines.
expect_client() {
  local name=$1 want=$2 want401=$3 log=$4 rc=0 n
  shift 4
  timeout -k 5 "$CLIENT_TIMEOUT" "$SIPPET" "$@" < /dev/null > "$log" 2>&1 || rc=$?
  n=$(grep -c '^SIP/2.0 401 ' "$log" || true)
  if [ "$rc" -eq "$want" ] && [ "$n" -eq "$want401" ]; then
    pass "$name" "exit $rc, $n × 401, last: $(grep '^SIP/2.0' "$log" | tail -n 1)"
  else
    fail "$name" "exit $rc ($want expected), $n × 401 ($want401 expected)"; show "$log" 10
  fi
}
AOR="sip:$AUTH_USER@$HOST:$PORT_AUTH"
expect_client 9-auth-sippet-register 0 1 "$WORK/auth-sippet.out" register "$AOR" \
  --contact "sip:$AUTH_USER@$HOST:9" --user "$AUTH_USER" --password "$AUTH_PASSWORD" --count 3
SIPPET_PASSWORD=wrong expect_client 9-auth-sippet-wrong 1 2 "$WORK/auth-sippet-wrong.out" register "$AOR" \
  --contact "sip:$AUTH_USER@$HOST:9" --user "$AUTH_USER"

# baresip (10): registers with its password; it exits 0 either way, so its log tells.
if ! command -v baresip >/dev/null; then
  if [ -n "${SIPPET_REQUIRE_INTEROP:-}" ]; then fail "10-baresip" "baresip is not installed (baresip-core)"
  else skip "10-baresip" "baresip is not installed (apt-get install baresip-core)"; fi
else
  for tp in udp tcp; do
    dir=$WORK/baresip-$tp
    mkdir -p "$dir"
    sed "s/SIP_LISTEN/$HOST:$PORT_BARESIP/" Interop/baresip/config > "$dir/config"
    echo "<sip:$AUTH_USER@$HOST:$PORT_AUTH;transport=$tp>;auth_pass=$AUTH_PASSWORD;regint=600" > "$dir/accounts"
    timeout -k 5 20 baresip -f "$dir" -t 3 < /dev/null > "$dir/out" 2>&1 || true
    line=$(grep -E "$AUTH_USER@$HOST: .*200 OK.*binding" "$dir/out" | head -n 1 | sed 's/\x1b\[[0-9;]*m//g')
    if [ -n "$line" ]; then
      pass "10-baresip-register-$tp" "$line"
    else
      fail "10-baresip-register-$tp" "no '200 OK … binding' line from baresip"; show "$dir/out" 8
      show "$WORK/serve-auth.log" 5
    fi
  done
fi

# Kamailio's registrar with auth_db (11): sippet as the client, MD5 then SHA-256.
if ! command -v kamailio >/dev/null; then
  if [ -n "${SIPPET_REQUIRE_INTEROP:-}" ]; then fail "11-kamailio-auth" "kamailio is not installed"
  else skip "11-kamailio-auth" "kamailio is not installed (apt-get install kamailio)"; fi
else
  for alg in MD5 SHA-256; do
    kdir=$WORK/kamailio-$alg
    mkdir -p "$kdir"
    Interop/kamailio/make-dbtext.sh "$kdir/dbtext" "$AUTH_USER" "$AUTH_PASSWORD" "$HOST"
    defs=(-A "SIP_PORT=$PORT_KAMAILIO" -A "DBURL=\"text://$kdir/dbtext\"")
    [ "$alg" = SHA-256 ] && defs+=(-A ALG_SHA256)
    kamailio -DD -E -f Interop/kamailio/registrar-auth.cfg -Y "$kdir" -P "$kdir/kamailio.pid" -m 64 -M 8 \
      "${defs[@]}" < /dev/null > "$kdir/kamailio.log" 2>&1 &
    kpid=$!
    PIDS+=("$kpid")
    up=""
    for _ in $(seq 1 100); do
      if port_busy "$PORT_KAMAILIO"; then up=1; break; fi
      kill -0 "$kpid" 2>/dev/null || break
      sleep 0.1
    done
    if [ -z "$up" ]; then
      fail "11-kamailio-auth-$alg" "kamailio did not start"; show "$kdir/kamailio.log" 10
    else
      AOR_K="sip:$AUTH_USER@$HOST:$PORT_KAMAILIO"
      expect_client "11-kamailio-auth-$alg" 0 1 "$kdir/sippet.out" register "$AOR_K" \
        --contact "sip:$AUTH_USER@$HOST:9" --user "$AUTH_USER" --password "$AUTH_PASSWORD" --count 2
      # The challenge Kamailio sends in this mode names the algorithm (MD5 when it names none).
      challenge=$(python3 - "$PORT_KAMAILIO" <<'PY'
import socket, sys
port = int(sys.argv[1])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0))
s.settimeout(5)
lp = s.getsockname()[1]
m = (f"REGISTER sip:127.0.0.1:{port} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{lp};branch=z9hG4bKprobe{lp}\r\n"
     f"Max-Forwards: 70\r\nFrom: <sip:alice@127.0.0.1>;tag=p{lp}\r\nTo: <sip:alice@127.0.0.1>\r\n"
     f"Call-ID: probe{lp}\r\nCSeq: 1 REGISTER\r\nContent-Length: 0\r\n\r\n")
s.sendto(m.encode(), ("127.0.0.1", port))
data = s.recv(65535).decode(errors="replace")
print(next((l for l in data.split("\r\n") if l.lower().startswith("www-authenticate:")), "none"))
PY
      ) || challenge="no answer"
      if [ "$alg" = MD5 ] && ! grep -q "algorithm=" <<< "$challenge" || grep -q "algorithm=$alg" <<< "$challenge"; then
        pass "11-kamailio-challenge-$alg" "$challenge"
      else
        fail "11-kamailio-challenge-$alg" "the challenge does not name $alg: $challenge"
      fi
      SIPPET_PASSWORD=wrong expect_client "11-kamailio-auth-$alg-wrong" 1 2 "$kdir/sippet-wrong.out" \
        register "$AOR_K" --contact "sip:$AUTH_USER@$HOST:9" --user "$AUTH_USER"
    fi
    stop_pid "$kpid"
  done
fi

# ---------------------------------------------------------------- 12: sippet proxy
# uas_flow NAME TR PORT AOR "SIPP_UAS_ARGS" CALLS: a sipp UAS on PORT registered as a contact of AOR
# at the proxy (over UDP, by `sippet register`), started in the background; its PID in UAS_PID.
UAS_PIDS=()
start_uas() {
  local name=$1 tr=$2 port=$3 aor=$4 args=$5 calls=$6 base=$WORK/$1
  local tp=udp; [ "$tr" = t1 ] && tp=tcp
  # shellcheck disable=SC2086 # args is a word list
  # sipp binds audio and video RTP and RTCP from -mp on: 4 ports, kept apart per UAS.
  sipp $args -t "$tr" -i "$HOST" -p "$port" -mp $((20000 + (port - 15000) * 8)) -m "$calls" \
    -timeout "${SIPP_TIMEOUT}s" -timeout_error -recv_timeout "$RECV_TIMEOUT" -nostdin \
    -trace_stat -stf "$base.csv" -fd 1 -trace_err -error_file "$base.err" < /dev/null > "$base.out" 2>&1 &
  UAS_PIDS+=("$!")
  PIDS+=("$!")
  for _ in $(seq 1 100); do port_busy "$port" && break; sleep 0.1; done
  local contact="sip:uas@$HOST:$port"
  [ "$tp" = tcp ] && contact="$contact;transport=tcp"
  "$SIPPET" register "sip:$aor@$HOST:$PORT_PROXY" --contact "$contact" --expires 600 < /dev/null > "$base.reg" 2>&1 \
    || { fail "$name" "the contact could not register"; show "$base.reg"; }
}
# wait_uas NAME...: each UAS started ends by itself within 20 s, with every call successful
wait_uas() {
  local i=0 name pid rc want
  for name in "$@"; do
    pid=${UAS_PIDS[$i]} rc=0 want=${UAS_CALLS[$i]}
    i=$((i + 1))
    for _ in $(seq 1 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then stop_pid "$pid" INT; rc=124; else wait "$pid" || rc=$?; forget_pid "$pid"; fi
    sipp_check "$name" "$rc" "$WORK/$name.csv" "$want" || { show_head "$WORK/$name.err" 8; show_screen "$WORK/$name.out"; }
  done
  UAS_PIDS=()
}

start_serve proxy $PORT_PROXY
wait_serve proxy $PORT_PROXY || true
# sipp uac -> proxy -> sipp uas, over UDP and over TCP
UAS_CALLS=("$CALLS")
start_uas 12-proxy-uas-udp u1 15084 svc "-sn uas" "$CALLS"
run_sipp 12-proxy-udp proxy $PORT_PROXY u1 -sn uac -s svc
wait_uas 12-proxy-uas-udp
start_uas 12-proxy-uas-tcp t1 15086 svctcp "-sn uas" "$CALLS"
run_sipp 12-proxy-tcp proxy $PORT_PROXY t1 -sn uac -s svctcp
wait_uas 12-proxy-uas-tcp
# forked: one contact answers 486, the other 200 (and takes the ACK and the BYE)
UAS_CALLS=("$CALLS" "$CALLS")
start_uas 12-proxy-fork-uas486 u1 15088 fork "-sf $SCEN/uas-486.xml" "$CALLS"
start_uas 12-proxy-fork-uas200 u1 15089 fork "-sn uas" "$CALLS"
run_sipp 12-proxy-fork proxy $PORT_PROXY u1 -sn uac -s fork
wait_uas 12-proxy-fork-uas486 12-proxy-fork-uas200
# forked and cancelled: one contact rings (its 180 reaches the caller), the other only proceeds
sed 's|SIP/2.0 180 Ringing|SIP/2.0 100 Trying|' $SCEN/uas-cancelled.xml > "$WORK/uas-trying.xml"
start_uas 12-proxy-cancel-uas180 u1 15085 ring "-sf $SCEN/uas-cancelled.xml" "$CALLS"
start_uas 12-proxy-cancel-uas100 u1 15087 ring "-sf $WORK/uas-trying.xml" "$CALLS"
run_sipp 12-proxy-cancel proxy $PORT_PROXY u1 -sf $SCEN/cancel-uac.xml -s ring
wait_uas 12-proxy-cancel-uas180 12-proxy-cancel-uas100

# two baresip agents through `sippet proxy --users`: alice (UDP) calls bob (TCP, answers by itself)
if ! command -v baresip >/dev/null; then
  if [ -n "${SIPPET_REQUIRE_INTEROP:-}" ]; then fail "12-proxy-baresip" "baresip is not installed (baresip-core)"
  else skip "12-proxy-baresip" "baresip is not installed (apt-get install baresip-core)"; fi
else
  { echo "$AUTH_PASSWORD" | "$SIPPET" passwd alice --realm "$HOST"
    echo "$AUTH_PASSWORD" | "$SIPPET" passwd bob --realm "$HOST"; } > "$WORK/proxy-users.txt"
  start_serve proxyauth $PORT_PROXY_AUTH --users "$WORK/proxy-users.txt" --auth-algorithms MD5 --log-level info
  if wait_serve proxyauth $PORT_PROXY_AUTH; then
    for who in alice:udp:15070:15400-15449 bob:tcp:15072:15450-15499; do
      IFS=: read -r u tp lport rtp <<< "$who"
      mkdir -p "$WORK/bs-$u"
      sed -e "s/SIP_LISTEN/$HOST:$lport/" -e "s/^rtp_ports.*/rtp_ports\t\t$rtp/" Interop/baresip/config > "$WORK/bs-$u/config"
      echo "<sip:$u@$HOST:$PORT_PROXY_AUTH;transport=$tp>;auth_pass=$AUTH_PASSWORD;regint=600;answermode=auto" \
        > "$WORK/bs-$u/accounts"
    done
    timeout -k 5 30 baresip -f "$WORK/bs-bob" -t 10 < /dev/null > "$WORK/bs-bob/out" 2>&1 &
    bob=$!
    PIDS+=("$bob")
    for _ in $(seq 1 50); do grep -q "bob@$HOST: .*200 OK" "$WORK/bs-bob/out" 2>/dev/null && break; sleep 0.1; done
    timeout -k 5 30 baresip -f "$WORK/bs-alice" -e "/dial sip:bob@$HOST:$PORT_PROXY_AUTH" -t 4 < /dev/null \
      > "$WORK/bs-alice/out" 2>&1 || true
    wait "$bob" || true
    forget_pid "$bob"
    a=$(sed 's/\x1b\[[0-9;]*m//g' "$WORK/bs-alice/out")
    b=$(sed 's/\x1b\[[0-9;]*m//g' "$WORK/bs-bob/out")
    # bob's call must end with alice's BYE (at about 4 s), not with bob's own exit (10 s)
    bdur=$(grep -o 'Call with sip:alice@[^ ]* terminated (duration: [0-9]*' <<< "$b" | grep -o '[0-9]*$' | head -n 1)
    if grep -q "alice@$HOST: .*200 OK" <<< "$a" && grep -q "Call established" <<< "$a" \
      && grep -q "Call established" <<< "$b" && [ -n "$bdur" ] && [ "$bdur" -le 7 ]; then
      pass "12-proxy-baresip" "registered with passwords, alice called bob: established both ways, bob's call ended by the BYE after ${bdur} s"
    else
      fail "12-proxy-baresip" "registration, call or BYE missing (bob's call duration: ${bdur:-none})"
      show "$WORK/bs-alice/out" 8; show "$WORK/bs-bob/out" 8; show "$WORK/serve-proxyauth.log" 8
    fi
  fi
fi

# baresip_dir DIR PORT RTP_PORTS ACCOUNT: a baresip folder listening on HOST:PORT with one account
baresip_dir() {
  mkdir -p "$1"
  sed -e "s/SIP_LISTEN/$HOST:$2/" -e "s/^rtp_ports.*/rtp_ports\t\t$3/" Interop/baresip/config > "$1/config"
  echo "$4" > "$1/accounts"
}

# ---------------------------------------------------------------- 14: a real user agent (baresip)
# baresip calls `sippet serve` and hangs up (its BYE when it exits after 3 s); `sippet call`
# calls baresip answering by itself, and hangs up. UDP and TCP.
if ! command -v baresip >/dev/null; then
  if [ -n "${SIPPET_REQUIRE_INTEROP:-}" ]; then fail "14-baresip" "baresip is not installed (baresip-core)"
  else skip "14-baresip" "baresip is not installed (apt-get install baresip-core)"; fi
else
  for tp in udp tcp; do
    dir=$WORK/bs-caller-$tp
    baresip_dir "$dir" 15070 15400-15449 "<sip:caller@$HOST;transport=$tp>;regint=0"
    timeout -k 5 20 baresip -f "$dir" -e "/dial sip:service@$HOST:$PORT_DEFAULT;transport=$tp" -t 3 < /dev/null \
      > "$dir/out" 2>&1 || true
    out=$(sed 's/\x1b\[[0-9;]*m//g' "$dir/out")
    dur=$(grep -o 'Call with sip:service@[^ ]* terminated (duration: [0-9]*' <<< "$out" | grep -o '[0-9]*$' | head -n 1)
    if grep -q "Call established" <<< "$out" && [ -n "$dur" ]; then
      pass "14-baresip-calls-serve-$tp" "established, hung up after ${dur} s"
    else
      fail "14-baresip-calls-serve-$tp" "no established call ended by baresip"; show "$dir/out" 10
    fi

    dir=$WORK/bs-callee-$tp
    baresip_dir "$dir" 15072 15450-15499 "<sip:callee@$HOST:15072;transport=$tp>;regint=0;answermode=auto"
    timeout -k 5 20 baresip -f "$dir" -t 8 < /dev/null > "$dir/out" 2>&1 &
    bpid=$!
    PIDS+=("$bpid")
    for _ in $(seq 1 50); do port_busy 15072 && break; sleep 0.1; done
    rc=0
    timeout -k 5 20 "$SIPPET" call "sip:callee@$HOST:15072;transport=$tp" --duration 1 < /dev/null \
      > "$dir/client" 2>&1 || rc=$?
    stop_pid "$bpid"
    out=$(sed 's/\x1b\[[0-9;]*m//g' "$dir/out")
    if [ $rc -eq 0 ] && [ "$(grep -c 'SIP/2.0 200' "$dir/client")" -ge 2 ] && grep -q "Call established" <<< "$out" \
      && grep -q "terminated" <<< "$out"; then
      pass "14-sippet-calls-baresip-$tp" "answered by baresip, ended by sippet's BYE"
    else
      fail "14-sippet-calls-baresip-$tp" "sippet call exit $rc"; show "$dir/client" 6; show "$dir/out" 10
    fi
  done
fi

# graceful shutdown: SIGTERM -> exit status 0 within 10 s
for name in default cancel busy rel auth proxy proxyauth; do
  pid=${SERVE_PID[$name]:-}
  [ -n "$pid" ] || continue # exited earlier, reported above
  if [ -z "${SERVE_READY[$name]:-}" ]; then
    stop_pid "$pid"; continue # never came up, reported above
  fi
  if ! serve_alive "$name"; then
    serve_died "$name" "before the shutdown"; continue
  fi
  kill -TERM "$pid"
  rc=0
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then
    stop_pid "$pid" KILL
    fail "serve-$name stop" "still running 10 s after SIGTERM"; show "$WORK/serve-$name.log"
    continue
  fi
  wait "$pid" || rc=$?
  forget_pid "$pid"
  if [ "$rc" -eq 0 ]; then
    pass "serve-$name stop" "SIGTERM -> exit 0"
  else
    fail "serve-$name stop" "SIGTERM -> exit status $rc"; show "$WORK/serve-$name.log"
  fi
done

# ---------------------------------------------------------------- 7: sippet as a client
# client_flow NAME TRANSPORT(udp|tcp) UAS_PORT "UAS_SCENARIO_ARGS" SIPPET_ARGS...
client_flow() {
  local name=$1 tp=$2 port=$3 uas_args=$4 base=$WORK/$1 rc=0 crc=0 t0=$SECONDS
  shift 4
  local tr=u1; [ "$tp" = tcp ] && tr=t1
  # shellcheck disable=SC2086 # uas_args is a word list
  sipp $uas_args -t "$tr" -i "$HOST" -p "$port" -mp $((port + 1000)) -m "$CLIENT_COUNT" \
    -timeout "${SIPP_TIMEOUT}s" -timeout_error -recv_timeout "$RECV_TIMEOUT" -nostdin \
    -trace_stat -stf "$base.csv" -fd 1 -trace_err -error_file "$base.err" < /dev/null > "$base.out" 2>&1 &
  local upid=$!
  PIDS+=("$upid")
  local deadline=$((SECONDS + 10))
  until port_busy "$port"; do
    if ! kill -0 "$upid" 2>/dev/null || [ $SECONDS -ge $deadline ]; then
      fail "$name" "sipp UAS did not come up on $tp $port"; show "$base.out"; stop_pid "$upid"; return 0
    fi
    sleep 0.1
  done
  timeout -k 5 "$CLIENT_TIMEOUT" "$SIPPET" "$@" < /dev/null > "$base.client" 2>&1 &
  local cpid=$!
  PIDS+=("$cpid")
  wait "$cpid" || crc=$?
  forget_pid "$cpid"
  # the UAS ends by itself after CLIENT_COUNT calls; give it up to 15 s (the
  # built-in uas keeps each call 4 s after its BYE), or stop it at once if the
  # client failed (it would wait for calls that will not come)
  if [ "$crc" -eq 0 ]; then
    for _ in $(seq 1 150); do kill -0 "$upid" 2>/dev/null || break; sleep 0.1; done
  fi
  local stuck=""
  if kill -0 "$upid" 2>/dev/null; then
    stop_pid "$upid" INT
    stuck=1 rc=124
  else
    wait "$upid" || rc=$?
    forget_pid "$upid"
  fi
  local lines
  lines=$(grep -cE '(^|[^0-9])[1-6][0-9]{2} [A-Za-z]' "$base.client" || true)
  SIPP_DETAIL="$((SECONDS - t0)) s, sippet exit $crc, $lines status lines printed"
  if [ "$crc" -ne 0 ]; then
    fail "$name" "sippet $1 exit status $crc (0 expected; 1 = failure response, 2 = timeout/transport error, 124 = killed after ${CLIENT_TIMEOUT} s)"
    show "$base.client" 10; show_head "$base.err" 12; show_screen "$base.out"
  elif [ -n "$stuck" ]; then
    fail "$name" "sippet exit 0, but the sipp UAS still waited for calls 15 s later: successful $(csv_last "$base.csv" 'SuccessfulCall(C)')/$CLIENT_COUNT, failed $(csv_last "$base.csv" 'FailedCall(C)')"
    show "$base.client" 10; show_head "$base.err" 12; show_screen "$base.out"
  elif ! sipp_check "$name" "$rc" "$base.csv" "$CLIENT_COUNT"; then
    show "$base.client" 10; show_head "$base.err" 12; show_screen "$base.out"
  fi
  return 0
}

client_flow "7-client-options-udp" udp $PORT_UAS_UDP "-sf $SCEN/options-uas.xml" \
  options "sip:uas@$HOST:$PORT_UAS_UDP" --transport udp --count "$CLIENT_COUNT"
client_flow "7-client-options-tcp" tcp $PORT_UAS_TCP "-sf $SCEN/options-uas.xml" \
  options "sip:uas@$HOST:$PORT_UAS_TCP" --transport tcp --count "$CLIENT_COUNT"
client_flow "7-client-call-udp" udp $PORT_UAS_UDP "-sn uas" \
  call "sip:uas@$HOST:$PORT_UAS_UDP" --transport udp --duration 0 --count "$CLIENT_COUNT"
client_flow "7-client-call-tcp" tcp $PORT_UAS_TCP "-sf $SCEN/call-uas.xml" \
  call "sip:uas@$HOST:$PORT_UAS_TCP" --transport tcp --duration 0 --count "$CLIENT_COUNT"

# ---------------------------------------------------------------- 14: dialogs (SIPDialog)
client_flow "14-call-100rel-udp" udp $PORT_UAS_UDP "-sf $SCEN/uas-100rel.xml" \
  call "sip:uas@$HOST:$PORT_UAS_UDP" --transport udp --duration 0 --count "$CLIENT_COUNT"
client_flow "14-call-100rel-tcp" tcp $PORT_UAS_TCP "-sf $SCEN/uas-100rel.xml" \
  call "sip:uas@$HOST:$PORT_UAS_TCP" --transport tcp --duration 0 --count "$CLIENT_COUNT"
# The callee talks back in the dialog (UPDATE with an offer, INFO below the CSeq, INFO): 5 calls
# that stay up 0.3 s each, so that the callee's requests come before the caller's BYE.
for tp in udp tcp; do
  name=14-call-in-dialog-$tp base=$WORK/14-call-in-dialog-$tp tr=u1 port=$PORT_UAS_UDP rc=0 crc=0
  [ "$tp" = tcp ] && tr=t1 port=$PORT_UAS_TCP
  sipp -sf $SCEN/uas-in-dialog.xml -t "$tr" -i "$HOST" -p "$port" -mp $((port + 1000)) -m 5 \
    -timeout "${SIPP_TIMEOUT}s" -timeout_error -recv_timeout "$RECV_TIMEOUT" -nostdin \
    -trace_stat -stf "$base.csv" -fd 1 -trace_err -error_file "$base.err" < /dev/null > "$base.out" 2>&1 &
  upid=$!
  PIDS+=("$upid")
  for _ in $(seq 1 100); do port_busy "$port" && break; sleep 0.1; done
  timeout -k 5 "$CLIENT_TIMEOUT" "$SIPPET" call "sip:uas@$HOST:$port;transport=$tp" --duration 0.3 --count 5 \
    < /dev/null > "$base.client" 2>&1 || crc=$?
  for _ in $(seq 1 150); do kill -0 "$upid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$upid" 2>/dev/null; then stop_pid "$upid" INT; rc=124; else wait "$upid" || rc=$?; forget_pid "$upid"; fi
  if [ "$crc" -ne 0 ]; then
    fail "$name" "sippet call exit $crc"; show "$base.client" 6; show_head "$base.err" 8
  else
    SIPP_DETAIL="sippet exit 0, $(grep -c '^SIP/2.0' "$base.client") status lines printed"
    sipp_check "$name" "$rc" "$base.csv" 5 || { show_head "$base.err" 8; show_screen "$base.out"; }
  fi
done

# ---------------------------------------------------------------- 13: RFC 3263 with a real DNS server
PORT_DNS=15053 PORT_DNS_SERVE=15074 PORT_DNS_BUSY=15076 PORT_DNS_CLOSED=15077 PORT_DNS_SILENT=15078
if ! DNSMASQ=$(command -v dnsmasq || ls /usr/sbin/dnsmasq 2>/dev/null); then
  if [ -n "${SIPPET_REQUIRE_INTEROP:-}" ]; then
    fail 13-dns "dnsmasq is missing (apt-get install dnsmasq-base)"
  else
    skip 13-dns "dnsmasq is not installed (apt-get install dnsmasq-base)"
  fi
else
  # -d: in the foreground, logging to standard error; authoritative for example.test, so that
  # a negative answer carries the zone's SOA.
  "$DNSMASQ" -d --no-resolv --no-hosts --conf-file=/dev/null --port=$PORT_DNS --listen-address=$HOST \
    --bind-interfaces --auth-server=ns.example.test,$HOST --auth-zone=example.test --auth-ttl=5 \
    --naptr-record=example.test,10,50,s,SIP+D2T,,_sip._tcp.example.test \
    --naptr-record=example.test,20,50,s,SIP+D2U,,_sip._udp.example.test \
    --srv-host=_sip._tcp.example.test,a.example.test,$PORT_DNS_SERVE,0,10 \
    --srv-host=_sip._udp.example.test,a.example.test,$PORT_DNS_SERVE,0,10 \
    --srv-host=_sip._tcp.refused.example.test,a.example.test,$PORT_DNS_CLOSED,0,10 \
    --srv-host=_sip._tcp.refused.example.test,b.example.test,$PORT_DNS_SERVE,1,10 \
    --srv-host=_sip._udp.busy.example.test,a.example.test,$PORT_DNS_BUSY,0,10 \
    --srv-host=_sip._udp.busy.example.test,b.example.test,$PORT_DNS_SERVE,1,10 \
    --srv-host=_sip._udp.silent.example.test,a.example.test,$PORT_DNS_SILENT,0,10 \
    --srv-host=_sip._udp.silent.example.test,b.example.test,$PORT_DNS_SERVE,1,10 \
    --host-record=a.example.test,$HOST --host-record=b.example.test,$HOST \
    < /dev/null > "$WORK/dnsmasq.log" 2>&1 &
  PIDS+=("$!")
  DNS_ARG=(--dns "$HOST:$PORT_DNS")
  start_serve dns $PORT_DNS_SERVE
  wait_serve dns $PORT_DNS_SERVE || true
  for _ in $(seq 1 50); do grep -q "started" "$WORK/dnsmasq.log" && break; sleep 0.1; done

  # resolve: the NAPTR order (TCP first), each SRV target's address.
  if "$SIPPET" resolve sip:example.test "${DNS_ARG[@]}" > "$WORK/resolve.out" 2>&1 \
    && [ "$(cut -d' ' -f1-2 "$WORK/resolve.out" | tr '\n' ' ')" = "tcp $HOST:$PORT_DNS_SERVE udp $HOST:$PORT_DNS_SERVE " ] \
    && grep -q 'NAPTR 10 50 "s" "SIP+D2T"' "$WORK/resolve.out" && grep -q "SRV 0 10 $PORT_DNS_SERVE a.example.test" "$WORK/resolve.out"
  then
    pass 13-dns-resolve "$(head -n 1 "$WORK/resolve.out" | cut -c1-60)…"
  else
    fail 13-dns-resolve "unexpected candidates"; show "$WORK/resolve.out"
  fi
  if "$SIPPET" resolve sip:nowhere.example.test "${DNS_ARG[@]}" > "$WORK/resolve-none.out" 2>&1; then
    fail 13-dns-resolve-none "exit 0 for a name with no records"; show "$WORK/resolve-none.out"
  else
    rc=$?
    if [ $rc -eq 2 ]; then pass 13-dns-resolve-none "no candidate: exit 2"; else fail 13-dns-resolve-none "exit $rc, not 2"; fi
  fi

  dns_client() { # dns_client NAME MIN_SECONDS sippet-options-arguments...: exit 0 within the bound
    local name=$1 min=$2 t0=$SECONDS rc=0
    shift 2
    timeout "$CLIENT_TIMEOUT" "$SIPPET" options "$@" "${DNS_ARG[@]}" < /dev/null > "$WORK/$name.out" 2>&1 || rc=$?
    local took=$((SECONDS - t0))
    if [ $rc -eq 0 ] && grep -q "SIP/2.0 200" "$WORK/$name.out" && [ $took -ge "$min" ]; then
      pass "$name" "exit 0, 200 after $took s"
    else
      fail "$name" "exit $rc after $took s (want 0, at least $min s)"; show "$WORK/$name.out"
    fi
  }
  dns_client 13-dns-failover-refused 0 sip:refused.example.test
  # A sipp server answering 503 to every OPTIONS on the first target.
  sipp -sf $SCEN/options-503-uas.xml -t u1 -i "$HOST" -p $PORT_DNS_BUSY -mp 20600 -m 1 -timeout "${SIPP_TIMEOUT}s" \
    -nostdin -trace_stat -stf "$WORK/dns-busy.csv" < /dev/null > "$WORK/dns-busy.out" 2>&1 &
  BUSY_PID=$!
  PIDS+=("$BUSY_PID")
  for _ in $(seq 1 100); do port_busy $PORT_DNS_BUSY && break; sleep 0.1; done
  dns_client 13-dns-failover-503 0 sip:busy.example.test
  stop_pid "$BUSY_PID"
  if [ "$(csv_last "$WORK/dns-busy.csv" 'SuccessfulCall(C)')" = 1 ]; then
    pass 13-dns-503-sent "the first target answered 503"
  else
    fail 13-dns-503-sent "the sipp server did not answer"; show_screen "$WORK/dns-busy.out"
  fi
  # Nothing listens on the first UDP target: Timer F (64·T1 = 3.2 s) ends the first attempt.
  dns_client 13-dns-failover-timeout 3 sip:silent.example.test --t1-ms 50
  # An outbound proxy: the request names another domain; it goes to the proxy's SRV target.
  dns_client 13-dns-outbound-proxy 0 sip:bob@elsewhere.invalid --outbound-proxy sip:example.test
  stop_pid "${SERVE_PID[dns]}"
fi

# ---------------------------------------------------------------- 15: the B2BUA example
# The program of the DocC article "Writing a B2BUA" between two sipp agents: sipp's uac calls it,
# it places each call again to sipp's uas and bridges them (100 calls, none failed, on both sides).
B2BUA_BIN=${B2BUA:-$(dirname "$SIPPET")/b2bua-example}
PORT_B2BUA=15091 PORT_B2BUA_UAS=15092
if [ ! -x "$B2BUA_BIN" ]; then
  fail "15-b2bua" "$B2BUA_BIN is missing (swift build builds it; or set B2BUA)"
else
  UAS_CALLS=(100)
  UAS_PIDS=()
  sipp -sn uas -t u1 -i "$HOST" -p $PORT_B2BUA_UAS -mp 20700 -m 100 \
    -timeout "${SIPP_TIMEOUT}s" -timeout_error -recv_timeout "$RECV_TIMEOUT" -nostdin \
    -trace_stat -stf "$WORK/15-b2bua-uas.csv" -fd 1 -trace_err -error_file "$WORK/15-b2bua-uas.err" \
    < /dev/null > "$WORK/15-b2bua-uas.out" 2>&1 &
  UAS_PIDS+=("$!")
  PIDS+=("$!")
  "$B2BUA_BIN" $PORT_B2BUA "sip:service@$HOST:$PORT_B2BUA_UAS" < /dev/null > "$WORK/serve-b2bua.log" 2>&1 &
  SERVE_PID[b2bua]=$!
  PIDS+=("$!")
  for _ in $(seq 1 100); do port_busy $PORT_B2BUA && port_busy $PORT_B2BUA_UAS && break; sleep 0.1; done
  if port_busy $PORT_B2BUA; then SERVE_READY[b2bua]=1; fi
  CALLS_SAVED=$CALLS CALLS=100
  run_sipp 15-b2bua-uac b2bua $PORT_B2BUA u1 -sn uac -s alice
  CALLS=$CALLS_SAVED
  wait_uas 15-b2bua-uas
  bridged=$(grep -c 'bridged, ended by caller' "$WORK/serve-b2bua.log" || true)
  if [ "$bridged" -ge 100 ]; then
    pass "15-b2bua-bridged" "100 calls bridged, each ended by the caller's BYE passed to the callee"
  else
    fail "15-b2bua-bridged" "$bridged of 100 calls reported bridged and ended by the caller"; show "$WORK/serve-b2bua.log" 10
  fi
  # Glare through it (RFC 3261 §14): the callee's re-INVITE, relayed to the caller, crosses the
  # caller's own; the B2BUA answers the caller's 491 and sends its re-INVITE again after the
  # §14.1 wait; the answer reaches the callee (10 calls).
  UAS_CALLS=(10)
  UAS_PIDS=()
  sipp -sf $SCEN/b2bua-glare-uas.xml -t u1 -i "$HOST" -p $PORT_B2BUA_UAS -mp 20700 -m 10 \
    -timeout "${SIPP_TIMEOUT}s" -timeout_error -recv_timeout "$RECV_TIMEOUT" -nostdin \
    -trace_stat -stf "$WORK/15-b2bua-glare-uas.csv" -fd 1 -trace_err -error_file "$WORK/15-b2bua-glare-uas.err" \
    < /dev/null > "$WORK/15-b2bua-glare-uas.out" 2>&1 &
  UAS_PIDS+=("$!")
  PIDS+=("$!")
  for _ in $(seq 1 100); do port_busy $PORT_B2BUA_UAS && break; sleep 0.1; done
  CALLS_SAVED=$CALLS CALLS=10
  run_sipp 15-b2bua-glare-uac b2bua $PORT_B2BUA u1 -sf $SCEN/b2bua-glare-uac.xml -s alice
  CALLS=$CALLS_SAVED
  wait_uas 15-b2bua-glare-uas
  stop_pid "${SERVE_PID[b2bua]}"
  # Two real user agents through it: baresip calls baresip (answering by itself) through the
  # B2BUA and hangs up after 3 s; the BYE must reach the callee through the other leg.
  if command -v baresip > /dev/null; then
    "$B2BUA_BIN" 15093 "sip:callee@$HOST:15072" < /dev/null > "$WORK/serve-b2bua-baresip.log" 2>&1 &
    b2pid=$!
    PIDS+=("$b2pid")
    for _ in $(seq 1 100); do port_busy 15093 && break; sleep 0.1; done
    callee=$WORK/bs-b2b-callee caller=$WORK/bs-b2b-caller
    baresip_dir "$callee" 15072 15450-15499 "<sip:callee@$HOST:15072>;regint=0;answermode=auto"
    baresip_dir "$caller" 15070 15400-15449 "<sip:caller@$HOST>;regint=0"
    timeout -k 5 20 baresip -f "$callee" -t 8 < /dev/null > "$callee/out" 2>&1 &
    bpid=$!
    PIDS+=("$bpid")
    for _ in $(seq 1 50); do port_busy 15072 && break; sleep 0.1; done
    timeout -k 5 20 baresip -f "$caller" -e "/dial sip:callee@$HOST:15093" -t 3 < /dev/null > "$caller/out" 2>&1 || true
    for _ in $(seq 1 30); do grep -q 'bridged' "$WORK/serve-b2bua-baresip.log" && break; sleep 0.1; done
    stop_pid "$bpid"
    stop_pid "$b2pid"
    a=$(sed 's/\x1b\[[0-9;]*m//g' "$caller/out")
    b=$(sed 's/\x1b\[[0-9;]*m//g' "$callee/out")
    if grep -q "Call established" <<< "$a" && grep -q "Call established" <<< "$b" && grep -q "terminated" <<< "$b" \
      && grep -q 'bridged, ended by caller' "$WORK/serve-b2bua-baresip.log"; then
      pass "15-b2bua-baresip" "baresip called baresip through the B2BUA: established on both legs, the caller's BYE ended the callee's"
    else
      fail "15-b2bua-baresip" "a leg was not established, or the BYE did not pass"
      show "$caller/out" 8; show "$callee/out" 8; show "$WORK/serve-b2bua-baresip.log" 5
    fi
  elif [ -n "${SIPPET_REQUIRE_INTEROP:-}" ]; then
    fail "15-b2bua-baresip" "baresip is not installed (baresip-core)"
  fi
fi

# ---------------------------------------------------------------- 16: the location store
# `sippet serve --db`: bindings that got a 200 survive a SIGTERM and a SIGKILL of the server, and
# a SIGKILL in the middle of a REGISTER load (each REGISTER that got its 200 is in the database);
# on SQLite, and on PostgreSQL (one started here by scripts/postgres.sh, or $SIPPET_TEST_POSTGRES).
PORT_DB=15094
# A server of its own when PostgreSQL is installed (the outage flow stops and starts it), else the
# one SIPPET_TEST_POSTGRES names.
PG_URL=${SIPPET_TEST_POSTGRES:-}
if ls /usr/lib/postgresql/*/bin/postgres > /dev/null 2>&1; then
  # Its own folder under /tmp: the server's user must reach it (WORK is private to us).
  PG_DIR=$(mktemp -d /tmp/sippet-pg.XXXXXX)
  if ! PG_URL=$(scripts/postgres.sh start "$PG_DIR" 2> "$WORK/pg-start.err"); then
    fail "16-postgres-start" "scripts/postgres.sh could not start PostgreSQL"; show "$WORK/pg-start.err"; PG_URL=""
  fi
  PIDS_PG_DIR=$PG_DIR
fi
db_restart() { # db_restart NAME URL: register 3 bindings, stop serve by SIGTERM then SIGKILL, restart, check
  local name=$1 url=$2 n sig
  start_serve "$name" $PORT_DB --db "$url"
  wait_serve "$name" $PORT_DB || return 0
  for u in ann bea cid; do
    "$SIPPET" register "sip:$u@$HOST:$PORT_DB" --contact "sip:$u@192.0.2.9:5070" --expires 1800 < /dev/null \
      > "$WORK/$name-reg-$u.out" 2>&1 || fail "$name-register" "sippet register $u failed"
  done
  for sig in TERM KILL; do
    stop_pid "${SERVE_PID[$name]}" $sig
    start_serve "$name" $PORT_DB --db "$url"
    wait_serve "$name" $PORT_DB || return 0
    "$SIPPET" locations --db "$url" > "$WORK/$name-locations.out" 2>&1 || true
    n=$(grep -cE "^sip:(ann|bea|cid)@$HOST:$PORT_DB <sip:(ann|bea|cid)@192.0.2.9:5070> expires=(17[0-9][0-9]|1800) " \
      "$WORK/$name-locations.out" || true)
    if [ "$n" = 3 ]; then
      pass "$name-after-sig$sig" "3 bindings of 3, each with its expiry (<= 1800 s), after SIG$sig and a restart"
    else
      fail "$name-after-sig$sig" "$n of 3 bindings found after SIG$sig"; show "$WORK/$name-locations.out"
    fi
  done
  # A REGISTER load (400/s, new address-of-record each), the server killed after 2 s.
  local base=$WORK/$name-load
  sipp "$HOST:$PORT_DB" -sf $SCEN/register-load.xml -t u1 -i "$HOST" -p $NEXT_LPORT -m 4000 -r 400 \
    -timeout 8s -recv_timeout 3000 -nostdin -trace_stat -stf "$base.csv" -fd 1 < /dev/null > "$base.out" 2>&1 &
  local sipp_pid=$!
  NEXT_LPORT=$((NEXT_LPORT + 1))
  PIDS+=("$sipp_pid")
  sleep 2
  stop_pid "${SERVE_PID[$name]}" KILL
  wait "$sipp_pid" 2>/dev/null || true
  forget_pid "$sipp_pid"
  local ok stored
  ok=$(csv_last "$base.csv" 'SuccessfulCall(C)')
  stored=$("$SIPPET" locations --db "$url" 2>/dev/null | grep -c "^sip:k[0-9]*x[0-9]*@$HOST " || true)
  if [ "$ok" != "?" ] && [ "$ok" -gt 0 ] && [ "$stored" -ge "$ok" ]; then
    pass "$name-sigkill-load" "$ok REGISTERs got 200 before the SIGKILL; $stored bindings in the database"
  else
    fail "$name-sigkill-load" "$ok REGISTERs got 200 before the SIGKILL, but $stored bindings in the database"
  fi
}
# PostgreSQL stopped under a running serve: REGISTER gets 500 with Retry-After; started again (same
# port), REGISTER gets 200 again, with no restart of serve.
db_outage() {
  local url=$1 dir=$2 port rc
  port=${url##*:}
  port=${port%%/*}
  start_serve 16-db-outage $PORT_DB --db "$url"
  wait_serve 16-db-outage $PORT_DB || return 0
  scripts/postgres.sh stop "$dir"
  rc=0
  "$SIPPET" register "sip:dee@$HOST:$PORT_DB" --contact sip:dee@192.0.2.9 --expires 600 < /dev/null \
    > "$WORK/16-db-outage-down.out" 2>&1 || rc=$?
  if [ "$rc" = 1 ] && grep -q '^SIP/2.0 500' "$WORK/16-db-outage-down.out"; then
    pass "16-db-outage-down" "database stopped: REGISTER answered 500 (exit 1)"
  else
    fail "16-db-outage-down" "database stopped: exit $rc"; show "$WORK/16-db-outage-down.out"
  fi
  scripts/postgres.sh start "$dir" "$port" > /dev/null
  # postgres-nio's pool retries its connections with a growing back-off: up to 40 tries.
  local ok=""
  for _ in $(seq 1 40); do
    if "$SIPPET" register "sip:dee@$HOST:$PORT_DB" --contact sip:dee@192.0.2.9 --expires 600 < /dev/null \
      > "$WORK/16-db-outage-up.out" 2>&1; then ok=1; break; fi
    sleep 0.5
  done
  if [ -n "$ok" ]; then
    pass "16-db-outage-up" "database started again: REGISTER answered 200, serve not restarted"
  else
    fail "16-db-outage-up" "no 200 in 40 tries after the database's return"; show "$WORK/16-db-outage-up.out"
  fi
  grep -q 'location store failed' "$WORK/serve-16-db-outage.log" || fail "16-db-outage-logged" "no error logged"
  stop_pid "${SERVE_PID[16-db-outage]}"
}
db_restart 16-db-sqlite "sqlite:$WORK/locations.db"
# Two proxies on one PostgreSQL: a phone (a sipp UAS) registers through proxy A, a call for it
# enters through proxy B, which finds the binding in the shared store and reaches the phone through
# A (the Path A recorded, RFC 3327).
two_proxies() {
  local url=$1 base=$WORK/16-two-proxies
  start_serve proxy-a 15095 --db "$url" --domain example.test --log-level info
  start_serve proxy-b 15096 --db "$url" --domain example.test
  wait_serve proxy-a 15095 || return 0
  wait_serve proxy-b 15096 || return 0
  sipp -sf $SCEN/uas-rr.xml -t u1 -i "$HOST" -p 15097 -mp 20800 -m 3 -timeout "${SIPP_TIMEOUT}s" -timeout_error \
    -recv_timeout "$RECV_TIMEOUT" -nostdin -trace_stat -stf "$base-uas.csv" < /dev/null > "$base-uas.out" 2>&1 &
  local uas=$!
  PIDS+=("$uas")
  for _ in $(seq 1 100); do port_busy 15097 && break; sleep 0.1; done
  "$SIPPET" register sip:phone@example.test --contact "sip:uas@$HOST:15097" --expires 600 \
    --outbound-proxy "sip:$HOST:15095" < /dev/null > "$base-reg.out" 2>&1 || { fail 16-two-proxies-register "exit $?"; show "$base-reg.out"; }
  local i rc ok=0
  for i in 1 2 3; do
    rc=0
    timeout "$CLIENT_TIMEOUT" "$SIPPET" call sip:phone@example.test --outbound-proxy "sip:$HOST:15096" --duration 0.2 \
      < /dev/null > "$base-call$i.out" 2>&1 || rc=$?
    [ "$rc" = 0 ] && ok=$((ok + 1))
  done
  for _ in $(seq 1 100); do kill -0 "$uas" 2>/dev/null || break; sleep 0.1; done
  stop_pid "$uas"
  local answered via_a
  answered=$(csv_last "$base-uas.csv" 'SuccessfulCall(C)')
  via_a=$(grep -c 'proxying' "$WORK/serve-proxy-a.log" || true)
  if [ "$ok" = 3 ] && [ "$answered" = 3 ] && [ "$via_a" -ge 3 ]; then
    pass "16-two-proxies" "registered through A, 3 calls through B answered by the phone, each passed through A"
  else
    fail "16-two-proxies" "calls ended 0: $ok of 3; the phone answered $answered; A proxied $via_a requests"
    show "$base-call1.out" 6; show "$WORK/serve-proxy-b.log" 6; show "$WORK/serve-proxy-a.log" 6
  fi
  stop_pid "${SERVE_PID[proxy-a]}"
  stop_pid "${SERVE_PID[proxy-b]}"
}
if [ -n "$PG_URL" ]; then
  db_restart 16-db-postgres "$PG_URL"
  two_proxies "$PG_URL"
  # Only on a server of our own: it is stopped and started again.
  [ -n "${PG_DIR:-}" ] && db_outage "$PG_URL" "$PG_DIR"
elif [ -n "${SIPPET_REQUIRE_INTEROP:-}" ]; then
  fail "16-db-postgres" "PostgreSQL is not installed (apt-get install postgresql)"
else
  skip "16-db-postgres" "PostgreSQL is not installed (apt-get install postgresql)"
fi
if [ -n "${PG_DIR:-}" ]; then scripts/postgres.sh stop "$PG_DIR"; rm -rf "$PG_DIR"; PIDS_PG_DIR=""; fi

# ---------------------------------------------------------------- 8: dissect the capture
if [ -n "$TSHARK_PID" ]; then
  sleep 0.5 # let the last packets reach the file
  stop_pid "$TSHARK_PID" INT
  captured=$(grep -o '[0-9]* packets\? captured' "$WORK/tshark.err" | grep -o '^[0-9]*' || true)
  DECODE=()
  for p in $PORT_DEFAULT $PORT_CANCEL $PORT_486 $PORT_AUTH $PORT_REL $PORT_BARESIP $PORT_KAMAILIO $PORT_PROXY $PORT_PROXY_AUTH \
    $PORT_UAS_UDP $PORT_UAS_TCP 15084 15085 15086 15087 15088 15089 15072 15074 15076 15077 15078 15091 15092 15093 15094 15095 15096 15097; do
    DECODE+=(-d "udp.port==$p,sip" -d "tcp.port==$p,sip")
  done
  # One pass over the capture, one line per frame: its protocols, whether it is
  # malformed (_ws.malformed: a dissector exception, or an expert item of the
  # "Malformed" group, e.g. "Invalid content_length"), its expert severities.
  # A UDP datagram on a SIP port that does not dissect as SIP (e.g. a bad
  # status line) counts as undecodable. 8388608 = 0x00800000 = PI_ERROR.
  if tshark -r "$PCAP" "${DECODE[@]}" -T fields -E separator=';' -E occurrence=a \
      -e frame.number -e frame.protocols -e _ws.malformed -e _ws.expert.severity -e _ws.expert.message \
      > "$WORK/tshark.fields" 2> "$WORK/tshark-read.err"; then
    awk -F';' '$2 ~ /:udp/ && $2 !~ /:sip/ {print "undecodable UDP datagram: " $0; next}
      $3 != "" {print "malformed: " $0; next}
      $2 ~ /:sip/ && $4 ~ /(^|,)8388608(,|$)/ {print "expert error: " $0}' "$WORK/tshark.fields" > "$WORK/tshark.bad"
    read -r sip_n udp_bad malformed_n experr_n <<< "$(awk -F';' '
      $2 ~ /:sip/ {s++} $2 ~ /:udp/ && $2 !~ /:sip/ {u++} $3 != "" {m++}
      $2 ~ /:sip/ && $4 ~ /(^|,)8388608(,|$)/ {e++}
      END {print s + 0, u + 0, m + 0, e + 0}' "$WORK/tshark.fields")"
    detail="${captured:-?} packets captured, $sip_n SIP, $malformed_n malformed, $experr_n expert errors in SIP frames, $udp_bad undecodable UDP datagrams"
    if [ "$sip_n" -gt 0 ] && [ "$malformed_n" -eq 0 ] && [ "$experr_n" -eq 0 ] && [ "$udp_bad" -eq 0 ]; then
      pass "8-tshark" "$detail"
    else
      fail "8-tshark" "$detail"
      show "$WORK/tshark.bad" 10; show "$WORK/tshark-read.err" 5
    fi
  else
    fail "8-tshark" "tshark could not read $PCAP"; show "$WORK/tshark-read.err" 5
  fi
fi

# ---------------------------------------------------------------- summary
echo "SUMMARY: $PASSED passed, $FAILED failed, $SKIPPED skipped in $((SECONDS - START)) s${FAILED_NAMES[*]:+ (failed: ${FAILED_NAMES[*]})}"
[ "$FAILED" -eq 0 ]
