#!/usr/bin/env bash
# bench.sh — full-size benchmark of vlm against the upstream PyTorch reference, in one run on
# this machine: SAM ViT-B (1024x1024) and CLIP ViT-B/32, random weights at the official shapes.
#
#   scripts/bench.sh                       vlm only (CPU backend, and Vulkan when a device works)
#   SAM_REPO=~/src/segment-anything CLIP_REPO=~/src/CLIP scripts/bench.sh
#                                          also times the upstream code with PyTorch (python3-torch,
#                                          python3-torchvision) and prints the ratio vlm / reference
# RUNS (default 3) sets the runs per stage; BACKENDS (default "cpu vulkan") the backends.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
RUNS="${RUNS:-3}"
BACKENDS="${BACKENDS:-cpu vulkan}"
OUT="$(mktemp -d)"
trap 'rm -rf "$OUT"' EXIT

for model in sam-vit-b clip-vit-b-32; do
    for backend in $BACKENDS; do
        if "$VLM" bench --random "$model" --backend "$backend" --runs "$RUNS" --json >"$OUT/$model.$backend.json" 2>"$OUT/err"; then
            :
        else
            echo "bench $model on $backend failed: $(tail -1 "$OUT/err")" >&2
            rm -f "$OUT/$model.$backend.json"
        fi
    done
done

ref_args=()
[ -n "${SAM_REPO:-}" ] && ref_args+=(--sam-repo "$SAM_REPO")
[ -n "${CLIP_REPO:-}" ] && ref_args+=(--clip-repo "$CLIP_REPO")
if [ ${#ref_args[@]} -gt 0 ]; then
    vlm_install_packages python3-torch python3-torchvision python3-numpy
    /usr/bin/python3 "$ROOT/scripts/bench-reference.py" "${ref_args[@]}" --runs "$RUNS" >"$OUT/reference.json"
fi

/usr/bin/python3 - "$OUT" <<'PY'
import glob, json, os, sys
out = sys.argv[1]
ref = {}
if os.path.exists(f"{out}/reference.json"):
    ref = json.load(open(f"{out}/reference.json"))["models"]
print("| model | stage | backend | vlm ms | GFLOP/s | of peak | PyTorch ms | vlm / PyTorch | peak RSS MiB |")
print("|---|---|---|---:|---:|---:|---:|---:|---:|")
for path in sorted(glob.glob(f"{out}/*.*.json")):
    if path.endswith("reference.json"):
        continue
    j = json.load(open(path))
    for stage, s in j["stages"].items():
        r = ref.get(j["model"], {}).get(stage, {}).get("median_ms")
        ratio = f"{s['median_ms'] / r:.2f}x" if r else "-"
        rms = f"{r:.1f}" if r else "-"
        print(f"| {j['model']} | {stage} | {j['backend']} | {s['median_ms']:.1f} | {s['gflops']:.1f} | "
              f"{100 * s['peak_fraction']:.0f}% | {rms} | {ratio} | {j['peak_rss_mb']:.0f} |")
if ref:
    print()
print(f"peak = OpenBLAS sgemm 2048^3 measured in the same run: "
      + ", ".join(sorted({f"{json.load(open(p))['sgemm_peak_gflops']:.0f} GFLOP/s" for p in glob.glob(f'{out}/*.*.json') if not p.endswith('reference.json')})))
PY
