#!/usr/bin/env bash
# demo.sh — set up, build, and run the main jobs on a sample image: a description and a question
# about one clicked object (SmolVLM), SAM segmentation from a click and CLIP zero-shot labels.
# Models: pass VLM_TEXT / VLM_MMPROJ (SmolVLM's GGUF pair), SAM_MODEL, CLIP_MODEL (a .safetensors
# file or a folder); without them it uses the random-weight test models in ../shared/fixtures,
# whose answers, masks and labels are meaningless but exercise the whole pipeline.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
SAM_MODEL="${SAM_MODEL:-$FIXTURES/sam-tiny}"
CLIP_MODEL="${CLIP_MODEL:-$FIXTURES/clip-tiny}"
VLM_TEXT="${VLM_TEXT:-$FIXTURES/smolvlm-tiny/smolvlm-tiny-f32.gguf}"
VLM_MMPROJ="${VLM_MMPROJ:-$FIXTURES/smolvlm-tiny/mmproj-smolvlm-tiny-f32.gguf}"
IMAGE="${1:-$ROOT/assets/dog.jpg}"
OUT="${OUT_DIR:-$ROOT/demo-out}"
mkdir -p "$OUT"

echo "== devices"
"$VLM" devices
echo
echo "== models"
"$VLM" info "$SAM_MODEL" "$CLIP_MODEL" "$VLM_TEXT"
echo
echo "== describe $IMAGE"
"$VLM" describe "$IMAGE" -m "$VLM_TEXT" --mmproj "$VLM_MMPROJ" --max-tokens 32
echo
echo "== ask about the object at one click"
"$VLM" ask "$IMAGE" "What is this?" --point 320,290 --sam "$SAM_MODEL" -m "$VLM_TEXT" --mmproj "$VLM_MMPROJ" \
    --max-tokens 16 --mask-out "$OUT/object.png"
echo
echo "== segment: one click on $IMAGE"
"$VLM" segment -m "$SAM_MODEL" "$IMAGE" --point 320,290 -o "$OUT/mask.png" --overlay "$OUT/overlay.png" --json "$OUT/masks.json"
echo
echo "== classify"
"$VLM" classify -m "$CLIP_MODEL" "$IMAGE" --labels "a dog,a cat,a truck,groceries" --top 4
echo
echo "outputs in $OUT"
