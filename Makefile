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

# Test targets that `make check` runs; the fragments in mk/ append theirs.
CHECK_TARGETS :=

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
# `git describe` changes, so that only what includes it is rebuilt, and always when it does.
$(BUILD)/gen/revision.h: FORCE
	@mkdir -p $(@D)
	@rev=$$(git describe --always --dirty 2>/dev/null || echo unknown); \
	printf '/* Generated by the Makefile: the git revision of the sources built. */\n#define IVB_GIT_REVISION "%s"\n' \
		"$$rev" >$@.tmp; \
	if cmp -s $@.tmp $@; then rm -f $@.tmp; else mv $@.tmp $@; fi

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

# The groups that time things run one after another, alone on the machine. Then the analysis tests (CPU only,
# nothing timed) run on one core beside the VM groups (one emulated CPU at a time, generous time limits), so
# that neither waits for the other: about a third less wall time. make -O keeps each side's output together.
OVERLAPPED := check-analysis check-vm check-doorbell-vm check-devvm
.PHONY: check-vm-groups
check:
	@$(MAKE) --no-print-directory $(filter-out $(OVERLAPPED),$(CHECK_TARGETS))
	@$(MAKE) --no-print-directory -j2 -O ANALYSIS_WORKERS=1 $(filter check-analysis,$(CHECK_TARGETS)) check-vm-groups
	@echo "make check: all test groups passed ($(CHECK_TARGETS))"

# One after another, out of the -j2 beside them: without the parent's jobserver in MAKEFLAGS (its variable
# overrides stay), so that make does not warn that it resets the jobserver for -j1.
check-vm-groups:
	@MAKEFLAGS="$(filter-out -j% --jobserver%,$(MAKEFLAGS))" \
		$(MAKE) --no-print-directory -j1 $(filter $(filter-out check-analysis,$(OVERLAPPED)),$(CHECK_TARGETS))

clean:
	rm -rf $(BUILD)
