#!/usr/bin/env bash
# device-check.sh — the checks to run on a machine with a real GPU, from built binaries:
# the device list, the Vulkan per-op suites, the parity tests on the Vulkan backend, and the
# benchmarks on the GPU. Needs no compiler on that machine.
#
#   BIN=build scripts/device-check.sh [OUT_DIR]
# BIN: the build folder (vlm and tests/); VLM_FIXTURES: the fixtures (tests without theirs skip);
# TESTS / BENCHES override the lists. Logs go to OUT_DIR (default ./device-check-out).
set -uo pipefail
BIN="${BIN:-build}"
OUT="${1:-device-check-out}"
mkdir -p "$OUT"
VLM="$BIN/vlm"
export VLM_CLI="$VLM" VLM_TEST_BACKENDS="${VLM_TEST_BACKENDS:-cpu,vulkan}" VLM_TEST_REQUIRE_VULKAN=1
TESTS="${TESTS:-test-ops-vulkan test-ops-quant test-llama-parity test-vlm-prompt test-smolvlm-vision test-clip-parity test-sam-parity}"
BENCHES="${BENCHES:-sam-vit-b clip-vit-b-32 smollm2-135m:q8_0 smollm2-135m:f16 smolvlm-256m:q8_0}"

"$VLM" devices 2>&1 | tee "$OUT/devices.txt"
status=0
for t in $TESTS; do
    [ -x "$BIN/tests/$t" ] || { echo "$t: not built"; continue; }
    start=$(date +%s)
    timeout "${TEST_TIMEOUT:-300}" "$BIN/tests/$t" >"$OUT/$t.log" 2>&1
    rc=$?
    printf "%-22s rc=%-3d %4d s  %s\n" "$t" "$rc" "$(( $(date +%s) - start ))" "$(tail -1 "$OUT/$t.log")"
    [ $rc -eq 0 ] || [ $rc -eq 77 ] || status=1
done
for b in $BENCHES; do
    model="${b%%:*}" type=""
    [ "$b" != "$model" ] && type="--type ${b#*:}"
    for backend in ${BENCH_BACKENDS:-vulkan}; do
        timeout "${BENCH_TIMEOUT:-300}" "$VLM" bench --random "$model" $type --backend "$backend" --runs "${RUNS:-3}" --json \
            >"$OUT/bench-$model-${b#*:}-$backend.json" 2>"$OUT/bench-$model-$backend.err" \
            && echo "bench $b $backend: $(cat "$OUT/bench-$model-${b#*:}-$backend.json")" \
            || { echo "bench $b $backend failed: $(tail -2 "$OUT/bench-$model-$backend.err")"; status=1; }
    done
done
exit $status
