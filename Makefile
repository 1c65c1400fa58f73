# ptctl build. Modules are discovered by folder, tests by name, so adding a file needs no edit here.
#   make                 build/ptctl (+ test programs the rig packs)
#   make unit            unit tests (cmocka, fake sysfs trees, golden files)
#   make check           install deps, unit tests + integration tests on the test host rig; fails when a test
#                        that should run here was skipped, unless asked: ALLOW_SKIP=kvm,rig,... (or RIG=0 for
#                        the rig), and then it ends with INCOMPLETE (see README.md, Tests)
#   make check SANITIZE=1  unit tests under ASan+UBSan (separate build dir)
#   make stress          the long rig runs (tests/vm/stress/*.sh): 200 bind/release round trips, SIGKILL at every step
#   make demo            install what is needed, build, boot the test host, walk through the flow
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

.PHONY: all unit check rig-check stress demo install clean deps
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
# A test that cannot run here exits 77 naming what it lacks (tests/lib/testskip.h); run-unit fails such a
# skip unless ALLOW_SKIP names it.
unit: $(BUILD)/ptctl $(TEST_BINS) $(FIXTURES)
	@ALLOW_SKIP="$(ALLOW_SKIP)" BUILD=$(BUILD) PTCTL=$(abspath $(BUILD)/ptctl) \
		tests/run-unit $(TEST_BINS) $(wildcard tests/*/test-*.sh)

# The rig runs unless asked not to: RIG=0, ALLOW_SKIP with rig (or all), or SANITIZE=1 (that build is for
# the unit tests). Not running it is noted for make check's closing INCOMPLETE.
comma := ,
RIG_SKIP := $(strip $(if $(filter 0,$(RIG)),RIG=0,$(if $(filter rig all,$(subst $(comma), ,$(ALLOW_SKIP))),\
	ALLOW_SKIP=$(ALLOW_SKIP),$(if $(filter 1,$(SANITIZE)),SANITIZE=1: the sanitizer build runs unit tests only))))
rig-check: $(BUILD)/ptctl $(RIG_TOOLS)
	@if [ -n "$(RIG_SKIP)" ]; then \
		echo "*** INCOMPLETE: the test host rig did not run ($(RIG_SKIP))"; \
		[ -z "$$CHECK_NOTES" ] || echo "rig: not run ($(RIG_SKIP))" >>"$$CHECK_NOTES"; \
	else \
		BUILD=$(BUILD) tests/vm/rig check; \
	fi

# The long rig runs, one boot; `make check` runs a short smoke of each (tests/vm/cases/stress-smoke.sh).
stress: $(BUILD)/ptctl $(RIG_TOOLS)
	BUILD=$(BUILD) tests/vm/rig exec $(sort $(wildcard tests/vm/stress/*.sh))

# check and demo install what they need first (NODEPS=1 skips that, e.g. when .ci/run already did).
# Skips that were asked for are collected in $(BUILD)/check-notes and repeated at the very end.
check:
	@[ "$(NODEPS)" = 1 ] || $(MAKE) --no-print-directory deps
	$(MAKE) --no-print-directory all
	@mkdir -p $(BUILD) && : >$(BUILD)/check-notes
	@CHECK_NOTES=$(abspath $(BUILD)/check-notes) $(MAKE) --no-print-directory unit
	@CHECK_NOTES=$(abspath $(BUILD)/check-notes) $(MAKE) --no-print-directory rig-check
	@if [ -s $(BUILD)/check-notes ]; then \
		echo; echo "************************************************************************"; \
		echo "*** INCOMPLETE: make check passed, but these did not run:"; \
		sed 's/^/***   /' $(BUILD)/check-notes; \
		echo "************************************************************************"; \
	else \
		echo "check: complete: every unit test and every rig case ran"; \
	fi

deps:
	@if [ "$$(id -u)" = 0 ]; then tools/install-deps; else sudo tools/install-deps; fi

demo:
	@[ "$(NODEPS)" = 1 ] || $(MAKE) --no-print-directory deps
	$(MAKE) --no-print-directory all
	BUILD=$(BUILD) tests/vm/rig demo

install: $(BUILD)/ptctl
	install -D -m 0755 $(BUILD)/ptctl $(DESTDIR)$(BINDIR)/ptctl

clean:
	rm -rf build build-san

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
