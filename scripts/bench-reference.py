#!/usr/bin/env python3
"""Times the upstream PyTorch reference models on this machine, for `scripts/bench.sh`.

The upstream code is not part of vlm: point --sam-repo at a checkout of
facebookresearch/segment-anything, --mobilesam-repo at one of ChaoningZhang/MobileSAM and
--clip-repo at a checkout of openai/CLIP. Weights are random (upstream initialization) at the
official shapes: SAM ViT-B, MobileSAM (build_sam_vit_t) and CLIP ViT-B/32, fp32, as `vlm bench`
uses. Prints one JSON object with the median milliseconds per stage.
"""
import os
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


def bench_sam(repo, runs):
    sys.path.insert(0, repo)
    from segment_anything import sam_model_registry, SamPredictor  # noqa: E402

    sam = sam_model_registry["vit_b"]().eval()
    image = (torch.rand(1024, 1024, 3) * 255).to(torch.uint8).numpy()
    predictor = SamPredictor(sam)
    point = [[512.0, 384.0]]
    import numpy as np

    with torch.no_grad():
        enc = median_ms(lambda: predictor.set_image(image), runs)
        dec = median_ms(lambda: predictor.predict(point_coords=np.array(point), point_labels=np.array([1]),
                                                  multimask_output=True), max(runs, 10))
    return {"image_encoder": {"median_ms": enc}, "prompt_decoder": {"median_ms": dec}}


def bench_mobilesam(repo, runs):
    """MobileSAM's set_image and predict as upstream runs them, and again with every Conv2d_BN
    replaced by its fuse() (upstream's own BatchNorm folding, unused by build_sam_vit_t); the
    faster of the two is image_encoder, both are reported."""
    spec = importlib.util.spec_from_file_location(
        "make_mobilesam_fixture", os.path.join(os.path.dirname(os.path.abspath(__file__)), "make-mobilesam-fixture.py"))
    fixture = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fixture)
    fixture.install_timm_stand_in()   # tiny_vit_sam.py imports timm
    sys.path.insert(0, repo)
    from mobile_sam import SamPredictor, sam_model_registry  # noqa: E402
    from mobile_sam.modeling.tiny_vit_sam import Conv2d_BN  # noqa: E402
    import numpy as np

    sam = sam_model_registry["vit_t"]().eval()
    image = (torch.rand(1024, 1024, 3) * 255).to(torch.uint8).numpy()
    predictor = SamPredictor(sam)
    point = [[512.0, 384.0]]
    with torch.no_grad():
        enc = median_ms(lambda: predictor.set_image(image), runs)
        dec = median_ms(lambda: predictor.predict(point_coords=np.array(point), point_labels=np.array([1]),
                                                  multimask_output=True), max(runs, 10))

        def fuse(module):
            for name, child in module.named_children():
                if isinstance(child, Conv2d_BN):
                    setattr(module, name, child.fuse())
                else:
                    fuse(child)
        fuse(sam.image_encoder)
        fused = median_ms(lambda: predictor.set_image(image), runs)
    return {"image_encoder": {"median_ms": min(enc, fused), "unfused_ms": enc, "bn_fused_ms": fused},
            "prompt_decoder": {"median_ms": dec}}


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
    ap.add_argument("--mobilesam-repo")
    ap.add_argument("--clip-repo")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0 = all cores)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads or os.cpu_count())
    out = {"torch": torch.__version__, "threads": torch.get_num_threads(), "models": {}}
    if args.sam_repo:
        out["models"]["sam-vit-b"] = bench_sam(args.sam_repo, args.runs)
    if args.mobilesam_repo:
        out["models"]["sam-vit-t"] = bench_mobilesam(args.mobilesam_repo, args.runs)
    if args.clip_repo:
        out["models"]["clip-vit-b-32"] = bench_clip(args.clip_repo, args.runs)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
