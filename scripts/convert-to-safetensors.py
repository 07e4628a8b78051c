#!/usr/bin/env python3
"""Converts a released PyTorch checkpoint to safetensors under its upstream names, for vlm.

  SAM:  sam_vit_b_01ec64.pth, sam_vit_l_0b3195.pth, sam_vit_h_4b8939.pth (a state dict)
  CLIP: ViT-B-32.pt etc. from openai/CLIP (a TorchScript archive, or a state dict)

  python3 scripts/convert-to-safetensors.py sam_vit_b_01ec64.pth sam_vit_b.safetensors

Needs only python3-torch (Debian). Tensors keep their dtype (CLIP's are float16); names are
written as they are in the checkpoint, which is what vlm expects.
"""
import json
import os
import struct
import sys

import torch

DTYPES = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.int32: "I32", torch.uint8: "U8"}


def load_state_dict(path):
    try:
        return torch.jit.load(path, map_location="cpu").state_dict()   # openai/CLIP .pt archives
    except RuntimeError:
        sd = torch.load(path, map_location="cpu")
        return sd.get("state_dict", sd) if isinstance(sd, dict) else sd.state_dict()


def write_safetensors(tensors, path):
    header, blobs, offset = {}, [], 0
    for name in sorted(tensors):
        t = tensors[name].detach().contiguous()
        if t.dtype not in DTYPES:
            print(f"skipping {name}: dtype {t.dtype}", file=sys.stderr)
            continue
        data = t.view(torch.uint8).numpy().tobytes() if t.numel() else b""
        header[name] = {"dtype": DTYPES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    sd = load_state_dict(sys.argv[1])
    write_safetensors({k: v for k, v in sd.items() if isinstance(v, torch.Tensor)}, sys.argv[2])
    print(f"wrote {sys.argv[2]} ({len(sd)} tensors)")


if __name__ == "__main__":
    main()
