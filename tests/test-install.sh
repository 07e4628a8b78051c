#!/bin/sh
# test-install.sh BUILD_DIR FIXTURES — `cmake --install` into a temporary prefix, then, from
# another folder and without VLM_ASSETS / VLM_SOURCE_DIR: `vlm concepts` (concept list and BPE
# vocabulary from share/vlm), `vlm serve` (its web page and one API request), and a C program
# built against the installed library: pkg-config (shared and static) and find_package(vlm).
# Exit 77 (skipped) without the fixtures.
set -eu
build=$(cd "$1" && pwd)
fixtures=$2
[ -z "${VLM_TEST_INSTALL_SKIP:-}" ] || { echo "SKIP: $VLM_TEST_INSTALL_SKIP"; exit 77; }
[ -f "$fixtures/clip-tiny/model.safetensors" ] || { echo "SKIP: fixtures not found at $fixtures"; exit 77; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/vlm-test-install-XXXXXX")
srv=
cleanup() { [ -n "$srv" ] && kill "$srv" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }
prefix=$tmp/prefix
cmake --install "$build" --prefix "$prefix" >"$tmp/install.log" || { cat "$tmp/install.log"; fail "cmake --install"; }
for f in bin/vlm include/vlm.h lib/libvlm.a lib/libvlm.so lib/pkgconfig/vlm.pc lib/cmake/vlm/vlmConfig.cmake \
         share/vlm/concepts.txt share/vlm/bpe_simple_vocab_16e6.txt.gz share/vlm/models.json share/vlm/web/index.html; do
    [ -e "$prefix/$f" ] || fail "not installed: $f"
done
echo "ok: installed into a temporary prefix"

# the models in a folder of their own: no vocabulary next to them, no assets anywhere near
mkdir -p "$tmp/models" "$tmp/elsewhere" "$tmp/home"
cp "$fixtures/clip-tiny/model.safetensors" "$tmp/models/clip.safetensors"
cp "$fixtures/sam-tiny/model.safetensors" "$tmp/models/sam.safetensors"
cd "$tmp/elsewhere"
unset VLM_ASSETS VLM_SOURCE_DIR XDG_CACHE_HOME
export HOME="$tmp/home" VLM_BACKEND=cpu
vlm=$prefix/bin/vlm

"$vlm" concepts -m "$tmp/models/clip.safetensors" "$fixtures/images/dog.jpg" --top 3 >concepts.out 2>concepts.err ||
    { cat concepts.err; fail "vlm concepts from another folder"; }
[ "$(grep -c . concepts.out)" -ge 4 ] && head -1 concepts.out | grep -q "^prob  *cosine  *concept$" || { cat concepts.out; fail "vlm concepts printed too little"; }
echo "ok: vlm concepts (concept list and vocabulary from share/vlm)"

"$vlm" models >models.out 2>models.err || { cat models.err; fail "vlm models from another folder"; }
grep -q "smolvlm-256m" models.out || { cat models.out; fail "vlm models lists no smolvlm-256m"; }
echo "ok: vlm models (the registry from share/vlm)"

"$vlm" serve -m "$tmp/models/sam.safetensors" --port 0 >serve.out 2>serve.err &
srv=$!
url=
for _ in $(seq 1 600); do
    url=$(grep -o 'http://127.0.0.1:[0-9]*/' serve.out 2>/dev/null | head -1) && [ -n "$url" ] && break
    kill -0 "$srv" 2>/dev/null || { cat serve.err; fail "vlm serve exited"; }
    sleep 0.2
done
[ -n "$url" ] || fail "vlm serve printed no URL"
curl -sf "$url" -o page.html || fail "GET / failed"
grep -qi "<html" page.html || fail "GET / is not the web page"
curl -sf --data-binary @"$fixtures/images/dog.jpg" "${url}v1/images" -o image.json || fail "POST /v1/images failed"
grep -q '"width": *800' image.json || { cat image.json; fail "POST /v1/images answer"; }
grep -qi "not found" serve.err && { cat serve.err; fail "vlm serve warned about missing assets"; }
kill "$srv"
wait "$srv" 2>/dev/null || true
srv=
echo "ok: vlm serve (web page and one request)"

cat >app.c <<'C'
#include <stdio.h>
#include <vlm.h>
int main(int argc, char ** argv) {
    struct vlm_model_params p = vlm_model_default_params();
    p.backend = VLM_BACKEND_CPU;
    struct vlm_model * m = NULL;
    if (argc < 2 || vlm_model_load(argv[1], &p, &m) != VLM_STATUS_OK) {
        fprintf(stderr, "%s\n", vlm_last_error());
        return 1;
    }
    printf("vlm %s: CLIP embed dim %d\n", vlm_version(), (int)vlm_clip_embed_dim(m));
    if (argc > 2) {   // a text: the BPE vocabulary comes from share/vlm next to the installed libvlm.so
        float e[4096];
        struct vlm_clip_params cp = vlm_clip_default_params();
        if (vlm_clip_encode_text(m, argv[2], &cp, e, 4096, NULL) != VLM_STATUS_OK) {
            fprintf(stderr, "%s\n", vlm_last_error());
            return 1;
        }
        printf("text encoded\n");
    }
    vlm_model_free(m);
    return 0;
}
C
export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
cc=${CC:-cc}
# shared: libvlm.so from the prefix
$cc app.c $(pkg-config --cflags --libs vlm) -Wl,-rpath,"$prefix/lib" -o app-shared || fail "build against libvlm.so"
ldd ./app-shared | grep -q "$prefix/lib/libvlm.so" || fail "app-shared does not use the installed libvlm.so"
./app-shared "$tmp/models/clip.safetensors" "a dog" >app.out 2>&1 || { cat app.out; fail "app-shared"; }
grep -q "embed dim [1-9]" app.out && grep -q "text encoded" app.out || { cat app.out; fail "app-shared output"; }
# static: libvlm.a and what pkg-config --static lists
$cc app.c $(pkg-config --cflags vlm) "$prefix/lib/libvlm.a" $(pkg-config --static --libs vlm | sed 's/ -lvlm / /; s/^-lvlm //') \
    -o app-static || fail "build against libvlm.a"
ldd ./app-static | grep -q libvlm.so && fail "app-static uses libvlm.so"
./app-static "$tmp/models/clip.safetensors" | grep -q "embed dim [1-9]" || fail "app-static"
echo "ok: a C program built with pkg-config (shared and static)"

mkdir cm
cat >cm/CMakeLists.txt <<'CM'
cmake_minimum_required(VERSION 3.20)
project(app C)
find_package(vlm REQUIRED)
add_executable(app ../app.c)
target_link_libraries(app vlm::vlm)
set_target_properties(app PROPERTIES BUILD_RPATH ${VLM_LIB_DIR})
CM
cmake -S cm -B cm/build -DCMAKE_PREFIX_PATH="$prefix" >cm.log 2>&1 && cmake --build cm/build >>cm.log 2>&1 ||
    { cat cm.log; fail "find_package(vlm) project"; }
./cm/build/app "$tmp/models/clip.safetensors" | grep -q "embed dim [1-9]" || fail "find_package(vlm) app"
echo "ok: a C program built with find_package(vlm)"
echo "test-install: all passed"
