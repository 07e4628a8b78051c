#!/usr/bin/env python3
"""Times the upstream PyTorch reference models on this machine, for `scripts/bench.sh`.

The upstream code is not part of vlm: point --sam-repo at a checkout of
facebookresearch/segment-anything, --mobilesam-repo at one of ChaoningZhang/MobileSAM,
--effsam-repo at one of yformer/EfficientSAM and --clip-repo at a checkout of openai/CLIP. Weights are random at the official shapes: SAM ViT-B
(vlm's random weights and image with --sam-checkpoint, else upstream's initialization), MobileSAM
(build_sam_vit_t), EfficientSAM-Ti (vlm's random weights with --effsam-checkpoint) and CLIP ViT-B/32 (upstream's initialization), fp32, as `vlm bench` uses. Prints
one JSON object with the median milliseconds per stage.

For `scripts/bench.sh index`: --make-photos DIR writes --count distinct photos (random crops,
flips and colour changes of --source, at its size, JPEG), and --index-photos DIR embeds every
.jpg of DIR as a plain PyTorch indexing script would: PIL decode, openai/CLIP's preprocessing,
batches of --batch, L2-normalized features saved to a file (temporary name + rename); it prints
the images/s of that loop.
"""
import argparse
import importlib.util
import json
import os
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
    """The image `vlm bench` encodes: the top bytes of splitmix64 from seed 42 (cmd-bench.c
    random_image, core.h vlm_rng_next)."""
    import numpy as np

    m, s, out = 0xFFFFFFFFFFFFFFFF, 42, bytearray(w * h * 3)
    for i in range(len(out)):
        s = (s + 0x9E3779B97F4A7C15) & m
        z = ((s ^ (s >> 30)) * 0xBF58476D1CE4E5B9) & m
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & m
        out[i] = (z ^ (z >> 31)) >> 56
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


def bench_effsam(repo, runs, checkpoint):
    """EfficientSAM-Ti (efficient_sam/build_efficient_sam.py build_efficient_sam_vitt's arguments) as its
    example runs it: get_image_embeddings of ToTensor's image, then predict_masks of one point with
    the bicubic resize to the image size. vlm's random weights and image with --effsam-checkpoint."""
    sys.path.insert(0, repo)
    from efficient_sam.efficient_sam import build_efficient_sam  # noqa: E402

    sam = build_efficient_sam(encoder_patch_embed_dim=192, encoder_num_heads=3).eval()
    if checkpoint:
        sam.load_state_dict(load_safetensors(checkpoint))
        image = torch.from_numpy(random_image(1024, 1024).copy())
    else:
        image = (torch.rand(1024, 1024, 3) * 255).to(torch.uint8)
    x = (image.permute(2, 0, 1).float() / 255)[None]   # torchvision ToTensor
    pts, lab = torch.tensor([[[[512.0, 384.0]]]]), torch.tensor([[[1.0]]])
    with torch.no_grad():
        enc = median_ms(lambda: sam.get_image_embeddings(x), runs)
        emb = sam.get_image_embeddings(x)
        dec = median_ms(lambda: sam.predict_masks(emb, pts, lab, True, 1024, 1024, 1024, 1024), max(runs, 10))
    return {"image_encoder": {"median_ms": enc}, "prompt_decoder": {"median_ms": dec}}


def clip_vit_b_32(repo):
    spec = importlib.util.spec_from_file_location("clip_model", f"{repo}/clip/model.py")
    clip_model = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(clip_model)
    # ViT-B/32 as clip.model.build_model derives it from the released state dict
    return clip_model.CLIP(embed_dim=512, image_resolution=224, vision_layers=12, vision_width=768,
                           vision_patch_size=32, context_length=77, vocab_size=49408,
                           transformer_width=512, transformer_heads=8, transformer_layers=12).eval().float()


def bench_clip(repo, runs):
    model = clip_vit_b_32(repo)
    image = torch.randn(1, 3, 224, 224)
    tokens = torch.zeros(8, 77, dtype=torch.long)
    tokens[:, 0] = 49406
    tokens[:, 1:6] = torch.randint(1, 49000, (8, 5))
    tokens[:, 6] = 49407
    with torch.no_grad():
        img = median_ms(lambda: model.encode_image(image), runs)
        txt = median_ms(lambda: model.encode_text(tokens), runs)
    return {"image_encoder": {"median_ms": img}, "text_encoder": {"median_ms": txt}}


def make_photos(dst, count, source):
    import random
    from PIL import Image, ImageEnhance, ImageOps
    os.makedirs(dst, exist_ok=True)
    src = Image.open(source).convert("RGB")
    w, h = src.size
    for i in range(count):
        rng = random.Random(i)
        s = rng.uniform(0.55, 1.0)
        cw, ch = int(w * s), int(h * s)
        x, y = rng.randint(0, w - cw), rng.randint(0, h - ch)
        im = src.crop((x, y, x + cw, y + ch)).resize((w, h), Image.BILINEAR)
        if rng.random() < 0.5:
            im = ImageOps.mirror(im)
        im = ImageEnhance.Color(ImageEnhance.Brightness(im).enhance(rng.uniform(0.7, 1.3))).enhance(rng.uniform(0.6, 1.4))
        im.save(f"{dst}/photo-{i:04d}.jpg", quality=90)


def index_photos(folder, repo, batch):
    import numpy as np
    from PIL import Image
    from torchvision.transforms import CenterCrop, Compose, InterpolationMode, Normalize, Resize, ToTensor
    model = clip_vit_b_32(repo)
    # ref: openai/CLIP clip/clip.py _transform(n_px)
    n_px = model.visual.input_resolution
    transform = Compose([Resize(n_px, interpolation=InterpolationMode.BICUBIC), CenterCrop(n_px),
                         lambda im: im.convert("RGB"), ToTensor(),
                         Normalize((0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711))])
    paths = sorted(f"{folder}/{n}" for n in os.listdir(folder) if n.endswith(".jpg"))
    t0 = time.perf_counter()
    feats = []
    with torch.no_grad():
        for i in range(0, len(paths), batch):
            x = torch.stack([transform(Image.open(p)) for p in paths[i:i + batch]])
            f = model.encode_image(x)
            feats.append(f / f.norm(dim=1, keepdim=True))
    out = f"{folder}.reference.npy"
    with open(out + ".tmp", "wb") as fh:
        np.save(fh, torch.cat(feats).numpy())
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(out + ".tmp", out)
    s = time.perf_counter() - t0
    return {"images": len(paths), "seconds": s, "images_per_s": len(paths) / s}


def blas_library():
    """The BLAS library this process (PyTorch) has mapped, e.g. Debian's OpenMP OpenBLAS."""
    try:
        libs = {line.split()[-1] for line in open("/proc/self/maps") if "blas" in line}
        return ", ".join(sorted(os.path.realpath(p) for p in libs))
    except OSError:
        return "unknown"


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sam-repo")
    ap.add_argument("--mobilesam-repo")
    ap.add_argument("--sam-checkpoint", help="safetensors weights for SAM ViT-B (vlm bench --save-random)")
    ap.add_argument("--effsam-repo", help="a checkout of yformer/EfficientSAM")
    ap.add_argument("--effsam-checkpoint", help="safetensors weights for EfficientSAM-Ti (vlm bench --save-random)")
    ap.add_argument("--clip-repo")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0 = all cores)")
    ap.add_argument("--make-photos", metavar="DIR")
    ap.add_argument("--count", type=int, default=200)
    ap.add_argument("--source", help="the image --make-photos varies")
    ap.add_argument("--index-photos", metavar="DIR")
    ap.add_argument("--batch", type=int, default=32)
    args = ap.parse_args()
    if args.make_photos:
        make_photos(args.make_photos, args.count, args.source)
        return
    torch.set_num_threads(args.threads or os.cpu_count())
    out = {"torch": torch.__version__, "threads": torch.get_num_threads(), "blas": blas_library(), "models": {}}
    if args.index_photos:   # the indexing comparison only
        out["index"] = index_photos(args.index_photos, args.clip_repo, args.batch)
    else:
        if args.sam_repo:
            out["models"]["sam-vit-b"] = bench_sam(args.sam_repo, args.runs, args.sam_checkpoint)
        if args.mobilesam_repo:
            out["models"]["sam-vit-t"] = bench_mobilesam(args.mobilesam_repo, args.runs)
        if args.effsam_repo:
            out["models"]["efficientsam-vit-t"] = bench_effsam(args.effsam_repo, args.runs, args.effsam_checkpoint)
        if args.clip_repo:
            out["models"]["clip-vit-b-32"] = bench_clip(args.clip_repo, args.runs)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
