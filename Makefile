# veil — thin wrapper over Meson.  `make demo` and `make test` install what is
# missing (scripts/setup), build, and run.
BUILD ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
PYTEST ?= /usr/bin/python3 -m pytest
FUZZ_SECONDS ?= 20

.PHONY: all build setup test test-unit test-e2e test-asan demo bench fuzz format clean

all: build

setup:
	@scripts/setup

$(BUILD)/build.ninja:
	meson setup $(BUILD) --buildtype=debugoptimized >/dev/null

build: $(BUILD)/build.ninja
	@ninja -C $(BUILD)

# The whole suite: unit tests (cmocka programs, run by pytest so that one
# summary counts everything) and end-to-end tests against the built binaries.
test: setup build
	@VEIL_BUILD=$(abspath $(BUILD)) $(PYTEST) -q tests

test-asan: setup
	@[ -f $(ASAN_BUILD)/build.ninja ] || CC=clang meson setup $(ASAN_BUILD) -Db_sanitize=address,undefined -Db_lundef=false >/dev/null
	@ninja -C $(ASAN_BUILD)
	@VEIL_BUILD=$(abspath $(ASAN_BUILD)) UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 ASAN_OPTIONS=detect_leaks=1 LSAN_OPTIONS=suppressions=$(abspath tests/lsan.supp) $(PYTEST) -q tests

demo: setup build
	@scripts/demo $(abspath $(BUILD))

bench: setup build
	@bench/trustee/run $(abspath $(BUILD))
	@bench/image/run $(abspath $(BUILD))

fuzz: setup
	@[ -f $(FUZZ_BUILD)/build.ninja ] || CC=clang meson setup $(FUZZ_BUILD) -Dfuzz=true -Dtests=false -Db_sanitize=address,undefined -Db_lundef=false >/dev/null
	@ninja -C $(FUZZ_BUILD)
	@scripts/fuzz $(abspath $(FUZZ_BUILD)) $(FUZZ_SECONDS)

format:
	@clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
