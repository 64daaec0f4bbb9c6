#!/bin/sh
# Run every unit test binary of one build (build or build/asan) and record
# the counts in BUILD/results (or the file named second).  Check prints
# "NN%: Checks: N, Failures: F, Errors: E".  With CIN_TEST_PG set (see
# tests/integration/pg.py) the same tests run on PostgreSQL.
build="${1:-build}"
results="${2:-$build/results}"
engine=""
[ -n "$CIN_TEST_PG" ] && engine=", on PostgreSQL"
: > "$results"
passed=0
failed=0
CIN_CLI="$build/certinext"
export CIN_CLI
# Check's timeouts are a safety net, not a measurement: generous, since the
# machine is shared and a sanitized build (or PostgreSQL) is several times slower
CK_DEFAULT_TIMEOUT="${CK_DEFAULT_TIMEOUT:-60}"
case "$build" in *asan*) CK_TIMEOUT_MULTIPLIER="${CK_TIMEOUT_MULTIPLIER:-3}" ;; esac
[ -n "$CIN_TEST_PG" ] && CK_TIMEOUT_MULTIPLIER="${CK_TIMEOUT_MULTIPLIER:-3}"
export CK_DEFAULT_TIMEOUT
[ -n "$CK_TIMEOUT_MULTIPLIER" ] && export CK_TIMEOUT_MULTIPLIER
for t in "$build"/tests/test_*; do
    [ -x "$t" ] || continue
    out=$("$t" 2>&1)
    rc=$?
    printf '%s\n' "$out" | grep -E '^[0-9]+%: Checks|:[EF]:' | sed "s|^|  $(basename "$t"): |"
    line=$(printf '%s\n' "$out" | grep -E '^[0-9]+%: Checks' | tail -n 1)
    n=$(printf '%s' "$line" | sed -n 's/.*Checks: \([0-9]*\).*/\1/p')
    f=$(printf '%s' "$line" | sed -n 's/.*Failures: \([0-9]*\).*/\1/p')
    e=$(printf '%s' "$line" | sed -n 's/.*Errors: \([0-9]*\).*/\1/p')
    if [ -z "$n" ]; then
        # the binary died before Check could report (a sanitizer abort, say)
        printf '%s\n' "$out" | tail -n 30
        failed=$((failed + 1))
        continue
    fi
    bad=$((f + e))
    if [ "$rc" -ne 0 ] && [ "$bad" -eq 0 ]; then
        printf '%s\n' "$out" | tail -n 30
        bad=1
    fi
    passed=$((passed + n - f - e))
    failed=$((failed + bad))
done
echo "$passed $failed" > "$results"
echo "unit ($build$engine): $passed passed, $failed failed"
[ "$failed" -eq 0 ]
