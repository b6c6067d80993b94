#!/bin/sh
# Installs a build into a scratch prefix and builds a consumer program both
# ways a user would: pkg-config (shared and --static) and CMake's
# find_package(weft). Run by ctest (label install).
#   scripts/check_install.sh SOURCE_DIR BUILD_DIR HTTP_BUILT(ON|OFF)
set -eu
src=$1
build=$2
http=$3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix
cmake --install "$build" --prefix "$prefix" > "$tmp/install.log"

cat > "$tmp/app.c" <<'C'
#include <weft.h>
static int main_task(void *arg) { (void)arg; return weft_sleep(0); }
int main(void) { return weft_run(main_task, 0) == 0 ? 0 : 1; }
C

libdir=$(find "$prefix" -name weft.pc -path '*pkgconfig*' -exec dirname {} \; | head -n 1)
export PKG_CONFIG_PATH="$libdir"
# shellcheck disable=SC2046
cc "$tmp/app.c" -o "$tmp/app_pc" $(pkg-config --cflags --libs weft)
LD_LIBRARY_PATH="$(dirname "$libdir")" "$tmp/app_pc"
# shellcheck disable=SC2046
cc "$tmp/app.c" -o "$tmp/app_static" $(pkg-config --cflags weft) \
    "$(dirname "$libdir")/libweft.a" $(pkg-config --static --libs-only-other --libs-only-l weft | sed 's/-lweft//')
"$tmp/app_static"

# What the build has reaches a pkg-config consumer (weft/config.h), and
# weft.h declares the HTTP client exactly when the library has it.
case $http in
ON | on | 1 | TRUE | true)
    cat > "$tmp/http.c" <<'C'
#include <weft.h>
#ifndef WEFT_HAVE_HTTP
#error "weft was built with the HTTP client, but its installed headers do not say so"
#endif
int main(void)
{
    int (*session_new)(const weft_http_opts *, weft_http_session **) = weft_http_session_new;
    return session_new != 0 ? 0 : 1; /* links against the library's symbol */
}
C
    ;;
*)
    cat > "$tmp/http.c" <<'C'
#include <weft.h>
#ifdef WEFT_HAVE_HTTP
#error "weft was built without the HTTP client, but its installed headers declare it"
#endif
int main(void) { return 0; }
C
    ;;
esac
# shellcheck disable=SC2046
cc "$tmp/http.c" -o "$tmp/http_pc" $(pkg-config --cflags --libs weft)
LD_LIBRARY_PATH="$(dirname "$libdir")" "$tmp/http_pc"

mkdir -p "$tmp/cm"
cp "$tmp/app.c" "$tmp/cm/app.c"
cat > "$tmp/cm/CMakeLists.txt" <<'CM'
cmake_minimum_required(VERSION 3.16)
project(app C)
find_package(weft REQUIRED)
add_executable(app app.c)
target_link_libraries(app weft::weft_static)
CM
cmake -S "$tmp/cm" -B "$tmp/cm/build" -DCMAKE_PREFIX_PATH="$prefix" > "$tmp/cm.log"
cmake --build "$tmp/cm/build" > "$tmp/cmbuild.log"
"$tmp/cm/build/app"
echo "install check: pkg-config (shared, static) and find_package(weft) consumers built and ran"
