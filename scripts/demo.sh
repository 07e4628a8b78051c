#!/usr/bin/env bash
# demo.sh — set up, build, and run the main jobs on a sample image: a description and a question
# about one clicked object (SmolVLM), SAM segmentation from a click and CLIP zero-shot labels.
# Models: the defaults of 'vlm models' (smolvlm-256m, sam-vit-b, clip-vit-b-32), pulled into the cache
# ($VLM_MODELS, else ~/.cache/vlm) when the network allows; offline, the random-weight test models in
# ../shared/fixtures, whose answers, masks and labels are meaningless but exercise the whole pipeline.
# VLM_TEXT / VLM_MMPROJ (SmolVLM's GGUF pair), SAM_MODEL, CLIP_MODEL (files, folders or names) override.
set -euo pipefail
VLM_QUIET_BUILD=1 source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"   # the build's output to build/build.log

# huggingface.co reachable (directly, or a proxy is set for libcurl)
online() {
    [ -n "${https_proxy:-}${HTTPS_PROXY:-}${ALL_PROXY:-}" ] ||
        timeout 5 bash -c 'exec 3<>/dev/tcp/huggingface.co/443' 2>/dev/null
}
if [ -n "${VLM_TEXT:-}${SAM_MODEL:-}${CLIP_MODEL:-}" ]; then
    :
elif online && "$VLM" pull smolvlm-256m sam-vit-b clip-vit-b-32; then
    VLM_TEXT=smolvlm-256m SAM_MODEL=sam-vit-b CLIP_MODEL=clip-vit-b-32
else
    echo "demo: offline (the default models cannot be downloaded): the same steps on the random-weight fixture models"
    VLM_TEXT="$FIXTURES/smolvlm-tiny/smolvlm-tiny-f32.gguf"
    VLM_MMPROJ="$FIXTURES/smolvlm-tiny/mmproj-smolvlm-tiny-f32.gguf"
fi
SAM_MODEL="${SAM_MODEL:-$FIXTURES/sam-tiny}"
CLIP_MODEL="${CLIP_MODEL:-$FIXTURES/clip-tiny}"
VLM_TEXT="${VLM_TEXT:-smolvlm-256m}"
TEXT_ARGS=(-m "$VLM_TEXT")
[ -n "${VLM_MMPROJ:-}" ] && TEXT_ARGS+=(--mmproj "$VLM_MMPROJ")
IMAGE="${1:-$ROOT/assets/dog.jpg}"
OUT="${OUT_DIR:-$ROOT/demo-out}"
mkdir -p "$OUT"

echo "== devices"
"$VLM" devices
echo
echo "== models"
"$VLM" models
echo
echo "== describe $IMAGE"
"$VLM" describe "$IMAGE" "${TEXT_ARGS[@]}" --max-tokens 32
echo
echo "== ask about the object at one click"
"$VLM" ask "$IMAGE" "What is this?" --point 320,290 --sam "$SAM_MODEL" "${TEXT_ARGS[@]}" \
    --max-tokens 16 --mask-out "$OUT/object.png"
echo
echo "== segment: one click on $IMAGE"
"$VLM" segment -m "$SAM_MODEL" "$IMAGE" --point 320,290 -o "$OUT/mask.png" --overlay "$OUT/overlay.png" --json "$OUT/masks.json"
echo
echo "== classify"
"$VLM" classify -m "$CLIP_MODEL" "$IMAGE" --labels "a dog,a cat,a truck,groceries" --top 4
echo
echo "outputs in $OUT"
