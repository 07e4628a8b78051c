#!/usr/bin/env bash
# setup.sh — installs what vlm needs (Debian packages, when missing), configures and builds.
# Sourced by demo.sh, test.sh and bench.sh; run it alone to just build. BUILD_DIR overrides ./build.
# VLM_QUIET_BUILD=1 writes the configure and build output to $BUILD_DIR/build.log (shown on failure).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="${BUILD_DIR:-$ROOT/build}"

VLM_PACKAGES=(cmake make gcc pkg-config libpng-dev libjpeg62-turbo-dev libvulkan-dev glslang-tools
              mesa-vulkan-drivers libstb-dev libopenblas-openmp-dev g++ libcjson-dev libmicrohttpd-dev libwebp-dev
              zlib1g-dev libcurl4-openssl-dev curl)   # curl: test-install's request to vlm serve

vlm_install_packages() {
    local missing=()
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    echo "setup: installing ${missing[*]}"
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

vlm_build() {
    if [ "${VLM_QUIET_BUILD:-0}" = 1 ]; then
        mkdir -p "$BUILD_DIR"
        echo "setup: building vlm (output in $BUILD_DIR/build.log)" >&2
        if ! (cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE="${BUILD_TYPE:-Release}" ${CMAKE_ARGS:-} &&
              cmake --build "$BUILD_DIR" -j"$(nproc)") >"$BUILD_DIR/build.log" 2>&1; then
            tail -n 30 "$BUILD_DIR/build.log" >&2
            echo "setup: the build failed (full log: $BUILD_DIR/build.log)" >&2
            exit 1
        fi
        return 0
    fi
    cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE="${BUILD_TYPE:-Release}" ${CMAKE_ARGS:-} >/dev/null
    cmake --build "$BUILD_DIR" -j"$(nproc)"
}

vlm_install_packages "${VLM_PACKAGES[@]}"
vlm_build
VLM="$BUILD_DIR/vlm"
FIXTURES="${VLM_FIXTURES:-$ROOT/../shared/fixtures}"
