#!/usr/bin/env bash
# test.sh — set up, build and run the whole test suite with ctest.
# The Vulkan tests run on any Vulkan device, lavapipe (Mesa's CPU driver) included; set
# VLM_TEST_REQUIRE_VULKAN=1 to make them fail rather than skip when none works.
# Skipped tests (a missing browser, fixtures or device) are listed at the end with their reason.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
cd "$BUILD_DIR"
set +e
ctest --output-on-failure -j"${CTEST_JOBS:-1}" "$@" | tee ctest.log
rc=${PIPESTATUS[0]}
set -e
skipped=$(sed -n '/The following tests did not run:/,/^$/p' ctest.log | sed -n 's/^.* - \([^ ]*\) (Skipped)$/\1/p')
if [ -n "$skipped" ]; then
    echo
    echo "test.sh: $(echo "$skipped" | wc -l) test(s) SKIPPED, not passed:"
    for t in $skipped; do
        why=$(awk -v t="$t" '$0 ~ "^[0-9]+/[0-9]+ Test: " t "$" {on = 1; next}
                             /^[0-9]+\/[0-9]+ Test: / {on = 0}
                             on && /SKIP/ {sub(/^.*SKIP:? */, ""); print; exit}' Testing/Temporary/LastTest.log 2>/dev/null)
        echo "  $t: ${why:-no reason printed}"
    done
fi
exit "$rc"
