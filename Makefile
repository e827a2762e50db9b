# ivshmem-bench build, tests and benchmark runs.
#   make            build host_writer, guest_reader and the static guest_reader for the bench VM
#   make test       one benchmark run in the bench VM, with the report (run_test.sh)
#   make check      every test (unit, loopback, sanitizers, analysis, VM)
# Missing Debian packages are installed with apt (scripts/need-packages.sh says which).

CC ?= cc
CFLAGS ?= -O2 -g
LDFLAGS ?=
PYTHON ?= /usr/bin/python3
BUILD ?= build

WARNINGS := -Wall -Wextra -Werror -Wswitch -Wshadow -Wstrict-prototypes -Wmissing-prototypes
# Each part sees its own headers and the shared ones (src/shared); the host also starts the ivshmem server's
# set-up (src/server). Tests and fuzz targets see every part.
IVB_CPPFLAGS := -D_GNU_SOURCE -Isrc/shared -I$(BUILD)/gen -Iguest/ivshmem_doorbell
ALL_INCLUDES := -Isrc/host -Isrc/guest -Isrc/server
IVB_CFLAGS := -std=c11 $(WARNINGS) $(CFLAGS)
# Header dependencies as the compiler sees them (build/*.d), not every header for every object.
DEPFLAGS = -MMD -MP
# Recursively expanded on purpose: evaluated after deps-build has installed pkg-config and libssl-dev.
CRYPTO_CFLAGS = $(shell pkg-config --cflags libcrypto 2>/dev/null)
CRYPTO_LIBS = $(shell pkg-config --libs libcrypto 2>/dev/null || echo -lcrypto) -lxxhash
CRYPTO_STATIC_LIBS = $(shell pkg-config --static --libs libcrypto 2>/dev/null || echo -lcrypto -ldl -pthread) -lxxhash

# libc6-dev is only a Recommends of gcc, which apt may be set to leave out.
BUILD_PACKAGES := gcc libc6-dev make pkg-config libssl-dev libxxhash-dev
# The shell tests read run.json with Debian's python3 and look for leftover processes with pgrep (procps).
TEST_PACKAGES := python3 procps
NEED := scripts/need-packages.sh

# The source tree by role (docs/layout.md): a module is added by creating its file in the folder of its role.
#   src/shared  the region, its protocol and what both programs use
#   src/host    host_writer: the runs, the CSV rows and run.json
#   src/guest   guest_reader: mapping the region, serving messages, the map study
#   src/server  the ivshmem server (doorbell mode), whose set-up host_writer also uses
SHARED_SRCS := $(sort $(wildcard src/shared/*.c))
HOST_SRCS := $(sort $(wildcard src/host/*.c))
GUEST_SRCS := $(sort $(wildcard src/guest/*.c))
SERVER_SRCS := $(sort $(wildcard src/server/*.c))
# The files that hold a program's main().
MAINS := src/host/host_writer.c src/guest/guest_reader.c src/server/ivshmem_server.c
objs = $(patsubst src/%.c,$(BUILD)/%.o,$(1))

SHARED_OBJS := $(call objs,$(SHARED_SRCS))
# The CSV writer's columns and run.json's keys are generated from their schemas (schema/columns.txt,
# schema/run.txt), never written by hand.
HOST_OBJS := $(call objs,$(HOST_SRCS)) $(BUILD)/gen/columns.o $(BUILD)/gen/run_keys.o $(BUILD)/server/ivserver_setup.o
GUEST_OBJS := $(call objs,$(GUEST_SRCS))
SERVER_OBJS := $(call objs,$(SERVER_SRCS))
# Every module but the mains: what test programs and fuzz targets link.
MODULE_OBJS := $(sort $(SHARED_OBJS) $(filter-out $(call objs,$(MAINS)),$(HOST_OBJS) $(GUEST_OBJS) $(SERVER_OBJS)))

PROGRAMS := $(BUILD)/host_writer $(BUILD)/guest_reader $(BUILD)/guest_reader-static

# Test targets that `make check` runs, and what they build (make check builds it first, on both cores); the
# fragments in mk/ append theirs.
CHECK_TARGETS :=
CHECK_BUILDS :=

.PHONY: all deps-build check test clean
all: $(PROGRAMS)

deps-build: $(BUILD)/.deps-build
$(BUILD)/.deps-build: $(NEED)
	@mkdir -p $(BUILD)
	@$(NEED) $(BUILD_PACKAGES)
	@touch $@

# The generated headers must exist before the first compile; after it, the .d files say who includes them.
GEN_HEADERS := $(BUILD)/gen/columns.h $(BUILD)/gen/run_keys.h $(BUILD)/gen/revision.h

# src/ROLE/x.c -> build/ROLE/x.o, seeing its own folder's headers, the shared ones and the generated ones.
$(BUILD)/%.o: src/%.c | $(GEN_HEADERS) $(BUILD)/.deps-build
	@mkdir -p $(@D)
	$(CC) $(IVB_CPPFLAGS) $(filter-out -Isrc/shared,-I$(<D)) $(if $(filter src/host/%,$<),-Isrc/server) $(DEPFLAGS) $(IVB_CFLAGS) \
		$(CRYPTO_CFLAGS) -c -o $@ $<

# The CSV columns: generated from the one schema (schema/columns.txt), never written by hand.
$(BUILD)/gen/columns.h $(BUILD)/gen/columns.c: $(BUILD)/gen/columns.%: schema/columns.txt schema/gen-columns.awk
	@mkdir -p $(@D)
	awk -v out=$* -f schema/gen-columns.awk $< >$@.tmp && mv $@.tmp $@

# run.json's keys: generated from its one schema (schema/run.txt), never written by hand.
$(BUILD)/gen/run_keys.h $(BUILD)/gen/run_keys.c: $(BUILD)/gen/run_keys.%: schema/run.txt schema/gen-run.awk
	@mkdir -p $(@D)
	awk -v out=$* -f schema/gen-run.awk $< >$@.tmp && mv $@.tmp $@

$(BUILD)/gen/columns.o $(BUILD)/gen/run_keys.o: $(BUILD)/gen/%.o: $(BUILD)/gen/%.c | $(GEN_HEADERS) $(BUILD)/.deps-build
	$(CC) $(IVB_CPPFLAGS) $(DEPFLAGS) $(IVB_CFLAGS) -c -o $@ $<

# The revision run.json records: the one the binaries are built from. Rewritten only when
# `git describe` changes, so that only what includes it is rebuilt, and always when it does. The temporary
# file has a name of its own: the makes that run_test.sh and the analysis tests start can run at once.
$(BUILD)/gen/revision.h: FORCE
	@mkdir -p $(@D)
	@rev=$$(git describe --always --dirty 2>/dev/null || echo unknown); \
	printf '/* Generated by the Makefile: the git revision of the sources built. */\n#define IVB_GIT_REVISION "%s"\n' \
		"$$rev" >$@.tmp.$$$$; \
	if cmp -s $@.tmp.$$$$ $@; then rm -f $@.tmp.$$$$; else mv $@.tmp.$$$$ $@; fi

.PHONY: FORCE
FORCE:

$(BUILD)/host_writer: $(HOST_OBJS) $(SHARED_OBJS)
	$(CC) $(IVB_CFLAGS) $(LDFLAGS) -o $@ $^ $(CRYPTO_LIBS) -pthread

$(BUILD)/guest_reader: $(GUEST_OBJS) $(SHARED_OBJS)
	$(CC) $(IVB_CFLAGS) $(LDFLAGS) -o $@ $^ $(CRYPTO_LIBS) -pthread

# The bench VM has no libraries: one static binary, libcrypto included. glibc warns about
# dlopen/getaddrinfo in static programs; neither is used on our paths.
$(BUILD)/guest_reader-static: $(GUEST_OBJS) $(SHARED_OBJS)
	$(CC) $(IVB_CFLAGS) $(LDFLAGS) -static -o $@ $^ $(CRYPTO_STATIC_LIBS) -pthread 2>$(BUILD)/static-link.log \
		|| { cat $(BUILD)/static-link.log >&2; exit 1; }

include $(sort $(wildcard mk/*.mk))
-include $(wildcard $(BUILD)/*.d $(BUILD)/*/*.d)

# make check; each group ends with one line "check-xxx: N s" (scripts/time-group.sh) and a table of every group's
# wall time closes the run ($(BUILD)/check-times.txt).
# 1. The programs the dev VM test needs (CHECK_FIRST_BUILDS), built on both cores.
# 2. Two lanes side by side (make -j2). Builds time nothing, and the groups in them (CHECK_LANES) time nothing a
#    loaded machine can fail: the VM groups emulate one CPU each with generous time limits, the others are CPU
#    work and waits for an event with limits of tens of seconds or more; any two of them can run at once. One
#    lane starts with the dev VM test, the longest group; the other with check-build, the rest of what the
#    groups need (test programs, the sanitizer and fuzzer builds, the initramfs archives, the guest driver:
#    CHECK_BUILDS, which the fragments in mk/ append to). Then each lane takes the next group of CHECK_LANES
#    that the other has not taken (longest first), the dev VM's lane once check-build has ended. Each group's
#    output is held in $(BUILD)/check-logs/ and shown whole when it ends.
# 3. The groups whose tests wait on a short clock with a live peer (a consumer dropped after 300 ms, a bell's bytes
#    awaited for 200 ms, a stall noticed within 2 s): one after another, nothing of ours beside them. A group
#    that no lane names runs here.
CHECK_FIRST_BUILDS = $(BUILD)/host_writer $(BUILD)/guest_reader $(BUILD)/ivshmem_server
CHECK_LANES := check-vm check-analysis check-asan-scripts check-loopback-scripts check-shell check-fuzz check-interop \
	check-doorbell check-doorbell-vm
CHECK_ALONE = $(filter-out check-devvm $(CHECK_LANES),$(CHECK_TARGETS))
CHECK_TIMES = $(BUILD)/check-times.txt
CHECK_LOGS = $(BUILD)/check-logs
TIME_GROUP = scripts/time-group.sh --record $(CHECK_TIMES)
# A make of its own, out of the parent's jobserver (its variable overrides stay), so that make does not warn
# that it resets the jobserver for a -j of its own.
SUBMAKE = env MAKEFLAGS="$(filter-out -j% --jobserver%,$(MAKEFLAGS))" $(MAKE) --no-print-directory
# $(call lane,GROUPS): those of CHECK_TARGETS one after another, each timed with its output held; a group that the
# other lane took first (its folder in $(CHECK_LOGS)/taken) is left to it.
lane = set -e; for g in $(filter $(1),$(CHECK_TARGETS)); do \
	mkdir $(CHECK_LOGS)/taken/$$g 2>/dev/null || continue; \
	$(TIME_GROUP) --log $(CHECK_LOGS)/$$g.log $$g $(SUBMAKE) -j1 $$g; done

.PHONY: check-build check-lanes check-lane-devvm check-lane-build
check:
	@rm -rf $(CHECK_TIMES) $(CHECK_LOGS) && mkdir -p $(CHECK_LOGS)/taken
	@t0=$$(date +%s); rc=0; \
	$(SUBMAKE) -j2 $(CHECK_FIRST_BUILDS) || rc=$$?; \
	[ $$rc -ne 0 ] || $(SUBMAKE) -j2 ANALYSIS_WORKERS=1 check-lanes || rc=$$?; \
	for g in $(CHECK_ALONE); do [ $$rc -ne 0 ] || $(TIME_GROUP) $$g $(SUBMAKE) $$g || rc=$$?; done; \
	scripts/time-group.sh --summary $(CHECK_TIMES) $$(( $$(date +%s) - t0 )); \
	[ $$rc -eq 0 ] || exit $$rc; \
	echo "make check: all test groups passed ($(CHECK_TARGETS))"

check-lanes: check-lane-devvm check-lane-build

# The dev VM's lane waits for check-build (the other lane's) before it takes any other group, at most
# CHECK_BUILD_WAIT seconds.
CHECK_BUILD_WAIT := 7200
check-lane-devvm:
	@$(call lane,check-devvm)
	@for _ in $$(seq $(CHECK_BUILD_WAIT)); do \
		[ ! -e $(CHECK_LOGS)/check-build.failed ] || exit 1; [ -e $(CHECK_LOGS)/check-build.done ] && exit 0; sleep 1; \
	done; echo "make check: check-build did not end within $(CHECK_BUILD_WAIT) s" >&2; exit 1
	@$(call lane,$(CHECK_LANES))

check-lane-build: check-build
	@$(call lane,$(CHECK_LANES))

# The kernel is fetched first, once, for the two builds that read it. In a lane, beside the dev VM: one job.
check-build: | deps-vm
	@$(TIME_GROUP) --log $(CHECK_LOGS)/check-build.log check-build sh -c \
		'vm/kernel.sh >/dev/null && $(SUBMAKE) -j1 $(CHECK_BUILDS)' && touch $(CHECK_LOGS)/check-build.done \
		|| { touch $(CHECK_LOGS)/check-build.failed; exit 1; }

clean:
	rm -rf $(BUILD)
