#!/bin/sh
# make lint: warnings as errors, cppcheck, clang-format, and the rule that the
# core includes no server headers.  Prints one line per check and exits
# non-zero on the first class of problem found (all are run).
cd "$(dirname "$0")/.." || exit 1
status=0
# logs in this tree's build directory (several trees may lint at once)
logs=build/lint
mkdir -p "$logs"
fail() { echo "lint: $*"; status=1; }

# 1. the core is server-agnostic: no httpd, APR or nginx headers under common/
if grep -rnE '^[[:space:]]*#[[:space:]]*include[[:space:]]*[<"](httpd|http_(config|core|log|main|protocol|request|connection|vhost)|apr|apr_[a-z_]+|apu|apu_[a-z_]+|ap_[a-z_]+|mod_[a-z_]+|ngx_[a-z_]+|nginx)\.h[>"]' common/; then
    fail "common/ includes a server header (above)"
else
    echo "lint: common/ includes no httpd, APR or nginx header"
fi

# 2. compiler warnings are errors in our code
if make --no-print-directory -s all >"$logs/build.log" 2>&1; then
    echo "lint: build with -Wall -Wextra -Werror is clean"
else
    cat "$logs/build.log"
    fail "the build has warnings or errors"
fi

# 3. cppcheck
if cppcheck --quiet --error-exitcode=1 --enable=warning,performance,portability \
        --inline-suppr --std=c11 -D__GNUC__ -Icommon/include -Icommon/src \
        --suppress=missingIncludeSystem common/src common/cli 2>"$logs/cppcheck.log"; then
    echo "lint: cppcheck is clean"
else
    cat "$logs/cppcheck.log"
    fail "cppcheck found problems"
fi

# 4. formatting against .clang-format (not ngx_certinext/: the nginx glue is in
#    nginx's own style, and its .clang-format disables formatting)
files=$(ls common/src/*.c common/src/*.h common/include/*.h common/cli/*.c common/cli/*.h \
        mod_certinext/*.c tests/unit/*.c tests/unit/*.h tests/bench/*.c \
        tests/fuzz/*.c tests/fuzz/*.h 2>/dev/null)
if clang-format --dry-run --Werror $files 2>"$logs/format.log"; then
    echo "lint: clang-format is clean"
else
    head -n 40 "$logs/format.log"
    fail "files differ from .clang-format (run: clang-format -i FILES)"
fi

# 5. the web page's ES modules: eslint and prettier (pinned in tests/js/package.json,
#    installed for lint and tests only, never shipped)
if [ ! -x tests/js/node_modules/.bin/eslint ] || [ tests/js/package-lock.json -nt tests/js/node_modules/.stamp ]; then
    (cd tests/js && npm ci --no-audit --no-fund --loglevel=error >/dev/null 2>"../../$logs/npm.log" && touch node_modules/.stamp) ||
        { cat "$logs/npm.log"; fail "npm ci in tests/js failed"; }
fi
if tests/js/node_modules/.bin/eslint -c tests/js/eslint.config.mjs common/ui/ >"$logs/eslint.log" 2>&1; then
    echo "lint: eslint is clean (common/ui)"
else
    cat "$logs/eslint.log"
    fail "eslint found problems in common/ui"
fi
if tests/js/node_modules/.bin/prettier --config tests/js/.prettierrc.json --check 'common/ui/**/*.js' common/ui/style.css \
        >"$logs/prettier.log" 2>&1; then
    echo "lint: prettier is clean (common/ui)"
else
    cat "$logs/prettier.log"
    fail "files differ from prettier (run: tests/js/node_modules/.bin/prettier --config tests/js/.prettierrc.json --write 'common/ui/**/*.js' common/ui/style.css)"
fi
exit $status
