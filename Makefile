# ptctl build. Modules are discovered by folder, tests by name, so adding a file needs no edit here.
#   make                 build/ptctl (+ test programs the rig packs)
#   make unit            unit tests (cmocka, fake sysfs trees, golden files)
#   make check           install deps, unit tests + integration tests on the test host rig (RIG=0 skips the rig)
#   make check SANITIZE=1  unit tests under ASan+UBSan (separate build dir)
#   make stress          the long rig runs (tests/vm/stress/*.sh): 200 bind/release round trips, SIGKILL at every step
#   make demo            install what is needed, build, boot the test host, walk through the flow
#   make bench           benchmarks on the test host rig (ptctl bench nic against QEMU; BENCH_DURATION=S)
#   make install         PREFIX=/usr/local DESTDIR=

PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
CC ?= gcc
PKG_CONFIG ?= pkg-config
PKGS := libpci libudev libnl-3.0 libnl-route-3.0 json-c inih libseccomp
RIG ?= 1

ifeq ($(SANITIZE),1)
BUILD ?= build-san
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
else
BUILD ?= build
SANFLAGS :=
endif

CFLAGS ?= -O2 -g
override CFLAGS += -std=gnu11 -D_GNU_SOURCE -I. -Wall -Wextra -Wmissing-prototypes -Wstrict-prototypes \
	-Werror -MMD -MP $(SANFLAGS) $(shell $(PKG_CONFIG) --cflags $(PKGS))
override LDFLAGS += $(SANFLAGS)
LIBS := $(shell $(PKG_CONFIG) --libs $(PKGS)) -lpthread -lm
TEST_LIBS := $(shell $(PKG_CONFIG) --libs cmocka)

MODULES := util vfio iommu sriov irq cfg vm vm/devices
LIB_SRCS := $(foreach m,$(MODULES),$(wildcard $(m)/*.c))
TOOL_SRCS := $(wildcard tools/*.c)
TEST_SUPPORT_SRCS := $(wildcard tests/lib/*.c)
TEST_SRCS := $(wildcard tests/*/test-*.c)
RIG_TOOL_SRCS := $(wildcard tests/vm/tools/*.c)
# Helper programs test scripts run (e.g. to build a fake tree): tests/*/fixture-*.c.
FIXTURE_SRCS := $(wildcard tests/*/fixture-*.c)

LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/obj/%.o)
TOOL_OBJS := $(TOOL_SRCS:%.c=$(BUILD)/obj/%.o)
TEST_SUPPORT_OBJS := $(TEST_SUPPORT_SRCS:%.c=$(BUILD)/obj/%.o)
TEST_BINS := $(TEST_SRCS:%.c=$(BUILD)/%)
FIXTURES := $(FIXTURE_SRCS:%.c=$(BUILD)/%)
RIG_TOOLS := $(patsubst tests/vm/tools/%.c,$(BUILD)/rig-tools/%,$(RIG_TOOL_SRCS))

.PHONY: all unit check rig-check stress demo bench install clean deps
all: $(BUILD)/ptctl $(RIG_TOOLS) $(TEST_BINS) $(FIXTURES)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

$(BUILD)/libptctl.a: $(LIB_OBJS)
	@mkdir -p $(dir $@)
	rm -f $@
	ar rcs $@ $^

# Tool objects are linked directly (not from the archive) so every PTCTL_VERB section is kept.
$(BUILD)/ptctl: $(TOOL_OBJS) $(BUILD)/libptctl.a
	$(CC) $(LDFLAGS) -o $@ $(TOOL_OBJS) $(BUILD)/libptctl.a $(LIBS)

$(BUILD)/tests/%: tests/%.c $(TEST_SUPPORT_OBJS) $(BUILD)/libptctl.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -Itests -o $@ $< $(TEST_SUPPORT_OBJS) $(BUILD)/libptctl.a $(LIBS) $(TEST_LIBS)

# Tests under tests/tools/ also link the tools/ pieces that have no verb (guest kit, SVG writer, bench nic's
# report); SRCDIR finds their golden files.
TOOL_LIB_OBJS := $(BUILD)/obj/tools/guest-kit.o $(BUILD)/obj/tools/svg-chart.o $(BUILD)/obj/tools/bench-nic-report.o
$(BUILD)/tests/tools/%: tests/tools/%.c $(TOOL_LIB_OBJS) $(TEST_SUPPORT_OBJS) $(BUILD)/libptctl.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -Itests -DSRCDIR='"$(abspath tests/tools)"' -o $@ $< $(TOOL_LIB_OBJS) \
		$(TEST_SUPPORT_OBJS) $(BUILD)/libptctl.a $(LIBS) $(TEST_LIBS)

$(BUILD)/rig-tools/%: tests/vm/tools/%.c $(BUILD)/libptctl.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/libptctl.a $(LIBS)

# Unit tests: every cmocka binary, then every tests/*/test-*.sh (given BUILD and the binary).
unit: $(BUILD)/ptctl $(TEST_BINS) $(FIXTURES)
	@BUILD=$(BUILD) PTCTL=$(abspath $(BUILD)/ptctl) tests/run-unit $(TEST_BINS) $(wildcard tests/*/test-*.sh)

rig-check: $(BUILD)/ptctl $(RIG_TOOLS)
	@if [ "$(RIG)" = 0 ] || [ "$(SANITIZE)" = 1 ]; then \
		echo "rig: skipped (RIG=0 or SANITIZE=1)"; \
	elif [ -x tests/vm/rig ]; then \
		BUILD=$(BUILD) tests/vm/rig check; \
	else \
		echo "rig: tests/vm/rig not present yet"; \
	fi

# The long rig runs, one boot; `make check` runs a short smoke of each (tests/vm/cases/stress-smoke.sh).
stress: $(BUILD)/ptctl $(RIG_TOOLS)
	BUILD=$(BUILD) tests/vm/rig exec $(sort $(wildcard tests/vm/stress/*.sh))

# check and demo install what they need first (NODEPS=1 skips that, e.g. when .ci/run already did).
check:
	@[ "$(NODEPS)" = 1 ] || $(MAKE) --no-print-directory deps
	$(MAKE) --no-print-directory all
	$(MAKE) --no-print-directory unit
	$(MAKE) --no-print-directory rig-check

deps:
	@if [ "$$(id -u)" = 0 ]; then tools/install-deps; else sudo tools/install-deps; fi

demo:
	@[ "$(NODEPS)" = 1 ] || $(MAKE) --no-print-directory deps
	$(MAKE) --no-print-directory all
	BUILD=$(BUILD) tests/vm/rig demo

# Long benchmarks, not part of make check: every tests/vm/bench/*.sh in one test host boot.
bench: $(BUILD)/ptctl $(RIG_TOOLS)
	BUILD=$(BUILD) RIG_APPEND="$(if $(BENCH_DURATION),bench_duration=$(BENCH_DURATION))" \
		tests/vm/rig exec tests/vm/bench/*.sh

install: $(BUILD)/ptctl
	install -D -m 0755 $(BUILD)/ptctl $(DESTDIR)$(BINDIR)/ptctl

clean:
	rm -rf build build-san

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
