#!/usr/bin/env bash
# sanitize.sh — builds vlm with AddressSanitizer + UndefinedBehaviorSanitizer (-DVLM_SANITIZE=ON)
# and, with clang, unsigned-integer-overflow checks on the file parsers; runs the whole ctest
# suite under ASan/LSan/UBSan, then a leak check of the CLI's error paths (tests/data/bad).
#   scripts/sanitize.sh [ctest args...]
# Env: ASAN_DIR (build folder, default build-asan), CC (default clang, else gcc without the
# integer checks), VLM_FIXTURES, SANITIZE_SKIP_CTEST=1 (only the CLI leak check).
# LeakSanitizer suppressions for leaks inside the Vulkan driver / LLVM: tests/lsan.supp.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${ASAN_DIR:-$ROOT/build-asan}"
CC="${CC:-$(command -v clang || command -v gcc)}"
mkdir -p "$BUILD"

EXTRA_CFLAGS="-g -O1"
if "$CC" --version 2>/dev/null | grep -q clang; then
    # Integer overflow checks (unsigned wrap is defined in C, so UBSan's default set misses it)
    # only where sizes come from files: every other source (hashes, RNGs, kernels wrap on
    # purpose) is listed in an ignore list generated here.
    ign="$BUILD/ubsan-integer-ignore.txt"
    {
        echo "[unsigned-integer-overflow]"
        echo "fun:*hash*"   # FNV / splitmix hashes wrap by design
        echo "src:/usr/*"
        echo "src:$ROOT/tests/*"   # test helpers (harness RNG)
        echo "src:$ROOT/*.h"       # inline helpers in headers (hashes, RNGs)
        (cd "$ROOT" && ls core/*.c vision/*.c language/*.c fusion/*.c apps/*.c tests/*.c) |
            grep -v -E '^(core/safetensors|core/pytorch|core/zip|core/gguf|vision/image-io|language/clip-tokenizer|language/bpe-tokenizer|fusion/model-config|apps/serve-request)\.c$' |
            sed "s|^|src:$ROOT/|"
    } >"$ign.new"
    # the list's content in its name, so that a change of the list rebuilds (a flags change)
    sum=$(md5sum <"$ign.new" | cut -c1-12)
    mv "$ign.new" "${ign%.txt}-$sum.txt"
    ign="${ign%.txt}-$sum.txt"
    EXTRA_CFLAGS="$EXTRA_CFLAGS -fsanitize=unsigned-integer-overflow -fsanitize-ignorelist=$ign"
else
    echo "sanitize.sh: $CC is not clang: no unsigned-integer-overflow checks" >&2
fi

cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Debug -DVLM_SANITIZE=ON -DCMAKE_C_COMPILER="$CC" \
      -DCMAKE_C_FLAGS="$EXTRA_CFLAGS" >/dev/null
cmake --build "$BUILD" -j"${BUILD_JOBS:-$(nproc)}"

export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:strict_string_checks=1:detect_stack_use_after_return=1:check_initialization_order=1}"
# full (slow) unwinding: a frame-pointer stack stops at driver code, so the suppressions
# (matched against every frame) would miss leaks made inside the Vulkan driver
export LSAN_OPTIONS="${LSAN_OPTIONS:-suppressions=$ROOT/tests/lsan.supp:print_suppressions=0:fast_unwind_on_malloc=0}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
status=0
if [ "${SANITIZE_SKIP_CTEST:-0}" != 1 ]; then
    (cd "$BUILD" && ctest --output-on-failure -j"${CTEST_JOBS:-1}" "$@") || status=1
fi

# CLI error paths: every case of the malformed-input corpus exits through an error path;
# test-bad-corpus checks exit codes and messages, and under ASan a leak makes the command
# exit 23 (LeakSanitizer) with a report on stderr, which fails the one-line-error check.
# Run again here directly, grepping for sanitizer reports, so a leak is named clearly.
echo "sanitize.sh: CLI error paths under ASan"
log="$BUILD/cli-error-paths.log"
VLM_CLI="$BUILD/vlm" VLM_SOURCE_DIR="$ROOT" VLM_FIXTURES_DEFAULT="${VLM_FIXTURES:-$ROOT/../shared/fixtures}" \
    "$BUILD/tests/test-bad-corpus" >"$log" 2>&1 || status=1
if grep -q -E 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$log"; then
    echo "sanitize.sh: sanitizer reports on the CLI error paths:"
    grep -E -A12 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$log" | head -80
    status=1
fi
tail -1 "$log"
exit $status
