# Weir in a container (README "Install"): built from this tree with Debian
# 12's packages, run from the Debian package it makes, as a non-root user.
#
#   docker build -t weir .
#   docker run -d --name weir -p 1935:1935 -p 8080:8080 -v weir-state:/var/lib/weir weir
#
# The control API and dashboard listen on 127.0.0.1:8090 inside the
# container (the health check uses it). To publish port 8090 as well, mount a
# config that sets api.listen "0.0.0.0:8090" and api.token (the node refuses
# a non-loopback API without a token):
#   docker run ... -p 8090:8090 -v $PWD/weir.json:/etc/weir/weir.json:ro weir

# ---- build: the node, its tools and the dashboard, packaged as a .deb --------
FROM debian:12-slim AS build
ARG DEBIAN_FRONTEND=noninteractive
# libcmocka-dev: CMakeLists.txt declares the unit tests unconditionally.
# dpkg-dev, file: cpack's dependency scan (dpkg-shlibdeps).
# nodejs, npm: the dashboard's build (esbuild, pinned by web/package-lock.json).
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      build-essential cmake pkg-config dpkg-dev file \
      libevent-dev libmicrohttpd-dev libcjson-dev libsqlite3-dev libssl-dev libcmocka-dev \
      nodejs npm ca-certificates \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY web/package.json web/package-lock.json web/
RUN npm ci --prefix web --no-audit --no-fund --loglevel=error
COPY . .
RUN npm --prefix web run build \
 && cmake -S . -B /build -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=/usr \
 && cmake --build /build -j"$(nproc)" \
 && cpack -G DEB -B /pkg --config /build/CPackConfig.cmake \
 && mv /pkg/weir_*.deb /pkg/weir.deb

# ---- run: the runtime libraries only (the package's Depends) ------------------
FROM debian:12-slim
ARG DEBIAN_FRONTEND=noninteractive
COPY --from=build /pkg/weir.deb /tmp/weir.deb
# curl: the health check. The package brings /etc/weir/weir.json (state in
# /var/lib/weir, logs on stderr: `docker logs`).
RUN apt-get update \
 && apt-get install -y --no-install-recommends /tmp/weir.deb curl \
 && rm -rf /var/lib/apt/lists/* /tmp/weir.deb \
 && groupadd --system weir \
 && useradd --system --gid weir --home-dir /var/lib/weir --shell /usr/sbin/nologin weir \
 && install -d -o weir -g weir -m 0750 /var/lib/weir
USER weir
WORKDIR /var/lib/weir
VOLUME ["/var/lib/weir"]
# RTMP, HTTP-FLV, the control API and dashboard (loopback unless configured)
EXPOSE 1935 8080 8090
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD curl -fsS -o /dev/null http://127.0.0.1:8090/healthz || exit 1
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/bin/weir"]
CMD ["-c", "/etc/weir/weir.json"]
