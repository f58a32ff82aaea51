#!/bin/bash
# tests/memcheck/run.sh: a valgrind memcheck run of a publish / play / relay /
# kick scenario against a real weir (issue 8, "Sanitizers and memory").
#
#   tests/memcheck/run.sh [path/to/weir]        (or WEIR_BIN=path/to/weir)
#   ctest -L memcheck                           (when registered, see RESULTS.md)
#
# Run on purpose, not in CI's default ctest (about 40 s here; valgrind makes
# node A 10-50x slower, so every wait below is generous). It builds
# nothing: give it a weir built without sanitizers (ASan and valgrind do not
# mix), e.g. cmake -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo (-O2 -g).
#
# Node A runs under valgrind --tool=memcheck with full leak checking; node B is
# the same binary without valgrind, the relay peer. The scenario, on loopback
# ports that were free a moment ago, every wait bounded:
#   1. a hook (a local receiver, hookrecv.py) gets A's notifications and
#      decides on_play;
#   2. ffmpeg publishes a 10 s test clip (looped) to A as live/cam;
#   3. 2 RTMP players (ffmpeg) and 2 HTTP-FLV players (curl) play it from A;
#   4. a push relay A -> B (live/*): B gets live/cam, curl plays it from B;
#   5. two pull relays B -> A (rtmp:// and http:// upstreams) into A's apps
#      pullr and pullh: curl plays both from A;
#   6. a long HTTP-FLV player and a long RTMP player on A are kicked over the
#      API (DELETE /api/v1/sessions/{id}) and must end;
#   7. GET of node, streams, sessions, relays, events, /metrics;
#   8. DELETE /api/v1/streams/live/cam with an HTTP-FLV and an RTMP player on
#      it (publisher and players must end; a GET of a missing stream is a 404),
#      DELETE of the three relays and the hook;
#   9. SIGTERM to A; valgrind must exit 0 (it exits 99 on any error, and with
#      --errors-for-leak-kinds=definite,indirect,possible any such leak is an
#      error), and its log must say "ERROR SUMMARY: 0 errors".
#      No block may be still reachable at exit either (today every block is
#      freed); a library's one-time allocation that cannot be freed goes to
#      tests/memcheck/weir.supp with a comment, never a block of Weir's.
# tests/memcheck/weir.supp (third-party noise only) is always passed.
#
# Environment: WEIR_BIN (if no argument), WEIR_MEMCHECK_DIR (work dir; default
# a new mktemp dir, removed after a pass unless WEIR_MEMCHECK_KEEP=1).
# Exit status: 0 pass, 1 scenario or memcheck failure, 2 usage/tools.

set -u

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
WEIR=${1:-${WEIR_BIN:-}}
if [ -z "$WEIR" ] || [ ! -x "$WEIR" ]; then
    echo "usage: $0 path/to/weir (or WEIR_BIN=...); got '${WEIR}'" >&2
    exit 2
fi
WEIR=$(cd "$(dirname "$WEIR")" && pwd)/$(basename "$WEIR")
for t in valgrind ffmpeg ffprobe curl python3 timeout; do
    command -v "$t" >/dev/null || { echo "memcheck: $t not found on PATH" >&2; exit 2; }
done
if nm -an "$WEIR" 2>/dev/null | grep -q '__asan_init\|__tsan_init'; then
    echo "memcheck: $WEIR is built with a sanitizer; valgrind needs a plain build" >&2
    exit 2
fi

# Bounds (seconds). valgrind makes A ~20x slower: generous but finite.
START_WAIT=120      # A's ports accept
LIVE_WAIT=90        # a stream is live / a relay active
PLAY_SECONDS=6      # each short player plays this long
PLAY_BOUND=90       # ... and must end within this
KICK_WAIT=60        # a kicked player ends
STOP_WAIT=240       # A exits after SIGTERM (valgrind's leak check included)

WORK=${WEIR_MEMCHECK_DIR:-$(mktemp -d /tmp/weir-memcheck.XXXXXX)}
mkdir -p "$WORK"
VGLOG=$WORK/valgrind.log
PIDS=()
T0=$(date +%s)

log() { printf '[memcheck %4ds] %s\n' "$(( $(date +%s) - T0 ))" "$*"; }

cleanup() {
    local p
    for p in "${PIDS[@]}"; do
        kill "$p" 2>/dev/null
    done
    for p in "${PIDS[@]}"; do
        timeout 10 tail --pid="$p" -f /dev/null 2>/dev/null || kill -9 "$p" 2>/dev/null
    done
}
trap cleanup EXIT

fail() {
    log "FAIL: $*"
    for f in "$WORK"/a/weir.log "$WORK"/b/weir.log; do
        [ -f "$f" ] && { echo "--- tail $f"; tail -n 30 "$f"; }
    done
    [ -f "$VGLOG" ] && { echo "--- tail $VGLOG"; tail -n 60 "$VGLOG"; }
    echo "work dir kept: $WORK"
    exit 1
}

# Ports: 6 distinct ones that were free a moment ago (all bound at once).
read -r P_A_RTMP P_A_HTTP P_A_API P_B_RTMP P_B_HTTP P_B_API < <(python3 -c '
import socket
ss = [socket.socket() for _ in range(6)]
for s in ss:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in ss))')
A_API=http://127.0.0.1:$P_A_API
B_API=http://127.0.0.1:$P_B_API

# ------------------------------------------------------------------ helpers

# api URL METHOD PATH [JSON]: prints the body, then the status on the last line.
api() {
    local args=(-s --max-time 30 -X "$2" -w '\n%{http_code}')
    [ $# -ge 4 ] && args+=(-H 'Content-Type: application/json' --data "$4")
    curl "${args[@]}" "$1$3"
}
# expect_status WANT URL METHOD PATH [JSON]: the answer's body on stdout.
expect_status() {
    local want=$1 out code
    shift
    out=$(api "$@") || fail "curl $2 $3 failed"
    code=${out##*$'\n'}
    [ "$code" = "$want" ] || fail "$2 $3 -> $code, want $want: ${out%$'\n'*}"
    printf '%s' "${out%$'\n'*}"
}
# json EXPR: evaluates EXPR on the JSON document d read from stdin.
json() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

# wait_until SECONDS WHAT CMD...: runs CMD every 0.5 s until it succeeds.
wait_until() {
    local limit=$1 what=$2 end
    shift 2
    end=$(( $(date +%s) + limit ))
    until "$@" >/dev/null 2>&1; do
        [ "$(date +%s)" -ge "$end" ] && fail "timed out after ${limit}s waiting for $what"
        sleep 0.5
    done
}
ports_accept() { # ports_accept PORT...
    local p
    for p in "$@"; do
        (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || return 1
    done
}
stream_live() { # stream_live API APP NAME
    [ "$(api "$1" GET "/api/v1/streams/$2/$3" | tail -n 1)" = 200 ]
}
relay_active() { # relay_active API ID
    api "$1" GET "/api/v1/relays/$2" | head -n -1 | json 'd["status"]' | grep -qx active
}
# min_size FILE BYTES
min_size() { [ -f "$1" ] && [ "$(stat -c %s "$1")" -ge "$2" ]; }
# has_video FILE: ffprobe finds a video stream with packets in an FLV file.
has_video() {
    local n
    n=$(timeout 60 ffprobe -v error -select_streams v -count_packets \
        -show_entries stream=nb_read_packets -of csv=p=0 "$1" 2>/dev/null)
    [ -n "$n" ] && [ "$n" -ge 25 ]
}
# bg NAME CMD...: starts CMD in the background (stdout+stderr in WORK/NAME.out).
bg() {
    local name=$1
    shift
    "$@" >"$WORK/$name.out" 2>&1 </dev/null &
    LAST_PID=$!
    PIDS+=("$LAST_PID")
}
# wait_pid PID SECONDS WHAT: waits for a background child; its status in RC.
wait_pid() {
    local end=$(( $(date +%s) + $2 ))
    while kill -0 "$1" 2>/dev/null; do
        [ "$(date +%s)" -ge "$end" ] && fail "$3 did not end within $2 s"
        sleep 0.2
    done
    wait "$1"
    RC=$?
}

write_config() { # write_config DIR RTMP HTTP API
    mkdir -p "$1"
    cat >"$1/weir.json" <<EOF
{
  "rtmp": {"listen": "127.0.0.1:$2"},
  "http_flv": {"listen": "127.0.0.1:$3"},
  "api": {"listen": "127.0.0.1:$4"},
  "storage": {"path": "$1/weir.db"},
  "log": {"level": "info", "file": "$1/weir.log"},
  "stream": {"unpublish_grace_ms": 1000},
  "relay": {"connect_timeout_ms": 20000, "on_demand_wait_ms": 30000},
  "webhooks": {"retry_initial_ms": 200, "retry_max_ms": 1000, "shutdown_flush_ms": 2000}
}
EOF
}

FFMPEG=(ffmpeg -hide_banner -nostdin -loglevel warning)

# rtmp_player NAME URL SECONDS: an ffmpeg RTMP player copying SECONDS of media.
rtmp_player() {
    bg "$1" timeout "$PLAY_BOUND" "${FFMPEG[@]}" -y -rw_timeout 30000000 -i "$2" \
        -c copy -t "$3" -f flv "$WORK/$1.flv"
}
# flv_player NAME URL SECONDS: curl reading an HTTP-FLV stream for SECONDS.
flv_player() {
    bg "$1" curl -s -o "$WORK/$1.flv" --max-time "$3" "$2"
}

# ------------------------------------------------------------------ setup

log "weir: $WEIR"
log "work dir: $WORK"
log "making the test clip"
CLIP=$WORK/clip.flv
timeout 120 "${FFMPEG[@]}" -y -f lavfi -i testsrc2=size=640x360:rate=25 \
    -f lavfi -i sine=frequency=440:sample_rate=44100 -t 10 \
    -c:v libx264 -preset veryfast -tune zerolatency -pix_fmt yuv420p -g 25 -keyint_min 25 \
    -sc_threshold 0 -b:v 800k -c:a aac -b:a 96k -f flv "$CLIP" >"$WORK/clip.out" 2>&1 \
    || fail "could not make the clip: $(tail -n 5 "$WORK/clip.out")"

# The webhook receiver: counts what it gets by type into WORK/hooks.json.
bg hookrecv timeout 1200 python3 -c '
import json, os, sys, time
sys.path.insert(0, sys.argv[1])
from hookrecv import HookReceiver
r = HookReceiver()
print(r.url, flush=True)
while True:
    counts = {}
    for rec in r.received():
        counts[rec["type"]] = counts.get(rec["type"], 0) + 1
    with open(sys.argv[2] + ".tmp", "w") as f:
        json.dump(counts, f)
    os.replace(sys.argv[2] + ".tmp", sys.argv[2])
    time.sleep(0.3)
' "$REPO/tests/integration" "$WORK/hooks.json"
wait_until 20 "the hook receiver" grep -q '^http://' "$WORK/hookrecv.out"
HOOK_URL=$(head -n 1 "$WORK/hookrecv.out")

write_config "$WORK/a" "$P_A_RTMP" "$P_A_HTTP" "$P_A_API"
write_config "$WORK/b" "$P_B_RTMP" "$P_B_HTTP" "$P_B_API"

SUPP=()
if [ -f "$HERE/weir.supp" ]; then
    SUPP=(--suppressions="$HERE/weir.supp")
fi
# shellcheck disable=SC2054  # the commas are inside option values
VALGRIND=(valgrind --tool=memcheck --leak-check=full
          --show-leak-kinds=definite,indirect,possible
          --errors-for-leak-kinds=definite,indirect,possible
          --error-exitcode=99 --track-fds=no --num-callers=40
          "${SUPP[@]}" --log-file="$VGLOG")
log "node A under valgrind: ${VALGRIND[*]} $WEIR -c $WORK/a/weir.json"
(cd "$WORK/a" && exec "${VALGRIND[@]}" "$WEIR" -c "$WORK/a/weir.json") \
    >"$WORK/a/stderr" 2>&1 </dev/null &
A_PID=$!
PIDS+=("$A_PID")
bg nodeb "$WEIR" -c "$WORK/b/weir.json"
B_PID=$LAST_PID

wait_until "$START_WAIT" "node A's ports (under valgrind)" \
    ports_accept "$P_A_RTMP" "$P_A_HTTP" "$P_A_API"
wait_until 20 "node B's ports" ports_accept "$P_B_RTMP" "$P_B_HTTP" "$P_B_API"
log "both nodes accept"

# ------------------------------------------------------------------ 1-2. hook, publish

expect_status 201 "$A_API" PUT /api/v1/hooks/mc \
    "{\"url\": \"$HOOK_URL\", \"events\": [\"*\"], \"decide\": [\"on_play\"],
      \"timeout_ms\": 10000, \"secret\": \"memcheck-secret\"}" >/dev/null
bg publisher timeout 1200 "${FFMPEG[@]}" -stream_loop -1 -re -i "$CLIP" -c copy -f flv \
    "rtmp://127.0.0.1:$P_A_RTMP/live/cam"
PUB_PID=$LAST_PID
wait_until "$LIVE_WAIT" "live/cam on A" stream_live "$A_API" live cam
log "live/cam is live on A"

# ------------------------------------------------------------------ 3. players on A

rtmp_player rtmp1 "rtmp://127.0.0.1:$P_A_RTMP/live/cam" "$PLAY_SECONDS"; R1=$LAST_PID
rtmp_player rtmp2 "rtmp://127.0.0.1:$P_A_RTMP/live/cam" "$PLAY_SECONDS"; R2=$LAST_PID
flv_player flv1 "http://127.0.0.1:$P_A_HTTP/live/cam.flv" "$PLAY_SECONDS"; F1=$LAST_PID
flv_player flv2 "http://127.0.0.1:$P_A_HTTP/live/cam.flv" "$PLAY_SECONDS"; F2=$LAST_PID
for p in "$R1:rtmp1" "$R2:rtmp2" "$F1:flv1" "$F2:flv2"; do
    wait_pid "${p%%:*}" "$PLAY_BOUND" "player ${p#*:}"
done
for f in rtmp1 rtmp2 flv1 flv2; do
    has_video "$WORK/$f.flv" || fail "player $f got no video from A ($(stat -c %s \
        "$WORK/$f.flv" 2>/dev/null) bytes): $(tail -n 3 "$WORK/$f.out")"
done
log "2 RTMP + 2 HTTP-FLV players on A got video"

# ------------------------------------------------------------------ 4. push A -> B

expect_status 201 "$A_API" PUT /api/v1/relays/push-b \
    "{\"direction\": \"push\", \"app\": \"live\", \"name\": \"*\",
      \"urls\": [\"rtmp://127.0.0.1:$P_B_RTMP/live\"],
      \"retry_initial_ms\": 500, \"retry_max_ms\": 2000}" >/dev/null
wait_until "$LIVE_WAIT" "live/cam on B (push relay)" stream_live "$B_API" live cam
flv_player flvb "http://127.0.0.1:$P_B_HTTP/live/cam.flv" "$PLAY_SECONDS"
wait_pid "$LAST_PID" "$PLAY_BOUND" "player on B"
has_video "$WORK/flvb.flv" || fail "the player on B got no video through the push relay"
log "push relay: B serves live/cam"

# ------------------------------------------------------------------ 5. pulls B -> A

expect_status 201 "$A_API" PUT /api/v1/relays/pull-rtmp \
    "{\"direction\": \"pull\", \"app\": \"pullr\", \"name\": \"cam\",
      \"urls\": [\"rtmp://127.0.0.1:$P_B_RTMP/live/cam\"], \"mode\": \"always\",
      \"retry_initial_ms\": 500, \"retry_max_ms\": 2000}" >/dev/null
expect_status 201 "$A_API" PUT /api/v1/relays/pull-http \
    "{\"direction\": \"pull\", \"app\": \"pullh\", \"name\": \"cam\",
      \"urls\": [\"http://127.0.0.1:$P_B_HTTP/live/cam.flv\"], \"mode\": \"on_demand\",
      \"idle_timeout_s\": 5, \"retry_initial_ms\": 500, \"retry_max_ms\": 2000}" >/dev/null
wait_until "$LIVE_WAIT" "pull-rtmp active" relay_active "$A_API" pull-rtmp
flv_player pullr "http://127.0.0.1:$P_A_HTTP/pullr/cam.flv" "$PLAY_SECONDS"; P1=$LAST_PID
flv_player pullh "http://127.0.0.1:$P_A_HTTP/pullh/cam.flv" 12; P2=$LAST_PID
wait_pid "$P1" "$PLAY_BOUND" "player of pullr/cam"
wait_pid "$P2" "$PLAY_BOUND" "player of pullh/cam"
has_video "$WORK/pullr.flv" || fail "pullr/cam (RTMP pull) played no video from A"
has_video "$WORK/pullh.flv" || fail "pullh/cam (HTTP-FLV pull, on demand) played no video from A"
log "pull relays: A serves pullr/cam and pullh/cam"

# ------------------------------------------------------------------ 6. kicks

# session_of PROTOCOL: the id of A's player session of live/cam over PROTOCOL.
session_of() {
    api "$A_API" GET "/api/v1/sessions?role=player&app=live&name=cam&protocol=$1" \
        | head -n -1 | json '" ".join(str(s["id"]) for s in d["sessions"])'
}
bg kickflv curl -s -o "$WORK/kickflv.flv" --max-time 600 \
    "http://127.0.0.1:$P_A_HTTP/live/cam.flv"
KF=$LAST_PID
bg kickrtmp timeout 600 "${FFMPEG[@]}" -y -rw_timeout 30000000 \
    -i "rtmp://127.0.0.1:$P_A_RTMP/live/cam" -c copy -f flv "$WORK/kickrtmp.flv"
KR=$LAST_PID
has_session() { [ -n "$(session_of "$1")" ]; }
for proto in http-flv rtmp; do
    wait_until "$LIVE_WAIT" "a $proto player session on A" has_session "$proto"
done
wait_until 60 "the kicked players to get media" min_size "$WORK/kickflv.flv" 100000
for proto in http-flv rtmp; do
    ids=$(session_of "$proto")
    [ -n "$ids" ] || fail "no $proto player session to kick"
    for id in $ids; do
        expect_status 200 "$A_API" DELETE "/api/v1/sessions/$id" >/dev/null
    done
done
# Each must end because the node closed it: curl 28 or timeout's 124 would be its own limit.
wait_pid "$KF" "$KICK_WAIT" "the kicked HTTP-FLV player"
[ "$RC" != 28 ] || fail "the kicked HTTP-FLV player ran into its own time limit"
wait_pid "$KR" "$KICK_WAIT" "the kicked RTMP player"
[ "$RC" != 124 ] || fail "the kicked RTMP player ran into its own time limit"
log "kicked an HTTP-FLV and an RTMP player; both ended"

# ------------------------------------------------------------------ 7. reads

for path in /api/v1/node /api/v1/streams /api/v1/sessions /api/v1/relays /api/v1/hooks \
            "/api/v1/events?after=0&limit=1000" /api/v1/streams/live/cam /metrics /healthz; do
    expect_status 200 "$A_API" GET "$path" >/dev/null
done
expect_status 404 "$A_API" GET /api/v1/relays/nope >/dev/null

# ------------------------------------------------------------------ 8. delete stream, relays, hook

# Closing the stream ends its publisher and the players still on it.
bg endflv curl -s -o "$WORK/endflv.flv" --max-time 600 "http://127.0.0.1:$P_A_HTTP/live/cam.flv"
EF=$LAST_PID
bg endrtmp timeout 600 "${FFMPEG[@]}" -y -rw_timeout 30000000 \
    -i "rtmp://127.0.0.1:$P_A_RTMP/live/cam" -c copy -f flv "$WORK/endrtmp.flv"
ER=$LAST_PID
wait_until 60 "the players of the stream to be closed to get media" \
    min_size "$WORK/endflv.flv" 100000
wait_until 60 "the players of the stream to be closed to get media" \
    min_size "$WORK/endrtmp.flv" 100000
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 30 \
    "http://127.0.0.1:$P_A_HTTP/live/nope.flv")
[ "$code" = 404 ] || fail "GET of a stream that does not exist -> $code, want 404"
expect_status 200 "$A_API" DELETE /api/v1/streams/live/cam >/dev/null
wait_pid "$PUB_PID" "$KICK_WAIT" "the publisher of the closed stream"
wait_pid "$EF" "$KICK_WAIT" "the HTTP-FLV player of the closed stream"
[ "$RC" != 28 ] || fail "the HTTP-FLV player of the closed stream ran into its own time limit"
wait_pid "$ER" "$KICK_WAIT" "the RTMP player of the closed stream"
[ "$RC" != 124 ] || fail "the RTMP player of the closed stream ran into its own time limit"
for id in push-b pull-rtmp pull-http; do
    expect_status 204 "$A_API" DELETE "/api/v1/relays/$id" >/dev/null
done
expect_status 404 "$A_API" GET /api/v1/relays/pull-rtmp >/dev/null
hooks_seen=$(cat "$WORK/hooks.json" 2>/dev/null)
echo "$hooks_seen" | json 'd.get("on_play", 0) >= 1 and d.get("publish.start", 0) >= 1' \
    | grep -qx True || fail "the hook receiver did not get on_play and publish.start: $hooks_seen"
expect_status 204 "$A_API" DELETE /api/v1/hooks/mc >/dev/null
log "stream closed, relays and hook deleted (hook got: $hooks_seen)"

# ------------------------------------------------------------------ 9. stop A, read valgrind

log "SIGTERM to node A"
kill -TERM "$A_PID"
end=$(( $(date +%s) + STOP_WAIT ))
while kill -0 "$A_PID" 2>/dev/null; do
    [ "$(date +%s)" -ge "$end" ] && fail "node A (valgrind) did not exit within ${STOP_WAIT}s"
    sleep 0.5
done
wait "$A_PID"
VG_RC=$?
kill -TERM "$B_PID" 2>/dev/null
wait_pid "$B_PID" 30 "node B"
B_RC=$RC

echo "--- valgrind summary ($VGLOG)"
grep -E 'ERROR SUMMARY|definitely lost:|indirectly lost:|possibly lost:|still reachable:|suppressed:|All heap blocks were freed|in use at exit' "$VGLOG"
log "valgrind exit status: $VG_RC (0 = no errors, no definite/indirect/possible leaks); node B: $B_RC"

[ "$VG_RC" = 0 ] || fail "valgrind exit status $VG_RC (99: memcheck errors or leaks)"
grep -q 'ERROR SUMMARY: 0 errors' "$VGLOG" || fail "valgrind reports errors"
[ "$B_RC" = 0 ] || fail "node B exited with $B_RC after SIGTERM"
if grep -q 'still reachable: [1-9]' "$VGLOG"; then
    fail "blocks still reachable at exit: rerun valgrind with --show-leak-kinds=all to see them"
fi
log "PASS in $(( $(date +%s) - T0 )) s"
if [ "${WEIR_MEMCHECK_KEEP:-0}" != 1 ] && [ -z "${WEIR_MEMCHECK_DIR:-}" ]; then
    rm -rf "$WORK"
fi
exit 0
