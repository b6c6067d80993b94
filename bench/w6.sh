#!/usr/bin/env bash
# W6: 1,000 GET requests of a small static file at concurrency 100 against a
# local nginx, timed end to end, for weft and its peers (aiohttp, Go
# net/http, Node fetch; their clients are in bench/w6/). nginx runs on
# 127.0.0.1 on a free port with a config generated in a temp dir.
#   bench/w6.sh [BUILD_DIR] [ROUNDS]   (BUILD_DIR: a Release build, default build-release)
# Env: W6_REQUESTS (1000), W6_CONC (100), W6_SIZE (bytes of the file, 1024),
#      W6_PEERS ("aiohttp go node").
# Prints, per client, the median requests/s over ROUNDS and the largest peak
# RSS, then weft's ratio to each peer; one "W6 <client> <req/s> <rss_kb>"
# line each on stdout for bench/run.sh to collect.
set -u
HERE=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-$HERE/build-release}
case $BUILD in /*) ;; *) BUILD=$HERE/$BUILD ;; esac
ROUNDS=${2:-5}
N=${W6_REQUESTS:-1000}
C=${W6_CONC:-100}
SIZE=${W6_SIZE:-1024}
PEERS=${W6_PEERS:-"aiohttp go node"}
WEFT=$BUILD/bench/w6_http
[ -x "$WEFT" ] || { echo "w6.sh: $WEFT not built (cmake --build $BUILD)" >&2; exit 2; }
command -v nginx >/dev/null || NGINX=/usr/sbin/nginx
NGINX=${NGINX:-nginx}
[ -x /usr/bin/time ] || { echo "w6.sh: /usr/bin/time missing (apt-get install time)" >&2; exit 2; }

TMP=$(mktemp -d)
NGPID=""
cleanup() { [ -n "$NGPID" ] && kill "$NGPID" 2>/dev/null; wait 2>/dev/null; rm -rf "$TMP"; }
trap cleanup EXIT

# ------------------------------------------------------------------ nginx
PORT=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$TMP/www" "$TMP/logs"
chmod 755 "$TMP" "$TMP/www" # nginx's workers run as another user when we are root
head -c "$SIZE" /dev/zero | tr '\0' 'w' >"$TMP/www/file.txt"
cat >"$TMP/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $TMP/nginx.pid;
error_log $TMP/logs/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 100000;
    keepalive_timeout 60s;
    client_body_temp_path $TMP/body; proxy_temp_path $TMP/proxy;
    fastcgi_temp_path $TMP/fcgi; uwsgi_temp_path $TMP/uwsgi; scgi_temp_path $TMP/scgi;
    server {
        listen 127.0.0.1:$PORT;
        root $TMP/www;
    }
}
CONF
"$NGINX" -p "$TMP" -e "$TMP/logs/error.log" -c "$TMP/nginx.conf" &
NGPID=$!
URL=http://127.0.0.1:$PORT/file.txt
for i in $(seq 1 100); do
    curl -fsS -o /dev/null "$URL" 2>/dev/null && break
    sleep 0.05
done
curl -fsS -o /dev/null "$URL" || { echo "w6.sh: nginx did not start" >&2; tail -5 "$TMP/logs/error.log" >&2; exit 2; }

# ------------------------------------------------------------------ peers
GOBIN=$TMP/w6-go
if [[ " $PEERS " == *" go "* ]]; then
    cp -r "$HERE/bench/w6/go" "$TMP/gosrc"
    (cd "$TMP/gosrc" && GOFLAGS=-mod=mod GOPROXY=off GOCACHE=${GOCACHE:-$TMP/gocache} go build -o "$GOBIN" .) ||
        { echo "w6.sh: go build failed" >&2; PEERS=${PEERS/go/}; }
fi

cmd_for() {
    case $1 in
    weft) echo "$WEFT" ;;
    aiohttp) echo "/usr/bin/python3 $HERE/bench/w6/aiohttp_client.py" ;;
    go) echo "$GOBIN" ;;
    node) echo "node $HERE/bench/w6/fetch_client.mjs" ;;
    esac
}

# run CLIENT -> "median_req_s max_rss_kb"
run() {
    local name=$1 cmd rates="" rss=0 r v m
    cmd=$(cmd_for "$name")
    for r in $(seq 1 "$ROUNDS"); do
        if ! /usr/bin/time -v -o "$TMP/time" $cmd "$URL" "$N" "$C" >"$TMP/out" 2>"$TMP/err"; then
            echo "w6.sh: $name failed:" >&2
            cat "$TMP/err" >&2
            echo "0 0"
            return
        fi
        v=$(awk '/^METRIC/ {print $2}' "$TMP/out")
        rates="$rates $v"
        m=$(awk -F': ' '/Maximum resident/ {print $2}' "$TMP/time")
        [ "$m" -gt "$rss" ] && rss=$m
    done
    echo "$(echo $rates | tr ' ' '\n' | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}') $rss"
}

printf 'W6: %d GETs of a %d-byte file at concurrency %d, nginx on 127.0.0.1:%d, median of %d\n' \
    "$N" "$SIZE" "$C" "$PORT" "$ROUNDS" >&2
declare -A RATE RSS
for client in weft $PEERS; do
    read -r rate rss < <(run "$client")
    RATE[$client]=$rate
    RSS[$client]=$rss
    printf '  %-8s %8s req/s   peak RSS %7s KiB\n' "$client" "$rate" "$rss" >&2
    echo "W6 $client $rate $rss"
done
for p in $PEERS; do
    [ "${RATE[$p]:-0}" != 0 ] || continue
    printf '  weft / %-8s speed %5.2fx   RSS %5.2fx\n' "$p" \
        "$(echo "${RATE[weft]} / ${RATE[$p]}" | bc -l)" "$(echo "${RSS[weft]} / ${RSS[$p]}" | bc -l)" >&2
done
