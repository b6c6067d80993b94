#!/usr/bin/env bash
# Runs weft's libFuzzer targets (make fuzz builds them in BUILD_DIR/fuzz/).
#   scripts/fuzz.sh BUILD_DIR SECONDS [NAME...]
# Each target NAME (fuzz/fuzz_NAME.c) runs for SECONDS from a scratch copy
# of its seeds (fuzz/corpus/NAME/) plus its kept crash inputs
# (fuzz/regress/NAME/), so the repository's corpus is never rewritten. A
# crash, leak or timeout leaves its input in BUILD_DIR/crashes/NAME/ and
# makes the script exit 1 after the other targets ran; copy the input into
# fuzz/regress/NAME/ with the fix, and every `make test` replays it.
set -u
cd "$(dirname "$0")/.."
build=${1:?usage: scripts/fuzz.sh BUILD_DIR SECONDS [NAME...]}
secs=${2:?usage: scripts/fuzz.sh BUILD_DIR SECONDS [NAME...]}
shift 2

names=("$@")
if [ ${#names[@]} -eq 0 ]; then
    for f in "$build"/fuzz/fuzz_*; do
        [ -x "$f" ] && names+=("${f##*/fuzz_}")
    done
fi
[ ${#names[@]} -gt 0 ] || { echo "fuzz.sh: no fuzzers in $build/fuzz" >&2; exit 2; }

failed=()
for name in "${names[@]}"; do
    bin=$build/fuzz/fuzz_$name
    [ -x "$bin" ] || { echo "fuzz.sh: $bin is missing" >&2; failed+=("$name"); continue; }
    work=$build/corpus/$name crashes=$build/crashes/$name
    mkdir -p "$work" "$crashes" "fuzz/corpus/$name" "fuzz/regress/$name"
    echo "=== fuzz $name: ${secs}s"
    # -timeout: one input taking 10 s is a hang; -rss_limit_mb: a bounded
    # parser must not need more; -max_len: inputs up to 64 KiB.
    if ! "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
        -print_final_stats=1 -artifact_prefix="$crashes/" \
        "$work" "fuzz/corpus/$name" "fuzz/regress/$name" >"$build/fuzz-$name.log" 2>&1; then
        tail -n 60 "$build/fuzz-$name.log"
        echo "fuzz.sh: $name FAILED; inputs in $crashes/ (full log: $build/fuzz-$name.log)"
        failed+=("$name")
        continue
    fi
    grep -E '^stat::number_of_executed_units|^stat::peak_rss_mb' "$build/fuzz-$name.log" | tr '\n' ' '
    echo
done

if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzz.sh: failed: ${failed[*]}"
    exit 1
fi
echo "fuzz.sh: ${#names[@]} fuzzers ran ${secs}s each, no failure"
