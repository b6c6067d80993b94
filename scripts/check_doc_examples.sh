#!/bin/sh
# Compiles every complete C program (a ```c block with a main function) in
# README.md and docs/*.md against the built library, with -Werror, so that
# the documentation's examples never rot (curl's checkdocs, libuv's samples).
#   scripts/check_doc_examples.sh SOURCE_DIR STATIC_LIB GENERATED_INCLUDE_DIR
set -eu
src=$1
lib=$2
gen=$3 # weft/config.h, made by CMake
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
count=0
# The Redis client's examples need hiredis when the library was built with
# it, and are left out when it was not (WEFT_WITH_REDIS=OFF).
redis_libs=""
have_redis=0
if nm "$lib" 2>/dev/null | grep -q ' T weft_redis_connect$'; then
    redis_libs=$(pkg-config --libs hiredis)
    have_redis=1
fi
# The Celery layer's need jansson too, and are left out without it.
have_celery=0
if nm "$lib" 2>/dev/null | grep -q ' T weft_celery_worker_new$'; then
    redis_libs="$redis_libs $(pkg-config --libs jansson)"
    have_celery=1
fi
skipped=0
for md in "$src"/README.md "$src"/docs/*.md; do
    [ -f "$md" ] || continue
    awk -v dir="$tmp" -v base="$(basename "$md" .md)" '
        /^```c[[:space:]]*$/ { inblock = 1; n++; file = sprintf("%s/%s_%d.c", dir, base, n); next }
        /^```/ && inblock   { inblock = 0; close(file); next }
        inblock             { print > file }' "$md"
done
for f in "$tmp"/*.c; do
    [ -f "$f" ] || continue
    grep -q 'int main' "$f" || continue
    if [ "$have_redis" = 0 ] && grep -q 'weft_redis_' "$f"; then
        skipped=$((skipped + 1))
        continue
    fi
    if [ "$have_celery" = 0 ] && grep -q 'weft_celery_' "$f"; then
        skipped=$((skipped + 1))
        continue
    fi
    count=$((count + 1))
    # shellcheck disable=SC2086  # DOC_CFLAGS holds several flags
    if ! cc ${DOC_CFLAGS:-} -std=gnu11 -Wall -Wextra -Werror -I"$src/include" -I"$gen" "$f" "$lib" \
        $(pkg-config --libs libuv) $redis_libs -lm -lpthread -o "$f.bin" 2> "$f.err"; then
        echo "doc example $(basename "$f") does not compile:"
        cat "$f.err"
        exit 1
    fi
done
if [ "$skipped" -gt 0 ]; then
    echo "doc examples: $count compiled, $skipped left out (no Redis client or Celery layer in this build)"
else
    echo "doc examples: $count compiled"
fi
