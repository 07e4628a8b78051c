#!/usr/bin/env python3
"""Makes tests/data/effsam-tiny: an EfficientSAM (plain ViT image encoder with its neck, its own
prompt encoder and mask decoder) at small sizes with seeded random weights, saved as upstream's
checkpoints are ({"model": state_dict}, the official key names), and the reference outputs of
the upstream code on it.

  python3 scripts/make-effsam-fixture.py --effsam-repo ~/src/EfficientSAM \\
      [--images ../shared/fixtures/images] [--out-dir tests/data]

The model is built as upstream's efficient_sam/efficient_sam.py build_efficient_sam builds
EfficientSAM-Ti and -S, at other arguments (CONFIG below): image 256, patch 16 (a 16x16
embedding, 64x64 low-res masks; the 224-pixel pretraining grid of pos_embed, 14x14 plus a class
token, is resized bicubically to 16x16 as upstream resizes it to 64x64), width 24, 2 blocks
with 2 heads, MLP ratio 2.5, neck and prompt dim 32, 6 decoder input points, 2 decoder layers
with MLP 48 and 4 heads, upscaling widths 12 and 6 (upstream: 64 and 32, not prompt dim / 4 and
/ 8), 3 multimask outputs, IoU head depth 3 with hidden 16. GELU everywhere, as upstream.

Each case runs EfficientSam.get_image_embeddings on the image as upstream's example feeds it
(torchvision ToTensor of the RGB image: float in [0, 1], stretched to 256x256 by bilinear
F.interpolate, then ImageNet mean / std), then predict_masks with the prompt as points and
labels in original pixel coordinates: boxes as two corner points with labels 2 and 3 after the
points, as upstream's examples pass them. Expected: the low-res logits (output size -1), the
IoU predictions and the masks (predict_masks' bicubic resize to the original size, > 0).

Files: efficient_sam_tiny.pt (torch.save({"model": state_dict}), as the released
efficient_sam_vitt.pt), config.json, cases.json, cases.safetensors.

Made with yformer/EfficientSAM at commit d525f622e6f640acf5a0fc37c7ca1f243da5bde0 (the script
prints the commit of --effsam-repo when it is a git checkout), Debian's python3-torch 1.13 and
python3-torchvision 0.14 on CPU in float32.
"""
import argparse
import importlib.util
import json
import os
import subprocess
import sys

import numpy as np
import torch
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

# build_efficient_sam's arguments under the keys SAM's config.json uses where they mean the same
# (encoder_embed_dim: its encoder_patch_embed_dim; prompt_embed_dim: its encoder_neck_dims, both
# convs; decoder_depth / decoder_mlp_dim: its decoder_transformer_depth / _mlp_dim)
CONFIG = {
    "architecture": "efficientsam",
    "image_size": 256,
    "patch_size": 16,
    "encoder_embed_dim": 24,
    "encoder_depth": 2,
    "encoder_num_heads": 2,
    "mlp_ratio": 2.5,
    "prompt_embed_dim": 32,
    "decoder_max_num_input_points": 6,
    "decoder_depth": 2,
    "decoder_mlp_dim": 48,
    "decoder_num_heads": 4,
    "decoder_upscaling_layer_dims": [12, 6],
    "num_multimask_outputs": 3,
    "iou_head_depth": 3,
    "iou_head_hidden_dim": 16,
    "pixel_mean": [0.485, 0.456, 0.406],
    "pixel_std": [0.229, 0.224, 0.225],
}
SEED = 13
IMAGES = {"gray_odd.jpg": ["point", "points_posneg", "box", "box_negpoint", "points_six"],
          "shapes_rgba.png": ["points_posneg"]}


def load_sam_fixture():
    """scripts/make-sam-fixture.py: its prompts and safetensors writer."""
    spec = importlib.util.spec_from_file_location("make_sam_fixture", os.path.join(HERE, "make-sam-fixture.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def case_prompts(sam_fixture, kind, w, h):
    """make-sam-fixture.py's prompt kinds, and points_six: the decoder's 6 inputs, no padding."""
    if kind != "points_six":
        return sam_fixture.case_prompts(kind, w, h)
    return [[(0.1 + 0.15 * i) * w, (0.2 + 0.1 * i) * h] for i in range(6)], [1, 0, 1, 1, 0, 1], None, True


def build(repo, c):
    # ref: efficient_sam/efficient_sam.py build_efficient_sam, at the config's arguments
    sys.path.insert(0, repo)
    from efficient_sam.efficient_sam import EfficientSam
    from efficient_sam.efficient_sam_decoder import MaskDecoder, PromptEncoder
    from efficient_sam.efficient_sam_encoder import ImageEncoderViT
    from efficient_sam.two_way_transformer import TwoWayTransformer

    act = torch.nn.GELU
    enc = ImageEncoderViT(img_size=c["image_size"], patch_size=c["patch_size"], in_chans=3,
                          patch_embed_dim=c["encoder_embed_dim"], normalization_type="layer_norm",
                          depth=c["encoder_depth"], num_heads=c["encoder_num_heads"], mlp_ratio=c["mlp_ratio"],
                          neck_dims=[c["prompt_embed_dim"]] * 2, act_layer=act)
    g, dim = enc.image_embedding_size, enc.transformer_output_dim
    return EfficientSam(
        image_encoder=enc,
        prompt_encoder=PromptEncoder(embed_dim=dim, image_embedding_size=(g, g),
                                     input_image_size=(c["image_size"], c["image_size"])),
        decoder_max_num_input_points=c["decoder_max_num_input_points"],
        mask_decoder=MaskDecoder(
            transformer_dim=dim,
            transformer=TwoWayTransformer(depth=c["decoder_depth"], embedding_dim=dim,
                                          num_heads=c["decoder_num_heads"], mlp_dim=c["decoder_mlp_dim"],
                                          activation=act, normalize_before_activation=False),
            num_multimask_outputs=c["num_multimask_outputs"], activation=act, normalization_type="layer_norm",
            normalize_before_activation=False, iou_head_depth=c["iou_head_depth"] - 1,
            iou_head_hidden_dim=c["iou_head_hidden_dim"], upscaling_layer_dims=c["decoder_upscaling_layer_dims"]),
        pixel_mean=c["pixel_mean"],
        pixel_std=c["pixel_std"],
    ).eval()


def randomize(sam, seed):
    """make-sam-fixture.py's scales: matrices N(0, 1/fan_in), biases N(0, 0.1), norms 1 + N(0, 0.2),
    positional tables and embeddings N(0, 0.2); the hypernetworks' last layers larger so that
    masks are not all one sign. The PE matrix keeps its N(0, 1) init (seeded)."""
    g = torch.Generator().manual_seed(seed)
    tables = ("pos_embed", "invalid_points", "point_embeddings", "bbox_top_left", "bbox_bottom_right", "iou_token",
              "mask_tokens")
    with torch.no_grad():
        for name, p in sam.named_parameters():
            n = torch.randn(p.shape, generator=g)
            if any(k in name for k in tables):
                p.copy_(0.2 * n)
            elif name.endswith(".bias"):
                p.copy_(0.1 * n)
            elif p.dim() == 1:   # LayerNorm / LayerNorm2d / GroupNorm weights
                p.copy_(1.0 + 0.2 * n)
            else:
                # ConvTranspose2d (stride = kernel): each output sees one tap of every input channel
                fan_in = p.shape[0] if "final_output_upscaling_layers" in name else p[0].numel()
                scale = 20.0 if "output_hypernetworks_mlps" in name and name.endswith("fc.weight") else 1.0
                p.copy_(scale * n / fan_in ** 0.5)


def make(repo, images_dir, out):
    sam_fixture = load_sam_fixture()
    torch.manual_seed(SEED)   # the PE matrix's init
    sam = build(repo, CONFIG)
    randomize(sam, SEED)
    from torchvision import transforms

    os.makedirs(out, exist_ok=True)
    torch.save({"model": sam.state_dict()}, os.path.join(out, "efficient_sam_tiny.pt"))
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(CONFIG, f, indent=1)
        f.write("\n")

    cases, expected = [], {}
    with torch.no_grad():
        for image, kinds in IMAGES.items():
            stem = os.path.splitext(image)[0]
            rgb = np.array(Image.open(os.path.join(images_dir, image)).convert("RGB"))
            h, w = rgb.shape[:2]
            # ref: EfficientSAM_example.py: transforms.ToTensor() of the image, then the model
            emb = sam.get_image_embeddings(transforms.ToTensor()(rgb)[None])
            expected[f"{stem}.image_embeddings"] = emb.clone()
            for kind in kinds:
                name = f"{stem}.{kind}"
                coords, labels, box, multimask = case_prompts(sam_fixture, kind, w, h)
                pts, lab = list(coords or []), list(labels or [])
                if box:
                    pts += [box[:2], box[2:]]
                    lab += [2, 3]
                p = torch.tensor(pts, dtype=torch.float32)[None, None]      # [1, 1, n, 2]
                lb = torch.tensor(lab, dtype=torch.float32)[None, None]     # [1, 1, n]
                low, iou = sam.predict_masks(emb, p, lb, multimask, h, w, -1, -1)
                up, _ = sam.predict_masks(emb, p, lb, multimask, h, w, h, w)
                low, iou, up = low[0, 0], iou[0, 0], up[0, 0]
                expected[f"{name}.low_res_logits"] = low.clone()
                expected[f"{name}.iou_predictions"] = iou.clone()
                expected[f"{name}.masks"] = (up > 0).to(torch.uint8)
                cases.append({"image": image, "name": name, "multimask_output": multimask, "point_coords": coords,
                              "point_labels": labels, "box": box, "mask_input": None})
                on = (up > 0).float().reshape(up.shape[0], -1).mean(1)
                print(f"{name}: iou {np.round(iou.numpy(), 3).tolist()} foreground {np.round(on.numpy(), 3).tolist()} "
                      f"logits [{low.min():.2f}, {low.max():.2f}]")
    sam_fixture.load_writer()(expected, os.path.join(out, "cases.safetensors"))
    with open(os.path.join(out, "cases.json"), "w") as f:
        json.dump({"cases": cases}, f, indent=1)
        f.write("\n")
    print(f"wrote {os.path.basename(out)}: {len(cases)} cases")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--effsam-repo", required=True, help="a checkout of yformer/EfficientSAM")
    ap.add_argument("--images", default=os.path.join(ROOT, "..", "shared", "fixtures", "images"))
    ap.add_argument("--out-dir", default=os.path.join(ROOT, "tests", "data"))
    args = ap.parse_args()
    try:
        commit = subprocess.run(["git", "-C", args.effsam_repo, "rev-parse", "HEAD"], capture_output=True,
                                text=True, check=True).stdout.strip()
        print(f"EfficientSAM at {commit}")
    except (OSError, subprocess.CalledProcessError):
        print("EfficientSAM: not a git checkout (commit unknown)")
    torch.set_num_threads(2)
    make(args.effsam_repo, args.images, os.path.join(args.out_dir, "effsam-tiny"))


if __name__ == "__main__":
    main()
