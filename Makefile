# woundphase: `make test` (setup, build, format gate, unit tests, package check), `make demo`
# (synthetic cohort + search), `make install`, `make package`, `make lint`.
BUILD ?= build
JOBS ?= 2
CMAKE_FLAGS ?= -DCMAKE_BUILD_TYPE=Release
DEMO_OUT ?= demo
PREFIX ?= /usr/local
# `make test SANITIZE=address,undefined`: its own build folder, every target built with
# -fsanitize=$(SANITIZE) (CMake option WOUNDPHASE_SANITIZE), leak checking on in the tests.
SANITIZE ?=
ifneq ($(SANITIZE),)
BUILD := build-sanitize
CMAKE_FLAGS := -DCMAKE_BUILD_TYPE=RelWithDebInfo -DWOUNDPHASE_SANITIZE=$(SANITIZE) \
               -DWOUNDPHASE_BUILD_BENCH=OFF
TEST_ENV := ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1
endif

.PHONY: all setup setup-test build configure-test test test-unit demo bench install package \
        package-check format format-check lint clean

all: build

# Package groups (scripts/setup.sh): `build` is what building and the demo need; `test` adds
# what only the tests, gates and packaging need (chromium, python3-torch, Open MPI, clang tools).
setup:
	@bash scripts/setup.sh build

setup-test:
	@bash scripts/setup.sh test

$(BUILD)/CMakeCache.txt: | setup
	cmake -S . -B $(BUILD) $(CMAKE_FLAGS)

build: setup $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j$(JOBS)

# The demo builds the program and its vision library only (no tests, benches or man page).
demo: setup $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j$(JOBS) --target woundphase
	$(BUILD)/woundphase demo --out $(DEMO_OUT)

# Tests expect every tool their setup installed: a skip for a missing libtorch, mpirun or chromium
# is a failure (WOUNDPHASE_EXPECT_TOOLS). Reconfigured each time, so a build folder first made by
# `make demo` (before Open MPI was installed) picks up MPI.
configure-test: setup-test
	cmake -S . -B $(BUILD) $(CMAKE_FLAGS) -DWOUNDPHASE_BUILD_TESTS=ON -DWOUNDPHASE_EXPECT_TOOLS=ON

# Tests run one at a time: each already uses every core (OpenMP), and two OpenMP processes
# spin-waiting on two cores slow each other down by orders of magnitude.
test-unit: configure-test
	cmake --build $(BUILD) -j$(JOBS)
	cd $(BUILD) && $(TEST_ENV) ctest --output-on-failure

# `make lint` is not part of `make test`: clang-tidy over every translation unit took 45 minutes
# on the 2 shared cores (torch headers dominate), too long for CI's critical path.
ifeq ($(SANITIZE),)
test: format-check test-unit package-check
else
test: format-check test-unit
endif

# Every tracked C++ file as .clang-format formats it.
format-check: setup-test
	@git ls-files -z '*.cpp' '*.h' | xargs -0 clang-format --dry-run -Werror
	@echo "format-check: every tracked C++ file is clang-formatted"

format:
	git ls-files -z '*.cpp' '*.h' | xargs -0 clang-format -i

# clang-tidy (.clang-tidy) over the build's compile_commands.json, $(JOBS) files at a time.
lint: configure-test
	JOBS=$(JOBS) bash scripts/lint.sh $(BUILD)

install: build
	cmake --install $(BUILD) --prefix $(PREFIX)

package: build
	cd $(BUILD) && cpack -G DEB

# The .deb unpacked into a scratch root: its program runs and finds its vision library there.
package-check: package
	bash scripts/check_package.sh $(BUILD)

bench: build
	WOUNDPHASE_BENCH_DEPS=1 bash scripts/setup.sh
	bash bench/metadata_vs_sklearn.sh

clean:
	rm -rf $(BUILD)
