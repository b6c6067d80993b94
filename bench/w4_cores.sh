#!/usr/bin/env bash
# W4 on every core: the echo server of W4 run on all cores of one process
# against its peers in the same shape, each written in bench/w4cores/:
#   weft       bench/w4_echo_server PORT LIFETIME 0 (a loop per core, weft_loop_group_serve_tcp)
#   weft-1loop bench/w4_echo_server (today's one-loop server: the baseline)
#   go         the peers' goroutine-per-connection server, GOMAXPROCS = cores
#   tokio      Tokio's multi-thread runtime (a worker per core)
#   node       Node `cluster`, a worker process per core
#   uvloop     asyncio on uvloop, a process per core, reuse_port=True
# The load generator (../shared/peers/loadgen, one thread) is NOT pinned:
# on a 2-vCPU machine it takes a share of the cores the server runs on.
#   bench/w4_cores.sh [BUILD_DIR] [ROUNDS]   (a Release build, default build-release)
# Env: W4_SECS (10), W4_CONNS (100), W4C_PEERS ("go tokio node uvloop"),
#      W4C_LOADGENS (1: loadgen processes at once, their rates summed).
# Prints per server the median rt/s over ROUNDS, then weft's ratios; one
# "W4C <server> <rt/s>" line each on stdout for bench/run.sh.
set -u
HERE=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-$HERE/build-release}
case $BUILD in /*) ;; *) BUILD=$HERE/$BUILD ;; esac
ROUNDS=${2:-3}
SECS=${W4_SECS:-10}
CONNS=${W4_CONNS:-100}
LOADGENS=${W4C_LOADGENS:-1}
PEERS=${W4C_PEERS:-"go tokio node uvloop"}
SHARED_PEERS=${PEERS_DIR:-$HERE/../shared/peers}
[ -d "$SHARED_PEERS/loadgen" ] || SHARED_PEERS=/work/shared/peers
LG=${LOADGEN_DIR:-/tmp/weft-loadgen}
if [ ! -x "$LG/loadgen" ]; then
    rm -rf "$LG" && cp -r "$SHARED_PEERS/loadgen" "$LG" && chmod -R u+w "$LG" && make -s -C "$LG" >/dev/null || exit 2
fi
for b in w4_echo_server; do
    [ -x "$BUILD/bench/$b" ] || { echo "w4_cores.sh: $BUILD/bench/$b not built" >&2; exit 2; }
done
CORES=$(nproc)
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# ------------------------------------------------------------------ peers
SRC=$HERE/bench/w4cores
build_peer() {
    case $1 in
    go) cp -r "$SRC/go" "$TMP/gosrc" &&
        (cd "$TMP/gosrc" && GOFLAGS=-mod=mod GOPROXY=off GOCACHE=${GOCACHE:-$TMP/gocache} /usr/bin/go build -o "$TMP/w4c-go" .) ;;
    tokio) # Debian's cargo and crates, offline, as ../shared/peers/run.sh builds its Tokio peers
        cp -r "$SRC/tokio" "$TMP/tokio" && mkdir -p "$TMP/cargo-home" &&
            cp "$SHARED_PEERS/rust/cargo-home/config.toml" "$TMP/cargo-home/" &&
            (cd "$TMP/tokio" && env PATH=/usr/bin:/bin CARGO_HOME=$TMP/cargo-home RUSTC=/usr/bin/rustc \
                /usr/bin/cargo build -q --release --offline) &&
            cp "$TMP/tokio/target/release/w4cores-tokio" "$TMP/w4c-tokio" ;;
    node) command -v node >/dev/null ;;
    uvloop) /usr/bin/python3 -c 'import uvloop' 2>/dev/null ;;
    esac
}
ok_peers=""
for p in $PEERS; do
    if build_peer "$p" >"$TMP/build-$p.log" 2>&1; then ok_peers="$ok_peers $p"; else
        echo "w4_cores.sh: $p unavailable (skipped):" >&2; tail -3 "$TMP/build-$p.log" >&2
    fi
done

cmd_for() {
    case $1 in
    weft) echo "$BUILD/bench/w4_echo_server" ;;
    weft-1loop) echo "$BUILD/bench/w4_echo_server" ;;
    go) echo "env GOMAXPROCS=$CORES $TMP/w4c-go" ;;
    tokio) echo "$TMP/w4c-tokio" ;;
    node) echo "node $SRC/node_cluster.js" ;;
    uvloop) echo "/usr/bin/python3 $SRC/uvloop_reuseport.py" ;;
    esac
}

port=${W4_PORT:-9511}
run() { # NAME -> prints rt/s
    local name=$1 cmd i spid="" total=0 k v
    cmd=$(cmd_for "$name")
    port=$((port + RANDOM % 50 + 1))
    # shellcheck disable=SC2086
    local extra=""
    [ "$name" = weft ] && extra=0 # weft's server takes LOOPS after the two arguments: a loop per core
    # shellcheck disable=SC2086
    timeout -k 5 $((SECS + 90)) $cmd $port $((SECS + 60)) $extra >"$TMP/out" 2>&1 &
    local tpid=$!
    for i in $(seq 1 150); do
        spid=$(awk '/^READY/ {print $2; exit}' "$TMP/out")
        [ -n "$spid" ] && break
        sleep 0.1
    done
    [ -n "$spid" ] || { echo "$name: server did not start" >&2; cat "$TMP/out" >&2; kill $tpid; echo 0; return; }
    local lgpids=""
    for k in $(seq 1 "$LOADGENS"); do
        "$LG/loadgen" -h 127.0.0.1 -p $port -c "$CONNS" -d "$SECS" -s 1024 -w 15 >"$TMP/lg$k" 2>&1 &
        lgpids="$lgpids $!"
    done
    # shellcheck disable=SC2086
    wait $lgpids
    kill -TERM "$spid" 2>/dev/null
    wait $tpid 2>/dev/null
    for k in $(seq 1 "$LOADGENS"); do
        v=$(awk '/^METRIC/ {print $2; exit}' "$TMP/lg$k")
        total=$(echo "$total + ${v:-0}" | bc)
    done
    echo "$total"
    sleep 1
}

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

servers="weft weft-1loop$ok_peers"
printf 'W4 on every core: %d cores, %d conns x %d loadgen(s) (unpinned), 1 KiB, %ds, median of %d (servers interleaved per round)\n' \
    "$CORES" "$CONNS" "$LOADGENS" "$SECS" "$ROUNDS" >&2
declare -A RATES
for r in $(seq 1 "$ROUNDS"); do
    for s in $servers; do
        v=$(run "$s")
        RATES[$s]="${RATES[$s]:-} $v"
        printf '  round %d %-10s %10s rt/s\n' "$r" "$s" "$v" >&2
    done
done
declare -A MED
for s in $servers; do
    MED[$s]=$(echo "${RATES[$s]}" | median)
    printf '  %-10s %10s rt/s (median)\n' "$s" "${MED[$s]}" >&2
    echo "W4C $s ${MED[$s]}"
done
for s in $servers; do
    [ "$s" = weft ] && continue
    [ "${MED[$s]%.*}" -gt 0 ] 2>/dev/null || continue
    printf '  weft / %-10s %5.2fx\n' "$s" "$(echo "${MED[weft]} / ${MED[$s]}" | bc -l)" >&2
done
