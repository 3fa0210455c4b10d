# bay0 — build, test, sanitize, benchmark.
#   make            build ./build/bay0 (and the ./bay0 symlink)
#   make static     static musl ./build/bay0-static (libraries: scripts/build-musl-deps.sh)
#   make check      every test: unit (cmocka), system (pytest), vm (QEMU)
#   make asan       unit + system tests under ASan + UBSan
#   make system-static  the system tests against build/bay0-static (musl)
#   make fuzz       build the libFuzzer targets (clang)
#   make bench      benchmarks against s6, runit, daemontools, supervisord
#   make install    install build/bay0-static as PREFIX/bin/bay0, man pages,
#                   bash and zsh completion (DESTDIR, PREFIX=/usr/local)
#   make dist       build/bay0-VERSION.tar.gz, the packages' source
#   make mutants    break each listed behaviour, check its tests catch it (slow)

CC       ?= gcc
BUILD    ?= build
CSTD     := -std=gnu11
WARN     := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wvla -Wformat=2
OPT      ?= -O2 -g
CPPFLAGS += -D_GNU_SOURCE -Isrc
# (the link order below says why; clang has no such flag and goes without)
NO_MERGE := $(shell $(CC) -fno-merge-constants -Werror -x c -c /dev/null -o /dev/null 2>/dev/null && echo -fno-merge-constants)
CFLAGS   += $(CSTD) $(WARN) $(OPT) -fno-strict-aliasing $(NO_MERGE)
LDLIBS   += -lsqlite3 -ljansson -lpthread -lm
# build/bay0 (glibc) links SQLite and jansson in from their -dev packages'
# .a: a client starts without loading them and the supervisor maps only the
# pages it runs (`bay0 version` 1.37 -> 1.11 ms; the supervisor and its log
# writer at 1,000 services 154 KiB less PSS). LINK_STATIC= links them as
# shared libraries instead. libm stays shared (glibc's libm.a needs libc.a).
LINK_STATIC ?= -lsqlite3 -ljansson
RELR ?= -Wl,-z,pack-relative-relocs
LINK_STATIC_GROUP := -Wl,-Bstatic $(LINK_STATIC) -Wl,-Bdynamic
BAY0_LDLIBS = $(if $(strip $(LINK_STATIC)),$(LINK_STATIC_GROUP)) \
              $(filter-out $(LINK_STATIC),$(LDLIBS))
# The static build (the Spine's and the release's): musl, with the libraries
# in LDLIBS built for musl from pinned Debian sources into MUSL_PREFIX.
MUSL_CC  ?= musl-gcc

# Link order: what the running supervisor (and PID 1) executes comes first,
# then the commands, the persona manager, the tenants, validate and the
# state database's own code, then SQLite and jansson. The kernel maps a
# binary's page cache into a process in runs of up to 64 KiB (fault-around,
# large folios), so the supervisor's memory follows how many such runs its
# code and constants touch: with this order its text is the first 172 KiB
# of the file instead of runs all through 1.2 MB. -fno-merge-constants
# keeps each file's strings with its own .rodata (merged, the supervisor's
# log formats lay among SQLite's and the man pages), and RELR relocations
# (-z pack-relative-relocs) spare the loader reading 56 KiB of .rela.dyn.
# Together, at 100 services, the supervisor and its log writer hold about
# 370 KiB less PSS (bench/README.md, "Issue 15's rule, checked a third
# time": the binary's layout).
LOOP_SRCS := src/main.c src/supervise.c src/supervise_reap.c src/service.c \
             src/svc.c src/svcmap.c src/svcdir.c src/scan.c src/spawn.c \
             src/spawn_shared.c src/spawn_child.c src/logger.c src/logwriter.c \
             src/logfile.c src/control.c src/deps.c src/depgraph.c \
             src/propagate.c src/cgroup.c src/contain.c src/creds.c \
             src/deaths.c src/loop.c src/log.c src/util.c src/focus.c \
             src/governor.c src/governor_loop.c src/exec.c src/state/runner.c \
             src/state/bounded.c src/analyze.c src/pid1.c src/init.c \
             src/modules.c src/state/bridge.c src/state/mount.c \
             src/state/file.c src/state/entropy.c src/umbilical.c
SRCS      := $(LOOP_SRCS) $(filter-out $(LOOP_SRCS),$(sort $(wildcard src/*.c src/state/*.c)))
LIB_SRCS  := $(filter-out src/main.c,$(SRCS))
OBJS      := $(SRCS:%.c=$(BUILD)/%.o)
LIB_OBJS  := $(LIB_SRCS:%.c=$(BUILD)/%.o)
UNIT_SRCS := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)
HELPER_SRCS := $(sort $(wildcard tests/helpers/*.c))
HELPER_BINS := $(HELPER_SRCS:tests/helpers/%.c=$(BUILD)/helpers/%)
MUSL_BUILD := $(BUILD)/musl
MUSL_OBJS  := $(SRCS:%.c=$(MUSL_BUILD)/%.o)

.PHONY: all static check check-plain unit system system-static vm asan fuzz bench mutants clean deps install dist
all: $(BUILD)/bay0 $(HELPER_BINS)

$(BUILD)/bay0: $(OBJS)
	$(CC) $(CFLAGS) $(LDFLAGS) $(RELR) -o $@ $^ $(BAY0_LDLIBS)

# MUSL_PREFIX: where the libraries in LDLIBS are, built for musl; empty: made
# by scripts/build-musl-deps.sh; "system": the compiler finds them itself (on
# Alpine or in Nix, where MUSL_CC is the system's own musl compiler).
static:
	@prefix='$(MUSL_PREFIX)'; [ -n "$$prefix" ] || prefix=$$(scripts/build-musl-deps.sh) || exit 1; \
	  $(MAKE) --no-print-directory MUSL_PREFIX="$$prefix" $(BUILD)/bay0-static

MUSL_SYSTEM := $(filter system,$(MUSL_PREFIX))
MUSL_INC := $(if $(MUSL_SYSTEM),,-I$(MUSL_PREFIX)/include -isystem $(MUSL_PREFIX)/kinclude)
MUSL_LIB := $(if $(MUSL_SYSTEM),,-L$(MUSL_PREFIX)/lib)

$(BUILD)/bay0-static: $(MUSL_OBJS) $(wildcard $(MUSL_PREFIX)/.complete)
	@test -n "$(MUSL_PREFIX)" || { echo "run 'make static'" >&2; exit 2; }
	$(MUSL_CC) $(CFLAGS) -static -Wl,--gc-sections $(LDFLAGS) -o $@ $(MUSL_OBJS) $(MUSL_LIB) $(LDLIBS)

$(MUSL_BUILD)/%.o: %.c
	@test -n "$(MUSL_PREFIX)" || { echo "run 'make static'" >&2; exit 2; }
	@mkdir -p $(dir $@)
	$(MUSL_CC) $(CPPFLAGS) $(MUSL_INC) $(CFLAGS) -MMD -c -o $@ $<

# The man pages inside the binary, for `bay0 help TOPIC` where no man is
# (the Spine): each page one C string in a generated header.
MAN_PAGES := docs/bay0.8 docs/bay0-servicedir.5
$(BUILD)/gen/man_pages.h: $(MAN_PAGES)
	@mkdir -p $(dir $@)
	@for f in $(MAN_PAGES); do printf 'static const char man_%s[] =\n' $$(basename $$f | tr .- __); \
	  sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^/"/' -e 's/$$/\\n"/' $$f; echo ';'; done >$@.tmp && mv $@.tmp $@
$(BUILD)/src/cli_help.o $(MUSL_BUILD)/src/cli_help.o: $(BUILD)/gen/man_pages.h
$(BUILD)/src/cli_help.o $(MUSL_BUILD)/src/cli_help.o: CPPFLAGS += -I$(BUILD)/gen

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

# The same system tests against the release binary (static musl).
system-static: all static
	BAY0=$(abspath $(BUILD)/bay0-static) HELPERS=$(abspath $(BUILD)/helpers) tests/run-system.sh

vm: all
	tests/run-vm.sh

check: all $(UNIT_BINS)
	tests/run-all.sh $(BUILD)

# The system tests that start, restart and stop services, once more with
# every spawn fork-like (BAY0_SPAWN_PLAIN, see src/spawn_shared.c): the
# release build's other path, the one ASan builds always take. CI runs it.
PLAIN_TESTS := test_supervise or test_restart_policy or test_creds or test_spawn_paths or \
               test_deps or test_logging or test_reliability or test_grain or test_containment
check-plain: all
	out=$$(mktemp); BAY0_SPAWN_PLAIN=1 BAY0=$(abspath $(BUILD)/bay0) HELPERS=$(abspath $(BUILD)/helpers) \
	  tests/run-system.sh -k "$(PLAIN_TESTS)" >$$out; rc=$$?; sed 's/^system: //' $$out; rm -f $$out; exit $$rc

asan:
	$(MAKE) BUILD=build-asan CC=gcc OPT="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" \
	  LDFLAGS="-fsanitize=address,undefined" SKIP_VM=1 check

fuzz:
	$(MAKE) -C tests/fuzz

bench: all static
	bench/run.sh

mutants:
	tests/mutants/run.py

deps:
	scripts/deps.sh

# What a package ships (scripts/packaging/: APKBUILD, default.nix). Needs
# `make static` first; builds nothing itself (it runs under fakeroot there).
PREFIX  ?= /usr/local
BINDIR  ?= $(PREFIX)/bin
MANDIR  ?= $(PREFIX)/share/man
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
ZSHCOMPDIR ?= $(PREFIX)/share/zsh/site-functions
VERSION := $(shell sed -n 's/^\#define BAY0_VERSION "\(.*\)"/\1/p' src/util.h)
install:
	@test -x $(BUILD)/bay0-static || { echo "install: $(BUILD)/bay0-static missing: run 'make static' first" >&2; exit 2; }
	install -Dm0755 $(BUILD)/bay0-static $(DESTDIR)$(BINDIR)/bay0
	install -Dm0644 docs/bay0.8 $(DESTDIR)$(MANDIR)/man8/bay0.8
	install -Dm0644 docs/bay0-servicedir.5 $(DESTDIR)$(MANDIR)/man5/bay0-servicedir.5
	install -Dm0644 scripts/completion/bay0.bash $(DESTDIR)$(BASHCOMPDIR)/bay0
	install -Dm0644 scripts/completion/_bay0 $(DESTDIR)$(ZSHCOMPDIR)/_bay0

# The files git tracks (as they are in the work tree) but scripts/packaging/,
# whose checksums describe this tarball: filling them in does not change it.
# Reproducible: sorted, owner 0, mtime of the last commit outside packaging.
DISTDIR ?= $(BUILD)
dist:
	@mkdir -p $(DISTDIR)
	git ls-files -z | grep -zv '^scripts/packaging/' | \
	  tar --null -T - --sort=name --owner=0 --group=0 --numeric-owner --mode=go-w \
	    --mtime=@$$(git log -1 --format=%ct -- . ':!scripts/packaging') \
	    --transform 's,^,bay0-$(VERSION)/,' -cf - | gzip -n -9 >$(DISTDIR)/bay0-$(VERSION).tar.gz
	@echo "$(DISTDIR)/bay0-$(VERSION).tar.gz"

clean:
	rm -rf build build-asan

-include $(OBJS:.o=.d) $(MUSL_OBJS:.o=.d)
