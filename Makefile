# tk — build, test, install.  `make help` lists the targets.
SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c
.DELETE_ON_ERROR:
.SUFFIXES:

VERSION := 0.1.0
PREFIX ?= /usr/local
BUILD ?= build
CC ?= cc
OPT ?= -O3 -g
SAN ?=
CUDA ?= 0
MPI ?= 0

# V=1 shows the full commands
ifeq ($(V),1)
Q :=
say = @true
else
Q := @
say = @printf '  %-6s %s\n'
endif

WARN := -Wall -Wextra -Werror
# -ffp-contract=off: a product and a sum are each rounded, never fused,
# whatever the compiler's default (gcc's -std=c11 implies it, gnu11 and
# clang do not): the compact weight forms and the GGUF dequantizers give
# back ggml's values only so.
STD := -std=c11 -ffp-contract=off -D_DEFAULT_SOURCE -D_FILE_OFFSET_BITS=64
CPPFLAGS_TK := -Iinclude/tk -Ilib -Ikernels -I/usr/include/x86_64-linux-gnu -DTK_VERSION='"$(VERSION)"'
CFLAGS_TK := $(STD) $(OPT) $(WARN) -fopenmp -MMD -MP $(SAN) $(CFLAGS)
LDLIBS_TK := -lzstd -lcjson -lopenblas -lm -lpthread
LDFLAGS_TK := -fopenmp $(SAN) $(LDFLAGS)

# kernels/*.c: the backend object and the dispatchers (kernels/README.md);
# kernels/cpu and kernels/ref: the two backends' tables.
LIB_SRC := $(sort $(wildcard lib/*/*.c) $(wildcard kernels/*.c) $(wildcard kernels/cpu/*.c) \
	     $(wildcard kernels/ref/*.c))
CMD_SRC := $(sort $(wildcard cmd/*.c))
UNIT_SRC := $(sort $(wildcard tests/unit/test_*.c))

ifeq ($(CUDA),1)
NVCC ?= nvcc
CU_SRC := $(sort $(wildcard kernels/cuda/*.cu))
CPPFLAGS_TK += -DTK_CUDA=1
LDLIBS_TK += -L/usr/local/cuda/lib64 -lcudart -lcublas -lstdc++
endif
# MPI=1: data parallelism on MPI (lib/dist, man/tk-dist.7), compiled and
# linked by Open MPI's wrapper; without it nothing of MPI is built or linked.
MPICC ?= mpicc
ifeq ($(MPI),1)
CC := $(MPICC)
CPPFLAGS_TK += -DTK_MPI=1
endif

# tk-serve's server (lib/serve) is not in libtk: it alone links
# libmicrohttpd and protobuf-c, and its protobuf code is generated from
# lib/serve/tinker_public.proto by protoc-c into $(BUILD)/gen.
SERVE_SRC := $(sort $(wildcard lib/serve/*.c))
LIB_SRC := $(filter-out $(SERVE_SRC),$(LIB_SRC))
SERVE_GEN := $(BUILD)/gen/serve
SERVE_OBJ := $(SERVE_SRC:%.c=$(BUILD)/obj/%.o) $(SERVE_GEN)/tinker_public.pb-c.o
LDLIBS_SERVE := -lmicrohttpd -lprotobuf-c

LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/obj/%.o) $(CU_SRC:%.cu=$(BUILD)/obj/%.o)
CMDS := $(CMD_SRC:cmd/%.c=$(BUILD)/bin/%)
UNITS := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
MANS := $(sort $(wildcard man/*.[157]))

# Objects remember the flags they were built with: a build whose compiler
# or flags (CC, OPT, SAN, CFLAGS, CUDA, MPI) differ from the last one's in
# the same BUILD rebuilds everything, rather than mixing the two.
FLAGS_STAMP := $(BUILD)/flags
FLAGS_NOW := $(CC) $(CPPFLAGS_TK) $(CFLAGS_TK) $(LDFLAGS_TK) $(LDLIBS_TK)
ifneq ($(FLAGS_NOW),$(file <$(FLAGS_STAMP)))
$(shell mkdir -p $(BUILD))
$(file >$(FLAGS_STAMP),$(FLAGS_NOW))
endif
.PHONY: all test unit bats asan install uninstall clean deps demo versions help lint-man

all: $(BUILD)/libtk.a $(CMDS)

$(FLAGS_STAMP):
	@mkdir -p $(@D) && touch $@

$(BUILD)/obj/%.o: %.c $(FLAGS_STAMP)
	@mkdir -p $(@D)
	$(say) CC $<
	$(Q)$(CC) $(CPPFLAGS_TK) $(CFLAGS_TK) -c $< -o $@

$(BUILD)/obj/%.o: %.cu $(FLAGS_STAMP)
	@mkdir -p $(@D)
	$(say) NVCC $<
	$(Q)$(NVCC) -O2 -Iinclude/tk -Ilib -Ikernels -c $< -o $@

$(BUILD)/libtk.a: $(LIB_OBJ)
	@mkdir -p $(@D)
	$(say) AR $@
	$(Q)rm -f $@ $@.tmp
	$(Q)ar rcs $@.tmp $^ && mv $@.tmp $@

$(BUILD)/bin/%: $(BUILD)/obj/cmd/%.o $(BUILD)/libtk.a
	@mkdir -p $(@D)
	$(say) LINK $@
	$(Q)$(CC) $(LDFLAGS_TK) $< $(BUILD)/libtk.a $(LDLIBS_TK) -o $@

$(SERVE_GEN)/tinker_public.pb-c.c: lib/serve/tinker_public.proto
	@mkdir -p $(@D)
	$(say) PROTOC $<
	$(Q)protoc-c --c_out=$(@D) --proto_path=lib/serve $<

# generated code: built without the warnings flags it was not written for
$(SERVE_GEN)/tinker_public.pb-c.o: $(SERVE_GEN)/tinker_public.pb-c.c $(FLAGS_STAMP)
	$(say) CC $<
	$(Q)$(CC) $(STD) $(OPT) $(SAN) -w -c $< -o $@

$(SERVE_SRC:%.c=$(BUILD)/obj/%.o): CPPFLAGS_TK += -I$(SERVE_GEN)
$(SERVE_SRC:%.c=$(BUILD)/obj/%.o): | $(SERVE_GEN)/tinker_public.pb-c.c

$(BUILD)/bin/tk-serve: $(BUILD)/obj/cmd/tk-serve.o $(SERVE_OBJ) $(BUILD)/libtk.a
	@mkdir -p $(@D)
	$(say) LINK $@
	$(Q)$(CC) $(LDFLAGS_TK) $< $(SERVE_OBJ) $(BUILD)/libtk.a $(LDLIBS_TK) $(LDLIBS_SERVE) -o $@

$(BUILD)/tests/%: $(BUILD)/obj/tests/unit/%.o $(BUILD)/libtk.a
	@mkdir -p $(@D)
	$(say) LINK $@
	$(Q)$(CC) $(LDFLAGS_TK) $< $(BUILD)/libtk.a $(LDLIBS_TK) -o $@

# `make test` installs missing dependencies first (scripts/deps.sh), builds,
# then runs unit tests, command tests and the man-page lint, ending with the
# one-line summary "N passed, N failed[, N skipped]".  The commands are also
# built with MPI=1 into $(BUILD)-mpi, for tests/mpi.bats and tests/slurm.bats
# (they skip, saying why, where mpicc is missing).
test:
	@scripts/deps.sh
	@$(MAKE) --no-print-directory all tests-built
	@$(MAKE) --no-print-directory mpi-variant
	@BUILD=$(BUILD) scripts/run-tests.sh

.PHONY: mpi-variant
mpi-variant:
	@if command -v $(MPICC) >/dev/null; then \
	  $(MAKE) --no-print-directory MPI=1 BUILD=$(BUILD)-mpi $(CMD_SRC:cmd/%.c=$(BUILD)-mpi/bin/%); \
	else echo "make: no $(MPICC): the MPI variant is not built (tests/mpi.bats will skip)"; fi

.PHONY: tests-built
tests-built: $(UNITS)

# The same tests under AddressSanitizer and UndefinedBehaviorSanitizer (not
# the fuzz pass: its targets run under both in `make test` already).
asan:
	@TK_FUZZ_SECONDS=0 $(MAKE) --no-print-directory test BUILD=build/asan OPT='-O1 -g' \
	  SAN='-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all'

# ---- fuzzing (tests/fuzz/README.md) --------------------------------------
# libFuzzer harnesses, one per input tk parses, built with clang under
# ASan + UBSan into build/fuzz (the library instrumented for coverage).
# `make fuzz` runs each for FUZZ_SECONDS from its committed corpus;
# `make test` runs a short pass of each (tests/fuzz/run.sh --tap).
FUZZ_CC ?= clang
FUZZ_SECONDS ?= 60
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_SRC := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BINS := $(FUZZ_SRC:tests/fuzz/%.c=$(BUILD)/fuzz/%)
# the harness of the option parser turns the parser's exit into a longjmp
FUZZ_LDFLAGS_cli := -Wl,--wrap=exit

.PHONY: fuzz fuzz-build fuzz-bins
fuzz: fuzz-build
	@tests/fuzz/run.sh --seconds $(FUZZ_SECONDS)

fuzz-build:
	@$(MAKE) --no-print-directory BUILD=build/fuzz CC=$(FUZZ_CC) OPT='-O1 -g' \
	  SAN='$(FUZZ_SAN) -fsanitize=fuzzer-no-link' fuzz-bins

fuzz-bins: $(FUZZ_BINS)
.SECONDARY: $(FUZZ_SRC:%.c=$(BUILD)/obj/%.o) $(BUILD)/obj/tests/fuzz/harness.o

$(BUILD)/fuzz/fuzz_%: $(BUILD)/obj/tests/fuzz/fuzz_%.o $(BUILD)/obj/tests/fuzz/harness.o $(BUILD)/libtk.a
	@mkdir -p $(@D)
	$(say) LINK $@
	$(Q)$(CC) $(LDFLAGS_TK) -fsanitize=fuzzer $(FUZZ_LDFLAGS_$*) $(filter %.o,$^) $(BUILD)/libtk.a \
	  $(LDLIBS_TK) -o $@

lint-man:
	mandoc -T lint -W warning $(MANS)

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1 \
	  $(DESTDIR)$(PREFIX)/share/man/man5 $(DESTDIR)$(PREFIX)/share/man/man7 \
	  $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/include/tk
	install -m 755 $(CMDS) $(DESTDIR)$(PREFIX)/bin/
	install -m 644 $(BUILD)/libtk.a $(DESTDIR)$(PREFIX)/lib/
	install -m 644 include/tk/*.h $(DESTDIR)$(PREFIX)/include/tk/
	install -d $(DESTDIR)$(PREFIX)/lib/pkgconfig
	printf '%s\n' 'prefix=$(PREFIX)' 'Name: tk' 'Description: post-training for language models' \
	  'Version: $(VERSION)' 'Cflags: -I$${prefix}/include' \
	  'Libs: -L$${prefix}/lib -ltk $(LDFLAGS_TK) $(LDLIBS_TK)' >$(DESTDIR)$(PREFIX)/lib/pkgconfig/tk.pc
	for m in $(MANS); do s=$${m##*.}; install -m 644 $$m $(DESTDIR)$(PREFIX)/share/man/man$$s/; done

uninstall:
	rm -f $(CMDS:$(BUILD)/bin/%=$(DESTDIR)$(PREFIX)/bin/%) $(DESTDIR)$(PREFIX)/lib/libtk.a \
	  $(DESTDIR)$(PREFIX)/lib/pkgconfig/tk.pc
	rm -rf $(DESTDIR)$(PREFIX)/include/tk
	for m in $(MANS); do s=$${m##*.}; rm -f $(DESTDIR)$(PREFIX)/share/man/man$$s/$${m##*/}; done

deps:
	scripts/deps.sh

# The main job: SmolLM2-135M-Instruct taught an answer format by LoRA SFT,
# sampled and evaluated before and after, then exported (scripts/demo.sh).
demo:
	@scripts/deps.sh
	@$(MAKE) --no-print-directory all
	@scripts/demo.sh

versions: all
	@for c in $(CMDS); do $$c --version; done

clean:
	rm -rf build

help:
	@echo "targets: all test asan fuzz install uninstall demo versions clean deps lint-man"
	@echo "switches: CUDA=1 (GPU backend) MPI=1 (data parallel) PREFIX=$(PREFIX) BUILD=$(BUILD)"
	@echo "          FUZZ_SECONDS=$(FUZZ_SECONDS) (make fuzz, per target)"

-include $(LIB_OBJ:.o=.d) $(CMD_SRC:%.c=$(BUILD)/obj/%.d) $(UNIT_SRC:%.c=$(BUILD)/obj/%.d)
-include $(FUZZ_SRC:%.c=$(BUILD)/obj/%.d) $(BUILD)/obj/tests/fuzz/harness.d
-include $(SERVE_SRC:%.c=$(BUILD)/obj/%.d)
