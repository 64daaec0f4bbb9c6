#!/bin/sh
# make test: lint, the unit tests (on SQLite, then on a PostgreSQL cluster of their
# own), the same unit tests under ASan+UBSan, a
# short run of every fuzz target (FUZZ_TEST_SECONDS each, default 25) and its
# regression inputs, the integration tests (the core scenarios also with both
# modules under ASan+UBSan), then docs/openapi.yaml against every API call those
# tests recorded; one summary line that adds every part up.
cd "$(dirname "$0")/.." || exit 1
passed=0
failed=0
add() { passed=$((passed + $1)); failed=$((failed + $2)); }

echo "== lint"
if sh tests/lint.sh; then add 1 0; else add 0 1; fi

echo "== unit tests"
if make --no-print-directory -s unit >build-unit.log 2>&1; then
    sh tests/run-unit.sh build
    read p f < build/results
    add "$p" "$f"
else
    cat build-unit.log
    add 0 1
fi
rm -f build-unit.log

echo "== the same unit tests on PostgreSQL (a cluster of their own)"
if [ -x build/tests/test_store ]; then
    /usr/bin/python3 tests/integration/pg.py sh tests/run-unit.sh build build/results-pg
    if [ -f build/results-pg ]; then
        read p f < build/results-pg
        add "$p" "$f"
    else
        add 0 1
    fi
    rm -f build/results-pg
else
    add 0 1
fi

echo "== unit tests under ASan+UBSan"
if make --no-print-directory -s asan-build >build-asan.log 2>&1; then
    ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        sh tests/run-unit.sh build/asan
    read p f < build/asan/results
    add "$p" "$f"
else
    cat build-asan.log
    add 0 1
fi
rm -f build-asan.log

fuzz_seconds="${FUZZ_TEST_SECONDS:-25}"
echo "== fuzzing (libFuzzer + ASan/UBSan, $fuzz_seconds s per target, then the regression inputs)"
if make --no-print-directory -s fuzz-build >build-fuzz.log 2>&1; then
    sh tests/run-fuzz.sh "$fuzz_seconds"
    read p f < build/fuzz/results
    add "$p" "$f"
else
    cat build-fuzz.log
    add 0 1
fi
rm -f build-fuzz.log

if ls tests/integration/test_*.py >/dev/null 2>&1; then
    echo "== integration tests (real servers)"
    mkdir -p build
    # test_sanitized.py loads both modules built with ASan+UBSan (make test built them)
    if ! make --no-print-directory -s asan-modules >build-asan-modules.log 2>&1; then
        cat build-asan-modules.log
        add 0 1
    fi
    rm -f build-asan-modules.log
    # every API call the tests make is recorded (cin.Api) for the OpenAPI check below
    rm -f build/api-calls.jsonl
    CIN_API_RECORD="$PWD/build/api-calls.jsonl" \
        /usr/bin/python3 -m pytest -q -p no:cacheprovider --junitxml=build/integration.xml tests/integration
    rc=$?
    if [ -f build/integration.xml ]; then
        counts=$(/usr/bin/python3 tests/junit_counts.py build/integration.xml)
        set -- $counts
        add "$1" "$2"
    fi
    if [ "$rc" -ne 0 ] && [ "$rc" -ne 1 ]; then
        add 0 1 # pytest itself failed (collection error, no tests...)
    fi

    echo "== docs/openapi.yaml: the spec, and every recorded API call and answer against it"
    if [ -s build/api-calls.jsonl ]; then
        /usr/bin/python3 tests/integration/openapi_check.py build/api-calls.jsonl \
            >build/openapi-check.log 2>&1
        grep -v '^ok ' build/openapi-check.log
        counts=$(tail -n 1 build/openapi-check.log | sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\1 \2/p')
        if [ -n "$counts" ]; then
            set -- $counts
            add "$1" "$2"
        else
            add 0 1 # the checker itself broke
        fi
    else
        echo "no API calls were recorded"
        add 0 1
    fi
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
