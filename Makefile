# Makefile: a thin wrapper over CMake, busted and luarocks.
#   make demo    seven local agents: a write, a kill, a heal, live (installs missing packages)
#   make test    C tests (ctest), Lua specs (busted), luarocks install check
#   make bench   the benchmark suite, rumor vs Serf vs swim, into bench/RESULTS.md
#                (~15 min; installs serf/tarantool as root; not part of test or CI)
#   make sim-study  bench/sim_study.lua: bench/sim.lua (simulated clusters, one process)
#                for N = 100, 1000, 10000 × epidemic, tree × 0/1/10% loss × 10 seeds, into
#                bench/sim_study.jsonl, bench/SIM.md and bench/sim_convergence.svg
#                (installs gnuplot-nox as root; SIM_ARGS="--nodes 100,1000" for others;
#                not part of test or CI)
#   make asan    the same C tests and Lua specs built with ASan + UBSan
#   make soak    30 agents of the ASan build under churn, writes, partitions and loss for
#                SOAK_MINUTES (10), ending with identical state on every survivor and no
#                leak report (scripts/soak.lua; one JSON summary line; not part of test or CI)
#   make fuzz    every libFuzzer target for FUZZ_SECONDS on a copy of its corpus
#                (core/fuzz/corpus_frame for fuzz_frame, corpus_heartbeat for
#                fuzz_heartbeat, core/fuzz/corpus for the rest). Besides the seeds of
#                `make corpus`, each holds found-* inputs: what long fuzz runs grew,
#                minimized with -merge=1, so the short CI runs start where they ended.
BUILD ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 30
SOAK_MINUTES ?= 10
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
LUA_ENV = LUA_PATH="$(CURDIR)/lua/?.lua;$(CURDIR)/lua/?/init.lua;;" \
          LUA_CPATH="$(CURDIR)/$(BUILD)/lua/?.so;;"

.PHONY: all deps build test test-c test-lua test-rock demo bench sim-study asan asan-build soak fuzz corpus clean

all: build

deps:
	@scripts/install-deps.sh

build: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRUMOR_LUA=ON >/dev/null
	cmake --build $(BUILD) -j $(JOBS)

test: build test-c test-lua test-rock

# The test steps need the build, also under make -j.
test-c test-lua: build

test-c:
	cd $(BUILD) && ctest --output-on-failure

test-lua:
	$(LUA_ENV) busted --cpath="$(BUILD)/lua/?.so"

test-rock:
	scripts/check-rock.sh

demo: build
	$(LUA_ENV) lua5.4 lua/bin/rumor demo

# BENCH_ARGS=--quick checks the suite end to end at tiny sizes.
bench: build
	$(LUA_ENV) lua5.4 bench/run.lua $(BENCH_ARGS)

# The figure needs gnuplot (any package of it); install-deps.sh installs gnuplot-nox
# as root, or says what to install.
sim-study: build
	@command -v gnuplot >/dev/null || scripts/install-deps.sh --plot
	$(LUA_ENV) lua5.4 lua/bin/rumor run bench/sim_study.lua $(SIM_ARGS)

# Lua itself is not instrumented, so the ASan runtime is preloaded into the
# interpreter for the specs; leaks are checked in both runs. The agents the specs
# (and the soak) start inherit the preload, the options and the module path.
ASAN_LUA_ENV = LD_PRELOAD="$$(gcc -print-file-name=libasan.so) $$(gcc -print-file-name=libubsan.so)" \
	  ASAN_OPTIONS=detect_leaks=1 LSAN_OPTIONS=suppressions=$(CURDIR)/scripts/lsan.supp \
	  UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	  LUA_PATH="$(CURDIR)/lua/?.lua;$(CURDIR)/lua/?/init.lua;;" LUA_CPATH="$(CURDIR)/$(ASAN_BUILD)/lua/?.so;;"

asan-build: deps
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DRUMOR_SANITIZE=ON -DRUMOR_LUA=ON >/dev/null
	cmake --build $(ASAN_BUILD) -j $(JOBS)

asan: asan-build
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1 ctest --output-on-failure
	$(ASAN_LUA_ENV) busted --cpath="$(ASAN_BUILD)/lua/?.so"

# Exits 1 on a crash, a leak or sanitizer report, or state that does not converge.
soak: asan-build
	$(ASAN_LUA_ENV) SOAK_MINUTES=$(SOAK_MINUTES) lua5.4 scripts/soak.lua

fuzz: deps
	CC=clang cmake -S . -B $(FUZZ_BUILD) -DRUMOR_FUZZ=ON -DRUMOR_LUA=OFF >/dev/null
	cmake --build $(FUZZ_BUILD) -j $(JOBS)
	@set -e; for f in $(FUZZ_BUILD)/fuzz_*; do \
	  work=$$(mktemp -d); \
	  seeds=core/fuzz/corpus; \
	  case $$f in */fuzz_frame) seeds=core/fuzz/corpus_frame ;; */fuzz_heartbeat) seeds=core/fuzz/corpus_heartbeat ;; esac; \
	  echo "fuzz: $$f for $(FUZZ_SECONDS) s"; \
	  $$f -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 $$work $$seeds 2>&1 | grep -E "^(Done|stat::number_of_executed_units)|ERROR|SUMMARY" ; \
	  rm -rf "$$work"; \
	done

corpus:
	CC=clang cmake -S . -B $(FUZZ_BUILD) -DRUMOR_FUZZ=ON -DRUMOR_LUA=OFF >/dev/null
	cmake --build $(FUZZ_BUILD) --target gen_corpus
	$(FUZZ_BUILD)/gen_corpus core/fuzz/corpus

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
