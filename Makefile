# certinext - one entry point: deps, build, test, lint, demo, bench, install, clean.
# See README.md.  Build output goes to build/ (ignored by git).

BUILD    ?= build
CC       ?= cc
PKGS      = openssl libcurl jansson sqlite3 libpq libqrencode ldns
SAN_FLAGS = -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
WARN      = -Wall -Wextra -Werror -Wformat=2 -Wshadow
OPT      ?= -O2 -g
PQ_CFLAGS = $(shell pkg-config --cflags libpq 2>/dev/null || echo -I/usr/include/postgresql)
# -MMD -MP: every object's header dependencies, in a .d file beside it (included below)
# common/include: the glue's API (all the two modules see); common/src: the
# core's internal headers (the core, the CLI, the tests)
CFLAGS    = $(OPT) -std=gnu11 -D_GNU_SOURCE -fPIC $(WARN) -MMD -MP -Icommon/include -Icommon/src \
	$(PQ_CFLAGS) $(EXTRA_CFLAGS)
# The core's link flags: the one list the CLI, the tests, the apxs rule and the
# nginx module's config (through $(BUILD)/core.libs) all link with.
CORE_LIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null || echo -lssl -lcrypto -lcurl -ljansson -lsqlite3 -lpq -lqrencode -lldns) -lpthread
LDLIBS    = $(CORE_LIBS)
comma    := ,
CHECK_LIBS = $(shell pkg-config --libs check 2>/dev/null || echo -lcheck -lsubunit -lm -lrt)

LIB_SRC   = $(wildcard common/src/*.c)
LIB_OBJ   = $(patsubst common/src/%.c,$(BUILD)/obj/%.o,$(LIB_SRC)) $(BUILD)/obj/ui_data.o
UI_FILES  = $(wildcard common/ui/*.html common/ui/*.css common/ui/*.js common/ui/*.svg common/ui/views/*.js)
CLI_SRC   = $(wildcard common/cli/*.c)
CLI_OBJ   = $(patsubst common/cli/%.c,$(BUILD)/obj/cli/%.o,$(CLI_SRC))
UNIT_SRC  = $(wildcard tests/unit/test_*.c)
UNIT_BIN  = $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRC))
UNIT_HELP = $(BUILD)/obj/tests/harness.o
UNIT_OBJ  = $(patsubst tests/unit/%.c,$(BUILD)/obj/tests/%.o,$(UNIT_SRC))
# the unit objects stay: make would delete them as intermediates of the pattern
# rules after a first build, and every later make would build them again
.SECONDARY: $(UNIT_OBJ) $(UNIT_HELP)

DEPS_STAMP = $(BUILD)/.deps-installed

.PHONY: FORCE deb demo-stop all nginx-module apache-module deps lib cli unit test unit-test asan-build asan-test \
	asan-modules lint demo bench install clean fuzz fuzz-build fuzz-bin man

all: lib cli nginx-module apache-module man

APXS       = apxs
APACHE_MODULE = $(BUILD)/mod_certinext.so
# extra compiler flags for the two modules' glue (asan-modules sets the sanitizers)
MODULE_CFLAGS ?=
apache-module: $(APACHE_MODULE)

$(APACHE_MODULE): mod_certinext/mod_certinext.c $(wildcard common/include/*.h) \
		$(BUILD)/libcertinext.a | $(DEPS_STAMP)
	@mkdir -p $(BUILD)/apxs
	cp mod_certinext/mod_certinext.c $(BUILD)/apxs/
	cd $(BUILD)/apxs && $(APXS) -c -Wc,-Wall -Wc,-Wextra -Wc,-Werror -Wc,-std=gnu11 \
		$(addprefix -Wc$(comma),$(MODULE_CFLAGS)) \
		-I$(abspath common/include) -o mod_certinext.so mod_certinext.c \
		-Wl,--whole-archive $(abspath $(BUILD)/libcertinext.a) -Wl,--no-whole-archive \
		$(CORE_LIBS) $(MODULE_CFLAGS) \
		> apxs.log 2>&1 || (cat apxs.log; exit 1)
	cp $(BUILD)/apxs/.libs/mod_certinext.so $@

NGX_DIR    = $(BUILD)/nginx
NGX_MODULE = $(BUILD)/ngx_http_certinext_module.so
nginx-module: $(NGX_MODULE)

# Debian's nginx-dev source tree, configured once like the packaged nginx
# (ngx_certinext/config takes the core and its link flags from $$CIN_BUILD at
# configure time; ngx_certinext/config.make makes the core library and the
# public headers real dependencies of the module in nginx's objs/Makefile)
$(NGX_DIR)/objs/Makefile: ngx_certinext/config ngx_certinext/config.make $(BUILD)/core.libs \
		| $(DEPS_STAMP) $(BUILD)/libcertinext.a
	rm -rf $(NGX_DIR) && mkdir -p $(BUILD) && cp -r /usr/share/nginx/src $(NGX_DIR)
	cd $(NGX_DIR) && CIN_BUILD=$(abspath $(BUILD)) bash -c '. ./conf_flags && ./configure "$${NGX_CONF_FLAGS[@]}" \
		--with-cc-opt="-g -O2 -fPIC -Wextra" \
		--add-dynamic-module=$(abspath ngx_certinext)' > $(abspath $(BUILD))/nginx-configure.log 2>&1

$(NGX_MODULE): $(NGX_DIR)/objs/Makefile ngx_certinext/*.c $(wildcard common/include/*.h) \
		$(BUILD)/libcertinext.a
	$(MAKE) -s -C $(NGX_DIR) -f objs/Makefile CC="$(CC) $(MODULE_CFLAGS)" modules
	cp $(NGX_DIR)/objs/ngx_http_certinext_module.so $@

# the link flags, for the nginx module's config (CORE_LIBS is set here)
$(BUILD)/core.libs: Makefile
	@mkdir -p $(dir $@)
	echo '$(CORE_LIBS)' > $@

deps: $(DEPS_STAMP)
$(DEPS_STAMP): deps/debian-packages.txt
	@sh deps/install.sh deps/debian-packages.txt
	@mkdir -p $(BUILD) && touch $@

lib: $(BUILD)/libcertinext.a
cli: $(BUILD)/certinext

# certinext(8), from the help texts the built command prints (common/cli/mkman.py)
man: $(BUILD)/certinext.8
$(BUILD)/certinext.8: $(BUILD)/certinext common/cli/mkman.py
	/usr/bin/python3 common/cli/mkman.py $(BUILD)/certinext > $@.tmp && mv $@.tmp $@

# An object without its .d file (built before -MMD) is compiled once more, so
# that its header dependencies are known from then on.
.SECONDEXPANSION:
NO_DEPFILE = $$(if $$(wildcard $$(basename $$@).d),,FORCE)
FORCE:

$(BUILD)/obj/%.o: common/src/%.c $(NO_DEPFILE) | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

$(BUILD)/gen/ui_data.c: $(UI_FILES) common/ui/embed.py
	@mkdir -p $(dir $@)
	/usr/bin/python3 common/ui/embed.py $@ $(UI_FILES)

$(BUILD)/obj/ui_data.o: $(BUILD)/gen/ui_data.c common/src/ui_files.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

$(BUILD)/obj/cli/%.o: common/cli/%.c $(NO_DEPFILE)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

$(BUILD)/libcertinext.a: $(LIB_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/certinext: $(CLI_OBJ) $(BUILD)/libcertinext.a
	$(CC) $(CFLAGS) -o $@ $(CLI_OBJ) $(BUILD)/libcertinext.a $(LDLIBS)

$(BUILD)/obj/tests/%.o: tests/unit/%.c $(NO_DEPFILE)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests/unit -c -o $@ $<

# the header dependencies the compiler wrote (-MMD -MP); tests that include the
# sources they test (test_acme.c: acme*.c) are rebuilt with them through these too
-include $(wildcard $(BUILD)/obj/*.d $(BUILD)/obj/cli/*.d $(BUILD)/obj/tests/*.d)

$(BUILD)/tests/%: $(BUILD)/obj/tests/%.o $(UNIT_HELP) $(BUILD)/libcertinext.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< $(UNIT_HELP) $(BUILD)/libcertinext.a $(CHECK_LIBS) $(LDLIBS)

unit: $(UNIT_BIN) cli

# The test suite: lint, unit tests, the same unit tests under ASan+UBSan,
# then the integration tests (some with both modules under ASan+UBSan, hence
# asan-modules); one summary line adds every part up.
test: deps
	@$(MAKE) --no-print-directory all $(BENCH_BIN) asan-modules
	@sh tests/run-all.sh

unit-test: unit
	@sh tests/run-unit.sh $(BUILD)

ASAN_VARS = BUILD=build/asan EXTRA_CFLAGS="$(SAN_FLAGS)" OPT="-O1 -g"

asan-build:
	@$(MAKE) --no-print-directory $(ASAN_VARS) unit

# Both modules and the core under ASan+UBSan, for the sanitized integration tests
# (tests/integration/test_sanitized.py): build/asan/ngx_http_certinext_module.so and
# build/asan/mod_certinext.so, loaded into the stock servers with the runtime preloaded.
asan-modules:
	@$(MAKE) --no-print-directory $(ASAN_VARS) MODULE_CFLAGS="$(SAN_FLAGS)" nginx-module apache-module

asan-test: asan-build
	@ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		sh tests/run-unit.sh build/asan

lint: deps
	@sh tests/lint.sh

# Fuzzing (tests/fuzz/): libFuzzer targets linked against a second build of
# the core, made with clang, ASan+UBSan and fuzzer coverage, in build/fuzz/.
# `make fuzz` runs each target for FUZZ_SECONDS, then every regression input.
FUZZ_BUILD   = build/fuzz
FUZZ_SECONDS ?= 300
FUZZ_SRC     = $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BIN     = $(patsubst tests/fuzz/%.c,$(BUILD)/%,$(FUZZ_SRC))

fuzz-build: deps
	@$(MAKE) --no-print-directory BUILD=$(FUZZ_BUILD) CC=clang OPT="-O1 -g" \
		EXTRA_CFLAGS="$(SAN_FLAGS) -fsanitize=fuzzer-no-link" fuzz-bin

# (made by fuzz-build, with BUILD=build/fuzz and clang)
fuzz-bin: $(FUZZ_BIN)

# fuzz_acme.c includes the ACME connector's sources (common/src/acme*.c)
$(BUILD)/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz_util.h $(wildcard common/src/acme*) \
		$(BUILD)/libcertinext.a
	$(CC) $(CFLAGS) -fsanitize=fuzzer -o $@ $< $(BUILD)/libcertinext.a $(LDLIBS)

fuzz: fuzz-build
	@sh tests/run-fuzz.sh $(FUZZ_SECONDS)

demo: deps all
	@sh tests/demo.sh

demo-stop:
	@sh tests/demo.sh stop

BENCH_BIN = $(BUILD)/bench/seed $(BUILD)/bench/tlsbench $(BUILD)/bench/missbench

$(BUILD)/bench/%: tests/bench/%.c $(BUILD)/libcertinext.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< $(BUILD)/libcertinext.a $(LDLIBS)

bench: deps all $(BENCH_BIN)
	@sh tests/bench/run.sh

install: all
	install -d $(DESTDIR)/usr/bin $(DESTDIR)/usr/lib/nginx/modules \
		$(DESTDIR)/usr/share/nginx/modules-available $(DESTDIR)/etc/nginx/modules-enabled
	install -m 0755 $(BUILD)/certinext $(DESTDIR)/usr/bin/certinext
	install -d $(DESTDIR)/usr/share/man/man8
	install -m 0644 $(BUILD)/certinext.8 $(DESTDIR)/usr/share/man/man8/certinext.8
	install -m 0644 $(NGX_MODULE) $(DESTDIR)/usr/lib/nginx/modules/ngx_http_certinext_module.so
	echo 'load_module modules/ngx_http_certinext_module.so;' \
		> $(DESTDIR)/usr/share/nginx/modules-available/mod-http-certinext.conf
	ln -sf /usr/share/nginx/modules-available/mod-http-certinext.conf \
		$(DESTDIR)/etc/nginx/modules-enabled/50-mod-http-certinext.conf
	install -d $(DESTDIR)/usr/lib/apache2/modules $(DESTDIR)/etc/apache2/mods-available \
		$(DESTDIR)/etc/apache2/conf-available
	install -m 0644 $(APACHE_MODULE) $(DESTDIR)/usr/lib/apache2/modules/mod_certinext.so
	printf '# Depends: ssl\nLoadModule certinext_module /usr/lib/apache2/modules/mod_certinext.so\n' \
		> $(DESTDIR)/etc/apache2/mods-available/certinext.load
	install -m 0644 conf-examples/apache/certinext.conf $(DESTDIR)/etc/apache2/conf-available/certinext.conf
	install -d $(DESTDIR)/lib/systemd/system
	install -m 0644 conf-examples/systemd/certinext-agent.service $(DESTDIR)/lib/systemd/system/

# Debian packages (debian/): certinext, libnginx-mod-http-certinext (depending
# on the nginx ABI it was built against) and libapache2-mod-certinext, built
# with debhelper from this tree's build/ into build/deb/, then lintian.
deb: all
	@rm -rf $(BUILD)/deb && mkdir -p $(BUILD)/deb
	debian/rules binary > $(BUILD)/deb/build.log 2>&1 || (cat $(BUILD)/deb/build.log; exit 1)
	@rm -rf debian/.debhelper debian/debhelper-build-stamp debian/files debian/*.substvars \
		debian/*.debhelper debian/*.debhelper.log \
		debian/certinext debian/libnginx-mod-http-certinext debian/libapache2-mod-certinext \
		debian/tmp
	lintian --fail-on error $(BUILD)/deb/*.deb
	@ls $(BUILD)/deb/*.deb

clean:
	rm -rf build tests/output
