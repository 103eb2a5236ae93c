# SPDX-License-Identifier: BSD-3-Clause
# tokenpolicy: PAM module, policy daemon and admin CLI.
#
#   make            build everything into build/
#   make check      install missing test packages, build, run every test
#   make demo       install missing packages, build, show the main job
#   make demo-fleet the same for fleet mode: PostgreSQL and three hosts
#   make install    DESTDIR= and PREFIX= honoured
#   make check SANITIZE=1   the same suite under ASan and UBSan
#   make fuzz       libFuzzer harnesses, FUZZ_SECONDS (300) each
#   make torture    long crash and load runs (a few minutes)

PREFIX      ?= /usr
PKG_CONFIG  ?= pkg-config
SBINDIR     ?= $(PREFIX)/sbin
BINDIR      ?= $(PREFIX)/bin
MANDIR      ?= $(PREFIX)/share/man
UNITDIR     ?= $(shell $(PKG_CONFIG) --variable=systemdsystemunitdir systemd 2>/dev/null || echo /lib/systemd/system)
SYSCONFDIR  ?= /etc
DOCDIR      ?= $(PREFIX)/share/doc/tokenpolicy
# pam-auth-update(8) profiles (Debian and derivatives).
PAMCONFIGDIR ?= $(PREFIX)/share/pam-configs
# The Token policy page for Cockpit (the web console); plain files, no build.
COCKPITDIR  ?= $(PREFIX)/share/cockpit/tokenpolicy
COCKPIT_FILES := manifest.json index.html tokenpolicy.js tokenpolicy.css
# Where this system's PAM modules live (Debian: /lib/<multiarch>/security).
PAMLIBDIR   := $(shell $(PKG_CONFIG) --variable=libdir pam 2>/dev/null)
MULTIARCH   := $(shell $(CC) -print-multiarch 2>/dev/null)
PAMDIR      ?= $(or $(PAMLIBDIR),$(if $(MULTIARCH),/lib/$(MULTIARCH),/lib))/security
VERSION     := 0.1.0

CC          ?= cc
B           := build

OPTFLAGS    ?= -O2 -g
WARNFLAGS   := -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wstrict-prototypes \
               -Wmissing-prototypes -Wno-missing-field-initializers
CPPFLAGS    += -D_GNU_SOURCE -DTP_VERSION=\"$(VERSION)\"
CFLAGS      += -std=gnu11 $(OPTFLAGS) $(WARNFLAGS) -fPIC -fstack-protector-strong \
               -D_FORTIFY_SOURCE=2
LDFLAGS     += -Wl,-z,relro,-z,now

ifeq ($(SANITIZE),1)
CFLAGS      += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
LDFLAGS     += -fsanitize=address,undefined
CPPFLAGS    := $(filter-out -D_FORTIFY_SOURCE=2,$(CPPFLAGS))
CFLAGS      := $(filter-out -D_FORTIFY_SOURCE=2,$(CFLAGS))
B           := build-asan
endif

LIBCONFIG   := $(shell $(PKG_CONFIG) --libs libconfig 2>/dev/null || echo -lconfig)
LIBSSL      := $(shell $(PKG_CONFIG) --libs libcrypto 2>/dev/null || echo -lcrypto)
LIBSQLITE   := $(shell $(PKG_CONFIG) --libs sqlite3 2>/dev/null || echo -lsqlite3)
LIBSODIUM   := $(shell $(PKG_CONFIG) --libs libsodium 2>/dev/null || echo -lsodium)
LIBCMOCKA   := $(shell $(PKG_CONFIG) --libs cmocka 2>/dev/null || echo -lcmocka)
LIBSYSTEMD  := $(shell $(PKG_CONFIG) --libs libsystemd 2>/dev/null || echo -lsystemd)
LIBPQ       := $(shell $(PKG_CONFIG) --libs libpq 2>/dev/null || echo -lpq)
PQ_CFLAGS   := $(shell $(PKG_CONFIG) --cflags libpq 2>/dev/null || echo -I/usr/include/postgresql)

COMMON_SRC  := common/proto.c common/wire.c common/io.c common/svcmap.c common/wipe.c
# shared/: the token code that tokenpolicyd and tokenpolicyctl both build
# (JWT verification, the public keyring, the JWKS); never the PAM module.
SHARED_SRC  := shared/jose.c shared/crypto.c shared/keyring.c shared/jwks.c shared/jwt.c
VERIFY_SRC  := shared/jose.c shared/crypto.c shared/keyring.c shared/jwt.c common/wipe.c
TOKEN_SRC   := tokenpolicyd/secrets.c tokenpolicyd/signer.c tokenpolicyd/jwt_sign.c $(SHARED_SRC)
DAEMON_LIB_SRC := shared/config.c tokenpolicyd/policy.c tokenpolicyd/store.c tokenpolicyd/store_wal.c tokenpolicyd/expiry.c \
               $(TOKEN_SRC)
DAEMON_SRC  := tokenpolicyd/main.c tokenpolicyd/server.c tokenpolicyd/handlers.c \
               tokenpolicyd/log.c tokenpolicyd/account.c tokenpolicyd/lifecycle.c tokenpolicyd/notify.c \
               tokenpolicyd/enforce.c tokenpolicyd/proctree.c tokenpolicyd/query.c tokenpolicyd/keys.c tokenpolicyd/pidfile.c \
               tokenpolicyd/delivery.c \
               tokenpolicyd/mapfile.c \
               tokenpolicyd/trust.c tokenpolicyd/conffile.c tokenpolicyd/notice.c \
               tokenpolicyd/boot.c tokenpolicyd/retention.c tokenpolicyd/idle.c \
               tokenpolicyd/request.c tokenpolicyd/rights.c tokenpolicyd/reply.c tokenpolicyd/plan.c \
               tokenpolicyd/control.c tokenpolicyd/store_pg.c tokenpolicyd/fleetkeys.c tokenpolicyd/offline.c \
               tokenpolicyd/accounts.c $(DAEMON_LIB_SRC)
PAM_SRC     := pam_tokenpolicy/pam_tokenpolicy.c
CTL_SRC     := $(wildcard tokenpolicyctl/*.c) $(filter-out common/%,$(VERIFY_SRC)) shared/config.c \
               shared/confedit.c

obj = $(patsubst %.c,$(B)/obj/%.o,$(1))

# Include paths per part, so that each sees only the headers it may use
# (INC, set per object directory below, in every object tree):
#   common/           the protocol and helpers all three programs share
#   the PAM module    common/ only: no daemon header can slip into it
#   shared/           common/ and itself: the token code that the daemon
#                     and the CLI both build (TOKEN_INC)
#   the CLI           common/ and shared/: never the daemon's headers
#   the daemon        common/, shared/ and its own
COMMON_INC  := -Icommon
TOKEN_INC   := -Ishared
PAM_INC     := $(COMMON_INC)
CTL_INC     := $(COMMON_INC) $(TOKEN_INC)
DAEMON_INC  := $(COMMON_INC) $(TOKEN_INC) -Itokenpolicyd
# Per object directory, in the build tree and the fuzzing tree.
objdirs = $(foreach d,$(1),$(B)/obj/$(d)/%.o $(FUZZ_B)/obj/$(d)/%.o)
FUZZ_B      := build-fuzz
$(call objdirs,common bench): INC = $(COMMON_INC)
$(call objdirs,pam_tokenpolicy): INC = $(PAM_INC)
$(call objdirs,tokenpolicyctl): INC = $(CTL_INC)
$(call objdirs,tokenpolicyd): INC = $(DAEMON_INC)
# Only the PostgreSQL store sees libpq's headers.
$(B)/obj/tokenpolicyd/store_pg.o: INC = $(DAEMON_INC) $(PQ_CFLAGS)
$(call objdirs,shared): INC = $(COMMON_INC) $(TOKEN_INC)
# Tests: what the module under test needs (unit tests of daemon modules
# and the fuzz harnesses of daemon code see the daemon's headers; the
# PAM driver and the stand-ins in tests/ include nothing of the project).
$(call objdirs,tests): INC = $(COMMON_INC)
$(call objdirs,tests/unit tests/fuzz): INC = $(DAEMON_INC)
$(foreach t,tests/unit/test_wire tests/unit/test_svcmap tests/unit/test_strtable tests/fuzz/fuzz_frame \
	    tests/fuzz/fuzz_svcmap,$(B)/obj/$(t).o $(FUZZ_B)/obj/$(t).o): INC = $(COMMON_INC)
$(B)/obj/tests/unit/test_output.o: INC = $(CTL_INC) -Itokenpolicyctl

PROGRAMS    := $(B)/tokenpolicyd $(B)/tokenpolicyctl $(B)/pam_tokenpolicy.so
UNIT_TESTS  := $(patsubst tests/unit/%.c,$(B)/tests/%,$(wildcard tests/unit/test_*.c))
TEST_TOOLS  := $(B)/tests/tp-pam $(B)/tests/pam_tptest_data.so $(B)/tests/fake-logind

.PHONY: all check unit demo demo-fleet install uninstall clean deps deps-test bench bench-fleet
all: $(PROGRAMS)

$(B)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(INC) $(CFLAGS) -MMD -MP -c -o $@ $<

-include $(shell find $(B)/obj -name '*.d' 2>/dev/null)

$(B)/tokenpolicyd: $(call obj,$(DAEMON_SRC) $(COMMON_SRC))
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LIBCONFIG) $(LIBSSL) $(LIBSODIUM) $(LIBSQLITE) $(LIBSYSTEMD) $(LIBPQ)

$(B)/tokenpolicyctl: $(call obj,$(CTL_SRC) $(COMMON_SRC))
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LIBCONFIG) $(LIBSSL)

# The module is thin: the shared codec and libpam only, exports pam_sm_* only.
# It stays loaded after pam_end() (-z nodelete; it keeps no state of its
# own between handles): an application that runs one PAM transaction after
# another (a display manager, a mail server) does not map and relocate it
# again for each.
$(B)/pam_tokenpolicy.so: $(call obj,$(PAM_SRC) $(COMMON_SRC)) pam_tokenpolicy/pam_tokenpolicy.map
	$(CC) $(CFLAGS) $(LDFLAGS) -shared -Wl,--version-script=pam_tokenpolicy/pam_tokenpolicy.map \
		-Wl,-z,defs -Wl,-z,nodelete -o $@ $(filter %.o,$^) -lpam

# Unit tests: one per module, linked with just what they test.
$(B)/tests/test_wire: $(call obj,tests/unit/test_wire.c $(COMMON_SRC))
$(B)/tests/test_strtable: $(call obj,tests/unit/test_strtable.c)
$(B)/tests/test_expiry: $(call obj,tests/unit/test_expiry.c tokenpolicyd/expiry.c)
$(B)/tests/test_config: $(call obj,tests/unit/test_config.c shared/config.c $(COMMON_SRC))
$(B)/tests/test_confedit: $(call obj,tests/unit/test_confedit.c shared/confedit.c shared/config.c $(COMMON_SRC))
$(B)/tests/test_policy: $(call obj,tests/unit/test_policy.c tokenpolicyd/policy.c shared/config.c $(COMMON_SRC))
$(B)/tests/test_store: $(call obj,tests/unit/test_store.c tokenpolicyd/store.c tokenpolicyd/store_wal.c $(COMMON_SRC))
$(B)/tests/test_wipe: $(call obj,tests/unit/test_wipe.c common/wipe.c)
$(B)/tests/test_jose: $(call obj,tests/unit/test_jose.c shared/jose.c)
$(B)/tests/test_secrets: $(call obj,tests/unit/test_secrets.c tests/unit/tokentest.c tokenpolicyd/secrets.c shared/crypto.c shared/jose.c \
		common/wipe.c)
$(B)/tests/test_keyring: $(call obj,tests/unit/test_keyring.c tests/unit/tokentest.c shared/keyring.c shared/crypto.c shared/jose.c \
		common/wipe.c)
$(B)/tests/test_jwks: $(call obj,tests/unit/test_jwks.c tests/unit/tokentest.c shared/jwks.c shared/keyring.c shared/crypto.c \
		shared/jose.c common/wipe.c)
$(B)/tests/test_jwt: $(call obj,tests/unit/test_jwt.c tests/unit/tokentest.c $(VERIFY_SRC))
$(B)/tests/test_signer: $(call obj,tests/unit/test_signer.c tests/unit/tokentest.c tests/unit/signertest.c \
		$(TOKEN_SRC) common/wipe.c)
$(B)/tests/test_jwt_sign: $(call obj,tests/unit/test_jwt_sign.c tests/unit/tokentest.c tests/unit/signertest.c \
		$(TOKEN_SRC) common/wipe.c)
$(B)/tests/test_log: $(call obj,tests/unit/test_log.c tokenpolicyd/log.c)
$(B)/tests/test_pidfile: $(call obj,tests/unit/test_pidfile.c tokenpolicyd/pidfile.c)
$(B)/tests/test_mapfile: $(call obj,tests/unit/test_mapfile.c tokenpolicyd/mapfile.c tokenpolicyd/log.c \
		shared/config.c $(COMMON_SRC))
$(B)/tests/test_output: $(call obj,tests/unit/test_output.c tokenpolicyctl/output.c $(COMMON_SRC))
$(B)/tests/test_svcmap: $(call obj,tests/unit/test_svcmap.c $(COMMON_SRC))
$(B)/tests/test_trust: $(call obj,tests/unit/test_trust.c tokenpolicyd/trust.c)
$(B)/tests/test_notice: $(call obj,tests/unit/test_notice.c tokenpolicyd/notice.c)
# The request table and its rights check; the handlers are the test's own
# stand-ins. The sign-in plan against a real temporary SQLite store.
$(B)/tests/test_request: $(call obj,tests/unit/test_request.c tokenpolicyd/request.c tokenpolicyd/rights.c \
		tokenpolicyd/reply.c tokenpolicyd/log.c tokenpolicyd/account.c $(COMMON_SRC))
$(B)/tests/test_plan: $(call obj,tests/unit/test_plan.c tokenpolicyd/plan.c tokenpolicyd/reply.c \
		tokenpolicyd/log.c tokenpolicyd/account.c tokenpolicyd/store.c tokenpolicyd/store_wal.c shared/config.c \
		tokenpolicyd/policy.c tokenpolicyd/enforce.c tokenpolicyd/proctree.c $(COMMON_SRC))
# test_enforce runs the fake logind: build it too (order-only, not linked).
$(B)/tests/test_proctree: $(call obj,tests/unit/test_proctree.c tokenpolicyd/proctree.c)
$(B)/tests/test_enforce: $(call obj,tests/unit/test_enforce.c tokenpolicyd/enforce.c tokenpolicyd/proctree.c \
		$(COMMON_SRC)) \
		| $(B)/tests/fake-logind
$(B)/tests/test_%:
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LIBCMOCKA) $(LIBCONFIG) $(LIBSSL) $(LIBSODIUM) $(LIBSQLITE) \
		$(LIBSYSTEMD)

# Test-only PAM module reading what pam_tokenpolicy leaves for pam_systemd.
$(B)/tests/pam_tptest_data.so: $(call obj,tests/pam_tptest_data.c)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -shared -o $@ $^ -lpam

# PAM driver for tests and the demo: real libpam, private service dir.
$(B)/tests/tp-pam: $(call obj,tests/tp-pam.c)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ -lpam

# Stand-in for systemd-logind on a private bus (see its header comment).
$(B)/tests/fake-logind: $(call obj,tests/fake-logind.c)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LIBSYSTEMD)

# Fuzzing (libFuzzer): harnesses in tests/fuzz/, built with clang into their
# own tree with ASan and UBSan, each run for FUZZ_SECONDS on a copy of its
# seed corpus. `make check` runs them for 12 s each through tests/run-fuzz.
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 300
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_CFLAGS  := -std=gnu11 -O1 -g $(WARNFLAGS) $(FUZZ_SAN) -fsanitize=fuzzer-no-link
FUZZ_CPPFLAGS := $(filter-out -D_FORTIFY_SOURCE=2,$(CPPFLAGS))
FUZZ_NAMES   := frame config jwt policy svcmap confedit
FUZZERS      := $(patsubst %,$(FUZZ_B)/fuzz_%,$(FUZZ_NAMES))
fuzz_obj = $(patsubst %.c,$(FUZZ_B)/obj/%.o,$(1))

$(FUZZ_B)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CPPFLAGS) $(INC) $(FUZZ_CFLAGS) -MMD -MP -c -o $@ $<

-include $(shell find $(FUZZ_B)/obj -name '*.d' 2>/dev/null)

$(FUZZ_B)/fuzz_frame: $(call fuzz_obj,tests/fuzz/fuzz_frame.c common/proto.c common/wire.c common/wipe.c)
$(FUZZ_B)/fuzz_config: $(call fuzz_obj,tests/fuzz/fuzz_config.c shared/config.c common/proto.c common/wire.c \
		common/wipe.c)
$(FUZZ_B)/fuzz_jwt: $(call fuzz_obj,tests/fuzz/fuzz_jwt.c $(TOKEN_SRC) common/wipe.c)
$(FUZZ_B)/fuzz_policy: $(call fuzz_obj,tests/fuzz/fuzz_policy.c tokenpolicyd/policy.c)
$(FUZZ_B)/fuzz_confedit: $(call fuzz_obj,tests/fuzz/fuzz_confedit.c shared/confedit.c)
$(FUZZ_B)/fuzz_svcmap: $(call fuzz_obj,tests/fuzz/fuzz_svcmap.c common/svcmap.c common/io.c common/proto.c \
		common/wire.c common/wipe.c)
$(FUZZ_B)/fuzz_%:
	$(FUZZ_CC) $(FUZZ_SAN) -fsanitize=fuzzer -o $@ $^ $(LIBCONFIG) $(LIBSSL) $(LIBSODIUM)

# Seed generator: writes frames and tokens made by the project's encoders.
$(FUZZ_B)/gen_corpus: $(call fuzz_obj,tests/fuzz/gen_corpus.c common/proto.c common/wire.c \
		common/wipe.c $(TOKEN_SRC))
	$(FUZZ_CC) $(FUZZ_SAN) -o $@ $^ $(LIBSSL) $(LIBSODIUM)

.PHONY: fuzz fuzz-build fuzz-corpus fuzz-clean
fuzz-build: $(FUZZERS)

fuzz: fuzz-build
	@FUZZ_SECONDS=$(FUZZ_SECONDS) FUZZ_B=$(FUZZ_B) tests/run-fuzz

# Regenerate the encoder-made seeds kept in tests/fuzz/corpus/.
fuzz-corpus: $(FUZZ_B)/gen_corpus
	$(FUZZ_B)/gen_corpus tests/fuzz/corpus

fuzz-clean:
	rm -rf $(FUZZ_B)

# Benchmarks (bench/README.md): measurement only, needs root, installs nothing.
BENCH_TOOLS := $(B)/bench/pam_loop $(B)/bench/load $(B)/bench/scale_ops $(B)/bench/floor
$(B)/bench/pam_loop: $(call obj,bench/pam_loop.c bench/benchlib.c)
$(B)/bench/load: $(call obj,bench/load.c bench/benchlib.c $(COMMON_SRC))
$(B)/bench/scale_ops: $(call obj,bench/scale_ops.c bench/benchlib.c $(COMMON_SRC))
$(B)/bench/floor: $(call obj,bench/floor.c bench/benchlib.c $(COMMON_SRC))
$(B)/bench/%:
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ -lpam $(LIBSSL) $(LIBSODIUM) -pthread

bench: $(PROGRAMS) $(BENCH_TOOLS) $(B)/tests/tp-pam
	@B=$(B) python3 bench/run-bench
	@B=$(B) python3 bench/run-fleet-bench

# Fleet mode alone (bench/README.md, Fleet): PostgreSQL 15 must be installed.
bench-fleet: $(PROGRAMS) $(BENCH_TOOLS) $(B)/tests/tp-pam
	@B=$(B) python3 bench/run-fleet-bench

deps:
	@scripts/ensure-deps build

deps-test:
	@scripts/ensure-deps test

unit: $(UNIT_TESTS)
	@B=$(B) tests/run-tests --unit-only

check: deps-test
	@$(MAKE) --no-print-directory all $(UNIT_TESTS) $(TEST_TOOLS)
	@B=$(B) tests/run-tests

# Long runs, minutes each: the crash test at full length (thousands of
# operations under repeated SIGKILL) and root's latency under a flood.
.PHONY: torture
torture: deps-test
	@$(MAKE) --no-print-directory all $(TEST_TOOLS)
	@B=$(B) TORTURE=1 /usr/bin/python3 tests/integration/test_crash.py

demo: deps
	@$(MAKE) --no-print-directory all $(TEST_TOOLS)
	@B=$(B) scripts/demo

# Fleet mode: a private PostgreSQL 15 and three daemons as three hosts.
demo-fleet:
	@scripts/ensure-deps fleet
	@$(MAKE) --no-print-directory all $(TEST_TOOLS)
	@B=$(B) scripts/demo-fleet

install: all
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(BINDIR) $(DESTDIR)$(PAMDIR) \
		$(DESTDIR)$(SYSCONFDIR) $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man8 \
		$(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man7 $(DESTDIR)$(UNITDIR)
	install -m 0755 $(B)/tokenpolicyd $(DESTDIR)$(SBINDIR)/tokenpolicyd
	install -m 0755 $(B)/tokenpolicyctl $(DESTDIR)$(BINDIR)/tokenpolicyctl
	install -m 0644 $(B)/pam_tokenpolicy.so $(DESTDIR)$(PAMDIR)/pam_tokenpolicy.so
	test -e $(DESTDIR)$(SYSCONFDIR)/tokenpolicy.conf || \
		install -m 0644 etc/tokenpolicy.conf $(DESTDIR)$(SYSCONFDIR)/tokenpolicy.conf
	for m in man/*.[0-9]; do \
		s=$${m##*.}; install -m 0644 $$m $(DESTDIR)$(MANDIR)/man$$s/; done
	install -m 0644 systemd/tokenpolicyd.service systemd/tokenpolicyd.socket $(DESTDIR)$(UNITDIR)/
# Example PAM stacks and the pam-auth-update profile: no file in /etc/pam.d changes.
	install -d $(DESTDIR)$(DOCDIR)/examples/pam.d $(DESTDIR)$(PAMCONFIGDIR)
	install -m 0644 etc/pam.d/sshd.example etc/pam.d/gdm-password.example \
		$(DESTDIR)$(DOCDIR)/examples/pam.d/
	install -m 0644 etc/pam-configs/tokenpolicy $(DESTDIR)$(PAMCONFIGDIR)/tokenpolicy
	install -d $(DESTDIR)$(COCKPITDIR)
	for f in $(COCKPIT_FILES); do install -m 0644 cockpit/tokenpolicy/$$f $(DESTDIR)$(COCKPITDIR)/; done

uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/tokenpolicyd $(DESTDIR)$(BINDIR)/tokenpolicyctl \
		$(DESTDIR)$(PAMDIR)/pam_tokenpolicy.so
	for m in man/*.[0-9]; do s=$${m##*.}; rm -f $(DESTDIR)$(MANDIR)/man$$s/$${m##*/}; done
	rm -f $(DESTDIR)$(UNITDIR)/tokenpolicyd.service $(DESTDIR)$(UNITDIR)/tokenpolicyd.socket
	rm -f $(DESTDIR)$(DOCDIR)/examples/pam.d/sshd.example \
		$(DESTDIR)$(DOCDIR)/examples/pam.d/gdm-password.example \
		$(DESTDIR)$(PAMCONFIGDIR)/tokenpolicy
	for f in $(COCKPIT_FILES); do rm -f $(DESTDIR)$(COCKPITDIR)/$$f; done
	if [ -d $(DESTDIR)$(COCKPITDIR) ]; then rmdir --ignore-fail-on-non-empty $(DESTDIR)$(COCKPITDIR); fi
	for d in $(DESTDIR)$(DOCDIR)/examples/pam.d $(DESTDIR)$(DOCDIR)/examples $(DESTDIR)$(DOCDIR); do \
		if [ -d "$$d" ]; then rmdir --ignore-fail-on-non-empty "$$d"; fi; done
	@echo "$(SYSCONFDIR)/tokenpolicy.conf is kept; remove it by hand if you no longer need it."

clean:
	rm -rf build build-asan build-fuzz
