# woundphase: `make test` (setup, build, unit tests), `make demo` (synthetic cohort + search).
BUILD ?= build
JOBS ?= 2
CMAKE_FLAGS ?= -DCMAKE_BUILD_TYPE=Release
DEMO_OUT ?= demo
# `make test SANITIZE=address,undefined`: its own build folder, every target built with
# -fsanitize=$(SANITIZE) (CMake option WOUNDPHASE_SANITIZE), leak checking on in the tests.
SANITIZE ?=
ifneq ($(SANITIZE),)
BUILD := build-sanitize
CMAKE_FLAGS := -DCMAKE_BUILD_TYPE=RelWithDebInfo -DWOUNDPHASE_SANITIZE=$(SANITIZE) \
               -DWOUNDPHASE_BUILD_BENCH=OFF
TEST_ENV := ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1
endif

.PHONY: all setup build test demo bench clean

all: build

setup:
	@bash scripts/setup.sh

$(BUILD)/CMakeCache.txt: | setup
	cmake -S . -B $(BUILD) $(CMAKE_FLAGS)

build: setup $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j$(JOBS)

# Tests run one at a time: each already uses every core (OpenMP), and two OpenMP processes
# spin-waiting on two cores slow each other down by orders of magnitude.
test: build
	cd $(BUILD) && $(TEST_ENV) ctest --output-on-failure

demo: build
	$(BUILD)/woundphase demo --out $(DEMO_OUT)

bench: build
	WOUNDPHASE_BENCH_DEPS=1 bash scripts/setup.sh
	bash bench/metadata_vs_sklearn.sh

clean:
	rm -rf $(BUILD)
