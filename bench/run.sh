#!/usr/bin/env bash
# weft's side of the peer comparison (issue 2, "Benchmarks"): runs weft's
# W1..W5 as ../shared/peers/run.sh runs the peers' (and W6, HTTP, with its
# peers, through bench/w6.sh), appends one line per run
# to bench/results.tsv in the peers' format, and prints weft beside each peer.
#
#   BUILD_DIR=build-release bench/run.sh [WORKLOAD...]    (make bench does this)
#
# WORKLOAD: w1 w2 w3 w4 w5 w6 w7 w4c w8 (default: all; W4..W8 only if their binaries exist).
# W7 is the runtime's scaling over the loops of one process (1 vs 2 loops);
# W4C the echo server on every core beside its peers (bench/w4_cores.sh).
# W8 (Celery: weft's worker beside Celery's prefork and threads pools on one
# Redis) needs python3-celery; W8_TASKS, W8_PY_TASKS, W8_PARTNER size it.
# W6 (1,000 GETs at concurrency 100 against a local nginx) always runs its
# peers now (aiohttp, Go net/http, Node fetch: those installed) through
# bench/w6.sh, and needs nginx.
# Builds nothing of weft: `make bench` configures and builds BUILD_DIR.
#
# Environment:
#   BUILD_DIR          weft's Release build (default build-release; relative to the repo root)
#   RUN_PEERS=1        also run the peers now (../shared/peers/run.sh, built beforehand with
#                      `run.sh install` and `run.sh build`) and compare with those figures;
#                      otherwise the peers' figures are the medians of ../shared/peers/results.tsv
#   PEERS              peers to compare with (default: asyncio asyncio-deb uvloop node go tokio)
#   W1_SIZES           default "10000 100000 1000000"
#   W1_MODES           the tasks' stack modes, default "private compact"
#   BENCH_RAISE_LIMITS=1  as root: if W1 cannot map its stacks (WEFT_ESTACK), raise
#                      vm.max_map_count for the run, retry, and put the old value back
#   WEFT_SHARED_DIR    the shared dir (default: the first ../shared above the repo root, or
#                      beside the main worktree)
#   RESULTS, LOGDIR, LIMIT (seconds per run, default 180), W4_SECS (10), W4_PORT (9411)
#   W6_ROUNDS (5; bench/w6.sh's median of), W6_REQUESTS, W6_CONC (see bench/w6.sh)
#
# Workloads and metrics are those of ../shared/peers/README.md; the programs print
# "METRIC <value> <unit>" as the peers do, so one parser serves all.
set -u

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD_DIR=${BUILD_DIR:-build-release}
case $BUILD_DIR in /*) ;; *) BUILD_DIR=$ROOT/$BUILD_DIR ;; esac
BIN=$BUILD_DIR/bench
RESULTS=${RESULTS:-$ROOT/bench/results.tsv}
LOGDIR=${LOGDIR:-$ROOT/bench/logs}
LIMIT=${LIMIT:-180}
W1_SIZES=${W1_SIZES:-"10000 100000 1000000"}
W1_MODES=${W1_MODES:-"private compact"}
W3_BATCH=10000
W4_SECS=${W4_SECS:-10}
W4_PORT=${W4_PORT:-9411}
PEERS=${PEERS:-"asyncio asyncio-deb uvloop node go tokio"}

die() { echo "bench/run.sh: $*" >&2; exit 2; }
note() { echo "bench/run.sh: $*" >&2; }

# The shared dir sits beside the main checkout (CI clones main with shared/ beside
# it); from a git worktree elsewhere, look beside the main worktree too.
find_shared() {
    local d=$ROOT main
    [ -n "${WEFT_SHARED_DIR:-}" ] && { echo "$WEFT_SHARED_DIR"; return; }
    while [ "$d" != / ]; do
        [ -f "$d/../shared/peers/run.sh" ] && { (cd "$d/../shared" && pwd); return; }
        d=$(dirname "$d")
    done
    main=$(git -C "$ROOT" worktree list --porcelain 2>/dev/null | awk '/^worktree /{print $2; exit}')
    [ -n "$main" ] && [ -f "$main/../shared/peers/run.sh" ] && { (cd "$main/../shared" && pwd); return; }
    return 1
}
SHARED=$(find_shared) || SHARED=""
PEERS_DIR=${SHARED:+$SHARED/peers}

[ -x /usr/bin/time ] || die "/usr/bin/time is missing: apt-get install time (scripts/deps.sh bench does)"
[ -d "$BIN" ] || die "no benchmarks in $BIN: run 'make bench' (or build BUILD_DIR first)"
mkdir -p "$LOGDIR"

SESSION=$(mktemp "${TMPDIR:-/tmp}/weft-bench.XXXXXX")      # weft's lines of this run
PEER_SESSION=$(mktemp "${TMPDIR:-/tmp}/weft-peers.XXXXXX") # the peers' lines, if RUN_PEERS=1
trap 'rm -f "$SESSION" "$PEER_SESSION"' EXIT

# ------------------------------------------------------------------ running

# time_fields FILE -> "wall_s rss_kb" from /usr/bin/time -v (as peers/run.sh reads it)
time_fields() {
    awk -F': ' '
        /Elapsed \(wall clock\)/ { n=split($2,a,":"); s=0; for(i=1;i<=n;i++) s=s*60+a[i]; wall=s }
        /Maximum resident set size/ { rss=$2 }
        END { printf "%.2f %s\n", wall, rss }' "$1"
}

append() { # workload param wall rss metric unit
    [ -s "$RESULTS" ] || printf 'date\tpeer\tworkload\tparam\twall_s\tpeak_rss_kb\tmetric\tunit\n' >"$RESULTS"
    local line
    line=$(printf '%s\tweft\t%s\t%s\t%s\t%s\t%s\t%s' "$(date -Iseconds)" "$@")
    echo "$line" >>"$RESULTS"
    echo "$line" >>"$SESSION"
    printf 'weft\t%s\t%s\t%s\t%s\t%s\t%s\n' "$@"
}

# run_simple WORKLOAD PROGRAM PARAM_LABEL ARGS... ; sets RC and OUT (the output file)
run_simple() {
    local wl=$1 name=$2 label=$3
    shift 3
    local tag
    tag="$(date +%Y%m%dT%H%M%S)_weft_${wl}_${label//\//-}"
    OUT=$LOGDIR/$tag.out
    local tf=$LOGDIR/$tag.time
    echo "# $BIN/$name $*" >"$OUT"
    timeout -k 5 "$LIMIT" /usr/bin/time -v -o "$tf" "$BIN/$name" "$@" >>"$OUT" 2>&1
    RC=$?
    local wall rss metric unit
    read -r wall rss < <(time_fields "$tf")
    read -r _ metric unit < <(grep -m1 '^METRIC ' "$OUT")
    if [ $RC -ne 0 ] || [ -z "${metric:-}" ]; then metric=FAIL; unit="rc=$RC"; fi
    append "$wl" "$label" "$wall" "$rss" "$metric" "$unit"
}

# W1 at large N needs a stack mapping per task. Where the kernel lacks
# MADV_GUARD_INSTALL each stack takes two mappings and vm.max_map_count
# (65530 by default) stops it near 32,000 tasks: w1_sleepers then exits 3.
# W1 runs in both stack modes: private (a stack each) and compact (shared
# stacks, issue 15); the table compares each with the peers.
run_w1() {
    local n=$1 mode=${2:-private}
    run_simple w1 w1_sleepers "$n $mode" "$n" "$mode"
    [ "$RC" = 3 ] || return 0
    grep '^w1:' "$OUT" >&2
    local need=$((2 * n + 65536)) old
    old=$(cat /proc/sys/vm/max_map_count 2>/dev/null || echo "?")
    note "W1 $n: tasks could not map their stacks (WEFT_ESTACK); vm.max_map_count is $old."
    note "  lift it with: sysctl -w vm.max_map_count=$need   (or set BENCH_RAISE_LIMITS=1 as root)"
    if [ "${BENCH_RAISE_LIMITS:-0}" = 1 ] && [ "$(id -u)" = 0 ] && [ "$old" != "?" ] && [ "$old" -lt "$need" ]; then
        note "  raising vm.max_map_count to $need for one retry"
        if sysctl -q -w vm.max_map_count="$need"; then
            run_simple w1 w1_sleepers "$n $mode" "$n" "$mode"
            sysctl -q -w vm.max_map_count="$old"
            note "  vm.max_map_count is back at $old"
        fi
    fi
}

# The loadgen of ../shared/peers; if it was not built there, build a private
# copy in BUILD_DIR (the shared dir is not ours to write).
loadgen_path() {
    [ -n "$PEERS_DIR" ] || return 1
    if [ -x "$PEERS_DIR/loadgen/loadgen" ]; then echo "$PEERS_DIR/loadgen/loadgen"; return; fi
    local own=$BUILD_DIR/peers-loadgen/loadgen
    if [ ! -x "$own" ] || [ "$PEERS_DIR/loadgen/loadgen.c" -nt "$own" ]; then
        mkdir -p "$(dirname "$own")"
        ${CC:-cc} -O2 -Wall -Wextra -std=c11 -o "$own" "$PEERS_DIR/loadgen/loadgen.c" || return 1
    fi
    echo "$own"
}

# W4 as peers/run.sh runs it: `w4_echo_server PORT LIFETIME` prints "READY <pid>",
# is pinned to CPU 0, the loadgen to CPU 1; 100 connections x 1024 B for W4_SECS.
# wall_s is the loadgen's, peak_rss_kb the server's.
run_w4() {
    local conns=$1 label="c=$1,d=$W4_SECS" loadgen
    loadgen=$(loadgen_path) || { note "W4 skipped: no loadgen (../shared/peers/loadgen)"; return; }
    local tag
    tag="$(date +%Y%m%dT%H%M%S)_weft_w4_c$conns"
    local sout=$LOGDIR/$tag.server.out stf=$LOGDIR/$tag.server.time
    local lout=$LOGDIR/$tag.loadgen.out ltf=$LOGDIR/$tag.loadgen.time
    echo "# taskset -c 0 $BIN/w4_echo_server $W4_PORT $((W4_SECS + 60))" >"$sout"
    timeout -k 5 $((W4_SECS + 90)) /usr/bin/time -v -o "$stf" taskset -c 0 \
        "$BIN/w4_echo_server" "$W4_PORT" $((W4_SECS + 60)) >>"$sout" 2>&1 &
    local tpid=$! spid="" i rc=1
    for i in $(seq 1 150); do # at most 15 s for "READY <pid>"
        spid=$(awk '/^READY/ {print $2; exit}' "$sout")
        [ -n "$spid" ] && break
        kill -0 "$tpid" 2>/dev/null || break
        sleep 0.1
    done
    if [ -n "$spid" ]; then
        echo "# taskset -c 1 $loadgen -h 127.0.0.1 -p $W4_PORT -c $conns -d $W4_SECS -s 1024 -w 15" >"$lout"
        timeout -k 5 $((W4_SECS + 60)) /usr/bin/time -v -o "$ltf" taskset -c 1 \
            "$loadgen" -h 127.0.0.1 -p "$W4_PORT" -c "$conns" -d "$W4_SECS" -s 1024 -w 15 >>"$lout" 2>&1
        rc=$?
        kill -TERM "$spid" 2>/dev/null # the server's own PID, printed by itself
    fi
    wait "$tpid" 2>/dev/null
    local wall="" rss="" metric="" unit=""
    read -r wall _ < <(time_fields "$ltf" 2>/dev/null || echo "0 0")
    read -r _ rss < <(time_fields "$stf" 2>/dev/null || echo "0 0")
    read -r _ metric unit < <(grep -m1 '^METRIC ' "$lout" 2>/dev/null)
    if [ $rc -ne 0 ] || [ -z "${metric:-}" ]; then metric=FAIL; unit="rc=$rc"; fi
    append w4 "$label" "${wall:-0}" "${rss:-0}" "$metric" "$unit"
    sleep 1 # let TIME_WAIT sockets settle
}

# W6 through bench/w6.sh: weft and each installed peer, ROUNDS runs each; its
# "W6 <client> <req/s> <rss_kb>" lines go to weft's results (weft) and to
# this session's peer figures (the others), so the table shows them.
run_w6() {
    local peers="" p n=${W6_REQUESTS:-1000} c=${W6_CONC:-100} out client rate rss wall
    command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || { note "W6 skipped: nginx not installed (scripts/deps.sh bench)"; return; }
    if /usr/bin/python3 -c 'import aiohttp' 2>/dev/null; then peers="$peers aiohttp"; else note "W6: aiohttp skipped (python3-aiohttp not installed)"; fi
    if command -v go >/dev/null; then peers="$peers go"; else note "W6: go skipped (golang-go not installed)"; fi
    if command -v node >/dev/null; then peers="$peers node"; else note "W6: node skipped (nodejs not installed)"; fi
    out=$LOGDIR/$(date +%Y%m%dT%H%M%S)_w6.out
    W6_PEERS="$peers" timeout -k 5 "$LIMIT" bash "$ROOT/bench/w6.sh" "$BUILD_DIR" "${W6_ROUNDS:-5}" >"$out" 2>&1
    while read -r _ client rate rss; do
        [ "${rate:-0}" != 0 ] || { note "W6: $client failed (see $out)"; continue; }
        wall=$(awk -v n="$n" -v r="$rate" 'BEGIN { printf "%.3f", n / r }')
        if [ "$client" = weft ]; then
            append w6 "$n/c$c" "$wall" "$rss" "$rate" "req/s"
        else
            printf '%s	%s	w6	%s	%s	%s	%s	req/s
' "$(date -Iseconds)" "$client" "$n/c$c" "$wall" "$rss" "$rate" >>"$PEER_SESSION"
        fi
    done < <(grep '^W6 ' "$out")
    grep -q '^W6 weft ' "$out" || append w6 "$n/c$c" 0 0 FAIL "see $out"
}

# W8: Celery tasks through one Redis, the weft worker beside Celery's own
# prefork and threads pools in the same run (bench/w8_celery.c prints the
# table and the ratio); its first METRIC is weft's tasks/s.
run_w8() {
    local LIMIT=${W8_LIMIT:-600} # Celery's pools take minutes
    run_simple w8 w8_celery "${W8_TASKS:-100000}" "${W8_TASKS:-100000}" "${W8_PY_TASKS:-10000}" \
        "${W8_PARTNER:-10000}"
    grep -v '^ *#[0-9]\|it is at\|^weft: warning: blocked' "$OUT" | grep -v '^METRIC' >&2
}

# W7: the runtime's own scaling over the loops of a group (bench/w7_scaling.c):
# W3 and W2 on 1 and on 2 loops; the metric is the aggregate ratio.
run_w7() {
    local k
    for k in w3 w2; do run_simple w7 w7_scaling "$k/2loops" "$k" 1000000 2; done
}

# W4 on every core through bench/w4_cores.sh: weft's loop group, weft's
# one-loop server and the peers (Go, Tokio multi-thread, Node cluster,
# uvloop per process) in the same run; its "W4C <server> <rt/s>" lines go
# to weft's results (weft) and this session's peer figures (the rest).
run_w4c() {
    local out server rate
    out=$LOGDIR/$(date +%Y%m%dT%H%M%S)_w4c.out
    timeout -k 5 $((LIMIT * 4)) bash "$ROOT/bench/w4_cores.sh" "$BUILD_DIR" "${W4C_ROUNDS:-3}" >"$out" 2>&1
    while read -r _ server rate; do
        [ "${rate:-0}" != 0 ] || { note "W4C: $server failed (see $out)"; continue; }
        if [ "$server" = weft ]; then
            append w4c all-cores "$W4_SECS" 0 "$rate" "rt/s"
        else
            printf '%s\t%s\tw4c\tall-cores\t%s\t0\t%s\trt/s\n' "$(date -Iseconds)" "$server" "$W4_SECS" "$rate" >>"$PEER_SESSION"
        fi
    done < <(grep '^W4C ' "$out")
    grep -q '^W4C weft ' "$out" || append w4c all-cores 0 0 FAIL "see $out"
}

have() { [ -x "$BIN/$1" ] || { note "$2 skipped: $BIN/$1 not built${3:+ ($3)}"; return 1; }; }

run_weft() { # WORKLOAD
    local n
    case $1 in
    w1) have w1_sleepers W1 && for n in $W1_SIZES; do for m in $W1_MODES; do run_w1 "$n" "$m"; done; done ;;
    w2) have w2_pingpong W2 "needs include/weft/sync.h" && for n in 1 2; do run_simple w2 w2_pingpong 1000000 1000000; done ;;
    w3) have w3_spawn W3 && for n in 1 2; do run_simple w3 w3_spawn "1000000/$W3_BATCH" 1000000 "$W3_BATCH"; done ;;
    w4) have w4_echo_server W4 && for n in 1 2; do run_w4 100; done ;;
    w5) have w5_threadsafe W5 && run_simple w5 w5_threadsafe 100000 100000 ;;
    w6) have w6_http W6 && run_w6 ;;
    w7) have w7_scaling W7 && run_w7 ;;
    w4c) have w4_echo_server W4C && run_w4c ;;
    w8) have w8_celery W8 "needs the Celery layer (jansson)" && run_w8 ;;
    *) die "unknown workload '$1' (w1..w8, w4c)" ;;
    esac
}

# ------------------------------------------------------------------ peers now

# Whether the peer's program for a workload can run here (built, installed).
peer_ready() { # PEER WORKLOAD
    local p=$PEERS_DIR prog
    case $2 in w1) prog=w1_sleepers ;; w2) prog=w2_pingpong ;; w3) prog=w3_spawn ;;
    w4) prog=w4_echo_server; [ -x "$p/loadgen/loadgen" ] || return 1 ;; w5) prog=w5_threadsafe ;; esac
    case $1 in
    go) [ -x "$p/go/bin/$prog" ] ;;
    tokio) [ -x "$p/rust/target/release/$prog" ] ;;
    node) [ -x /usr/bin/node ] ;;
    uvloop) /usr/bin/python3 -c 'import uvloop' 2>/dev/null ;;
    asyncio-deb) [ -x /usr/bin/python3 ] ;;
    asyncio) command -v python3 >/dev/null ;;
    *) return 1 ;;
    esac
}

run_peers() { # WORKLOAD...
    local wl peer n missing=""
    for peer in $PEERS; do
        for wl in "$@"; do
            if ! peer_ready "$peer" "$wl"; then
                missing="$missing $peer/$wl"
                continue
            fi
            case $wl in
            w1) for n in $W1_SIZES; do RESULTS=$PEER_SESSION LOGDIR=$LOGDIR/peers "$PEERS_DIR/run.sh" "$peer" w1 "$n"; done ;;
            w2 | w3 | w4) for n in 1 2; do RESULTS=$PEER_SESSION LOGDIR=$LOGDIR/peers "$PEERS_DIR/run.sh" "$peer" "$wl"; done ;;
            w5) RESULTS=$PEER_SESSION LOGDIR=$LOGDIR/peers "$PEERS_DIR/run.sh" "$peer" w5 ;;
            esac
        done
    done
    [ -z "$missing" ] || note "not run now (not built or installed; figures from results.tsv):$missing" \
        "- build them with: $PEERS_DIR/run.sh install && $PEERS_DIR/run.sh build"
}

# ------------------------------------------------------------------ the table

# For each workload/param weft ran: weft's median beside each peer's median, and
# the ratio in weft's favour when > 1 (peer/weft for times, weft/peer for rt/s).
# Peer figures: this session's when RUN_PEERS=1 ran them, else results.tsv's.
table() {
    local stored=${PEERS_DIR:+$PEERS_DIR/results.tsv}
    [ -n "$stored" ] && [ -f "$stored" ] || stored=/dev/null
    awk -F'\t' -v peers="$PEERS aiohttp c-ref weft-1loop" '
        function median(key,   n, i, j, t, v) {
            n = split(vals[key], v, " ")
            for (i = 2; i <= n; i++) for (j = i; j > 1 && v[j-1] + 0 > v[j] + 0; j--) { t = v[j]; v[j] = v[j-1]; v[j-1] = t }
            return n % 2 ? v[(n+1)/2] : (v[n/2] + v[n/2+1]) / 2
        }
        function add(src, peer, wl, param, wall, rss, metric, unit,   k) {
            if (metric == "FAIL" || metric == "metric") return
            k = src SUBSEP peer SUBSEP wl SUBSEP param
            vals[k] = vals[k] " " metric; walls[k] = walls[k] " " wall; rsss[k] = rsss[k] " " rss
            units[wl] = unit
        }
        FILENAME == ARGV[1] { add("weft", "weft", $3, $4, $5, $6, $7, $8); if (!(($3, $4) in seen)) { seen[$3, $4] = 1; order[++nw] = $3 SUBSEP $4 }; next }
        FILENAME == ARGV[2] { add("now", $2, $3, $4, $5, $6, $7, $8); next }
        { add("stored", $2, $3, $4, $5, $6, $7, $8) }
        function med3(k, arr,   save, r) { save = vals[k]; vals[k] = arr[k]; r = median(k); vals[k] = save; return r }
        END {
            np = split(peers, plist, " ")
            for (o = 1; o <= nw; o++) {
                split(order[o], wp, SUBSEP); wl = wp[1]; param = wp[2]; unit = units[wl]
                thr = (unit ~ /\/s$/)
                printf "\n%s %s  (%s; ratio = %s, > 1: weft better)\n", toupper(wl), param, unit,
                       (thr ? "weft/peer" : "peer/weft")
                printf "  %-12s %12s %8s %9s %12s %8s  %s\n", "", "metric", "ratio", "wall_s", "peak_rss_kb", "rss x", "source"
                wk = "weft" SUBSEP "weft" SUBSEP wl SUBSEP param
                if (!(wk in vals)) { printf "  %-12s %12s\n", "weft", "FAIL"; continue }
                wm = median(wk); wr = med3(wk, rsss)
                printf "  %-12s %12s %8s %9.2f %12d %8s  this run\n", "weft", wm, "", med3(wk, walls), wr, ""
                pparam = param; sub(/ (private|compact)$/, "", pparam) # W1 "N mode": the peers have N
                for (i = 1; i <= np; i++) {
                    p = plist[i]; src = "now"; k = src SUBSEP p SUBSEP wl SUBSEP pparam
                    if (!(k in vals)) { src = "stored"; k = src SUBSEP p SUBSEP wl SUBSEP pparam }
                    if (!(k in vals)) continue
                    pm = median(k); pr = med3(k, rsss)
                    ratio = thr ? (pm > 0 ? wm / pm : 0) : (wm > 0 ? pm / wm : 0)
                    printf "  %-12s %12s %8.2f %9.2f %12d %8.2f  %s\n", p, pm, ratio, med3(k, walls), pr,
                           (wr > 0 ? pr / wr : 0), (src == "now" ? "this run" : "results.tsv")
                }
            }
        }' "$SESSION" "$PEER_SESSION" "$stored"
}

# ------------------------------------------------------------------ debug aids
# Issue 8's promise: the always-on debugging aids cost nothing measurable.
# NOAIDS_DIR is a Release build with -DWEFT_DEBUG_AIDS=OFF (make bench makes
# one); W2 and W3 run alternately in both, best of 5 each.
best_metric() { # BINARY ARGS... -> the lowest METRIC of 5 runs
    local best="" m
    for _ in 1 2 3 4 5; do
        m=$("$@" 2>/dev/null | awk '/^METRIC/ { print $2; exit }')
        [ -n "$m" ] || continue
        if [ -z "$best" ] || awk -v a="$m" -v b="$best" 'BEGIN { exit !(a < b) }'; then best=$m; fi
    done
    echo "${best:-NA}"
}

debug_aids_cost() {
    [ -n "${NOAIDS_DIR:-}" ] && [ -x "$NOAIDS_DIR/bench/w3_spawn" ] || return 0
    echo
    echo "# the always-on debugging aids (watchdog, creation sites): W2 and W3 with and without"
    local w with without
    for w in w2_pingpong w3_spawn; do
        [ -x "$BIN/$w" ] && [ -x "$NOAIDS_DIR/bench/$w" ] || continue
        with=$(best_metric "$BIN/$w")
        without=$(best_metric "$NOAIDS_DIR/bench/$w")
        awk -v w="$w" -v a="$with" -v b="$without" 'BEGIN {
            if (a == "NA" || b == "NA") { printf "  %-12s no figure\n", w; exit }
            d = (a - b) / b * 100
            printf "  %-12s with %8.1f  without %8.1f  (%+.1f%%: %s)\n", w, a, b, d,
                   (d <= 5 ? "within 5%" : "OVER 5%")
        }'
    done
}

# ------------------------------------------------------------------ main

WORKLOADS=${*:-"w1 w2 w3 w4 w5 w6 w7 w4c w8"}
[ -n "$PEERS_DIR" ] || note "../shared/peers not found (set WEFT_SHARED_DIR): no peer figures"
echo "# weft benchmarks: $BIN -> $RESULTS (logs: $LOGDIR)"
printf 'peer\tworkload\tparam\twall_s\tpeak_rss_kb\tmetric\tunit\n'
for wl in $WORKLOADS; do run_weft "$wl"; done
if [ "${RUN_PEERS:-0}" = 1 ] && [ -n "$PEERS_DIR" ]; then
    # only the workloads weft ran
    run_peers $(cut -f3 "$SESSION" | sort -u | grep -v '^w6$\|^w7$\|^w4c$') # W6, W4C ran their peers already
fi
echo
echo "# weft beside the peers (medians; rss x = peer RSS / weft RSS)"
table
debug_aids_cost
