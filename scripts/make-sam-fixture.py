#!/usr/bin/env python3
"""Makes tests/data/sam-small, tests/data/sam-mini and tests/data/slimsam-tiny: SAMs whose
shapes differ from the released ViT-B/L/H, with reference outputs of the upstream code on them,
for the parity and CLI tests.

  python3 scripts/make-sam-fixture.py --sam-repo ~/src/segment-anything \\
      [--images ../shared/fixtures/images] [--out-dir tests/data] [--variant sam-small]

Each model is built as upstream's build_sam.py _build_sam builds the released ones, at other
arguments, with seeded random weights:
  sam-small  image 512, patch 16 (a 32x32 grid, 128x128 low-res masks), width 32, 3 blocks
             with 2 heads and global attention in block 1 only, window 7 (windowed blocks pad
             32 to 35), MLP ratio 3, prompt dim 24, mask input channels 12, decoder MLP 40 with
             2 heads, IoU head hidden 16.
  sam-mini   image 128 (an 8x8 grid, 32x32 low-res), window 14 (larger than the grid: one
             padded window), 4 heads, MLP ratio 2, prompt dim 20 (not a multiple of 8: the
             upscaling widths 20 // 4 and 20 // 8 round down), mask input channels 6, 1 decoder
             layer with 5 heads, 2 multimask outputs, IoU head depth 2.
  slimsam-tiny  a SlimSAM as its HF transformers SamModel checkpoints are (SlimSAM-50 / -77:
             SAM ViT-B with the encoder width and MLP pruned, hidden_size 384 / 168, mlp_dim
             1536 / 696, 12 heads of 32 / 14): image 256 (16x16 grid), width 36 with 3 heads of
             12, MLP 50 (not a multiple of the width: upstream's mlp_ratio cannot say it, so the
             blocks' lin1 / lin2 are rebuilt at 50 before the weights are drawn), window 7 and
             global attention in block 1, prompt dim 32; saved under the HF names
             (convert_sam_to_hf.py's renames, sam-spec.md B.3) with an HF config.json.
The files have the layout of shared/fixtures/sam-tiny: model.safetensors (official key
names, or HF ones), config.json, cases.json, cases.safetensors.

Made with facebookresearch/segment-anything at commit dca509fe793f601edb92606367a655c15ac00fdf
(the script prints the commit of --sam-repo when it is a git checkout), Debian's
python3-torch 1.13 and python3-torchvision 0.14 on CPU in float32.
"""
import argparse
import importlib.util
import json
import os
import subprocess
import sys
from functools import partial

import numpy as np
import torch
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

BASE = {
    "architecture": "sam",
    "patch_size": 16,
    "layer_norm_eps": 1e-06,
    "pixel_mean": [123.675, 116.28, 103.53],
    "pixel_std": [58.395, 57.12, 57.375],
    "mask_threshold": 0.0,
}

# config.json's keys in shared/fixtures/sam-tiny's order
KEY_ORDER = ["architecture", "image_size", "patch_size", "encoder_embed_dim", "encoder_depth", "encoder_num_heads",
             "encoder_global_attn_indexes", "window_size", "mlp_ratio", "layer_norm_eps", "prompt_embed_dim",
             "mask_in_chans", "decoder_depth", "decoder_mlp_dim", "decoder_num_heads", "num_multimask_outputs",
             "iou_head_depth", "iou_head_hidden_dim", "pixel_mean", "pixel_std", "mask_threshold"]

# Prompts as fractions of the image (W, H), as shared/fixtures/sam-tiny places them; per image
# the kinds kept (all kinds on the small images, fewer on dog.jpg to keep the files small).
POS, NEG, BOX = (0.4, 0.55), (0.8, 0.7), (0.1, 0.2, 0.7, 0.9)
REFINE = (0.3, 0.3)
ALL_KINDS = ["point", "points_posneg", "box", "box_negpoint", "mask_refine"]

VARIANTS = {
    "sam-small": {
        "seed": 10,
        "config": {**BASE, "image_size": 512, "encoder_embed_dim": 32, "encoder_depth": 3, "encoder_num_heads": 2,
                   "encoder_global_attn_indexes": [1], "window_size": 7, "mlp_ratio": 3, "prompt_embed_dim": 24,
                   "mask_in_chans": 12, "decoder_depth": 2, "decoder_mlp_dim": 40, "decoder_num_heads": 2,
                   "num_multimask_outputs": 3, "iou_head_depth": 3, "iou_head_hidden_dim": 16},
        "images": {"dog.jpg": ["point", "mask_refine"], "gray_odd.jpg": ALL_KINDS,
                   "shapes_rgba.png": ["points_posneg", "box_negpoint"]},
    },
    "sam-mini": {
        "seed": 11,
        "config": {**BASE, "image_size": 128, "encoder_embed_dim": 32, "encoder_depth": 2, "encoder_num_heads": 4,
                   "encoder_global_attn_indexes": [1], "window_size": 14, "mlp_ratio": 2, "prompt_embed_dim": 20,
                   "mask_in_chans": 6, "decoder_depth": 1, "decoder_mlp_dim": 32, "decoder_num_heads": 5,
                   "num_multimask_outputs": 2, "iou_head_depth": 2, "iou_head_hidden_dim": 8},
        "images": {"gray_odd.jpg": ALL_KINDS},
        "everything": "gray_odd.jpg",
    },
    "slimsam-tiny": {
        "seed": 14,
        "config": {**BASE, "image_size": 256, "encoder_embed_dim": 36, "encoder_depth": 2, "encoder_num_heads": 3,
                   "encoder_global_attn_indexes": [1], "window_size": 7, "mlp_ratio": 4, "prompt_embed_dim": 32,
                   "mask_in_chans": 16, "decoder_depth": 2, "decoder_mlp_dim": 64, "decoder_num_heads": 8,
                   "num_multimask_outputs": 3, "iou_head_depth": 3, "iou_head_hidden_dim": 32},
        "mlp_dim": 50,
        "hf": True,
        "images": {"gray_odd.jpg": ALL_KINDS, "shapes_rgba.png": ["box"]},
    },
}

# ref: transformers/models/sam/convert_sam_to_hf.py KEYS_TO_MODIFY_MAPPING, as sam-spec.md B.3
# writes it out; the PE matrix is saved once, as shared_image_embedding.positional_embedding.
HF_RENAMES = [("image_encoder.", "vision_encoder."), (".patch_embed.proj.", ".patch_embed.projection."),
              (".blocks.", ".layers."), (".neck.0.", ".neck.conv1."), (".neck.1.", ".neck.layer_norm1."),
              (".neck.2.", ".neck.conv2."), (".neck.3.", ".neck.layer_norm2."), (".point_embeddings.", ".point_embed."),
              (".mask_downscaling.0.", ".mask_embed.conv1."), (".mask_downscaling.1.", ".mask_embed.layer_norm1."),
              (".mask_downscaling.3.", ".mask_embed.conv2."), (".mask_downscaling.4.", ".mask_embed.layer_norm2."),
              (".mask_downscaling.6.", ".mask_embed.conv3."), (".output_upscaling.0.", ".upscale_conv1."),
              (".output_upscaling.1.", ".upscale_layer_norm."), (".output_upscaling.3.", ".upscale_conv2."),
              (".norm1.", ".layer_norm1."), (".norm2.", ".layer_norm2."), (".norm3.", ".layer_norm3."),
              (".norm4.", ".layer_norm4."), (".norm_final_attn.", ".layer_norm_final_attn.")]


def hf_name(name):
    if name == "prompt_encoder.pe_layer.positional_encoding_gaussian_matrix":
        return "shared_image_embedding.positional_embedding"
    for a, b in HF_RENAMES:
        name = name.replace(a, b)
    for head in ("output_hypernetworks_mlps.", "iou_prediction_head."):   # 3-layer MLPs
        if head in name:
            name = name.replace(".layers.0.", ".proj_in.").replace(".layers.1.", ".layers.0.").replace(
                ".layers.2.", ".proj_out.")
    return name


def hf_config(c, mlp_dim):
    """config.json as SamConfig.to_dict() writes the keys that differ from its defaults."""
    return {"architectures": ["SamModel"], "model_type": "sam",
            "vision_config": {"hidden_size": c["encoder_embed_dim"], "mlp_dim": mlp_dim,
                              "num_attention_heads": c["encoder_num_heads"], "num_hidden_layers": c["encoder_depth"],
                              "image_size": c["image_size"], "window_size": c["window_size"],
                              "global_attn_indexes": c["encoder_global_attn_indexes"],
                              "output_channels": c["prompt_embed_dim"]},
            "prompt_encoder_config": {"hidden_size": c["prompt_embed_dim"], "image_size": c["image_size"],
                                      "image_embedding_size": c["image_size"] // c["patch_size"],
                                      "mask_input_channels": c["mask_in_chans"]},
            "mask_decoder_config": {"hidden_size": c["prompt_embed_dim"], "mlp_dim": c["decoder_mlp_dim"],
                                    "num_attention_heads": c["decoder_num_heads"],
                                    "num_hidden_layers": c["decoder_depth"],
                                    "iou_head_depth": c["iou_head_depth"],
                                    "iou_head_hidden_dim": c["iou_head_hidden_dim"]}}


def prune_mlp(sam, mlp_dim):
    """SlimSAM's pruned MLP width: each block's lin1 / lin2 at mlp_dim (weights drawn afterwards)."""
    for blk in sam.image_encoder.blocks:
        d = blk.mlp.lin1.in_features
        blk.mlp.lin1 = torch.nn.Linear(d, mlp_dim)
        blk.mlp.lin2 = torch.nn.Linear(mlp_dim, d)


def load_writer():
    spec = importlib.util.spec_from_file_location("convert", os.path.join(HERE, "convert-to-safetensors.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.write_safetensors


def build(sam_repo, c):
    # ref: segment_anything/build_sam.py _build_sam, at the config's arguments
    sys.path.insert(0, sam_repo)
    from segment_anything.modeling import ImageEncoderViT, MaskDecoder, PromptEncoder, Sam, TwoWayTransformer

    grid = c["image_size"] // c["patch_size"]
    return Sam(
        image_encoder=ImageEncoderViT(
            depth=c["encoder_depth"],
            embed_dim=c["encoder_embed_dim"],
            img_size=c["image_size"],
            mlp_ratio=c["mlp_ratio"],
            norm_layer=partial(torch.nn.LayerNorm, eps=c["layer_norm_eps"]),
            num_heads=c["encoder_num_heads"],
            patch_size=c["patch_size"],
            qkv_bias=True,
            use_rel_pos=True,
            global_attn_indexes=c["encoder_global_attn_indexes"],
            window_size=c["window_size"],
            out_chans=c["prompt_embed_dim"],
        ),
        prompt_encoder=PromptEncoder(
            embed_dim=c["prompt_embed_dim"],
            image_embedding_size=(grid, grid),
            input_image_size=(c["image_size"], c["image_size"]),
            mask_in_chans=c["mask_in_chans"],
        ),
        mask_decoder=MaskDecoder(
            num_multimask_outputs=c["num_multimask_outputs"],
            transformer=TwoWayTransformer(
                depth=c["decoder_depth"],
                embedding_dim=c["prompt_embed_dim"],
                mlp_dim=c["decoder_mlp_dim"],
                num_heads=c["decoder_num_heads"],
            ),
            transformer_dim=c["prompt_embed_dim"],
            iou_head_depth=c["iou_head_depth"],
            iou_head_hidden_dim=c["iou_head_hidden_dim"],
        ),
        pixel_mean=c["pixel_mean"],
        pixel_std=c["pixel_std"],
    ).eval()


def randomize(sam, seed):
    """Random weights at scales that keep every stage's output informative: matrices
    N(0, 1/fan_in), biases N(0, 0.1), norms 1 + N(0, 0.2), positional tables and embeddings
    N(0, 0.2); the hypernetworks' last layers larger so that masks are not all one sign."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in sam.named_parameters():
            if "positional_encoding_gaussian_matrix" in name:
                continue   # a buffer upstream, N(0, 1) from its own init
            n = torch.randn(p.shape, generator=g)
            table = any(k in name for k in ("pos_embed", "rel_pos", "point_embeddings", "not_a_point_embed",
                                               "no_mask_embed", "iou_token", "mask_tokens"))
            if table:
                p.copy_(0.2 * n)
            elif name.endswith(".bias"):
                p.copy_(0.1 * n)
            elif p.dim() == 1:   # LayerNorm / LayerNorm2d weights
                p.copy_(1.0 + 0.2 * n)
            else:
                # ConvTranspose2d (stride = kernel): each output sees one tap of every input channel
                fan_in = p.shape[0] if "output_upscaling" in name else p[0].numel()
                scale = 20.0 if "output_hypernetworks_mlps" in name and name.endswith("layers.2.weight") else 1.0
                p.copy_(scale * n / fan_in ** 0.5)
        pe = sam.prompt_encoder.pe_layer.positional_encoding_gaussian_matrix
        pe.copy_(torch.randn(pe.shape, generator=g))


def case_prompts(kind, w, h):
    def pt(f):
        return [f[0] * w, f[1] * h]

    box = [BOX[0] * w, BOX[1] * h, BOX[2] * w, BOX[3] * h]
    return {
        "point": ([pt(POS)], [1], None, True),
        "points_posneg": ([pt(REFINE), pt(NEG)], [1, 0], None, False),
        "box": (None, None, box, False),
        "box_negpoint": ([pt(NEG)], [0], box, True),
        "mask_refine": ([pt(REFINE)], [1], None, False),
    }[kind]


def everything(sam, images_dir, image, expected):
    """SamAutomaticMaskGenerator as shared/fixtures/sam-tiny's segment_everything case runs it
    (keep every mask, no NMS, no crops), on a 2x2 point grid."""
    from segment_anything import SamAutomaticMaskGenerator

    params = {"points_per_side": 2, "pred_iou_thresh": -10.0, "stability_score_thresh": 0.0,
              "stability_score_offset": 1.0, "box_nms_thresh": 1.01, "crop_n_layers": 0}
    rgb = np.array(Image.open(os.path.join(images_dir, image)).convert("RGB"))
    masks = []
    for i, m in enumerate(SamAutomaticMaskGenerator(sam, **params).generate(rgb)):
        expected[f"amg.{i}.segmentation"] = torch.from_numpy(m["segmentation"].astype(np.uint8))
        masks.append({"bbox": m["bbox"], "area": m["area"], "predicted_iou": m["predicted_iou"],
                      "stability_score": m["stability_score"], "point_coords": m["point_coords"],
                      "segmentation": f"amg.{i}.segmentation"})
    print(f"segment_everything {image}: {len(masks)} masks")
    return {"image": image, "params": params, "masks": masks}


def make(sam_repo, images_dir, out, variant):
    config = variant["config"]
    sam = build(sam_repo, config)
    if "mlp_dim" in variant:
        prune_mlp(sam, variant["mlp_dim"])
    randomize(sam, variant["seed"])
    from segment_anything import SamPredictor

    write = load_writer()
    os.makedirs(out, exist_ok=True)
    hf = variant.get("hf", False)
    write({hf_name(k) if hf else k: v for k, v in sam.state_dict().items()}, os.path.join(out, "model.safetensors"))
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(hf_config(config, variant["mlp_dim"]) if hf else {k: config[k] for k in KEY_ORDER}, f, indent=1)
        f.write("\n")

    predictor = SamPredictor(sam)
    cases, expected = [], {}
    for image, kinds in variant["images"].items():
        stem = os.path.splitext(image)[0]
        rgb = np.array(Image.open(os.path.join(images_dir, image)).convert("RGB"))
        h, w = rgb.shape[:2]
        predictor.set_image(rgb)
        expected[f"{stem}.resized"] = torch.from_numpy(predictor.transform.apply_image(rgb).copy())
        expected[f"{stem}.image_embeddings"] = predictor.get_image_embedding().clone()
        for kind in kinds:
            name = f"{stem}.{kind}"
            coords, labels, box, multimask = case_prompts(kind, w, h)
            mask_input = None
            if kind == "mask_refine":
                # the best low-res logits of the same point, multimask, as a user would refine
                _, iou, low = predictor.predict(np.array(coords), np.array(labels), multimask_output=True)
                mask_input = low[int(np.argmax(iou))][None]
                expected[f"{name}.mask_input"] = torch.from_numpy(mask_input.copy())
            masks, iou, low = predictor.predict(
                point_coords=np.array(coords) if coords else None,
                point_labels=np.array(labels) if labels else None,
                box=np.array(box) if box else None,
                mask_input=mask_input,
                multimask_output=multimask,
            )
            expected[f"{name}.low_res_logits"] = torch.from_numpy(low.copy())
            expected[f"{name}.iou_predictions"] = torch.from_numpy(iou.copy())
            expected[f"{name}.masks"] = torch.from_numpy(masks.astype(np.uint8))
            cases.append({"image": image, "name": name, "multimask_output": multimask, "point_coords": coords,
                          "point_labels": labels, "box": box,
                          "mask_input": f"{name}.mask_input" if mask_input is not None else None})
            on = masks.reshape(masks.shape[0], -1).mean(1)
            print(f"{name}: iou {np.round(iou, 3).tolist()} foreground {np.round(on, 3).tolist()} "
                  f"logits [{low.min():.2f}, {low.max():.2f}]")
    doc = {"cases": cases}
    if "everything" in variant:
        doc["segment_everything"] = everything(sam, images_dir, variant["everything"], expected)
    write(expected, os.path.join(out, "cases.safetensors"))
    with open(os.path.join(out, "cases.json"), "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    print(f"wrote {os.path.basename(out)}: {len(cases)} cases")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sam-repo", required=True, help="a checkout of facebookresearch/segment-anything")
    ap.add_argument("--images", default=os.path.join(ROOT, "..", "shared", "fixtures", "images"))
    ap.add_argument("--out-dir", default=os.path.join(ROOT, "tests", "data"))
    ap.add_argument("--variant", choices=sorted(VARIANTS), action="append", help="default: all")
    args = ap.parse_args()
    try:
        commit = subprocess.run(["git", "-C", args.sam_repo, "rev-parse", "HEAD"], capture_output=True, text=True,
                                check=True).stdout.strip()
        print(f"segment-anything at {commit}")
    except (OSError, subprocess.CalledProcessError):
        print("segment-anything: not a git checkout (commit unknown)")
    torch.set_num_threads(2)
    for name in args.variant or sorted(VARIANTS):
        make(args.sam_repo, args.images, os.path.join(args.out_dir, name), VARIANTS[name])


if __name__ == "__main__":
    main()
