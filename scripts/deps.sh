#!/bin/sh
# Make sure the Debian packages a make target needs are installed.
#   scripts/deps.sh GROUP...   groups: build test asan tsan demo install
#                                      fuzz aarch64 bench format
# Quiet when everything is there; otherwise one `apt-get update` and one
# `apt-get install -y` of just the missing packages (sudo only if not root).
# Set WEFT_SKIP_DEPS=1 to skip the check (e.g. on a non-Debian system),
# WEFT_DEPS_DRY_RUN=1 to only print what would be installed.
set -eu

[ "${WEFT_SKIP_DEPS:-0}" = 1 ] && exit 0

# nginx-light: the HTTP/2 test's server (tests/test_http2.c); redis-server:
# the Redis client's tests (tests/test_redis*.c) and bench; libjansson-dev:
# the Celery layer's JSON; python3-celery and python3-redis: the Python side
# of the Celery tests and bench (tests/test_celery*.c, bench/w8_celery.c).
base="build-essential cmake pkg-config libuv1-dev libcmocka-dev libssl-dev libcurl4-openssl-dev libhiredis-dev libjansson-dev valgrind nginx-light redis-server python3-celery python3-redis"
pkgs=""
for group in "$@"; do
    case "$group" in
    build | test | asan | tsan | demo | install) pkgs="$pkgs $base" ;;
    aarch64) pkgs="$pkgs cmake pkg-config gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user libuv1-dev:arm64 libcmocka-dev:arm64" ;;
    # The peers of W1..W7 beside weft: Go, Node, asyncio with uvloop and
    # aiohttp, Tokio from Debian's crates (../shared/peers, bench/w4cores).
    bench) pkgs="$pkgs $base hyperfine wrk nginx-light time golang-go python3-aiohttp python3-uvloop nodejs cargo rustc librust-tokio-dev" ;;
    fuzz) pkgs="$pkgs $base clang libclang-rt-14-dev" ;;
    format) pkgs="$pkgs clang-format" ;;
    none) ;;
    *) echo "deps.sh: unknown group '$group'" >&2; exit 2 ;;
    esac
done

if ! command -v dpkg >/dev/null 2>&1; then
    echo "deps.sh: not a Debian system; make sure these are installed:$pkgs" >&2
    exit 0
fi

# Installed for this machine's architecture? With another architecture
# enabled (libuv1-dev:arm64 for make aarch64) a bare name is ambiguous, so
# ask for the native one first; "Architecture: all" packages answer to the
# bare name only.
native=$(dpkg --print-architecture)
is_installed() {
    # One line per installed instance ("installed amd64"); a package of the
    # native architecture or of none (Architecture: all) counts. A plain
    # name must not be satisfied by a foreign one: make aarch64 installs
    # libuv1-dev:arm64, which is no use to the native build.
    case "$1" in
    *:*) [ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null)" = installed ] ;;
    *) dpkg-query -W -f='${db:Status-Status} ${Architecture}\n' "$1" 2>/dev/null |
        grep -qE "^installed ($native|all)\$" ;;
    esac
}

missing=""
for p in $pkgs; do
    case " $missing " in *" $p "*) continue ;; esac
    is_installed "$p" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

echo "deps.sh: installing missing packages:$missing" >&2
[ "${WEFT_DEPS_DRY_RUN:-0}" = 1 ] && exit 0
if [ "$(id -u)" -eq 0 ]; then
    sudo=""
elif command -v sudo >/dev/null 2>&1; then
    sudo="sudo"
else
    echo "deps.sh: not root and no sudo; please run: apt-get install -y$missing" >&2
    exit 1
fi
# Packages of another architecture (libuv1-dev:arm64) need it enabled first.
for p in $missing; do
    arch=${p#*:}
    [ "$arch" = "$p" ] && continue
    dpkg --print-foreign-architectures | grep -qx "$arch" || $sudo dpkg --add-architecture "$arch"
done
$sudo apt-get update -qq
# shellcheck disable=SC2086
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $missing
