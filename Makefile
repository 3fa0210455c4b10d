# bay0 — build, test, sanitize, benchmark.
#   make            build ./build/bay0 (and the ./bay0 symlink)
#   make static     fully static ./build/bay0-static
#   make check      every test: unit (cmocka), system (pytest), vm (QEMU)
#   make asan       unit + system tests under ASan + UBSan
#   make fuzz       build the libFuzzer targets (clang)
#   make bench      benchmarks against s6, runit, daemontools, supervisord

CC       ?= gcc
BUILD    ?= build
CSTD     := -std=gnu11
WARN     := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wvla -Wformat=2
OPT      ?= -O2 -g
CPPFLAGS += -D_GNU_SOURCE -Isrc
CFLAGS   += $(CSTD) $(WARN) $(OPT) -fno-strict-aliasing
LDLIBS   += -lsqlite3 -lpthread -lm
STATIC_LDLIBS := -Wl,-Bstatic -lsqlite3 -lpthread -lm -ldl

SRCS      := $(sort $(wildcard src/*.c src/state/*.c))
LIB_SRCS  := $(filter-out src/main.c,$(SRCS))
OBJS      := $(SRCS:%.c=$(BUILD)/%.o)
LIB_OBJS  := $(LIB_SRCS:%.c=$(BUILD)/%.o)
UNIT_SRCS := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)
HELPER_SRCS := $(sort $(wildcard tests/helpers/*.c))
HELPER_BINS := $(HELPER_SRCS:tests/helpers/%.c=$(BUILD)/helpers/%)

.PHONY: all static check unit system vm asan fuzz bench clean deps
all: $(BUILD)/bay0 $(HELPER_BINS)

$(BUILD)/bay0: $(OBJS)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/bay0-static: $(OBJS)
	$(CC) $(CFLAGS) -static $(LDFLAGS) -o $@ $^ $(STATIC_LDLIBS)

static: $(BUILD)/bay0-static

$(BUILD)/%.o: %.c $(wildcard src/*.h src/state/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -MMD -c -o $@ $<

$(BUILD)/tests/%: tests/unit/%.c $(LIB_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $< $(LIB_OBJS) -lcmocka $(LDLIBS)

# Small programs the system tests and benchmarks run as services: static, so
# they start fast and work inside a bare PID namespace or the VM.
$(BUILD)/helpers/%: tests/helpers/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CSTD) $(WARN) -O2 -static -o $@ $<

unit: $(UNIT_BINS)
	tests/run-unit.sh $(UNIT_BINS)

system: all
	BAY0=$(abspath $(BUILD)/bay0) HELPERS=$(abspath $(BUILD)/helpers) tests/run-system.sh

vm: all
	tests/run-vm.sh

check: all $(UNIT_BINS)
	tests/run-all.sh $(BUILD)

asan:
	$(MAKE) BUILD=build-asan CC=gcc OPT="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" \
	  LDFLAGS="-fsanitize=address,undefined" SKIP_VM=1 check

fuzz:
	$(MAKE) -C tests/fuzz

bench: all static
	bench/run.sh

deps:
	scripts/deps.sh

clean:
	rm -rf build build-asan

-include $(OBJS:.o=.d)
