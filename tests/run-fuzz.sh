#!/bin/sh
# Usage: tests/run-fuzz.sh [SECONDS [TARGET...]]
# Run every fuzz target (build/fuzz/fuzz_*, from `make fuzz-build`), or the
# named ones (http, names, csr, pem, acme, acmesrv), for SECONDS (default 300) each,
# then every committed regression input of the target once;
# record "passed failed" in build/fuzz/results.  A target's run counts one
# pass (no crash, leak, sanitizer report or timeout), each regression file one.
#
# libFuzzer reads the committed seeds (tests/fuzz/corpus/T) and writes what it
# learns into build/fuzz/corpus/T, so the committed corpus never changes and a
# later run starts from the last one.  A crash leaves its input in
# build/fuzz/artifacts/T/: fix the core, then commit the input as
# tests/fuzz/regressions/T/NAME.
cd "$(dirname "$0")/.." || exit 1
seconds="${1:-300}"
[ $# -gt 0 ] && shift
only="$*"
build=build/fuzz
results="$build/results"
passed=0
failed=0
mkdir -p "$build"
: > "$results"
# leaks are bugs (LeakSanitizer is on by default; keep it on whatever the caller set)
ASAN_OPTIONS="detect_leaks=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
UBSAN_OPTIONS="print_stacktrace=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
export ASAN_OPTIONS UBSAN_OPTIONS

# run_one LOG ARGS...: run a target with its temporary files under build/fuzz/tmp
run_one() {
    log="$1"
    shift
    rm -rf "$build/tmp" && mkdir -p "$build/tmp"
    TMPDIR="$(pwd)/$build/tmp" "$@" >"$log" 2>&1 </dev/null
    rc=$?
    rm -rf "$build/tmp"
    return $rc
}

for src in tests/fuzz/fuzz_*.c; do
    name=$(basename "$src" .c)
    t=${name#fuzz_}
    if [ -n "$only" ] && ! printf ' %s ' "$only" | grep -q " $t "; then
        continue
    fi
    bin="$build/$name"
    if [ ! -x "$bin" ]; then
        echo "  $name: not built (make fuzz-build)"
        failed=$((failed + 1))
        continue
    fi
    mkdir -p "$build/corpus/$t" "$build/artifacts/$t"
    set --
    [ -f "tests/fuzz/$t.dict" ] && set -- "-dict=tests/fuzz/$t.dict"
    log="$build/$t.log"
    run_one "$log" "$bin" -max_total_time="$seconds" -timeout=25 -print_final_stats=1 \
        -artifact_prefix="$build/artifacts/$t/" "$@" "$build/corpus/$t" "tests/fuzz/corpus/$t"
    rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    corpus=$(ls "$build/corpus/$t" | wc -l)
    if [ "$rc" -eq 0 ]; then
        echo "  $name: ${execs:-?} executions in ${seconds} s, no crash ($corpus inputs in $build/corpus/$t)"
        passed=$((passed + 1))
    else
        echo "  $name: FAILED after ${execs:-?} executions (exit $rc); the input is in $build/artifacts/$t/"
        grep -E '^(==[0-9]+==|SUMMARY|fuzz|.*: check failed|    #[0-9] )' "$log" | head -n 40
        failed=$((failed + 1))
    fi
    for f in tests/fuzz/regressions/"$t"/*; do
        [ -f "$f" ] || continue
        if run_one "$build/regression.log" "$bin" -timeout=25 "$f"; then
            passed=$((passed + 1))
        else
            echo "  $name: regression $f FAILED"
            grep -E '^(==[0-9]+==|SUMMARY|fuzz|.*: check failed|    #[0-9] )' \
                "$build/regression.log" | head -n 40
            failed=$((failed + 1))
        fi
    done
done
echo "$passed $failed" > "$results"
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
