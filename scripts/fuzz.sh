#!/usr/bin/env bash
# fuzz.sh — builds the libFuzzer targets of tests/fuzz/ with clang (fuzzer + ASan + UBSan) and
# runs each on its seed corpus for FUZZ_SECONDS (default 20), one target at a time.
#   scripts/fuzz.sh [target...]        (default: every tests/fuzz/fuzz-*.c)
# Env: FUZZ_SECONDS, FUZZ_DIR (build folder, default build-fuzz), VLM_FIXTURES, CC (clang),
#      FUZZ_JOBS (parallel fuzzing jobs per target, default 1), FUZZ_BUILD_ONLY=1.
# Needs the Debian packages clang, libclang-rt-14-dev (the fuzzer/sanitizer runtimes), libomp-dev
# (clang's OpenMP, for fuzz-sam-load's whole-library build) plus
# the library's -dev packages (scripts/setup.sh). Seeds are generated into $FUZZ_DIR/seeds from
# the shared fixtures and tests/data/bad; new inputs go to $FUZZ_DIR/corpus/<target>; crashes
# to $FUZZ_DIR/crashes/<target>/. Exit status: 1 when any target crashed.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="${FUZZ_DIR:-$ROOT/build-fuzz}"
SECONDS_PER_TARGET="${FUZZ_SECONDS:-20}"
FIXTURES="${VLM_FIXTURES:-$ROOT/../shared/fixtures}"
CC="${CC:-clang}"
case "$CC" in *clang*) ;; *) CC=clang ;; esac
command -v "$CC" >/dev/null || { echo "fuzz.sh: clang not found (apt-get install clang libclang-rt-14-dev)" >&2; exit 2; }
PY="$(command -v /usr/bin/python3 || command -v python3)"

CFLAGS=(-std=gnu11 -g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined
        -fno-sanitize-recover=all -Wall -Wextra -Wno-unused-parameter -DVLM_VERSION='"fuzz"'
        -I"$ROOT/include" -I"$ROOT/core" -I"$ROOT/vision" -I"$ROOT/language" -I"$ROOT/fusion" -I"$ROOT/apps"
        -I/usr/include/stb $(pkg-config --cflags libcjson libwebp libpng))
# Integer wrap checks (unsigned overflow is defined in C, so UBSan's default set misses it) on
# the sources that compute sizes from file data; hashes wrap by design.
INT_CHECKED='^(core/safetensors|core/pytorch|core/zip|core/gguf|vision/image-io|language/clip-tokenizer|language/bpe-tokenizer|fusion/model-config|apps/serve-request)\.c$'
mkdir -p "$OUT"
printf '[unsigned-integer-overflow]\nfun:*hash*\nsrc:/usr/*\n' >"$OUT/ubsan-integer-ignore.txt"
INT_FLAGS=(-fsanitize=unsigned-integer-overflow -fsanitize-ignorelist="$OUT/ubsan-integer-ignore.txt")
LIBS=($(pkg-config --libs libcjson libwebp libpng zlib) -ljpeg -lm -lpthread)

# The library sources each target needs (only parsers/decoders: no shaders, no Vulkan), or
# "libvlm": the whole library, built by CMake with the same sanitizers (fuzz-sam-load loads and
# runs models on the CPU backend; the Vulkan backend is linked but never started).
sources_of() {
    case "$1" in
        fuzz-safetensors)    echo core/safetensors.c core/file.c core/dtype.c core/status.c core/half.c ;;
        fuzz-pytorch)        echo core/pytorch.c core/zip.c core/safetensors.c core/file.c core/dtype.c core/status.c core/half.c ;;
        fuzz-gguf)           echo core/gguf.c core/dtype.c core/status.c core/half.c language/bpe-tokenizer.c language/unicode-props.c ;;
        fuzz-bpe-tokenizer)  echo core/gguf.c core/dtype.c core/status.c core/half.c language/bpe-tokenizer.c language/unicode-props.c ;;
        fuzz-image-decode)   echo vision/image-io.c vision/stb-impl.c core/file.c core/status.c ;;
        fuzz-preprocess)     echo vision/image-io.c vision/stb-impl.c vision/resize.c vision/preprocess.c core/file.c core/status.c ;;
        fuzz-clip-tokenizer) echo language/clip-tokenizer.c language/unicode-props.c core/status.c ;;
        fuzz-config-json)    echo fusion/model-config.c core/config-file.c core/file.c core/status.c ;;
        fuzz-serve-request)  echo apps/serve-request.c apps/serve-util.c ;;
        fuzz-sam-load)       echo libvlm ;;
        *) echo "fuzz.sh: unknown target $1" >&2; return 1 ;;
    esac
}
# Per-target libFuzzer options.
options_of() {
    case "$1" in
        fuzz-image-decode|fuzz-preprocess) echo -max_len=65536 -rss_limit_mb=2560 -timeout=20 ;;
        fuzz-clip-tokenizer|fuzz-bpe-tokenizer) echo -max_len=4096 -timeout=10 ;;
        fuzz-sam-load)                     echo -max_len=4096 -rss_limit_mb=4096 -timeout=30 -dict="$ROOT/tests/fuzz/$1.dict" ;;
        *)                                 echo -max_len=65536 -timeout=10 ;;
    esac
}

# libvlm.a with the fuzzing flags (CMake: shaders, OpenMP, OpenBLAS as in the normal build), and
# what links it.
libvlm() {
    local b="$OUT/libvlm"
    if [ ! -f "$b/CMakeCache.txt" ]; then
        cmake -S "$ROOT" -B "$b" -DCMAKE_BUILD_TYPE=Debug -DVLM_BUILD_TESTS=OFF -DCMAKE_C_COMPILER="$CC" \
            -DCMAKE_C_FLAGS="-O1 -fno-omit-frame-pointer -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all" \
            >"$b.log" 2>&1 || { cat "$b.log" >&2; return 1; }
    fi
    cmake --build "$b" --target vlm-lib -j "${FUZZ_BUILD_JOBS:-2}" >>"$b.log" 2>&1 || { tail -30 "$b.log" >&2; return 1; }
    local blas
    blas=$(sed -n 's/^VLM_OPENBLAS_LIB:FILEPATH=//p' "$b/CMakeCache.txt")
    LIBVLM=("$b/libvlm.a" -fopenmp "$blas" -Wl,-rpath,"$(dirname "$blas")" -lvulkan)
}

# Per-target ASan options (after ASAN_OPTIONS).
asan_of() {
    case "$1" in
        # config.json may ask for any image size up to 65536: arenas past 3 GiB are refused as on a
        # machine without that memory (a clear error), instead of tripping libFuzzer's malloc limit
        fuzz-sam-load) echo max_allocation_size_mb=3072 ;;
    esac
}

if [ $# -gt 0 ]; then TARGETS=("$@"); else
    TARGETS=(); for f in "$ROOT"/tests/fuzz/fuzz-*.c; do TARGETS+=("$(basename "$f" .c)"); done
fi

mkdir -p "$OUT/obj" "$OUT/seeds" "$OUT/corpus" "$OUT/crashes"
"$PY" "$ROOT/tests/fuzz/make-seeds.py" "$OUT/seeds" "$FIXTURES" "$ROOT/tests/data/bad"

status=0
for t in "${TARGETS[@]}"; do
    srcs=($(sources_of "$t"))
    objs=()
    if [ "${srcs[*]}" = libvlm ]; then libvlm; objs=("${LIBVLM[@]}"); srcs=(); fi
    for s in "${srcs[@]}"; do   # library objects, shared between targets, rebuilt when newer
        o="$OUT/obj/$(echo "$s" | tr / -).o"
        extra=()
        if [[ "$s" =~ $INT_CHECKED ]]; then extra=("${INT_FLAGS[@]}"); fi
        if [ ! -f "$o" ] || [ "$ROOT/$s" -nt "$o" ] || [ "$0" -nt "$o" ]; then
            "$CC" "${CFLAGS[@]}" "${extra[@]}" -c "$ROOT/$s" -o "$o"
        fi
        objs+=("$o")
    done
    "$CC" "${CFLAGS[@]}" "$ROOT/tests/fuzz/$t.c" "${objs[@]}" "${LIBS[@]}" -o "$OUT/$t"
    echo "fuzz.sh: built $OUT/$t"
    [ "${FUZZ_BUILD_ONLY:-0}" = 1 ] && continue
    mkdir -p "$OUT/corpus/$t" "$OUT/crashes/$t"
    log="$OUT/$t.log"
    echo "fuzz.sh: $t for ${SECONDS_PER_TARGET}s (log $log)"
    jobs=""
    [ "${FUZZ_JOBS:-1}" -gt 1 ] && jobs="-jobs=$FUZZ_JOBS -workers=$FUZZ_JOBS"
    set +e
    ( cd "$OUT/crashes/$t" && VLM_SOURCE_DIR="$ROOT" VLM_FIXTURES="$FIXTURES" \
      ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1}:$(asan_of "$t")" \
      UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}" \
      "$OUT/$t" $(options_of "$t") -max_total_time="$SECONDS_PER_TARGET" -print_final_stats=1 \
        $jobs \
        "$OUT/corpus/$t" "$OUT/seeds/$t" ) >"$log" 2>&1
    rc=$?
    set -e
    if [ -f "$OUT/crashes/$t/fuzz-0.log" ]; then cat "$OUT/crashes/$t"/fuzz-*.log >>"$log"; fi
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | awk '{s+=$2} END{print s+0}')
    cov=$(grep -oE '(cov|ft): [0-9]+' "$log" | tail -2 | tr '\n' ' ')
    n_crash=$(find "$OUT/crashes/$t" -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' | wc -l)
    echo "fuzz.sh: $t rc=$rc execs=$execs $cov corpus=$(ls "$OUT/corpus/$t" | wc -l) findings=$n_crash"
    if [ $rc -ne 0 ] || [ "$n_crash" -ne 0 ]; then
        status=1
        grep -m3 -E 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error|SUMMARY' "$log" || true
    fi
done
exit $status
