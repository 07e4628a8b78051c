#!/usr/bin/env bash
# gpu-check.sh — the checks to run on a machine with a GPU, from built binaries only (no
# compiler, no Python): the Vulkan device list and self-test, the per-op tests, the parity tests
# on the Vulkan backend and `vlm bench` of every model on the GPU (full-size random weights, as
# scripts/bench.sh makes them), written as a markdown report with the logs beside it.
#
#   scripts/gpu-check.sh BUILD_DIR [OUT_DIR]      OUT_DIR default ./gpu-check-out (report.md there)
#
# GPU_CHECK_QUICK=1 (the default when the device is a CPU emulation such as lavapipe): the small
# fixture models instead of full-size ones and one run per stage, so that it ends in minutes there.
# VLM_FIXTURES: the fixtures folder (the build's default otherwise); tests without theirs skip.
# TESTS / BENCHES / RUNS override the lists and runs per stage; TEST_TIMEOUT / BENCH_TIMEOUT (s).
set -uo pipefail
if [ $# -lt 1 ] || [ ! -x "$1/vlm" ]; then
    echo "usage: scripts/gpu-check.sh BUILD_DIR [OUT_DIR] (BUILD_DIR holds the built vlm and tests/)" >&2
    exit 2
fi
BIN="$(cd "$1" && pwd)"
OUT="${2:-gpu-check-out}"
mkdir -p "$OUT" || exit 2
OUT="$(cd "$OUT" && pwd)"
VLM="$BIN/vlm"
REPORT="$OUT/report.md"
export VLM_CLI="$VLM" VLM_TEST_BACKENDS="vulkan" VLM_TEST_REQUIRE_VULKAN=1 VLM_SELFTEST_CACHE="$OUT/selftest-cache"
# what ctest would set: the fixtures and the source tree (tests/data) the build was configured with
cache_var() { sed -n "s/^$1:[A-Z]*=//p" "$BIN/CMakeCache.txt" 2>/dev/null | head -1; }
export VLM_FIXTURES_DEFAULT="${VLM_FIXTURES_DEFAULT:-$(cache_var VLM_FIXTURES_DIR)}"
export VLM_SOURCE_DIR="${VLM_SOURCE_DIR:-$(cache_var CMAKE_HOME_DIRECTORY)}"
FIX="${VLM_FIXTURES:-$VLM_FIXTURES_DEFAULT}"
status=0
t_start=$(date +%s)

"$VLM" devices >"$OUT/devices.txt" 2>&1
if ! grep -q "vulkan device 0:" "$OUT/devices.txt"; then
    echo "gpu-check: no Vulkan device: $(tail -1 "$OUT/devices.txt")" >&2
    exit 1
fi
device="$(grep -m1 "vulkan device 0:" "$OUT/devices.txt" | sed 's/^vulkan device 0: *//')"
quick="${GPU_CHECK_QUICK:-}"
if [ -z "$quick" ]; then
    case "$device" in *llvmpipe*|*lavapipe*|*SwiftShader*|*swiftshader*) quick=1 ;; *) quick=0 ;; esac
fi
if [ "$quick" = 1 ]; then
    TESTS="${TESTS:-test-ops-vulkan test-selftest test-device-faults test-sam-parity test-clip-parity}"
    BENCHES="${BENCHES:--m:$FIX/sam-tiny -m:$FIX/clip-tiny -m:$FIX/smolvlm-tiny/smolvlm-tiny-f32.gguf}"
    RUNS="${RUNS:-1}"
else
    TESTS="${TESTS:-test-ops-vulkan test-ops-quant test-selftest test-device-faults test-sam-parity test-sam-everything test-clip-parity test-llama-parity test-smolvlm-vision test-vlm-prompt}"
    BENCHES="${BENCHES:---random:sam-vit-b --random:clip-vit-b-32 --random:smollm2-135m:q8_0 --random:smollm2-135m:f16 --random:smolvlm-256m:q8_0}"
    RUNS="${RUNS:-3}"
fi

{
    echo "# vlm GPU check"
    echo
    echo "- device: $device"
    echo "- vlm: $("$VLM" --version 2>&1 | head -1)"
    echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC'); mode: $([ "$quick" = 1 ] && echo "quick (small models, $RUNS run)" || echo "full ($RUNS runs)")"
    echo
    echo '## Devices'
    echo
    echo '```'
    cat "$OUT/devices.txt"
    echo '```'
} >"$REPORT"

# the self-test: its table, and its verdict line
st0=$(date +%s)
"$VLM" devices --selftest >"$OUT/selftest.txt" 2>&1
rc=$?
[ $rc -eq 0 ] || status=1
{
    echo
    echo "## Self-test ($(( $(date +%s) - st0 )) s, exit $rc)"
    echo
    grep -E "^[0-9]+ cases|^device:" "$OUT/selftest.txt" | sed 's/^/- /'
    if grep -q "FAIL" "$OUT/selftest.txt"; then
        echo
        echo "Failed cases:"
        echo
        echo '```'
        grep "FAIL" "$OUT/selftest.txt"
        echo '```'
    fi
    echo
    echo "The full table: selftest.txt"
    echo
    echo "## Tests"
    echo
    echo "| test | result | seconds | summary |"
    echo "|---|---|---:|---|"
} >>"$REPORT"

for t in $TESTS; do
    if [ ! -x "$BIN/tests/$t" ]; then
        echo "| $t | not built | | |" >>"$REPORT"
        continue
    fi
    t0=$(date +%s)
    (cd "$BIN/tests" && timeout "${TEST_TIMEOUT:-600}" "./$t") >"$OUT/$t.log" 2>&1
    rc=$?
    case $rc in 0) res=pass ;; 77) res=skipped ;; 124) res="TIMEOUT"; status=1 ;; *) res="FAIL ($rc)"; status=1 ;; esac
    summary="$(grep -E "passed, [0-9]+ failed|^SKIP" "$OUT/$t.log" | tail -1)"
    echo "| $t | $res | $(( $(date +%s) - t0 )) | $summary |" >>"$REPORT"
    echo "gpu-check: $t: $res" >&2
done

{
    echo
    echo "## Benchmarks (vulkan)"
    echo
} >>"$REPORT"
for b in $BENCHES; do
    flag="${b%%:*}" rest="${b#*:}"
    model="${rest%%:*}" type=""
    [ "$rest" != "$model" ] && type="--type ${rest#*:}"
    name="$(basename "$model")${type:+-${rest#*:}}"
    t0=$(date +%s)
    # shellcheck disable=SC2086
    timeout "${BENCH_TIMEOUT:-600}" "$VLM" bench "$flag" "$model" $type --backend vulkan --runs "$RUNS" \
        >"$OUT/bench-$name.txt" 2>"$OUT/bench-$name.err"
    rc=$?
    [ $rc -eq 0 ] || status=1
    {
        echo "### $name ($(( $(date +%s) - t0 )) s$([ $rc -eq 0 ] || echo ", FAILED: exit $rc"))"
        echo
        echo '```'
        cat "$OUT/bench-$name.txt"
        [ $rc -eq 0 ] || tail -3 "$OUT/bench-$name.err"
        echo '```'
        echo
    } >>"$REPORT"
    echo "gpu-check: bench $name: exit $rc" >&2
done

echo "Total: $(( $(date +%s) - t_start )) s, $([ $status -eq 0 ] && echo "everything passed" || echo "FAILURES above")." >>"$REPORT"
echo "gpu-check: report in $REPORT" >&2
exit $status
