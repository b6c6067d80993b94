#!/bin/sh
# layers.sh SRC_DIR [OBJECT...]: keeps src/LAYERS true (ctest -L layers).
#
# 1. Includes: a file of src/<layer>/ includes the headers of its own
#    layer and of the layers src/LAYERS lists for it, by their layer's name
#    ("core/core.h"), nothing else of src/ except debug/hooks.h, the one
#    upward reference the design allows (the core calls the debug layer's
#    hooks). Public headers ("weft.h", "weft/...") are always fine.
# 2. Links (when object files are given): every symbol an object needs
#    from another layer's object must come from a layer it is built on,
#    or be one of the hooks debug/hooks.h declares; and the link graph
#    (an object -> the objects that define what it needs), hooks left
#    out, has no cycle: not between layers, not between the files of one
#    layer. Only the Redis client's files still call each other in a
#    circle (a layer of its own, left to its owner), so its layer is
#    exempt from the file-level part.
# Prints every violation and exits 1 if there is one.
set -eu

src=${1:?usage: layers.sh SRC_DIR [OBJECT...]}
shift
layers="$src/LAYERS"
[ -r "$layers" ] || { echo "layers.sh: no $layers" >&2; exit 2; }

status=0

# ---------------------------------------------------------------- includes
# One awk over every source file: the layer table first, then each
# file's #include "..." lines, tagged with the file's layer (its folder).
files=$(cd "$src" && find . -name '*.c' -o -name '*.h' -o -name '*.S' | sed 's|^\./||' | sort)
if ! (cd "$src" && for f in $files; do
    grep -Hn '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "$f" || true
done) | awk -v table="$layers" '
    BEGIN {
        while ((getline line < table) > 0) {
            if (line ~ /^[a-z]/) {
                n = split(line, w, /[ \t]+/)
                known[w[1]] = 1
                for (i = 2; i <= n; i++) allowed[w[1], w[i]] = 1
            }
        }
        bad = 0
    }
    {
        # "path:line:   #include \"x/y.h\""
        split($0, parts, ":")
        file = parts[1]; lineno = parts[2]
        match($0, /"[^"]+"/)
        inc = substr($0, RSTART + 1, RLENGTH - 2)
        if (inc == "weft.h" || inc ~ /^weft\//) next
        slash = index(file, "/")
        layer = slash ? substr(file, 1, slash - 1) : ""
        if (!(layer in known)) {
            printf "%s:%s: file outside every layer folder of src/LAYERS\n", file, lineno
            bad = 1; next
        }
        islash = index(inc, "/")
        target = islash ? substr(inc, 1, islash - 1) : ""
        if (!(target in known)) {
            printf "%s:%s: #include \"%s\" does not name its layer (\"<layer>/%s\")\n", file, lineno, inc, inc
            bad = 1; next
        }
        if (target == layer || (layer, target) in allowed || inc == "debug/hooks.h") next
        printf "%s:%s: layer %s includes \"%s\" of layer %s, which it is not built on (src/LAYERS)\n", \
               file, lineno, layer, inc, target
        bad = 1
    }
    END { exit bad }
'; then
    status=1
fi

# ---------------------------------------------------------------- links
if [ $# -gt 0 ]; then
    # The hooks: every function name debug/hooks.h declares.
    hooks=$(sed -n 's/^[a-z_ ]*[ *]\(weft__[a-z0-9_]*\)(.*/\1/p' "$src/debug/hooks.h" | sort -u | tr '\n' ' ')
    # nm -A: "object:value type name" (defined) and "object: U name".
    if ! nm -A "$@" 2>/dev/null | awk -v table="$layers" -v hooks="$hooks" '
        BEGIN {
            while ((getline line < table) > 0) {
                if (line ~ /^[a-z]/) {
                    n = split(line, w, /[ \t]+/)
                    order[++nl] = w[1]
                    for (i = 2; i <= n; i++) allowed[w[1], w[i]] = 1
                }
            }
            nh = split(hooks, h, " ")
            for (i = 1; i <= nh; i++) hook[h[i]] = 1
        }
        # The layer of an object: the folder after the last "/src/" of its path.
        function layer_of(obj,   p, rest) {
            p = obj
            while ((i = index(p, "/src/")) > 0) p = substr(p, i + 5)
            rest = index(p, "/")
            return rest ? substr(p, 1, rest - 1) : "?"
        }
        {
            if (NF != 3) next
            obj = $1; sub(/:[0-9a-f]*$/, "", obj)
            if ($2 == "U") need[++nn] = obj SUBSEP $3
            else if ($2 ~ /^[TDBRVWCG]$/) def[$3] = obj
        }
        END {
            bad = 0
            for (k = 1; k <= nn; k++) {
                split(need[k], p, SUBSEP)
                if (!(p[2] in def)) continue
                from = layer_of(p[1]); to = layer_of(def[p[2]])
                if (from == to) continue
                edge[from, to] = 1
                if ((from, to) in allowed || p[2] in hook) continue
                printf "%s needs %s from %s: layer %s is not built on %s (src/LAYERS)\n", \
                       p[1], p[2], def[p[2]], from, to
                bad = 1
            }
            # Cycles among layers, hooks left out: a depth-first search
            # from each layer looking for its way back.
            for (a = 1; a <= nl; a++) for (b = 1; b <= nl; b++)
                reach[order[a], order[b]] = ((order[a], order[b]) in edge) && \
                    !(order[b] == "debug" && order[a] != "debug" && !((order[a], order[b]) in allowed))
            for (m = 1; m <= nl; m++) for (a = 1; a <= nl; a++) for (b = 1; b <= nl; b++)
                if (reach[order[a], order[m]] && reach[order[m], order[b]]) reach[order[a], order[b]] = 1
            for (a = 1; a <= nl; a++)
                if (reach[order[a], order[a]]) {
                    printf "layer %s is on a cycle of the link graph\n", order[a]
                    bad = 1
                }
            # Cycles among files: the same closure over objects.
            nf = 0
            for (k = 1; k <= nn; k++) {
                split(need[k], p, SUBSEP)
                if (!(p[2] in def) || p[2] in hook || def[p[2]] == p[1]) continue
                if (layer_of(p[1]) == "redis" && layer_of(def[p[2]]) == "redis") continue
                fedge[p[1], def[p[2]]] = 1
                if (!(p[1] in fid)) { fid[p[1]] = ++nf; fname[nf] = p[1] }
                if (!(def[p[2]] in fid)) { fid[def[p[2]]] = ++nf; fname[nf] = def[p[2]] }
            }
            for (a = 1; a <= nf; a++) for (b = 1; b <= nf; b++)
                freach[a, b] = (fname[a], fname[b]) in fedge
            for (m = 1; m <= nf; m++) for (a = 1; a <= nf; a++)
                if (freach[a, m]) for (b = 1; b <= nf; b++)
                    if (freach[m, b]) freach[a, b] = 1
            for (a = 1; a <= nf; a++)
                if (freach[a, a]) {
                    printf "%s is on a cycle of the link graph with:", fname[a]
                    for (b = 1; b <= nf; b++)
                        if (b != a && freach[a, b] && freach[b, a]) printf " %s", fname[b]
                    printf "\n"
                    bad = 1
                }
            exit bad
        }
    '; then
        status=1
    fi
fi

[ $status -eq 0 ] && echo "layers: includes${1:+ and links} follow src/LAYERS"
exit $status
