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
IVB_CPPFLAGS := -D_GNU_SOURCE -Isrc -Iguest/ivshmem_doorbell -DIVB_GIT_REVISION='"$(shell git describe --always --dirty 2>/dev/null || echo unknown)"'
IVB_CFLAGS := -std=c11 $(WARNINGS) $(CFLAGS)
# Recursively expanded on purpose: evaluated after deps-build has installed pkg-config and libssl-dev.
CRYPTO_CFLAGS = $(shell pkg-config --cflags libcrypto 2>/dev/null)
CRYPTO_LIBS = $(shell pkg-config --libs libcrypto 2>/dev/null || echo -lcrypto) -lxxhash
CRYPTO_STATIC_LIBS = $(shell pkg-config --static --libs libcrypto 2>/dev/null || echo -lcrypto -ldl -pthread) -lxxhash

BUILD_PACKAGES := gcc make pkg-config libssl-dev libxxhash-dev
NEED := scripts/need-packages.sh

# Modules both programs use, compiled once.
LIB_SRCS := src/opts.c src/region.c src/protocol.c src/sha256.c src/csv.c src/phases.c src/perfctr.c src/cli.c src/ivpeer.c src/bell.c src/ring.c src/stream.c
HOST_SRCS := src/host_writer.c src/manifest.c src/json.c src/ivserver.c
GUEST_SRCS := src/guest_reader.c src/pci.c
LIB_OBJS := $(LIB_SRCS:src/%.c=$(BUILD)/%.o)
HOST_OBJS := $(HOST_SRCS:src/%.c=$(BUILD)/%.o)
GUEST_OBJS := $(GUEST_SRCS:src/%.c=$(BUILD)/%.o)

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

$(BUILD)/%.o: src/%.c $(wildcard src/*.h) guest/ivshmem_doorbell/ivshmem_doorbell.h | $(BUILD)/.deps-build
	$(CC) $(IVB_CPPFLAGS) $(IVB_CFLAGS) $(CRYPTO_CFLAGS) -c -o $@ $<

$(BUILD)/host_writer: $(HOST_OBJS) $(LIB_OBJS)
	$(CC) $(IVB_CFLAGS) $(LDFLAGS) -o $@ $^ $(CRYPTO_LIBS)

$(BUILD)/guest_reader: $(GUEST_OBJS) $(LIB_OBJS)
	$(CC) $(IVB_CFLAGS) $(LDFLAGS) -o $@ $^ $(CRYPTO_LIBS)

# The bench VM has no libraries: one static binary, libcrypto included. glibc warns about
# dlopen/getaddrinfo in static programs; neither is used on our paths.
$(BUILD)/guest_reader-static: $(GUEST_OBJS) $(LIB_OBJS)
	$(CC) $(IVB_CFLAGS) $(LDFLAGS) -static -o $@ $^ $(CRYPTO_STATIC_LIBS) 2>$(BUILD)/static-link.log \
		|| { cat $(BUILD)/static-link.log >&2; exit 1; }

include $(sort $(wildcard mk/*.mk))

check: $(CHECK_TARGETS)
	@echo "make check: all test groups passed ($(CHECK_TARGETS))"

clean:
	rm -rf $(BUILD)
