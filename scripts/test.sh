#!/usr/bin/env bash
# test.sh — set up, build and run the whole test suite with ctest.
# The Vulkan tests run on any Vulkan device, lavapipe (Mesa's CPU driver) included; set
# VLM_TEST_REQUIRE_VULKAN=1 to make them fail rather than skip when none works.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
cd "$BUILD_DIR"
ctest --output-on-failure -j"${CTEST_JOBS:-1}" "$@"
