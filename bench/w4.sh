#!/usr/bin/env bash
# W4 of ../shared/peers: weft's echo server against the plain-epoll c-ref,
# same session, same load generator (server on CPU 0, loadgen on CPU 1).
#   bench/w4.sh [BUILD_DIR] [ROUNDS]     (BUILD_DIR: a Release build, default build-release)
# Prints rt/s and the server's peak RSS per run, then the weft/c-ref ratio.
set -u
HERE=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-$HERE/build-release}
ROUNDS=${2:-3}
SECS=${W4_SECS:-10}
CONNS=${W4_CONNS:-100}
PEERS=${PEERS_DIR:-$HERE/../shared/peers}
[ -d "$PEERS/loadgen" ] || PEERS=/work/shared/peers
LG=${LOADGEN_DIR:-/tmp/weft-loadgen}
if [ ! -x "$LG/loadgen" ] || [ ! -x "$LG/echo_ref" ]; then
    # the peers' tree may be read-only: build a copy
    rm -rf "$LG" && cp -r "$PEERS/loadgen" "$LG" && chmod -R u+w "$LG" && make -s -C "$LG" >/dev/null || exit 2
fi
WEFT=$BUILD/bench/w4_echo_server
[ -x "$WEFT" ] || { echo "w4.sh: $WEFT not built" >&2; exit 2; }
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
port=${W4_PORT:-9311}

run() { # NAME CMD... -> prints "rt/s rss_kb"
    trap - EXIT # runs in $(...): the temp dir is the caller's to remove
    local name=$1; shift
    port=$((port + RANDOM % 50 + 1))
    timeout -k 5 $((SECS + 90)) /usr/bin/time -v -o "$TMP/time" taskset -c 0 "$@" $port $((SECS + 60)) >"$TMP/out" 2>&1 &
    local tpid=$! spid="" i
    for i in $(seq 1 150); do
        spid=$(awk '/^READY/ {print $2; exit}' "$TMP/out")
        [ -n "$spid" ] && break
        sleep 0.1
    done
    [ -n "$spid" ] || { echo "$name: server did not start" >&2; cat "$TMP/out" >&2; kill $tpid; return 1; }
    taskset -c 1 "$LG/loadgen" -h 127.0.0.1 -p $port -c "$CONNS" -d "$SECS" -s 1024 -w 15 >"$TMP/lg" 2>&1
    kill -TERM "$spid" 2>/dev/null
    wait $tpid 2>/dev/null
    local rt rss cpu rts
    rt=$(awk '/^METRIC/ {print $2}' "$TMP/lg")
    rts=$(awk '/^INFO/ {for (i=1;i<=NF;i++) if ($i ~ /^roundtrips=/) {sub("roundtrips=","",$i); print $i}}' "$TMP/lg")
    rss=$(awk -F': ' '/Maximum resident/ {print $2}' "$TMP/time")
    # server CPU (user+sys) per round trip: less sensitive than rt/s to other load on the machine
    cpu=$(awk -F': ' -v n="${rts:-0}" '/User time|System time/ {s+=$2} END {if (n>0) printf "%.2f", s*1e6/n; else print "?"}' "$TMP/time")
    printf '%-6s %10s rt/s  server_cpu %5s us/rt  peak_rss %6s KiB\n' "$name" "${rt:-FAIL}" "$cpu" "$rss" >&2
    echo "${rt:-0}"
    sleep 1
}

# Runs alternate c-ref and weft; on a shared machine the load changes from
# one minute to the next, so besides the means the ratio of each adjacent
# pair is kept and their median printed.
sum_w=0; sum_c=0; ratios=""
for r in $(seq 1 "$ROUNDS"); do
    if [ $((r % 2)) = 1 ]; then
        c=$(run c-ref "$LG/echo_ref"); w=$(run weft "$WEFT")
    else
        w=$(run weft "$WEFT"); c=$(run c-ref "$LG/echo_ref")
    fi
    sum_c=$(echo "$sum_c + $c" | bc); sum_w=$(echo "$sum_w + $w" | bc)
    [ "$c" != 0 ] && ratios="$ratios $(echo "scale=3; $w / $c" | bc)"
done
median=$(echo $ratios | tr ' ' '\n' | sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}')
echo "W4 ($CONNS conns, 1 KiB, ${SECS}s x $ROUNDS): weft $(echo "$sum_w / $ROUNDS" | bc) rt/s, c-ref $(echo "$sum_c / $ROUNDS" | bc) rt/s, ratio of means $(echo "scale=3; $sum_w / $sum_c" | bc), median pair ratio $median"
