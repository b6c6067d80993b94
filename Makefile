# Thin wrapper around CMake/ctest. The README's two commands:
#   make demo     build and run the examples
#   make test     build, run the tests, then again under ASan+UBSan
# Others: build asan tsan bench install aarch64 ucontext format clean.
# Every target first checks its Debian packages (scripts/deps.sh).

CMAKE      ?= cmake
CTEST      ?= ctest
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
CTEST_JOBS ?= 2
PREFIX     ?= /usr/local
CMAKE_ARGS ?=
CTEST_ARGS ?=

MAKEFLAGS += --no-print-directory

DEPS = scripts/deps.sh

ASAN_ENV = ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:detect_stack_use_after_return=0 \
           UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
TSAN_ENV = TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1

# $(call configure,DIR,ARGS...)
configure = $(CMAKE) -S . -B $(1) $(2) $(CMAKE_ARGS)
compile   = $(CMAKE) --build $(1) -j $(JOBS)
runtests  = cd $(1) && $(2) $(CTEST) --output-on-failure -j $(CTEST_JOBS) $(CTEST_ARGS)

.PHONY: all build test asan tsan demo bench install aarch64 ucontext format clean

all: build

build:
	@$(DEPS) build
	$(call configure,build,-DCMAKE_BUILD_TYPE=Debug)
	$(call compile,build)

test:
	@$(DEPS) test
	$(call configure,build,-DCMAKE_BUILD_TYPE=Debug)
	$(call compile,build)
	$(call runtests,build,)
	$(MAKE) --no-print-directory asan

asan:
	@$(DEPS) asan
	$(call configure,build-asan,-DCMAKE_BUILD_TYPE=Debug -DWEFT_SANITIZE=ON)
	$(call compile,build-asan)
	$(call runtests,build-asan,$(ASAN_ENV))

tsan:
	@$(DEPS) tsan
	$(call configure,build-tsan,-DCMAKE_BUILD_TYPE=Debug -DWEFT_TSAN=ON)
	$(call compile,build-tsan)
	$(call runtests,build-tsan,$(TSAN_ENV))

# Examples and ucontext backend on this machine (the portable fallback).
ucontext:
	@$(DEPS) test
	$(call configure,build-ucontext,-DCMAKE_BUILD_TYPE=Debug -DWEFT_CTX=ucontext)
	$(call compile,build-ucontext)
	$(call runtests,build-ucontext,)

demo:
	@$(DEPS) demo
	$(call configure,build,-DCMAKE_BUILD_TYPE=Debug)
	$(call compile,build)
	scripts/demo.sh build

bench:
	@$(DEPS) bench
	$(call configure,build-release,-DCMAKE_BUILD_TYPE=Release)
	$(call compile,build-release)
	@if [ -x bench/run.sh ]; then BUILD_DIR=build-release bench/run.sh; \
	elif [ -f bench/run.sh ]; then BUILD_DIR=build-release sh bench/run.sh; \
	else echo "bench/run.sh not found; benchmarks are in build-release/bench/"; fi

# make install [PREFIX=/usr/local] [DESTDIR=/tmp/stage]
install:
	@$(DEPS) install
	$(call configure,build-release,-DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=$(PREFIX))
	$(call compile,build-release)
	DESTDIR="$(DESTDIR)" $(CMAKE) --install build-release

# Cross-build only the ctx layer (no arm64 libuv here) and run its self-test
# under qemu.
aarch64:
	@$(DEPS) aarch64
	$(call configure,build-aarch64,-DCMAKE_BUILD_TYPE=Debug -DWEFT_CTX_ONLY=ON \
		-DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake)
	$(CMAKE) --build build-aarch64 -j $(JOBS) --target weft_ctx_tests
	qemu-aarch64 -L /usr/aarch64-linux-gnu build-aarch64/tests/weft_ctx_tests

FORMAT_FILES = $(wildcard include/*.h include/weft/*.h src/*.c src/*.h src/ctx/*.c src/ctx/*.h \
                 tests/*.c tests/*.h examples/*.c tools/*.c tools/*/*.c tools/*/*.h bench/*.c)
format:
	@$(DEPS) format
	clang-format -i $(FORMAT_FILES)

clean:
	rm -rf build build-asan build-tsan build-release build-aarch64 build-ucontext
