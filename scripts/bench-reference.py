#!/usr/bin/env python3
"""Times the upstream PyTorch reference models on this machine, for `scripts/bench.sh`.

The upstream code is not part of vlm: point --sam-repo at a checkout of
facebookresearch/segment-anything and --clip-repo at a checkout of openai/CLIP. Weights are
random at the official shapes: SAM ViT-B (vlm's random weights and image with
--sam-checkpoint, else upstream's initialization) and CLIP ViT-B/32 (upstream's), fp32, as
`vlm bench` uses. Prints one JSON object with the median milliseconds per stage.
"""
import argparse
import importlib.util
import json
import statistics
import sys
import time

import torch


def median_ms(fn, runs):
    fn()  # warm-up
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000.0)
    return statistics.median(times)


def load_safetensors(path):
    """The tensors of a safetensors file (the F32 checkpoint `vlm bench --save-random` writes)."""
    import numpy as np

    with open(path, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(n))
        data = f.read()
    dtypes = {"F32": np.float32, "F16": np.float16, "I64": np.int64}
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        a, b = t["data_offsets"]
        out[name] = torch.from_numpy(np.frombuffer(data[a:b], dtype=dtypes[t["dtype"]]).reshape(t["shape"]).copy())
    return out


def random_image(w, h):
    """The image `vlm bench` encodes: bytes of a 64-bit LCG (cmd-bench.c random_image)."""
    import numpy as np

    s, out = 42, bytearray(w * h * 3)
    for i in range(len(out)):
        s = (s * 6364136223846793005 + 1442695040888963407) & 0xFFFFFFFFFFFFFFFF
        out[i] = s >> 56
    return np.frombuffer(bytes(out), dtype=np.uint8).reshape(h, w, 3)


def bench_sam(repo, runs, checkpoint):
    sys.path.insert(0, repo)
    from segment_anything import sam_model_registry, SamAutomaticMaskGenerator, SamPredictor  # noqa: E402
    import numpy as np

    sam = sam_model_registry["vit_b"]().eval()
    if checkpoint:   # vlm's random weights, so that both sides keep the same masks
        sam.load_state_dict(load_safetensors(checkpoint))
        image = random_image(1024, 1024)
    else:
        image = (torch.rand(1024, 1024, 3) * 255).to(torch.uint8).numpy()
    predictor = SamPredictor(sam)
    point = [[512.0, 384.0]]
    out = {}
    with torch.no_grad():
        out["image_encoder"] = {"median_ms": median_ms(lambda: predictor.set_image(image), runs)}
        # SamPredictor.predict on the set embedding: prompt encoder, mask decoder, masks at the
        # image size (postprocess_masks, threshold), as vlm_sam_predict
        dec = median_ms(lambda: predictor.predict(point_coords=np.array(point), point_labels=np.array([1]),
                                                  multimask_output=True), max(runs, 10))
        out["prompt_decoder"] = {"median_ms": dec}
        # SamAutomaticMaskGenerator.generate with its defaults on the embedding set above: its
        # crop is the whole image, so set_image / reset_image of the crop are made no-ops and
        # the time is generate() without the encoder (one run, as vlm bench's)
        gen = SamAutomaticMaskGenerator(sam)
        gen.predictor = predictor
        predictor.set_image, predictor.reset_image = (lambda *a, **k: None), (lambda: None)
        t0 = time.perf_counter()
        masks = gen.generate(image)
        out["everything"] = {"median_ms": (time.perf_counter() - t0) * 1000.0, "masks": len(masks)}
    return out


def bench_clip(repo, runs):
    spec = importlib.util.spec_from_file_location("clip_model", f"{repo}/clip/model.py")
    clip_model = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(clip_model)
    # ViT-B/32 as clip.model.build_model derives it from the released state dict
    model = clip_model.CLIP(embed_dim=512, image_resolution=224, vision_layers=12, vision_width=768,
                            vision_patch_size=32, context_length=77, vocab_size=49408,
                            transformer_width=512, transformer_heads=8, transformer_layers=12).eval().float()
    image = torch.randn(1, 3, 224, 224)
    tokens = torch.zeros(8, 77, dtype=torch.long)
    tokens[:, 0] = 49406
    tokens[:, 1:6] = torch.randint(1, 49000, (8, 5))
    tokens[:, 6] = 49407
    with torch.no_grad():
        img = median_ms(lambda: model.encode_image(image), runs)
        txt = median_ms(lambda: model.encode_text(tokens), runs)
    return {"image_encoder": {"median_ms": img}, "text_encoder": {"median_ms": txt}}


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sam-repo")
    ap.add_argument("--sam-checkpoint", help="safetensors weights for SAM ViT-B (vlm bench --save-random)")
    ap.add_argument("--clip-repo")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0 = all cores)")
    args = ap.parse_args()
    import os
    torch.set_num_threads(args.threads or os.cpu_count())
    blas = sorted({l.split()[-1] for l in open("/proc/self/maps") if "blas" in l.split()[-1]})
    out = {"torch": torch.__version__, "threads": torch.get_num_threads(), "blas": blas, "models": {}}
    if args.sam_repo:
        out["models"]["sam-vit-b"] = bench_sam(args.sam_repo, args.runs, args.sam_checkpoint)
    if args.clip_repo:
        out["models"]["clip-vit-b-32"] = bench_clip(args.clip_repo, args.runs)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
