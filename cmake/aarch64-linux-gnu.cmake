# Cross toolchain for Linux aarch64 with Debian's cross compiler
# (apt-get install gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user).
# Debian multiarch provides libuv and cmocka for arm64 (libuv1-dev:arm64
# libcmocka-dev:arm64), so the library and its core tests cross-build; the
# tests run under qemu-user (set as the ctest emulator). -DWEFT_CTX_ONLY=ON
# builds only the context switch and its selftest, with no library at all.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)

set(WEFT_CROSS_TRIPLE aarch64-linux-gnu)
set(CMAKE_C_COMPILER ${WEFT_CROSS_TRIPLE}-gcc)
set(CMAKE_ASM_COMPILER ${WEFT_CROSS_TRIPLE}-gcc)
set(CMAKE_AR ${WEFT_CROSS_TRIPLE}-ar CACHE FILEPATH "")
set(CMAKE_RANLIB ${WEFT_CROSS_TRIPLE}-ranlib CACHE FILEPATH "")

# The cross libc lives in /usr/aarch64-linux-gnu; multiarch libraries in
# /usr/lib/aarch64-linux-gnu, found through pkg-config's arm64 directory.
set(CMAKE_FIND_ROOT_PATH /usr/${WEFT_CROSS_TRIPLE} /)
set(ENV{PKG_CONFIG_LIBDIR} /usr/lib/${WEFT_CROSS_TRIPLE}/pkgconfig:/usr/share/pkgconfig)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

set(CMAKE_CROSSCOMPILING_EMULATOR qemu-aarch64;-L;/usr/${WEFT_CROSS_TRIPLE})
