#!/usr/bin/env bash
# bench.sh — full-size benchmark of vlm against the upstream PyTorch reference, in one run on
# this machine: SAM ViT-B (1024x1024), MobileSAM, EfficientSAM-Ti and CLIP ViT-B/32, random weights at the
# official shapes; SAM ViT-B and CLIP also with Q8_0 weights (quantized at load) against vlm's fp32.
#
#   scripts/bench.sh                       vlm only (CPU backend, and Vulkan when a device works)
#   SAM_REPO=~/src/segment-anything MOBILESAM_REPO=~/src/MobileSAM EFFSAM_REPO=~/src/EfficientSAM \
#   CLIP_REPO=~/src/CLIP scripts/bench.sh
#                                          also times the upstream code with PyTorch (python3-torch,
#                                          python3-torchvision) and prints the ratio vlm / reference
#   LLAMA_CPP_DIR=~/src/llama.cpp/build scripts/bench.sh
#                                          also the language half against llama.cpp on the same
#                                          GGUF files: SmolLM2-135M (llama-bench pp512 / tg128) and
#                                          SmolVLM-256M (llama-mtmd-cli on assets/dog.jpg), F16 and Q8_0
#   [CLIP_REPO=~/src/CLIP] scripts/bench.sh index
#                                          only the photo indexing: INDEX_IMAGES (default 200) distinct
#                                          800x534 JPEGs made from assets/dog.jpg, indexed end to end by
#                                          `vlm index --batch 32` (CPU; --weights q8_0, then f32) and, with
#                                          CLIP_REPO, by a PyTorch + PIL script (openai/CLIP preprocessing,
#                                          batch 32, fp32): images/s
#   scripts/bench.sh serve [VARIANT...]   only `vlm serve` latency as a user of the web page sees it, per
#                                          SAM-family model (default: sam-vit-b sam-vit-t efficientsam-vit-t
#                                          efficientsam-vit-s slimsam-50 slimsam-77; random full-size weights,
#                                          CPU, THREADS threads): image ready = POST /v1/images of a new image
#                                          (assets/dog.jpg, 800x534, under a new JPEG comment each time) until
#                                          its reply (decode, resize, encoder); click to mask = POST /v1/segment
#                                          with one point until its reply (decoder, masks, PNGs). Medians of
#                                          UPLOADS (default 3) uploads and CLICKS (default 10) clicks per image
# RUNS (default 3) sets the runs per stage; BACKENDS (default "cpu vulkan") the backends;
# THREADS (default 2) the CPU threads of the llama.cpp comparison (both sides).
set -euo pipefail
VLM_QUIET_BUILD=1 source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"   # build output to build/build.log, not the report
RUNS="${RUNS:-3}"
BACKENDS="${BACKENDS:-cpu vulkan}"
OUT="$(mktemp -d)"
trap 'rm -rf "$OUT"' EXIT

# ---- photo indexing: vlm index against a PyTorch script, same photos, same threads ------------
if [ "${1:-}" = index ]; then
    N="${INDEX_IMAGES:-200}"
    THREADS="${THREADS:-2}"
    "$VLM" bench --random clip-vit-b-32 --save-random "$OUT/clip-vit-b-32.safetensors" --backend cpu --runs 1 >/dev/null
    /usr/bin/python3 "$ROOT/scripts/bench-reference.py" --make-photos "$OUT/photos" --count "$N" --source "$ROOT/assets/dog.jpg"
    echo "| indexer | images | images/s (decode, resize, encode, write) | whole command, model load included |"
    echo "|---|---:|---:|---:|"
    for w in q8_0 f32; do   # f32 last: the ratio below is the fp32 one
        rm -f "$OUT/photos/.vlm-index.safetensors"
        start=$(date +%s.%N)
        "$VLM" index "$OUT/photos" -m "$OUT/clip-vit-b-32.safetensors" --batch 32 --backend cpu --threads "$THREADS" \
            --weights "$w" >"$OUT/index.log" 2>&1
        end=$(date +%s.%N)
        vlm_rate=$(grep -o '[0-9.]* images/s' "$OUT/index.log" | tail -1 | cut -d' ' -f1)
        echo "| vlm index --weights $w, CPU, $THREADS threads | $N | $vlm_rate | $(/usr/bin/python3 -c "print(f'{$end - $start:.1f} s')") |"
    done
    if [ -n "${CLIP_REPO:-}" ]; then
        vlm_install_packages python3-torch python3-torchvision python3-numpy
        # PyTorch's OpenMP waits as vlm's do (apps/main.c set_omp_wait): a brief spin on an idle
        # machine, passive when other processes run (spinning workers then slow everyone down)
        running=$(cut -d' ' -f4 /proc/loadavg | cut -d/ -f1)
        if [ -n "${OMP_WAIT_POLICY:-}${GOMP_SPINCOUNT:-}" ]; then omp=()
        elif [ "$running" -le 1 ]; then omp=(GOMP_SPINCOUNT=10000)
        else omp=(OMP_WAIT_POLICY=passive); fi
        start=$(date +%s.%N)
        env "${omp[@]}" /usr/bin/python3 "$ROOT/scripts/bench-reference.py" --index-photos "$OUT/photos" \
            --clip-repo "$CLIP_REPO" --batch 32 --threads "$THREADS" >"$OUT/reference.json"
        end=$(date +%s.%N)
        /usr/bin/python3 - "$OUT/reference.json" "$vlm_rate" "$(/usr/bin/python3 -c "print($end - $start)")" "${omp[*]}" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
r = j["index"]
print(f"| PyTorch {j['torch']} + PIL, batch 32, {j['threads']} threads | {r['images']} | {r['images_per_s']:.1f} | "
      f"{float(sys.argv[3]):.1f} s |")
print(f"\nvlm (f32) / PyTorch (f32): {float(sys.argv[2]) / r['images_per_s']:.2f}x images/s (PyTorch's BLAS: {j['blas']}; "
      f"OpenMP: {sys.argv[4] or 'as set in the environment'})")
PY
    fi
    exit 0
fi

# ---- vlm serve: image ready and click to mask, over HTTP with curl ---------------------------------
if [ "${1:-}" = serve ]; then
    shift
    [ $# -gt 0 ] || set -- sam-vit-b sam-vit-t efficientsam-vit-t efficientsam-vit-s slimsam-50 slimsam-77
    THREADS="${THREADS:-2}"
    UPLOADS="${UPLOADS:-3}"
    CLICKS="${CLICKS:-10}"
    command -v curl >/dev/null || { echo "bench.sh serve: needs curl" >&2; exit 2; }
    # a new image each time: dog.jpg with a COM segment after SOI (same pixels, new bytes, new id)
    jpeg_variant() {
        { head -c 2 "$ROOT/assets/dog.jpg"; printf '\xff\xfe\x00\x12bench %010d' "$1"; tail -c +3 "$ROOT/assets/dog.jpg"; } >"$OUT/img.jpg"
    }
    median() { sort -n | awk '{a[NR] = $1} END {print NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
    echo "| model | image ready ms (median of $UPLOADS) | click to mask ms (median of $((UPLOADS * CLICKS))) |"
    echo "|---|---:|---:|"
    n=0
    for model in "$@"; do
        "$VLM" bench --random "$model" --save-random "$OUT/$model.safetensors" --backend cpu --threads "$THREADS" --runs 1 \
            >"$OUT/bench.log" 2>&1 || { echo "bench.sh: $model: $(tail -1 "$OUT/bench.log")" >&2; continue; }
        "$VLM" serve -m "$OUT/$model.safetensors" --backend cpu --threads "$THREADS" --port 0 >"$OUT/serve.log" 2>&1 &
        pid=$!
        port=""
        for _ in $(seq 600); do   # model load: up to a minute
            port=$(sed -n 's|^vlm serve: http://127.0.0.1:\([0-9]*\)/.*|\1|p' "$OUT/serve.log")
            [ -n "$port" ] && break
            kill -0 $pid 2>/dev/null || break
            sleep 0.1
        done
        if [ -z "$port" ]; then
            echo "bench.sh: $model: vlm serve did not start: $(tail -1 "$OUT/serve.log")" >&2
            kill $pid 2>/dev/null; wait $pid 2>/dev/null || true
            continue
        fi
        url="http://127.0.0.1:$port/v1"
        : >"$OUT/ready.txt"
        : >"$OUT/click.txt"
        for u in $(seq "$UPLOADS"); do
            n=$((n + 1))
            jpeg_variant "$n"
            curl -sS -o "$OUT/image.json" -w '%{time_total}\n' --data-binary @"$OUT/img.jpg" -H 'Content-Type: image/jpeg' \
                "$url/images" >>"$OUT/ready.txt"
            id=$(sed -n 's/.*"id": *"\([0-9a-f]*\)".*/\1/p' "$OUT/image.json")
            grep -q '"cached": *false' "$OUT/image.json" || { echo "bench.sh: $model: upload $u was not a new image: $(cat "$OUT/image.json")" >&2; break; }
            for c in $(seq "$CLICKS"); do   # points across the image (800x534)
                body="{\"image\": \"$id\", \"points\": [[$((40 + 71 * c % 720)), $((30 + 47 * c % 470)), 1]], \"multimask\": true}"
                curl -sS -o "$OUT/mask.json" -w '%{time_total}\n' -H 'Content-Type: application/json' -d "$body" \
                    "$url/segment" >>"$OUT/click.txt"
                grep -q '"masks"' "$OUT/mask.json" || { echo "bench.sh: $model: click failed: $(head -c 300 "$OUT/mask.json")" >&2; break 2; }
            done
        done
        kill $pid 2>/dev/null; wait $pid 2>/dev/null || true
        ready=$(awk '{print $1 * 1000}' "$OUT/ready.txt" | median)
        click=$(awk '{print $1 * 1000}' "$OUT/click.txt" | median)
        printf '| %s | %.0f | %.0f |\n' "$model" "$ready" "$click"
    done
    echo
    echo "CPU: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) CPUs, vlm --threads $THREADS; load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
    exit 0
fi

# model:weight types; the 8-bit rows (weights quantized at load) are compared with vlm's own fp32
for spec in sam-vit-b:f32,q8_0 sam-vit-t:f32 efficientsam-vit-t:f32 clip-vit-b-32:f32,q8_0; do
    model="${spec%%:*}"
    weights="${spec#*:}"
    for w in ${weights//,/ }; do
        for backend in $BACKENDS; do
            # --save-random: the PyTorch reference loads the same weights (so both keep the same masks)
            save=()
            [ "$w" = f32 ] && save=(--save-random "$OUT/$model.safetensors")
            if "$VLM" bench --random "$model" --weights "$w" --backend "$backend" --runs "$RUNS" --json "${save[@]}" \
                >"$OUT/$model.$backend.$w.json" 2>"$OUT/err"; then
                :
            else
                echo "bench $model ($w) on $backend failed: $(tail -1 "$OUT/err")" >&2
                rm -f "$OUT/$model.$backend.$w.json"
            fi
        done
    done
done

ref_args=()
[ -n "${SAM_REPO:-}" ] && ref_args+=(--sam-repo "$SAM_REPO")
[ -n "${MOBILESAM_REPO:-}" ] && ref_args+=(--mobilesam-repo "$MOBILESAM_REPO")
[ -n "${SAM_REPO:-}" ] && [ -f "$OUT/sam-vit-b.safetensors" ] && ref_args+=(--sam-checkpoint "$OUT/sam-vit-b.safetensors")
[ -n "${EFFSAM_REPO:-}" ] && ref_args+=(--effsam-repo "$EFFSAM_REPO")
[ -n "${EFFSAM_REPO:-}" ] && [ -f "$OUT/efficientsam-vit-t.safetensors" ] && ref_args+=(--effsam-checkpoint "$OUT/efficientsam-vit-t.safetensors")
[ -n "${CLIP_REPO:-}" ] && ref_args+=(--clip-repo "$CLIP_REPO")
if [ ${#ref_args[@]} -gt 0 ]; then
    vlm_install_packages python3-torch python3-torchvision python3-numpy
    # PyTorch's best configuration: OpenBLAS's OpenMP build first (Debian's default pthread
    # build runs it 2-3x slower on 2 cores); the report names the BLAS it loaded
    multiarch="$(/usr/bin/python3 -c 'import sysconfig; print(sysconfig.get_config_var("MULTIARCH") or "")')"
    LD_LIBRARY_PATH="/usr/lib/$multiarch/openblas-openmp${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
        /usr/bin/python3 "$ROOT/scripts/bench-reference.py" "${ref_args[@]}" --runs "$RUNS" >"$OUT/reference.json"
fi

/usr/bin/python3 - "$OUT" <<'PY'
import glob, json, os, sys
out = sys.argv[1]
ref, refj = {}, {}
if os.path.exists(f"{out}/reference.json"):
    refj = json.load(open(f"{out}/reference.json"))
    ref = refj["models"]
print("| model | weights | stage | backend | vlm ms | GFLOP/s | of peak | PyTorch ms (fp32) | vlm / PyTorch | vlm fp32 / this | peak RSS MiB |")
print("|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|")
runs = {}
for path in glob.glob(f"{out}/*.*.*.json"):
    if not path.endswith("reference.json"):
        model, backend, weights = os.path.basename(path)[:-5].rsplit(".", 2)
        runs[model, backend, weights] = json.load(open(path))
order = ["sam-vit-b", "sam-vit-t", "efficientsam-vit-t", "clip-vit-b-32"]
for (model, backend, weights), j in sorted(runs.items(), key=lambda kv: (order.index(kv[0][0]), kv[0][1], kv[0][2] != "f32")):
    for stage, s in j["stages"].items():
        r = ref.get(model, {}).get(stage, {}).get("median_ms")
        f32 = runs.get((model, backend, "f32"), {}).get("stages", {}).get(stage, {}).get("median_ms")
        ratio = f"{s['median_ms'] / r:.2f}x" if r else "-"
        rms = f"{r:.1f}" if r else "-"
        speedup = f"{f32 / s['median_ms']:.2f}x" if f32 and weights != "f32" else "-"
        print(f"| {model} | {weights} | {stage} | {backend} | {s['median_ms']:.1f} | {s['gflops']:.1f} | "
              f"{100 * s['peak_fraction']:.0f}% | {rms} | {ratio} | {speedup} | {j['peak_rss_mb']:.0f} |")
if ref:
    print()
    print(f"PyTorch {refj['torch']}, {refj['threads']} threads, BLAS: {refj['blas'] or 'built in'}")
for path in sorted(glob.glob(f"{out}/sam-vit-b.*.f32.json")):
    j = json.load(open(path))
    e = j["stages"].get("everything")
    r = ref.get("sam-vit-b", {}).get("everything")
    if e:
        print(f"everything ({j['backend']}): vlm kept {e['masks']} masks" + (f", PyTorch {r['masks']}" if r else "") +
              " (SamAutomaticMaskGenerator defaults: 32x32 points, batch 64, no crops; from the embedding)")
print(f"peak = OpenBLAS sgemm 2048^3 measured in the same run: "
      + ", ".join(sorted({f"{j['sgemm_peak_gflops']:.0f} GFLOP/s" for j in runs.values()}))
      + "; the CPU's FMA loop (its arithmetic limit): "
      + ", ".join(sorted({f"{j.get('fma_peak_gflops', 0):.0f} GFLOP/s" for j in runs.values()})))
PY

# ---- the language half against llama.cpp (same files, same threads, same run) -----------------
[ -n "${LLAMA_CPP_DIR:-}" ] || exit 0
LBIN="$LLAMA_CPP_DIR/bin"
[ -x "$LBIN/llama-bench" ] || LBIN="$LLAMA_CPP_DIR/build/bin"
if [ ! -x "$LBIN/llama-bench" ] || [ ! -x "$LBIN/llama-mtmd-cli" ]; then
    echo "bench.sh: no llama-bench / llama-mtmd-cli under $LLAMA_CPP_DIR (bin/ or build/bin/)" >&2
    exit 1
fi
THREADS="${THREADS:-2}"
IMAGE="$ROOT/assets/dog.jpg"
for t in f16 q8_0; do
    "$VLM" bench --random smollm2-135m --type "$t" --save-random "$OUT/smollm2-$t.gguf" --backend cpu --threads "$THREADS" \
        --runs "$RUNS" --json >"$OUT/lm.smollm2.$t.vlm.json"
    "$LBIN/llama-bench" -m "$OUT/smollm2-$t.gguf" -p 512 -n 128 -t "$THREADS" -r "$RUNS" -o json >"$OUT/lm.smollm2.$t.llama.json" 2>/dev/null
    "$VLM" bench --random smolvlm-256m --type "$t" --save-random "$OUT/smolvlm-$t.gguf" --image "$IMAGE" --max-tiles 0 \
        --backend cpu --threads "$THREADS" --runs 1 --json >"$OUT/lm.smolvlm.$t.tiles.json"
    "$VLM" bench -m "$OUT/smolvlm-$t.gguf" --mmproj "$OUT/smolvlm-$t.gguf.mmproj.gguf" --image "$IMAGE" \
        --backend cpu --threads "$THREADS" --runs "$RUNS" --json >"$OUT/lm.smolvlm.$t.default.json"
    start=$(date +%s.%N)
    "$LBIN/llama-mtmd-cli" -m "$OUT/smolvlm-$t.gguf" --mmproj "$OUT/smolvlm-$t.gguf.mmproj.gguf" --image "$IMAGE" \
        -p "Describe this image." -n 1 -t "$THREADS" --temp 0 >"$OUT/lm.smolvlm.$t.mtmd.log" 2>&1
    echo "$start $(date +%s.%N)" >"$OUT/lm.smolvlm.$t.mtmd.time"
done
echo
/usr/bin/python3 - "$OUT" <<'PY'
import json, re, sys
out = sys.argv[1]
print("| model | type | stage | vlm | llama.cpp | vlm / llama.cpp (speed) |")
print("|---|---|---|---:|---:|---:|")
for t in ("f16", "q8_0"):
    v = json.load(open(f"{out}/lm.smollm2.{t}.vlm.json"))
    rows = json.load(open(f"{out}/lm.smollm2.{t}.llama.json"))
    ll = {("prompt_eval" if r["n_prompt"] else "generate"): r["avg_ts"] for r in rows}
    for stage in ("prompt_eval", "generate"):
        a, b = v["stages"][stage]["tokens_per_s"], ll[stage]
        extra = ""
        if stage == "generate" and "bandwidth_fraction" in v["stages"][stage]:
            extra = f" ({100 * v['stages'][stage]['bandwidth_fraction']:.0f}% of {v['read_bandwidth_gbs']:.0f} GB/s)"
        print(f"| SmolLM2-135M | {t} | {stage} | {a:.1f} t/s{extra} | {b:.1f} t/s | {a / b:.2f}x |")
    tiles = json.load(open(f"{out}/lm.smolvlm.{t}.tiles.json"))["stages"]
    default = json.load(open(f"{out}/lm.smolvlm.{t}.default.json"))["stages"]
    log = open(f"{out}/lm.smolvlm.{t}.mtmd.log").read()
    enc = sum(int(x) for x in re.findall(r"encoding done in (\d+) ms", log))
    t0, t1 = map(float, open(f"{out}/lm.smolvlm.{t}.mtmd.time").read().split())
    n = tiles["image_encoder"].get("tiles", 0)
    print(f"| SmolVLM-256M | {t} | image encoder, {n} tiles (llama.cpp's tiling) | {tiles['image_encoder']['median_ms'] / 1e3:.1f} s "
          f"| {enc / 1e3:.1f} s | {enc / tiles['image_encoder']['median_ms']:.2f}x |")
    print(f"| SmolVLM-256M | {t} | time to first token, vlm's default tiling vs llama-mtmd-cli's (whole run, load included) "
          f"| {default['time_to_first_token']['median_ms'] / 1e3:.2f} s | {t1 - t0:.1f} s | {(t1 - t0) * 1e3 / default['time_to_first_token']['median_ms']:.1f}x |")
PY
