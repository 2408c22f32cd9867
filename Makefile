# encrypted_column: PGXS build.
#
PG_CONFIG   ?= pg_config
EXTENSION    = encrypted_column
# The version is written once, as default_version in the control file.
EXTVERSION   = $(shell sed -n "s/^default_version *= *'\(.*\)'/\1/p" $(EXTENSION).control)

MODULE_big   = encrypted_column
OBJS         = src/module.o src/gucs.o src/keyring.o src/crypto.o src/envelope.o \
               src/type_io.o src/seal.o src/accessors.o src/det_planner.o src/redact.o \
               src/copy_redact.o src/privilege.o src/det_ops.o \
               src/keymask.o src/stats_guard.o src/forward_020.o src/citus.o \
               src/kek.o src/store.o src/key_admin.o src/kek_kmip.o src/kmip_ttlv.o \
               src/kek_pkcs11.o src/pkcs11_uri.o src/audit.o \
               src/typed.o src/search.o src/search_planner.o src/trigram.o

# Install and upgrade scripts live in extension/, sql/ belongs to pg_regress.
# The current version's install script is the previous one followed by the
# update to it, so that a fresh install and an update make the same objects.
EXTPREV      = 0.4.0
DATA         = $(filter-out %/$(EXTENSION)--$(EXTVERSION).sql,$(wildcard $(srcdir)/extension/$(EXTENSION)--*.sql))
DATA_built   = extension/$(EXTENSION)--$(EXTVERSION).sql

# Server headers are included as system headers so that -Wextra judges our
# code, not theirs.
PG_CPPFLAGS  = -I$(srcdir)/src -isystem $(shell $(PG_CONFIG) --includedir-server)
# p11-kit's PKCS#11 header (libp11-kit-dev) for src/kek_pkcs11.c; the
# token's module is loaded with dlopen, never linked, and glibc has dlopen
# in libc itself since 2.34, so nothing is added to SHLIB_LINK.
P11_KIT_INC := $(shell pkg-config --variable=includedir p11-kit-1 2>/dev/null || echo /usr/include)/p11-kit-1
PG_CPPFLAGS += -isystem $(P11_KIT_INC)
# Warnings on; CI and the test command add -Werror (PG_CFLAGS=...).
PG_CFLAGS   += -Wall -Wextra
SHLIB_LINK  += -lssl -lcrypto

# Regression tests, in order; each file sets up what it needs.
REGRESS      = setup roundtrip gucs errors tamper rotation context copy \
               plancache encoding limits upgrade_guards \
               parallel storage first_use det det_index \
               script_security plaintext_privilege stored_keys search upgrade_chain
# A UTF-8 database with the C locale, whatever the cluster's locale.
REGRESS_OPTS = --inputdir=$(srcdir) --encoding=UTF8 --no-locale

PGXS        := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

extension/$(EXTENSION)--$(EXTVERSION).sql: $(srcdir)/extension/$(EXTENSION)--$(EXTPREV).sql \
		$(srcdir)/extension/$(EXTENSION)--$(EXTPREV)--$(EXTVERSION).sql
	@$(MKDIR_P) extension
	cat $^ > $@

# pgTAP suite (make prove): test/*.sql through pg_prove, against the server
# and database that PGHOST, PGPORT and PGDATABASE name.
TAP_TESTS    = $(sort $(wildcard test/*.sql))
.PHONY: prove
prove:
	pg_prove --dbname "$${PGDATABASE:-postgres}" $(TAP_TESTS)

# The regression files, for scripts that run them one by one.
.PHONY: print-regress
print-regress:
	@echo $(REGRESS)

# The migration readers are a second extension, encrypted_column_migrate,
# built by migrate/Makefile (its own library, control file and tests) and
# driven from here as contrib drives its subdirectories.
.PHONY: all-migrate install-migrate uninstall-migrate clean-migrate \
	installcheck-migrate
all: all-migrate
install: install-migrate
uninstall: uninstall-migrate
clean: clean-migrate
installcheck: installcheck-migrate
MIGRATE_SRC  = $(abspath $(srcdir))/migrate
all-migrate install-migrate uninstall-migrate clean-migrate installcheck-migrate:
	@$(MKDIR_P) migrate
	$(MAKE) -C migrate -f $(MIGRATE_SRC)/Makefile VPATH=$(MIGRATE_SRC) \
		$(@:%-migrate=%)
