# Thin wrapper around CMake/ctest. The README's two commands:
#   make demo     build and run the examples
#   make test     build, run the tests, then again under ASan+UBSan
# Others: build asan tsan valgrind fuzz bench install aarch64 ucontext format clean.
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

.PHONY: all build test asan tsan valgrind fuzz demo bench install aarch64 ucontext format clean

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

# Every unit test binary under Valgrind (memcheck, leaks included); the
# stacks are registered with VALGRIND_STACK_REGISTER so switches are clean.
# A test whose file says /* weft:no-valgrind */ (races of many threads that
# Valgrind, running one thread at a time, makes take minutes) is skipped.
VALGRIND = valgrind -q --error-exitcode=9 --leak-check=full --errors-for-leak-kinds=definite \
           --suppressions=scripts/valgrind.supp
valgrind: build
	@mkdir -p build/valgrind; for t in build/tests/test_*; do \
		[ -x "$$t" ] || continue; log=build/valgrind/$$(basename $$t).log; \
		if grep -qF 'weft:no-valgrind' tests/$$(basename $$t).c 2>/dev/null; then \
			echo "skip $$t (weft:no-valgrind)"; continue; fi; \
		echo "valgrind $$t"; $(VALGRIND) $$t > $$log 2>&1 || { cat $$log; exit 1; }; \
	done; \
	for t in build/fuzz/replay_*; do \
		[ -x "$$t" ] || continue; short=$${t##*/replay_}; log=build/valgrind/replay_$$short.log; \
		echo "valgrind $$t"; $(VALGRIND) $$t fuzz/corpus/$$short fuzz/regress/$$short > $$log 2>&1 \
			|| { cat $$log; exit 1; }; \
	done; echo "valgrind: all unit tests and fuzz replays clean"

# The libFuzzer targets of fuzz/ (clang, ASan+UBSan), each for FUZZ_SECONDS
# from its seeds and kept crash inputs; a crash is saved under
# build-fuzz/crashes/ and fails the run. FUZZ=name... runs a subset.
FUZZ_SECONDS ?= 300
fuzz:
	@$(DEPS) fuzz
	$(call configure,build-fuzz,-DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_COMPILER=clang -DWEFT_FUZZ=ON \
		-DWEFT_BUILD_TESTS=OFF -DWEFT_BUILD_EXAMPLES=OFF -DWEFT_BUILD_TOOLS=OFF -DWEFT_BUILD_BENCH=OFF)
	$(call compile,build-fuzz)
	bash scripts/fuzz.sh build-fuzz $(FUZZ_SECONDS) $(FUZZ)

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

# The benchmarks beside the peers; a second Release build without the
# always-on debugging aids shows what they cost on W2 and W3.
bench:
	@$(DEPS) bench
	$(call configure,build-release,-DCMAKE_BUILD_TYPE=Release)
	$(call compile,build-release)
	$(call configure,build-release-noaids,-DCMAKE_BUILD_TYPE=Release -DWEFT_DEBUG_AIDS=OFF \
		-DWEFT_BUILD_EXAMPLES=OFF)
	$(CMAKE) --build build-release-noaids -j $(JOBS) --target bench_w2_pingpong bench_w3_spawn
	BUILD_DIR=build-release NOAIDS_DIR=build-release-noaids bash bench/run.sh $(BENCH)

# make install [PREFIX=/usr/local] [DESTDIR=/tmp/stage]
install:
	@$(DEPS) install
	$(call configure,build-release,-DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=$(PREFIX))
	$(call compile,build-release)
	DESTDIR="$(DESTDIR)" $(CMAKE) --install build-release

# Cross-build only the ctx layer (no arm64 libuv here) and run its self-test
# under qemu.
# The context switch and the core tests cross-built for aarch64 and run
# under qemu-user (TLS/HTTP are left out: no arm64 OpenSSL/libcurl). Debian's
# qemu-user 7.2 hangs in every pthread_create and in a forked child on this
# host's kernel, so the build leaves out the always-on debugging aids (their
# watchdog is a thread) and two checks are skipped; all of them run natively.
AARCH64_TESTS = ^(ctx_selftest|test_core|test_combinators|test_compact)(_compact)?$$
aarch64:
	@$(DEPS) aarch64
	$(call configure,build-aarch64,-DCMAKE_BUILD_TYPE=Debug -DWEFT_WITH_TLS=OFF -DWEFT_WITH_HTTP=OFF \
		-DWEFT_DEBUG_AIDS=OFF \
		-DWEFT_BUILD_EXAMPLES=OFF -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake)
	$(CMAKE) --build build-aarch64 -j $(JOBS) --target weft_ctx_tests test_core test_combinators test_compact
	$(call runtests,build-aarch64,WEFT_TEST_NO_THREADS=1 WEFT_TEST_NO_FORK=1) -R '$(AARCH64_TESTS)'

FORMAT_FILES = $(wildcard include/*.h include/weft/*.h src/*.c src/*.h src/*/*.c src/*/*.h fuzz/*.c \
                 tests/*.c tests/*.h tests/support/*.c tests/support/*.h examples/*.c tools/*.c tools/*/*.c tools/*/*.h bench/*.c)
format:
	@$(DEPS) format
	clang-format -i $(FORMAT_FILES)

clean:
	rm -rf build build-asan build-tsan build-release build-aarch64 build-ucontext build-fuzz
