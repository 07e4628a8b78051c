#!/usr/bin/env python3
"""Full-size parity of `vlm segment` against upstream SAM (facebookresearch/segment-anything).

Builds a model with upstream's random initialization (vit_b by default), converts it with
scripts/convert-to-safetensors.py, runs the upstream SamPredictor and `vlm segment
--save-tensors` on the same image and point, and prints the worst differences.

  python3 scripts/parity-upstream-sam.py --sam-repo ~/src/segment-anything --vlm build/vlm IMAGE
"""
import argparse
import json
import os
import struct
import subprocess
import sys
import tempfile

import numpy as np
import torch
from PIL import Image


def read_safetensors(path):
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    dtypes = {"F32": np.float32, "U8": np.uint8, "I32": np.int32}
    out = {}
    for name, v in header.items():
        if name == "__metadata__":
            continue
        b, e = v["data_offsets"]
        out[name] = np.frombuffer(raw[8 + n + b:8 + n + e], dtype=dtypes[v["dtype"]]).reshape(v["shape"])
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("image")
    ap.add_argument("--sam-repo", required=True)
    ap.add_argument("--vlm", default="build/vlm")
    ap.add_argument("--variant", default="vit_b")
    ap.add_argument("--point", default="500,400")
    ap.add_argument("--backend", default="cpu")
    args = ap.parse_args()
    sys.path.insert(0, args.sam_repo)
    from segment_anything import SamPredictor, sam_model_registry

    torch.manual_seed(0)
    sam = sam_model_registry[args.variant]().eval()
    tmp = tempfile.mkdtemp()
    pth, st, ours = (os.path.join(tmp, f) for f in ("sam.pth", "sam.safetensors", "ours.safetensors"))
    torch.save(sam.state_dict(), pth)
    here = os.path.dirname(os.path.abspath(__file__))
    subprocess.run([sys.executable, os.path.join(here, "convert-to-safetensors.py"), pth, st], check=True)
    subprocess.run([args.vlm, "segment", "-m", st, args.image, "--point", args.point, "--backend", args.backend,
                    "--save-tensors", ours], check=True, stdout=subprocess.DEVNULL)

    x, y = (float(v) for v in args.point.split(","))
    predictor = SamPredictor(sam)
    with torch.no_grad():
        predictor.set_image(np.array(Image.open(args.image).convert("RGB")))
        masks, iou, low = predictor.predict(point_coords=np.array([[x, y]]), point_labels=np.array([1]),
                                            multimask_output=True)
        emb = predictor.features.numpy()
    o = read_safetensors(ours)
    e = o["image_embeddings"].reshape(emb.shape)
    cos = float((e * emb).sum() / np.linalg.norm(e) / np.linalg.norm(emb))
    print(f"image_embeddings  max abs {np.abs(e - emb).max():.3g}  cosine {cos:.8f}")
    print(f"low_res_logits    max abs {np.abs(o['low_res_logits'].reshape(low.shape) - low).max():.3g}")
    print(f"iou_predictions   max abs {np.abs(o['iou_predictions'].reshape(iou.shape) - iou).max():.3g}")
    print(f"masks             {100 * (o['masks'].reshape(masks.shape) != masks).mean():.5f}% of pixels differ")


if __name__ == "__main__":
    main()
