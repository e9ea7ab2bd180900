# vlkit — build, test, bench.
#
#   make                      build build/vlkit against Debian's libtorch
#   make LIBTORCH=/opt/libtorch   build against another libtorch (CUDA build, pip's torch/)
#   make test                 install missing Debian packages, build, run every test
#   make check                run the tests without the install step
#   make asan                 pure-C parts and their tests under AddressSanitizer + UBSan
#   make bench                speed ratios measured in one run
#   make fuzz                 libFuzzer targets (clang), FUZZ_SECONDS each (default 20); make check runs them 3 s each
#
# Layers (each uses only those below it): cli -> train/eval -> model -> data -> shim; util is the base.
# Pure-C sources (no libtorch) go into build/libvlkit_core.a; they build and test without torch.

CC      ?= cc
CXX     ?= c++
BUILD   ?= build
VERSION := $(shell cat VERSION 2>/dev/null || echo 0.0.0)

WARN     = -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter
CFLAGS  ?= -O2 -g
CXXFLAGS ?= -O2 -g
# -fPIC everywhere: the libtorch half of the CLI is a shared library (see build/libvlkit_torch.so).
BASE_CFLAGS   = -std=c11 -D_GNU_SOURCE -fPIC $(WARN) -I. -I/usr/include/stb $(shell pkg-config --cflags libcjson 2>/dev/null) \
                -DVLKIT_VERSION='"$(VERSION)"' -MMD -MP
BASE_CXXFLAGS = -std=c++17 -D_GNU_SOURCE -fPIC $(WARN) -I. -MMD -MP

# libtorch: Debian's (headers in /usr/include, libs in the multiarch dir) unless LIBTORCH is given.
# c10d (distributed training): Gloo when its headers are there (Debian: libgloo-dev; the code is
# in libtorch_cpu), NCCL with a CUDA libtorch. Without them `--nproc` / RANK say so at run time.
ifeq ($(LIBTORCH),)
TORCH_INC  = -isystem /usr/include/torch/csrc/api/include
TORCH_LIBS = -ltorch -ltorch_cpu -lc10
TORCH_DEFS = $(if $(wildcard /usr/include/gloo/allreduce.h),-DUSE_C10D_GLOO) $(DNNL_DEFS)
# oneDNN's headers (libdnnl-dev): the same libdnnl.so.2 Debian's libtorch links, used directly for
# prepacked bf16 linears (tt_packed_linear). Not with another libtorch (its oneDNN is built in).
DNNL_DEFS  = $(if $(wildcard /usr/include/oneapi/dnnl/dnnl.hpp),-DUSE_DNNL)
TORCH_LIBS += $(if $(DNNL_DEFS),-ldnnl)
else
TORCH_INC  = -isystem $(LIBTORCH)/include -isystem $(LIBTORCH)/include/torch/csrc/api/include
TORCH_LIBS = -L$(LIBTORCH)/lib -Wl,-rpath,$(LIBTORCH)/lib -Wl,--no-as-needed \
             $(if $(wildcard $(LIBTORCH)/lib/libtorch_cuda.so),-ltorch_cuda -lc10_cuda) \
             -ltorch -ltorch_cpu -lc10 -Wl,--as-needed
TORCH_DEFS = $(if $(wildcard $(LIBTORCH)/include/gloo/allreduce.h /usr/include/gloo/allreduce.h),-DUSE_C10D_GLOO) \
             $(if $(wildcard $(LIBTORCH)/lib/libtorch_cuda.so),-DUSE_C10D_NCCL)
endif
TORCH_INC += $(TORCH_DEFS)
# ATen's at::parallel_for is an OpenMP pragma in its header: without -fopenmp the shim's own
# parallel loops (fused attention, LayerNorm, dropout) would run on one thread. Debian's libtorch
# uses the system libgomp, so the shim joins its thread pool; the libtorch.org and pip builds
# bundle their own libgomp, and a second OpenMP runtime beside it would oversubscribe the cores:
# there those loops stay serial.
ifeq ($(LIBTORCH),)
TORCH_INC += -fopenmp
TORCH_LIBS += -fopenmp
endif

CORE_LIBS  = -lcjson -lstb -lz -lutf8proc -lm -lpthread
TEST_LIBS  = -lcriterion

CORE_SRC  = $(wildcard util/*.c eval/*.c data/*.c model/weights/*.c kernels/*.c)
TORCH_CSRC = $(wildcard model/*.c train/*.c)
CLI_SRC   = $(wildcard cli/*.c)
CLI_TORCH_SRC = $(wildcard cli/torch/*.c)
SHIM_SRC  = shim/tt.cpp

CORE_OBJ  = $(CORE_SRC:%.c=$(BUILD)/obj/%.o)
TORCH_OBJ = $(TORCH_CSRC:%.c=$(BUILD)/obj/%.o) $(SHIM_SRC:%.cpp=$(BUILD)/obj/%.o)
CLI_OBJ   = $(CLI_SRC:%.c=$(BUILD)/obj/%.o)
CLI_TORCH_OBJ = $(CLI_TORCH_SRC:%.c=$(BUILD)/obj/%.o)

PURE_TESTS  = $(patsubst tests/pure/%.c,$(BUILD)/tests/%,$(wildcard tests/pure/test_*.c))
TORCH_TESTS = $(patsubst tests/torch/%.c,$(BUILD)/tests/%,$(wildcard tests/torch/test_*.c))
CLI_TESTS   = $(patsubst tests/cli/%.c,$(BUILD)/tests/cli_%,$(wildcard tests/cli/test_*.c))
TEST_COMMON = $(patsubst %.c,$(BUILD)/obj/%.o,$(wildcard tests/common/*.c))

ASAN_FLAGS = -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
ASAN_CORE_OBJ = $(CORE_SRC:%.c=$(BUILD)/asan/%.o)
ASAN_COMMON   = $(patsubst %.c,$(BUILD)/asan/%.o,$(wildcard tests/common/*.c))
ASAN_TESTS    = $(patsubst tests/pure/%.c,$(BUILD)/asan/tests/%,$(wildcard tests/pure/test_*.c))

# Tests find the fixtures here unless the caller sets VLKIT_FIXTURES.
VLKIT_FIXTURES ?= $(abspath ../shared/fixtures)
export VLKIT_FIXTURES

# Objects depend on a stamp named after the compile flags, so changing CFLAGS or LIBTORCH
# rebuilds everything instead of mixing objects built two ways.
.DEFAULT_GOAL := all
FLAGS_STAMP := $(BUILD)/flags.$(shell echo '$(CC) $(CXX) $(BASE_CFLAGS) $(CFLAGS) $(BASE_CXXFLAGS) $(CXXFLAGS) $(TORCH_INC)' | md5sum | cut -c1-12)
$(FLAGS_STAMP):
	@mkdir -p $(@D)
	@rm -f $(BUILD)/flags.*
	@touch $@

.PHONY: demo all test check check-pure check-torch check-cli asan fuzz fuzz-build check-fuzz bench bench-score bench-dist deps clean
all: $(BUILD)/vlkit $(BUILD)/libvlkit_torch.so

$(BUILD)/libvlkit_core.a: $(CORE_OBJ)
	@mkdir -p $(@D)
	$(AR) rcs $@ $^

$(BUILD)/libvlkit_torch.a: $(TORCH_OBJ)
	@mkdir -p $(@D)
	$(AR) rcs $@ $^

# The vlkit binary is pure C: the core library whole (exported with -rdynamic, so the torch
# library uses these very functions and their thread-local error state) plus the pure-C
# commands. Commands that need libtorch are in libvlkit_torch.so, dlopened on first use.
$(BUILD)/vlkit: $(CLI_OBJ) $(BUILD)/libvlkit_core.a | $(BUILD)/libvlkit_torch.so
	$(CC) -rdynamic -o $@ $(CLI_OBJ) -Wl,--whole-archive $(BUILD)/libvlkit_core.a -Wl,--no-whole-archive $(CORE_LIBS) -ldl

$(BUILD)/libvlkit_torch.so: $(CLI_TORCH_OBJ) $(TORCH_OBJ)
	$(CXX) -shared -o $@ $(CLI_TORCH_OBJ) $(TORCH_OBJ) $(TORCH_LIBS) $(CORE_LIBS)

$(BUILD)/obj/%.o: %.c $(FLAGS_STAMP)
	@mkdir -p $(@D)
	$(CC) $(BASE_CFLAGS) $(CFLAGS) -c $< -o $@

$(BUILD)/obj/%.o: %.cpp $(FLAGS_STAMP)
	@mkdir -p $(@D)
	$(CXX) $(BASE_CXXFLAGS) $(TORCH_INC) $(CXXFLAGS) -c $< -o $@

$(BUILD)/tests/%: tests/pure/%.c $(TEST_COMMON) $(BUILD)/libvlkit_core.a
	@mkdir -p $(@D)
	$(CC) $(BASE_CFLAGS) $(CFLAGS) -o $@ $< $(TEST_COMMON) $(BUILD)/libvlkit_core.a $(CORE_LIBS) $(TEST_LIBS)

$(BUILD)/tests/%: tests/torch/%.c $(TEST_COMMON) $(BUILD)/libvlkit_torch.a $(BUILD)/libvlkit_core.a
	@mkdir -p $(@D)
	$(CC) $(BASE_CFLAGS) $(CFLAGS) -c $< -o $@.o
	$(CXX) -o $@ $@.o $(TEST_COMMON) $(BUILD)/libvlkit_torch.a $(BUILD)/libvlkit_core.a $(TORCH_LIBS) $(CORE_LIBS) $(TEST_LIBS)

# End-to-end tests of the binary written in C (they run build/vlkit and parse its output).
$(BUILD)/tests/cli_%: tests/cli/%.c $(TEST_COMMON) $(BUILD)/libvlkit_core.a
	@mkdir -p $(@D)
	$(CC) $(BASE_CFLAGS) $(CFLAGS) -o $@ $< $(TEST_COMMON) $(BUILD)/libvlkit_core.a $(CORE_LIBS) $(TEST_LIBS)

# Sanitizer build of the pure-C parts and their tests.
$(BUILD)/asan/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(BASE_CFLAGS) -O1 -g $(ASAN_FLAGS) -c $< -o $@

$(BUILD)/asan/tests/%: tests/pure/%.c $(ASAN_COMMON) $(ASAN_CORE_OBJ)
	@mkdir -p $(@D)
	$(CC) $(BASE_CFLAGS) -O1 -g $(ASAN_FLAGS) -o $@ $< $(ASAN_COMMON) $(ASAN_CORE_OBJ) $(CORE_LIBS) $(TEST_LIBS)

# libFuzzer targets (tests/fuzz/fuzz_*.c) over the pure-C sources, built with clang; stb_image is
# compiled in (tests/fuzz/stb_image_impl.c) so the decoders are instrumented too.
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 20
FUZZ_FLAGS    = -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
FUZZ_CORE_OBJ = $(CORE_SRC:%.c=$(BUILD)/fuzz/obj/%.o) $(BUILD)/fuzz/obj/tests/fuzz/stb_image_impl.o
FUZZ_TARGETS  = $(patsubst tests/fuzz/%.c,$(BUILD)/fuzz/%,$(wildcard tests/fuzz/fuzz_*.c))

$(BUILD)/fuzz/obj/%.o: %.c
	@mkdir -p $(@D)
	$(FUZZ_CC) $(BASE_CFLAGS) $(FUZZ_FLAGS) -fsanitize=fuzzer-no-link -c $< -o $@

# stb_image itself offsets and memcpy()s a NULL buffer by 0 bytes on an empty PNG IDAT chunk
# (harmless, third-party): only those two checks are off there; ASan and the other UBSan checks stay on.
$(BUILD)/fuzz/obj/tests/fuzz/stb_image_impl.o: FUZZ_FLAGS += -fno-sanitize=pointer-overflow,nonnull-attribute

$(BUILD)/fuzz/%: tests/fuzz/%.c $(FUZZ_CORE_OBJ)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(BASE_CFLAGS) $(FUZZ_FLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_CORE_OBJ) $(CORE_LIBS)

# `make test` is the one command users and CI run: install what is missing, then build and check.
test:
	@bash scripts/install-deps.sh
	@$(MAKE) --no-print-directory check

check: check-pure check-torch check-cli asan check-fuzz

check-pure: $(PURE_TESTS)
	@bash scripts/run-tests.sh $(PURE_TESTS)

check-torch: $(TORCH_TESTS) $(BUILD)/vlkit $(BUILD)/libvlkit_torch.so
	@bash scripts/run-tests.sh $(TORCH_TESTS)

check-cli: $(BUILD)/vlkit $(BUILD)/libvlkit_torch.so $(CLI_TESTS)
	@VLKIT_BIN=$(abspath $(BUILD)/vlkit) bash scripts/run-tests.sh $(CLI_TESTS) $(wildcard tests/cli/test_*.sh)

asan: $(ASAN_TESTS)
	@ASAN_OPTIONS=detect_leaks=1 bash scripts/run-tests.sh $(ASAN_TESTS)

fuzz-build: $(FUZZ_TARGETS)

fuzz: $(FUZZ_TARGETS)
	@bash scripts/fuzz.sh $(FUZZ_SECONDS) $(FUZZ_TARGETS)

# A short run of every target, so CI exercises them (two at a time: about 20 s in all).
check-fuzz: $(FUZZ_TARGETS)
	@bash scripts/fuzz.sh 3 $(FUZZ_TARGETS)

bench: $(BUILD)/vlkit $(BUILD)/libvlkit_torch.so bench-score bench-dist
	$(BUILD)/vlkit bench

# data-parallel training: all-reduce share of a BLIP-base LoRA step, --nproc 1 vs 2 samples/s
bench-dist: $(BUILD)/vlkit $(BUILD)/libvlkit_torch.so
	@VLKIT=$(BUILD)/vlkit bash scripts/bench_dist.sh

# vlkit score on 5,000 images x 5 references and 20,000 VQA questions, beside the targets
# (0.12 s, 0.1 s) and the official pipeline (6 s, 3.1 s).
bench-score: $(BUILD)/vlkit
	@VLKIT=$(BUILD)/vlkit bash scripts/bench_score.sh

# The README's main command: install what is missing, build, run the whole demo (build/demo/).
demo:
	@bash scripts/install-deps.sh
	@$(MAKE) --no-print-directory all
	@bash scripts/demo.sh

deps:
	@bash scripts/install-deps.sh

clean:
	rm -rf $(BUILD)

-include $(shell find $(BUILD) -name '*.d' -type f 2>/dev/null)
