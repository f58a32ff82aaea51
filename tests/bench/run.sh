#!/usr/bin/env bash
# tests/bench/run.sh: the fan-out benchmark (issue 3). Run on purpose, as
# root on Debian 12; not part of CI. See tests/bench/README.md.
#
# Weir, nginx-rtmp and the ideal reference (ref_server.c) each serve one
# 2.5 Mbit/s clip to N players of weir-bench on 127.0.0.1; the server runs on
# CPU 0, weir-bench on CPU 1. One line per run, then medians and ratios,
# written as a fresh section of tests/bench/RESULTS.md.
set -euo pipefail

usage() {
    cat <<EOF
usage: tests/bench/run.sh [--quick] [--n "N1 N2 ..."] [--repeat R] [--duration S]
                          [--ramp RATE] [--servers "weir nginx ref"]
                          [--protocols "rtmp http-flv"] [--results FILE] [--work DIR]
                          [--build DIR] [--busy]

  --quick        smoke test: N = 100 500, one run each, 5 s windows
  --n LIST       player counts (default: 100 500 1000 2000 2500)
  --repeat R     runs per (server, protocol, N); medians over them (default 3)
  --duration S   measurement window of each run, after the ramp (default 10)
  --ramp RATE    players started per second (default 500)
  --servers L    subset of: weir nginx ref weir2 weirm (default: weir nginx ref);
                 weir2 is Weir with workers: 2 on CPUs 0 and 1 (HTTP-FLV and
                 RTMP players go to the worker threads), beside weir-bench on
                 CPU 1: on a 2-core machine the load tool shares a core with
                 the second loop, so compare its CPU-s/Gbit, not its latency;
                 weirm is Weir on CPU 0 with player.merge_ms: 20 (merged
                 writes: up to 20 ms of latency traded for fewer writes)
  --protocols L  subset of: rtmp http-flv (default: both)
  --results F    where the section goes (default tests/bench/RESULTS.md)
  --work DIR     work directory: clip, configs, logs (default /tmp/weir-bench)
  --build DIR    the build directory with weir and weir-bench (default build/,
                 made when missing; another one must be built already)
  --busy         a shared machine: do not wait for it to be quiet before each
                 run, and run every server and weir-bench at nice -10 so that
                 other work takes less from them (the section says so; compare
                 the ratios of one run only)

nginx-rtmp serves RTMP only, the reference HTTP-FLV only; Weir serves both.
EOF
}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HERE=$ROOT/tests/bench
NS="100 500 1000 2000 2500"
REPEAT=3
DURATION=10
RAMP=500
SERVERS="weir nginx ref"
PROTOCOLS="rtmp http-flv"
RESULTS=$HERE/RESULTS.md
WORK=/tmp/weir-bench
QUICK=0
BUILD=$ROOT/build
BUSY=0
CMDLINE="tests/bench/run.sh${*:+ $*}"

while (($#)); do
    case $1 in
    --quick) QUICK=1; NS="100 500"; REPEAT=1; DURATION=5; shift ;;
    --n) NS=$2; shift 2 ;;
    --repeat) REPEAT=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --ramp) RAMP=$2; shift 2 ;;
    --servers) SERVERS=$2; shift 2 ;;
    --protocols) PROTOCOLS=$2; shift 2 ;;
    --results) RESULTS=$2; shift 2 ;;
    --work) WORK=$2; shift 2 ;;
    --build) BUILD=$(cd "$2" && pwd); shift 2 ;;
    --busy) BUSY=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) echo "run.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
    esac
done

# Loopback ports, below the ephemeral range (32768-60999) so that no client
# connection can hold them; all traffic stays on 127.0.0.1.
WEIR_RTMP=21935 WEIR_HTTP=21080 WEIR_API=21090 NGINX_RTMP=21936 REF_HTTP=21081
STREAM=live/bench
PY=/usr/bin/python3
WARMUP=3        # seconds the publisher runs alone (baseline RSS)
REF_BASELINE=2  # seconds of baseline RSS for the reference (no publisher)
QUIET_PCT=10    # a run starts once the machine is below this % of a core

log() { printf '[bench] %s\n' "$*" >&2; }
die() { printf 'run.sh: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------- setup

install_missing() {
    local pkgs=()
    command -v nginx >/dev/null || pkgs+=(nginx)
    [[ -f /usr/lib/nginx/modules/ngx_rtmp_module.so ]] || pkgs+=(libnginx-mod-rtmp)
    command -v ffmpeg >/dev/null || pkgs+=(ffmpeg)
    command -v ffprobe >/dev/null || pkgs+=(ffmpeg)
    [[ -x $PY ]] || pkgs+=(python3)
    command -v taskset >/dev/null || pkgs+=(util-linux)
    command -v ss >/dev/null || pkgs+=(iproute2)
    command -v cc >/dev/null || pkgs+=(gcc)
    command -v cmake >/dev/null || pkgs+=(cmake)
    ((${#pkgs[@]})) || return 0
    [[ $EUID -eq 0 ]] || die "missing ${pkgs[*]}: run as root (apt-get install)"
    log "installing ${pkgs[*]}"
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${pkgs[@]}"
}

build_weir() {
    if [[ -x $BUILD/weir && -x $BUILD/weir-bench ]]; then
        return 0
    fi
    [[ $BUILD == "$ROOT/build" ]] || die "$BUILD has no weir and weir-bench: build them first"
    log "building Weir in build/"
    [[ -f $ROOT/build/CMakeCache.txt ]] || "$ROOT/.ci/setup"
    cmake -S "$ROOT" -B "$ROOT/build" >/dev/null
    cmake --build "$ROOT/build" -j"$(nproc)" >/dev/null
    [[ -x $ROOT/build/weir && -x $ROOT/build/weir-bench ]] || die "build did not produce weir and weir-bench"
}

# 1280x720 30 fps H.264 at 2.5 Mbit/s CBR (x264 nal-hrd, noise so that the
# bits are real picture data), GOP 2 s, AAC 128 kbit/s, 30 s. Made once.
make_clip() {
    CLIP=$WORK/clip-720p30-2500k.flv
    [[ -s $CLIP ]] && return 0
    log "generating the clip (30 s of 720p30)"
    ffmpeg -hide_banner -nostdin -loglevel warning -y \
        -f lavfi -i "testsrc2=size=1280x720:rate=30,noise=alls=12:allf=t" \
        -f lavfi -i "sine=frequency=440:sample_rate=44100" -t 30 \
        -c:v libx264 -preset veryfast -tune zerolatency -pix_fmt yuv420p \
        -g 60 -keyint_min 60 -sc_threshold 0 \
        -b:v 2500k -minrate 2500k -maxrate 2500k -bufsize 2500k -x264-params nal-hrd=cbr \
        -c:a aac -b:a 128k -ar 44100 -f flv "$CLIP.tmp"
    mv "$CLIP.tmp" "$CLIP"
}

write_configs() {
    cat >"$WORK/weir.json" <<EOF
{
  "rtmp": { "listen": "127.0.0.1:$WEIR_RTMP" },
  "http_flv": { "listen": "127.0.0.1:$WEIR_HTTP" },
  "api": { "listen": "127.0.0.1:$WEIR_API" },
  "storage": { "path": "$WORK/weir.db" },
  "log": { "level": "warn" },
  "limits": { "max_connections": 0, "max_connections_per_address": 0 }
}
EOF
    sed 's/^{$/{\n  "workers": 2,/' "$WORK/weir.json" >"$WORK/weir2.json"
    sed 's/^{$/{\n  "player": { "merge_ms": 20 },/' "$WORK/weir.json" >"$WORK/weirm.json"
    # One process, no master: the PID we sample is the one doing the work.
    # nginx-rtmp has no HTTP-FLV; wait_key makes its players start on a key frame.
    cat >"$WORK/nginx.conf" <<EOF
worker_processes 1;
daemon off;
master_process off;
worker_rlimit_nofile $NOFILE;
error_log $WORK/logs/nginx-error.log warn;
pid $WORK/nginx.pid;
load_module /usr/lib/nginx/modules/ngx_rtmp_module.so;
events { worker_connections 10000; }
rtmp {
    server {
        listen 127.0.0.1:$NGINX_RTMP;
        chunk_size 4096;
        application live {
            live on;
            wait_key on;
        }
    }
}
EOF
}

# ---------------------------------------------------------------- servers

SRV_PID=
NICE=()

port_open() { ss -Hltn "sport = :$1" | grep -q .; }

wait_port() {
    local i
    for ((i = 0; i < 100; i++)); do
        port_open "$1" && return 0
        kill -0 "$SRV_PID" 2>/dev/null || return 1
        sleep 0.05
    done
    return 1
}

# start_server NAME LOG: the server on CPU 0; sets SRV_PID.
start_server() {
    local name=$1 out=$2 port
    case $name in
    weir)
        port=$WEIR_RTMP
        rm -f "$WORK/weir.db"
        "${NICE[@]}" taskset -c 0 "$BUILD/weir" -c "$WORK/weir.json" >"$out" 2>&1 &
        ;;
    weirm)
        port=$WEIR_RTMP
        rm -f "$WORK/weir.db"
        "${NICE[@]}" taskset -c 0 "$BUILD/weir" -c "$WORK/weirm.json" >"$out" 2>&1 &
        ;;
    weir2)
        port=$WEIR_RTMP
        rm -f "$WORK/weir.db"
        "${NICE[@]}" taskset -c 0,1 "$BUILD/weir" -c "$WORK/weir2.json" >"$out" 2>&1 &
        ;;
    nginx)
        port=$NGINX_RTMP
        "${NICE[@]}" taskset -c 0 nginx -p "$WORK" -c "$WORK/nginx.conf" >"$out" 2>&1 &
        ;;
    ref)
        port=$REF_HTTP
        "${NICE[@]}" taskset -c 0 "$WORK/ref_server" -p "$REF_HTTP" "$CLIP" >"$out" 2>&1 &
        ;;
    esac
    SRV_PID=$!
    if ! wait_port "$port" || { [[ $name == weir* ]] && ! wait_port "$WEIR_HTTP"; }; then
        cat "$out" >&2
        die "$name did not start"
    fi
}

stop_server() {
    [[ -n $SRV_PID ]] || return 0
    kill -TERM "$SRV_PID" 2>/dev/null || true
    local i
    for ((i = 0; i < 50; i++)); do
        kill -0 "$SRV_PID" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$SRV_PID" 2>/dev/null || true
    wait "$SRV_PID" 2>/dev/null || true
    SRV_PID=
NICE=()
}

cleanup() { stop_server; }
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- runs

# CPU use of the whole machine over one second, in % of one core.
machine_busy() {
    local a b
    read -r -a a < <(grep '^cpu ' /proc/stat)
    sleep 1
    read -r -a b < <(grep '^cpu ' /proc/stat)
    local total=0 i
    for i in 1 2 3 4 5 6 7 8; do total=$((total + b[i] - a[i])); done
    local idle=$((b[4] - a[4] + b[5] - a[5]))
    echo $(((total - idle) * 100 * $(nproc) / (total > 0 ? total : 1)))
}

# Waits (up to 5 minutes) until nothing else loads the machine: a run next
# to foreign load measures that load too.
wait_quiet() {
    local i busy
    ((BUSY)) && return 0
    for ((i = 0; i < 300; i++)); do
        busy=$(machine_busy)
        ((busy < QUIET_PCT)) && return 0
        ((i % 10 == 0)) && log "machine busy ${busy}% of a core (foreign load?): waiting"
    done
    log "machine still busy (${busy}%): running anyway"
}

# run_one SERVER PROTO N REP: one bounded run, one line, one record in $RUNS.
run_one() {
    local server=$1 proto=$2 n=$3 rep=$4
    local tag="$server-$proto-$n-$rep" url args=() baseline=0
    case $server/$proto in
    weir/rtmp | weir2/rtmp | weirm/rtmp) url=rtmp://127.0.0.1:$WEIR_RTMP/$STREAM ;;
    weir/http-flv | weir2/http-flv | weirm/http-flv) url=http://127.0.0.1:$WEIR_HTTP/$STREAM.flv ;;
    nginx/rtmp) url=rtmp://127.0.0.1:$NGINX_RTMP/$STREAM ;;
    ref/http-flv) url=http://127.0.0.1:$REF_HTTP/$STREAM.flv ;;
    *) return 0 ;;
    esac
    case $server in
    weir | weir2 | weirm) args=(--publish "$CLIP" --publish-url "rtmp://127.0.0.1:$WEIR_RTMP/$STREAM" --warmup "$WARMUP") ;;
    nginx) args=(--publish "$CLIP" --publish-url "rtmp://127.0.0.1:$NGINX_RTMP/$STREAM" --warmup "$WARMUP") ;;
    ref) args=(--expected-kbps "$REF_KBPS"); baseline=$REF_BASELINE ;;
    esac
    wait_quiet
    start_server "$server" "$WORK/logs/$tag.server.log"
    # The driver and weir-bench share CPU 1; the driver only reads /proc
    # five times a second.
    "${NICE[@]}" taskset -c 1 "$PY" "$HERE/bench_util.py" run --server-pid "$SRV_PID" --server "$server" \
        --proto "$proto" --n "$n" --rep "$rep" --out "$RUNS" --baseline-s "$baseline" \
        --log "$WORK/logs/$tag.bench.log" -- \
        "$BUILD/weir-bench" "${args[@]}" --players "$n" --url "$url" --ramp "$RAMP" \
        --duration "$DURATION" --probes 5 --batch-ms 20 ||
        log "run $tag: driver failed (see $WORK/logs/$tag.bench.log)"
    stop_server
}

# ---------------------------------------------------------------- main

install_missing
build_weir
((BUSY)) && NICE=(nice -n -10)
mkdir -p "$WORK/logs"
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
NOFILE=$(ulimit -n)
for n in $NS; do
    ((n + 100 <= NOFILE)) || die "N=$n needs more open files than the limit $NOFILE"
done
for p in $WEIR_RTMP $WEIR_HTTP $WEIR_API $NGINX_RTMP $REF_HTTP; do
    ! port_open "$p" || die "port $p on this machine is in use"
done
make_clip
cc -O2 -std=c11 -Wall -Wextra -o "$WORK/ref_server" "$HERE/ref_server.c"
REF_KBPS=$("$PY" "$HERE/bench_util.py" clip-kbps "$CLIP")
write_configs

STAMP=$(date -u +%Y%m%dT%H%M%SZ)
RUNS=$WORK/runs-$STAMP.jsonl
: >"$RUNS"
log "runs: N=($NS) x $REPEAT, window ${DURATION}s, ramp $RAMP/s, clip payload $REF_KBPS kbit/s"
log "raw records: $RUNS, logs: $WORK/logs/"
T0=$(date +%s)
for n in $NS; do
    for ((rep = 1; rep <= REPEAT; rep++)); do
        # Alternate the servers, in reverse order on even repetitions.
        order=()
        for proto in $PROTOCOLS; do
            for server in $SERVERS; do
                [[ $server/$proto == nginx/http-flv || $server/$proto == ref/rtmp ]] && continue
                order+=("$server/$proto")
            done
        done
        if ((rep % 2 == 0)); then
            for ((i = ${#order[@]} - 1; i >= 0; i--)); do run_one "${order[i]%/*}" "${order[i]#*/}" "$n" "$rep"; done
        else
            for sp in "${order[@]}"; do run_one "${sp%/*}" "${sp#*/}" "$n" "$rep"; done
        fi
    done
done
ELAPSED=$(($(date +%s) - T0))

CPU_MODEL=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
KIND=$([[ $QUICK == 1 ]] && echo "quick (smoke test)" || echo "full")
"$PY" "$HERE/bench_util.py" summary "$RUNS" --results "$RESULTS" \
    --title "$(date -u '+%Y-%m-%d %H:%M UTC') — $KIND" \
    --note "- command: \`$CMDLINE\` (took ${ELAPSED} s)" \
    --note "- machine: $(nproc) CPUs, ${CPU_MODEL:-unknown CPU}, kernel $(uname -r), $(. /etc/os-release && echo "$PRETTY_NAME")" \
    --note "- Weir $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?') (${BUILD#"$ROOT"/}/weir, $(sed -n 's/^CMAKE_BUILD_TYPE:STRING=//p' "$BUILD/CMakeCache.txt")), nginx $(nginx -v 2>&1 | sed 's/.*nginx\///') with libnginx-mod-rtmp $(dpkg-query -W -f '${Version}' libnginx-mod-rtmp 2>/dev/null || echo '?'), ref_server (cc -O2)" \
    --note "- clip: 1280x720 30 fps H.264 2.5 Mbit/s CBR, GOP 2 s, AAC 128 kbit/s, 30 s, looped; payload $REF_KBPS kbit/s" \
    --note "- N = $NS, $REPEAT run(s) each, ramp $RAMP players/s, ${DURATION} s window after the ramp; server on CPU 0, weir-bench on CPU 1; 5 latency probes, others read every 20 ms" \
    --note "$( ((BUSY)) && echo "- --busy: the machine was shared with other builds and tests; runs did not wait for it to be quiet and ran at nice -10, so compare the ratios of this run, not absolute figures" || echo "- each run waited for a quiet machine (below ${QUIET_PCT}% of a core)")" \
    --note "$([[ " $SERVERS " == *" weir2 "* ]] && echo "- weir2: Weir with \`workers: 2\` on CPUs 0-1 (weir-bench still on CPU 1, beside its worker thread); its CPU % and CPU-s/Gbit count both threads")" \
    --note "$([[ " $SERVERS " == *" weirm "* ]] && echo "- weirm: Weir on CPU 0 with \`player.merge_ms: 20\` (merged writes), otherwise as weir")" \
    --note "- the reference has no publisher: its runs have no latency figure, and its players start at the next key frame (TTFF up to one GOP, 2 s)"
log "section written to $RESULTS"
