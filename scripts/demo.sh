#!/bin/sh
# make demo: runs the examples in the order of the talk's glossary, each
# under a line that says what it shows. If the menu (tools/weft-menu, the
# talk's live comparison) is built, it runs first.
#   scripts/demo.sh [BUILD_DIR]      (default: build)
set -u
build="${1:-build}"
dir="$build/examples"
if [ ! -d "$dir" ]; then
    echo "demo.sh: $dir does not exist; run 'make build' first" >&2
    exit 1
fi
status=0

# name|what it shows
described="run_add|asyncio.run(add(1, 2)): one task on a fresh loop
loop_reuse|one loop, two run_until_complete()s: weft_runner_run twice
runner|asyncio.Runner: the runner's loop, then a task that sleeps and says hello
hello_world|asyncio.sleep parks only the task: hello, (1 s), world
gather|asyncio.gather of three adds, run concurrently
wait|asyncio.wait over ten tasks: FIRST_COMPLETED, then FIRST_EXCEPTION
timeout|asyncio.timeout: a slow call cut off by its scope (WEFT_ETIMEDOUT)
wait_for|asyncio.wait_for: the task is cancelled, cleans up, and we move on
counter|the talk's program: two tasks raise a counter to 10, 5 s instead of 10 s"

run_one() { # NAME WHAT
    exe="$dir/$1"
    [ -x "$exe" ] || return 0
    echo
    echo "=== $1: $2"
    "$exe" || { echo "--- $1 exited with $?" >&2; status=1; }
}

if [ -x "$build/tools/weft-menu" ]; then
    echo "=== weft-menu: the talk's sequential / threads / processes / asyncio comparison"
    "$build/tools/weft-menu" --demo || status=1
fi

while IFS='|' read -r name what; do
    run_one "$name" "$what"
done <<LIST
$described
LIST

# Every other example, in name order.
for exe in "$dir"/*; do
    [ -f "$exe" ] && [ -x "$exe" ] || continue
    name=$(basename "$exe")
    printf '%s\n' "$described" | grep -q "^$name|" && continue
    src="examples/$name.c"
    if [ -f "$src" ] && grep -qF '/* weft:no-ctest */' "$src"; then
        continue
    fi
    run_one "$name" "$(sed -n '1s@^/\* *@@p' "$src" 2>/dev/null)"
done
exit $status
