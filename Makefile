# breakerd - GNU make build.
#
#   make                 build breakerd, breakerctl and libbreakerd_client
#   make test            install what is missing, build, run every test
#   make check           the same tests without the install step
#   make bench           micro- and socket benchmarks
#   make fuzz            build the libFuzzer targets (clang)
#   make install         PREFIX=/usr/local DESTDIR=
#   make check-format    clang-format --dry-run on every C file
#   make images          the compose fleet's images, without a registry
#                        (scripts/docker-images.sh; docs/docker.md)
#   SANITIZER=address,undefined   build everything with sanitizers
#   WERROR=1             warnings are errors (default when CI=true)

MAKEFLAGS += --no-print-directory

PREFIX    ?= /usr/local
DESTDIR   ?=
BINDIR    ?= $(PREFIX)/bin
SBINDIR   ?= $(PREFIX)/sbin
LIBDIR    ?= $(PREFIX)/lib
INCDIR    ?= $(PREFIX)/include
MANDIR    ?= $(PREFIX)/share/man
SYSCONFDIR ?= /etc

VERSION   := 0.1.0
CC        ?= cc
CFLAGS    ?= -O2 -g
SANITIZER ?=
BUILD     := build$(if $(SANITIZER),-san)

WARN := -Wall -Wextra -Wformat=2 -Wshadow -Wpointer-arith -Wcast-qual \
	-Wwrite-strings -Wstrict-prototypes -Wmissing-prototypes -Wvla
ifeq ($(CI),true)
WERROR ?= 1
endif
ifeq ($(WERROR),1)
WARN += -Werror
endif

# The pkg-config modules the build links with (one word each; add to it).
PKGS := libevent libevent_pthreads jansson libsystemd

# pkg-config runs when a recipe first needs its answer, never while this
# file is parsed: `make test` and `make demo` install the packages first
# (scripts/install-deps.sh), and a fresh machine has none of them.  The
# answer is then cached ($(eval) turns the variable into a simple one).
pkg_check = $(if $(shell pkg-config --exists $(PKGS) 2>/dev/null && echo y),,\
	$(error pkg-config does not find all of: $(PKGS); run `make deps`))
PKG_CFLAGS = $(eval PKG_CFLAGS := $(pkg_check)$(shell pkg-config --cflags $(PKGS)))$(PKG_CFLAGS)
PKG_LIBS = $(eval PKG_LIBS := $(pkg_check)$(shell pkg-config --libs $(PKGS)))$(PKG_LIBS)

# Recursive (=): expanded in recipes only, after the packages are there.
ALL_CPPFLAGS = -Isrc -Iinclude -DTHREADED -D_GNU_SOURCE \
	-DBREAKERD_VERSION='"$(VERSION)"' $(PKG_CFLAGS) $(CPPFLAGS)
ALL_CFLAGS := -std=c11 -fPIC $(WARN) $(CFLAGS)
ALL_LDFLAGS := $(LDFLAGS)
ifneq ($(SANITIZER),)
ALL_CFLAGS += -fsanitize=$(SANITIZER) -fno-omit-frame-pointer \
	-fno-sanitize-recover=all
ALL_LDFLAGS += -fsanitize=$(SANITIZER)
endif
LIBS = -lzookeeper_mt $(PKG_LIBS) -lpthread -lm

# src/breakerd.c and src/breakerctl.c hold main(); src/client.c is the
# client library; everything else in src/ is the daemon's core.
MAINS       := src/breakerd.c src/breakerctl.c src/client.c src/client_shm.c
CORE_SRCS   := $(filter-out $(MAINS),$(wildcard src/*.c))
CORE_OBJS   := $(CORE_SRCS:src/%.c=$(BUILD)/obj/%.o)
CORE_LIB    := $(BUILD)/libbreakerd_core.a
CLIENT_OBJ  := $(BUILD)/obj/client.o $(BUILD)/obj/client_shm.o
CLIENT_A    := $(BUILD)/libbreakerd_client.a
CLIENT_SO   := $(BUILD)/libbreakerd_client.so.0
UNIT_SRCS   := $(wildcard tests/unit/test_*.c)
UNIT_BINS   := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)
TOOL_SRCS   := $(wildcard tests/tools/*.c)
TOOL_BINS   := $(TOOL_SRCS:tests/tools/%.c=$(BUILD)/tools/%)
BENCH_SRCS  := $(wildcard tests/bench/*.c)
BENCH_BINS  := $(BENCH_SRCS:tests/bench/%.c=$(BUILD)/bench/%)
FUZZ_SRCS   := $(wildcard tests/fuzz/fuzz_*.c)
# Private headers live beside their sources; include/ holds only the
# installed public header.
HDRS        := $(wildcard src/*.h include/*.h)
FUZZ_BINS   := $(FUZZ_SRCS:tests/fuzz/%.c=$(BUILD)/fuzz/%)

.PHONY: all test check check-unit check-integration bench fuzz install \
	uninstall clean check-format format deps test-bins demo images
.DEFAULT_GOAL := all

all: $(BUILD)/breakerd $(BUILD)/breakerctl $(CLIENT_A) $(CLIENT_SO) \
	$(BUILD)/breakerd_client.pc
	@ln -sf $(BUILD)/breakerd breakerd
	@ln -sf $(BUILD)/breakerctl breakerctl

$(BUILD)/obj/%.o: src/%.c $(HDRS) | $(BUILD)/obj
	$(CC) $(ALL_CPPFLAGS) $(ALL_CFLAGS) -c $< -o $@

$(CORE_LIB): $(CORE_OBJS)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/breakerd: $(BUILD)/obj/breakerd.o $(CORE_LIB)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)

$(BUILD)/breakerctl: $(BUILD)/obj/breakerctl.o $(CLIENT_A) $(CORE_LIB)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)

$(CLIENT_A): $(CLIENT_OBJ)
	rm -f $@ && ar rcs $@ $^

$(CLIENT_SO): $(CLIENT_OBJ)
	$(CC) $(ALL_LDFLAGS) -shared -Wl,-soname,libbreakerd_client.so.0 \
		-Wl,-z,defs -o $@ $^ -lpthread

$(BUILD)/breakerd_client.pc: breakerd_client.pc.in | $(BUILD)
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@LIBDIR@|$(LIBDIR)|g' \
	    -e 's|@INCDIR@|$(INCDIR)|g' -e 's|@VERSION@|$(VERSION)|g' $< > $@

# Unit tests: one CUnit binary per tests/unit/test_<module>.c.
$(BUILD)/tests/%: tests/unit/%.c tests/unit/harness.c tests/unit/harness.h \
	$(CORE_LIB) $(CLIENT_A) | $(BUILD)/tests
	$(CC) $(ALL_CPPFLAGS) -Itests/unit $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ \
		$< tests/unit/harness.c $(CLIENT_A) $(CORE_LIB) $(LIBS) -lcunit

# Test tools (the flaky dependency, load generators): one .c each.
$(BUILD)/tools/%: tests/tools/%.c $(CORE_LIB) $(CLIENT_A) | $(BUILD)/tools
	$(CC) $(ALL_CPPFLAGS) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $< \
		$(CLIENT_A) $(CORE_LIB) $(LIBS)

$(BUILD)/bench/%: tests/bench/%.c $(CORE_LIB) $(CLIENT_A) | $(BUILD)/bench
	$(CC) $(ALL_CPPFLAGS) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $< \
		$(CLIENT_A) $(CORE_LIB) $(LIBS)

# libFuzzer targets, always clang with ASan+UBSan, on the core sources.
FUZZ_CC     := clang
FUZZ_FLAGS  := -g -O1 -fsanitize=fuzzer,address,undefined \
	-fno-sanitize-recover=all
$(BUILD)/fuzz/%: tests/fuzz/%.c $(CORE_SRCS) $(HDRS) \
	| $(BUILD)/fuzz
	$(FUZZ_CC) $(ALL_CPPFLAGS) -std=c11 $(FUZZ_FLAGS) -o $@ $< \
		$(CORE_SRCS) $(LIBS)

$(BUILD) $(BUILD)/obj $(BUILD)/tests $(BUILD)/tools $(BUILD)/bench \
	$(BUILD)/fuzz:
	mkdir -p $@

test-bins: all $(UNIT_BINS) $(TOOL_BINS)

deps:
	scripts/install-deps.sh

# The README's two commands: install what is missing, then build and run
# in a new make, so nothing was decided before the packages were there.
test: deps
	$(MAKE) check

check: test-bins
	$(MAKE) SANITIZER=address,undefined test-bins
	$(MAKE) fuzz
	scripts/run-tests.sh

check-unit: test-bins
	scripts/run-tests.sh unit

check-integration: test-bins
	scripts/run-tests.sh integration

fuzz: $(FUZZ_BINS)

bench: all $(BENCH_BINS)
	scripts/bench.sh

demo: deps
	$(MAKE) all $(TOOL_BINS)
	scripts/fleet.sh --no-install up

# Base images by debootstrap + docker import, the ZooKeeper credential of
# the compose fleet, then every compose image.
images: deps
	scripts/docker-images.sh all

install: all
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR) \
		$(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(INCDIR) \
		$(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man8 \
		$(DESTDIR)$(SYSCONFDIR)/breakerd
	install -m 755 $(BUILD)/breakerd $(DESTDIR)$(SBINDIR)/breakerd
	install -m 755 $(BUILD)/breakerctl $(DESTDIR)$(BINDIR)/breakerctl
	install -m 644 $(CLIENT_A) $(DESTDIR)$(LIBDIR)/
	install -m 755 $(CLIENT_SO) $(DESTDIR)$(LIBDIR)/
	ln -sf libbreakerd_client.so.0 $(DESTDIR)$(LIBDIR)/libbreakerd_client.so
	install -m 644 include/breakerd_client.h $(DESTDIR)$(INCDIR)/
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@LIBDIR@|$(LIBDIR)|g' \
	    -e 's|@INCDIR@|$(INCDIR)|g' -e 's|@VERSION@|$(VERSION)|g' \
	    breakerd_client.pc.in > $(DESTDIR)$(LIBDIR)/pkgconfig/breakerd_client.pc
	install -m 644 docs/breakerd.8 $(DESTDIR)$(MANDIR)/man8/
	install -m 644 docs/breakerctl.1 $(DESTDIR)$(MANDIR)/man1/
	install -m 644 conf/breakerd.json $(DESTDIR)$(SYSCONFDIR)/breakerd/breakerd.json.example

uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/breakerd $(DESTDIR)$(BINDIR)/breakerctl \
		$(DESTDIR)$(LIBDIR)/libbreakerd_client.* \
		$(DESTDIR)$(INCDIR)/breakerd_client.h \
		$(DESTDIR)$(LIBDIR)/pkgconfig/breakerd_client.pc \
		$(DESTDIR)$(MANDIR)/man8/breakerd.8 $(DESTDIR)$(MANDIR)/man1/breakerctl.1

C_FILES = $(wildcard src/*.c src/*.h include/*.h tests/*/*.c tests/*/*.h)
check-format:
	clang-format --dry-run --Werror $(C_FILES)

format:
	clang-format -i $(C_FILES)

clean:
	rm -rf build build-san breakerd breakerctl
