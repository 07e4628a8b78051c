#!/usr/bin/env bash
# demo.sh — set up, build, and run the main jobs on a sample image: SAM segmentation from a
# click and CLIP zero-shot labels. Models: pass SAM_MODEL / CLIP_MODEL (a .safetensors file or
# a folder); without them it uses the random-weight test models in ../shared/fixtures, whose
# masks and labels are meaningless but exercise the whole pipeline.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
SAM_MODEL="${SAM_MODEL:-$FIXTURES/sam-tiny}"
CLIP_MODEL="${CLIP_MODEL:-$FIXTURES/clip-tiny}"
IMAGE="${1:-$ROOT/assets/dog.jpg}"
OUT="${OUT_DIR:-$ROOT/demo-out}"
mkdir -p "$OUT"

echo "== devices"
"$VLM" devices
echo
echo "== models"
"$VLM" info "$SAM_MODEL" "$CLIP_MODEL"
echo
echo "== segment: one click on $IMAGE"
"$VLM" segment -m "$SAM_MODEL" "$IMAGE" --point 320,290 -o "$OUT/mask.png" --overlay "$OUT/overlay.png" --json "$OUT/masks.json"
echo
echo "== classify"
"$VLM" classify -m "$CLIP_MODEL" "$IMAGE" --labels "a dog,a cat,a truck,groceries" --top 4
echo
echo "outputs in $OUT"
