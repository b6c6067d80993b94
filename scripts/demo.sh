#!/bin/sh
# Run every built example in order, each under a header line.
# Placeholder: the lead will refine it (arguments, servers, ...).
#   scripts/demo.sh [BUILD_DIR]      (default: build)
set -u
dir="${1:-build}/examples"
if [ ! -d "$dir" ]; then
    echo "demo.sh: $dir does not exist; run 'make build' first" >&2
    exit 1
fi
status=0
for exe in "$dir"/*; do
    if [ ! -f "$exe" ] || [ ! -x "$exe" ]; then continue; fi
    src="examples/$(basename "$exe").c"
    if [ -f "$src" ] && grep -qF '/* weft:no-ctest */' "$src"; then
        echo; echo "=== $(basename "$exe") (skipped: needs arguments) ==="; continue
    fi
    echo
    echo "=== $(basename "$exe") ==="
    "$exe" || { echo "--- $(basename "$exe") exited with $?" >&2; status=1; }
done
exit $status
