#!/usr/bin/env bash
# The container image and the systemd unit, run for real (issue 22), on
# purpose (not in CI: it downloads a Debian base system and builds the tree
# in a container, 15-30 min on 2 cores). As root on Debian 12:
#
#   bash tests/install/boot_check.sh [WORKDIR]     (default /tmp/weir-boot)
#
# 1. A debian:12-slim base image is made locally with debootstrap (minbase;
#    only Debian's mirror is needed, no registry), unless one exists.
# 2. `docker build` of the tree's Dockerfile; the container runs as user
#    weir, turns healthy (/healthz), takes an RTMP publish from the host's
#    ffmpeg, plays it over HTTP-FLV and HLS (ffmpeg decodes 3 s), and stops
#    with exit code 0 on `docker stop`.
# 3. The .deb from the image's build stage is installed into a copy of the
#    base system with systemd, booted with systemd-nspawn: weir.service
#    (Type=notify, DynamicUser, hardened) must come up, serve a publish,
#    survive `systemctl reload weir`, and stop cleanly; `systemd-analyze
#    security weir` is printed.
# Loopback ports 29350/28080 (docker) and 21935/21080/21090 (nspawn): below
# the ephemeral range, where a busy machine's own connections may hold a port.
# BOOT_CHECK=systemd skips the image checks (the images must exist).
# Needs: docker.io, debootstrap, systemd-container, ffmpeg (apt-get install).
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
work=${1:-/tmp/weir-boot}
mkdir -p "$work"
clip=$work/clip.flv
fail() { echo "boot_check: FAIL: $*" >&2; exit 1; }
publish() { timeout "$2" ffmpeg -loglevel error -re -stream_loop -1 -i "$clip" -c copy -f flv \
    "rtmp://127.0.0.1:$1/live/boot" || true; }

[ -s "$clip" ] || ffmpeg -loglevel error -y -f lavfi -i testsrc2=size=640x360:rate=25 \
    -f lavfi -i sine=frequency=440 -t 10 -c:v libx264 -g 50 -pix_fmt yuv420p -c:a aac \
    -f flv "$clip"

# ---- 1. the base image -------------------------------------------------------
if ! docker image inspect debian:12-slim >/dev/null 2>&1; then
    [ -d "$work/rootfs/etc" ] || debootstrap --variant=minbase bookworm "$work/rootfs" \
        http://deb.debian.org/debian
    rm -f "$work"/rootfs/var/cache/apt/archives/*.deb
    # A network behind a TLS-inspecting proxy: its CA, for npm in the build.
    mkdir -p "$work/rootfs/usr/local/share/ca-certificates"
    cp /usr/local/share/ca-certificates/*.crt "$work/rootfs/usr/local/share/ca-certificates/" \
        2>/dev/null || true
    tar -C "$work/rootfs" -c . | docker import \
        --change 'ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt' - debian:12-slim
fi

# ---- 2. the image ----------------------------------------------------------------
if [ "${BOOT_CHECK:-}" != systemd ]; then
docker build -q -t weir:boot-check "$here"
docker build -q --target build -t weir:boot-check-build "$here"
docker rm -f weir-boot-check >/dev/null 2>&1 || true
docker run -d --name weir-boot-check -p 127.0.0.1:29350:1935 -p 127.0.0.1:28080:8080 \
    weir:boot-check >/dev/null
for _ in $(seq 60); do
    [ "$(docker inspect -f '{{.State.Health.Status}}' weir-boot-check)" = healthy ] && break
    sleep 1
done
[ "$(docker inspect -f '{{.State.Health.Status}}' weir-boot-check)" = healthy ] ||
    fail "container not healthy"
[ "$(docker exec weir-boot-check id -un)" = weir ] || fail "container not running as weir"
publish 29350 25 &
sleep 6
ffprobe -v error -show_entries stream=codec_name -of csv=p=0 \
    "http://127.0.0.1:28080/live/boot.flv" | grep -q h264 || fail "docker: HTTP-FLV"
frames=$(timeout 30 ffmpeg -loglevel error -i "http://127.0.0.1:28080/live/boot.m3u8" -t 3 \
    -map 0:v -f framemd5 - | grep -c '^0,' || true)
[ "${frames:-0}" -ge 50 ] || fail "docker: HLS decoded $frames frames in 3 s"
docker stop weir-boot-check >/dev/null
[ "$(docker inspect -f '{{.State.ExitCode}}' weir-boot-check)" = 0 ] || fail "docker: exit code"
wait
echo "boot_check: docker ok (healthy, user weir, HTTP-FLV, HLS $frames frames, exit 0)"
fi

# ---- 3. the package under systemd ------------------------------------------------
sd=$work/rootfs-sd
rm -rf "$sd"
docker rm -f weir-boot-pkg >/dev/null 2>&1 || true
docker create --name weir-boot-pkg weir:boot-check-build /bin/true >/dev/null
mkdir -p "$sd"
docker cp weir-boot-pkg:/pkg/weir.deb "$work/weir.deb"
docker rm weir-boot-pkg >/dev/null
docker create --name weir-boot-base debian:12-slim /bin/true >/dev/null
docker export weir-boot-base | tar -C "$sd" -x
docker rm weir-boot-base >/dev/null
cp /etc/resolv.conf "$sd/etc/resolv.conf"
cp "$work/weir.deb" "$sd/tmp/weir.deb"
chroot "$sd" /bin/sh -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install \
    -y -qq --no-install-recommends systemd systemd-sysv dbus curl /tmp/weir.deb' >/dev/null
sed -i 's/0.0.0.0:1935/127.0.0.1:21935/; s/0.0.0.0:8080/127.0.0.1:21080/;
        s/127.0.0.1:8090/127.0.0.1:21090/' "$sd/etc/weir/weir.json"
cat > "$sd/usr/local/bin/weir-check" <<'EOF'
#!/bin/sh
exec > /root/result 2>&1
r() { echo "check $1: $2"; }
r active "$(systemctl is-active weir)"
r type "$(systemctl show weir -p Type --value)"
r healthz "$(curl -s 127.0.0.1:21090/healthz)"
sleep 12
r stream "$(curl -s 127.0.0.1:21090/api/v1/streams | grep -o '"name":"boot","state":"live"')"
systemctl reload weir; r reload $?
sleep 1
r active_after_reload "$(systemctl is-active weir)"
r sighup_logged "$(journalctl -u weir --no-pager | grep -c 'SIGHUP')"
systemd-analyze security weir --no-pager | tail -1
systemctl stop weir
r stop_result "$(systemctl show weir -p Result --value)"
journalctl -u weir --no-pager | tail -25
echo DONE
systemctl poweroff
EOF
chmod +x "$sd/usr/local/bin/weir-check"
printf '[Unit]\nAfter=weir.service\nWants=weir.service\n[Service]\nType=oneshot\nExecStart=/usr/local/bin/weir-check\n[Install]\nWantedBy=multi-user.target\n' \
    > "$sd/etc/systemd/system/weir-check.service"
chroot "$sd" systemctl enable weir weir-check >/dev/null 2>&1
timeout 180 systemd-nspawn -q -D "$sd" --register=no --keep-unit -b > "$work/nspawn.log" 2>&1 &
boot=$!
for _ in $(seq 60); do
    curl -s 127.0.0.1:21090/healthz >/dev/null 2>&1 && break
    sleep 1
done
publish 21935 12 &
wait $boot || true
cat "$sd/root/result"
grep -q "^DONE" "$sd/root/result" || fail "systemd: the check did not finish"
for want in "active: active" "type: notify" 'healthz: {"status":"ok"}' \
            'stream: "name":"boot","state":"live"' "reload: 0" \
            "active_after_reload: active" "stop_result: success"; do
    grep -qF "check $want" "$sd/root/result" || fail "systemd: want '$want'"
done
grep -q "check sighup_logged: [1-9]" "$sd/root/result" || fail "systemd: no SIGHUP in the journal"
echo "boot_check: systemd ok (notify, publish, reload, stop)"
