#!/usr/bin/env bash
# Makes a Docker daemon and the test image available to the Docker tests.
#
#   scripts/docker.sh setup    use the running daemon if `docker info` answers;
#                              else, as root on Debian, install docker.io and a
#                              static busybox (no recommended packages), start
#                              dockerd in the background, and build the test image
#                              zoe-test/busybox:1 FROM scratch (no registry is used)
#   scripts/docker.sh stop     stop a dockerd this script started
#
# Idempotent: a second run with the daemon up and the image built is quick. When
# Docker cannot be had it says why and exits 0; the Docker tests then skip with
# that reason, unless ZOE_REQUIRE_DOCKER=1 (CI), where they fail.
set -euo pipefail

IMAGE="${ZOE_TEST_IMAGE:-zoe-test/busybox:1}"
STATE_DIR="${ZOE_DOCKER_STATE_DIR:-/var/lib/zoe-test-docker}"
PID_FILE="$STATE_DIR/dockerd.pid"
LOG_FILE="$STATE_DIR/dockerd.log"
WAIT_SECONDS=60

say() { echo "docker.sh: $*"; }

daemon_up() { command -v docker >/dev/null && timeout 10 docker info >/dev/null 2>&1; }

cannot() {
    say "Docker not available: $*; the Docker tests will skip (fail under ZOE_REQUIRE_DOCKER=1)"
    exit 0
}

install_packages() {
    local missing=()
    command -v dockerd >/dev/null || missing+=(docker.io)
    [[ -x /bin/busybox ]] && file_is_static /bin/busybox || missing+=(busybox-static)
    command -v iptables >/dev/null || missing+=(iptables)
    command -v ip >/dev/null || missing+=(iproute2)
    command -v nsenter >/dev/null || missing+=(util-linux)
    [[ ${#missing[@]} -eq 0 ]] && return 0
    [[ $(id -u) -eq 0 ]] || cannot "missing ${missing[*]} and not root"
    command -v apt-get >/dev/null || cannot "missing ${missing[*]} and no apt-get"
    say "installing ${missing[*]}"
    # another apt run (a boot-time upgrade, a parallel setup) may hold the
    # package lock: wait for it rather than fail
    local apt=(apt-get -o DPkg::Lock::Timeout=600)
    if ! DEBIAN_FRONTEND=noninteractive "${apt[@]}" install -y \
        --no-install-recommends "${missing[@]}" >/dev/null 2>&1; then
        "${apt[@]}" update >/dev/null 2>&1 || true
        DEBIAN_FRONTEND=noninteractive "${apt[@]}" install -y --no-install-recommends \
            "${missing[@]}" >/dev/null || cannot "apt-get install ${missing[*]} failed"
    fi
}

file_is_static() {
    # ldd refuses a static binary ("not a dynamic executable")
    [[ -x "$1" ]] && ! ldd "$1" >/dev/null 2>&1
}

start_daemon() {
    [[ $(id -u) -eq 0 ]] || cannot "no daemon answers and not root to start one"
    mkdir -p "$STATE_DIR"
    say "starting dockerd (log: $LOG_FILE)"
    nohup dockerd --pidfile "$PID_FILE" >"$LOG_FILE" 2>&1 </dev/null &
    local waited=0
    until daemon_up; do
        sleep 1
        waited=$((waited + 1))
        if [[ $waited -ge $WAIT_SECONDS ]]; then
            tail -n 20 "$LOG_FILE" >&2 || true
            cannot "dockerd did not answer within ${WAIT_SECONDS}s"
        fi
    done
}

build_image() {
    if docker image inspect "$IMAGE" >/dev/null 2>&1; then
        return 0
    fi
    local busybox context
    busybox="$(command -v busybox || echo /bin/busybox)"
    [[ -x "$busybox" ]] && file_is_static "$busybox" || cannot "no static busybox to build $IMAGE"
    context="$(mktemp -d)"
    cp "$busybox" "$context/busybox"
    cat >"$context/Dockerfile" <<'EOF'
FROM scratch
COPY busybox /bin/busybox
RUN ["/bin/busybox", "--install", "-s", "/bin"]
RUN ["/bin/busybox", "sh", "-c", "mkdir -p /tmp /var/www && chmod 1777 /tmp"]
ENV PATH=/bin
CMD ["sh"]
EOF
    say "building $IMAGE from a static busybox"
    DOCKER_BUILDKIT=0 docker build -q -t "$IMAGE" "$context" >/dev/null 2>&1 \
        || { rm -rf "$context"; cannot "building $IMAGE failed"; }
    rm -rf "$context"
}

setup() {
    if ! daemon_up; then
        install_packages
        daemon_up || start_daemon
    fi
    build_image
    say "ready: $(docker version --format '{{.Server.Version}}') with $IMAGE"
}

stop() {
    if [[ -f "$PID_FILE" ]]; then
        kill "$(cat "$PID_FILE")" 2>/dev/null || true
        say "dockerd stopped"
    fi
}

case "${1:-}" in
    setup) setup ;;
    stop) stop ;;
    *) echo "usage: $0 setup|stop" >&2; exit 2 ;;
esac
