#!/usr/bin/env python3
"""Makes tests/data/mobilesam-tiny: a MobileSAM (TinyViT image encoder + SAM's prompt encoder and
mask decoder) at small sizes with seeded random weights, saved as a PyTorch checkpoint with the
official mobile_sam.pt key names, and the reference outputs of the upstream code on it.

  python3 scripts/make-mobilesam-fixture.py --mobilesam-repo ~/src/MobileSAM \\
      [--images ../shared/fixtures/images] [--out-dir tests/data]

The model is built as upstream's mobile_sam/build_sam.py build_sam_vit_t builds the released one,
at other arguments (CONFIG below):
  image 256 (a 64x64 stem output, stages at 64, 32, 16, 16; a 16x16 embedding, 64x64 low-res
  masks), embed dims 16 / 32 / 48 / 320 (the last 320: upstream's PatchMerging uses stride 1
  into 320, 448 or 576 channels, so the last merge keeps 16x16 as the released model keeps
  64x64), depths 2 / 2 / 1 / 1, heads 1 / 2 / 3 / 5, windows 7 / 5 / 6 / 16 (stage 1 pads 32 to
  35, stage 2 pads 16 to 18, stage 3's window is its whole grid), MLP ratio 1.5, MBConv
  expansion 3, a 3-class head (unused by SAM, present as in mobile_sam.pt);
  prompt dim 32, mask input channels 8, 2 decoder layers with MLP 48 and 4 heads, 3 multimask
  outputs, IoU head depth 3 with hidden 16.
Two changes to upstream's TinyViT, both for the smaller sizes: its neck is rebuilt with the
prompt dim (upstream hard-codes 256 channels) and forward_features reshapes the tokens to the
img_size // 16 grid (upstream hard-codes 64x64, the grid of a 1024 image); see FixtureTinyViT.
BatchNorm statistics and TinyViT's attention biases are randomized too, then the model is put
in eval mode (which caches the gathered attention biases).

timm is not needed: tiny_vit_sam.py imports DropPath, to_2tuple, trunc_normal_ and
register_model from timm, and this script puts a minimal stand-in module into sys.modules
(DropPath is the identity at eval, to_2tuple repeats a scalar, trunc_normal_ is torch's
nn.init.trunc_normal_, register_model returns its function).

Files: mobile_sam.pt (torch.save of the state dict, as the released mobile_sam.pt),
config.json, cases.json, cases.safetensors (the layout of scripts/make-sam-fixture.py's
fixtures, the same prompt kinds, and a segment_everything case on gray_odd.jpg).

Made with ChaoningZhang/MobileSAM at commit 34bbbfdface3c18e5221aa7de6032d7220c6c6a1 (the script
prints the commit of --mobilesam-repo when it is a git checkout), Debian's python3-torch 1.13 and
python3-torchvision 0.14 on CPU in float32.
"""
import argparse
import importlib.util
import json
import os
import subprocess
import sys
import types

import numpy as np
import torch
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

CONFIG = {
    "architecture": "mobilesam",
    "image_size": 256,
    "embed_dims": [16, 32, 48, 320],
    "depths": [2, 2, 1, 1],
    "num_heads": [1, 2, 3, 5],
    "window_sizes": [7, 5, 6, 16],
    "mlp_ratio": 1.5,
    "mbconv_expand_ratio": 3.0,
    "num_classes": 3,
    "prompt_embed_dim": 32,
    "mask_in_chans": 8,
    "decoder_depth": 2,
    "decoder_mlp_dim": 48,
    "decoder_num_heads": 4,
    "num_multimask_outputs": 3,
    "iou_head_depth": 3,
    "iou_head_hidden_dim": 16,
}
SEED = 12
IMAGES = {"dog.jpg": ["box"],
          "gray_odd.jpg": ["point", "points_posneg", "box", "box_negpoint", "mask_refine"],
          "shapes_rgba.png": ["points_posneg"]}
EVERYTHING = "gray_odd.jpg"


def load_script(name, file):
    spec = importlib.util.spec_from_file_location(name, os.path.join(HERE, file))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def install_timm_stand_in():
    """The four timm names tiny_vit_sam.py imports (timm is not installed here)."""
    class DropPath(torch.nn.Module):   # stochastic depth: the identity at eval
        def __init__(self, drop_prob=None):
            super().__init__()

        def forward(self, x):
            return x

    def to_2tuple(x):
        return tuple(x) if isinstance(x, (tuple, list)) else (x, x)

    timm = types.ModuleType("timm")
    models = types.ModuleType("timm.models")
    layers = types.ModuleType("timm.models.layers")
    registry = types.ModuleType("timm.models.registry")
    layers.DropPath, layers.to_2tuple, layers.trunc_normal_ = DropPath, to_2tuple, torch.nn.init.trunc_normal_
    registry.register_model = lambda fn: fn
    timm.models, models.layers, models.registry = models, layers, registry
    sys.modules.update({"timm": timm, "timm.models": models, "timm.models.layers": layers,
                        "timm.models.registry": registry})


def build(repo, c):
    # ref: mobile_sam/build_sam.py build_sam_vit_t, at the config's arguments
    install_timm_stand_in()
    sys.path.insert(0, repo)
    from mobile_sam.modeling import MaskDecoder, PromptEncoder, Sam, TinyViT, TwoWayTransformer
    from mobile_sam.modeling.tiny_vit_sam import LayerNorm2d

    class FixtureTinyViT(TinyViT):
        """TinyViT with its neck at the prompt dim and its output grid from img_size."""

        def __init__(self, out_chans, **kw):
            super().__init__(**kw)
            d = kw["embed_dims"][-1]
            # ref: tiny_vit_sam.py TinyViT.__init__ self.neck, with out_chans for 256
            self.neck = torch.nn.Sequential(
                torch.nn.Conv2d(d, out_chans, kernel_size=1, bias=False), LayerNorm2d(out_chans),
                torch.nn.Conv2d(out_chans, out_chans, kernel_size=3, padding=1, bias=False), LayerNorm2d(out_chans))

        def forward_features(self, x):
            # ref: tiny_vit_sam.py TinyViT.forward_features, with img_size // 16 for its 64
            x = self.patch_embed(x)
            for layer in self.layers:
                x = layer(x)
            B, _, C = x.size()
            g = self.img_size // 16
            return self.neck(x.view(B, g, g, C).permute(0, 3, 1, 2))

    grid = c["image_size"] // 16
    return Sam(
        image_encoder=FixtureTinyViT(
            out_chans=c["prompt_embed_dim"], img_size=c["image_size"], in_chans=3, num_classes=c["num_classes"],
            embed_dims=c["embed_dims"], depths=c["depths"], num_heads=c["num_heads"], window_sizes=c["window_sizes"],
            mlp_ratio=c["mlp_ratio"], drop_rate=0., drop_path_rate=0.0, use_checkpoint=False,
            mbconv_expand_ratio=c["mbconv_expand_ratio"], local_conv_size=3, layer_lr_decay=0.8),
        prompt_encoder=PromptEncoder(
            embed_dim=c["prompt_embed_dim"],
            image_embedding_size=(grid, grid),
            input_image_size=(c["image_size"], c["image_size"]),
            mask_in_chans=c["mask_in_chans"]),
        mask_decoder=MaskDecoder(
            num_multimask_outputs=c["num_multimask_outputs"],
            transformer=TwoWayTransformer(depth=c["decoder_depth"], embedding_dim=c["prompt_embed_dim"],
                                          mlp_dim=c["decoder_mlp_dim"], num_heads=c["decoder_num_heads"]),
            transformer_dim=c["prompt_embed_dim"],
            iou_head_depth=c["iou_head_depth"],
            iou_head_hidden_dim=c["iou_head_hidden_dim"]),
        pixel_mean=[123.675, 116.28, 103.53],
        pixel_std=[58.395, 57.12, 57.375],
    )


def randomize(sam, seed, sam_fixture):
    """make-sam-fixture.py's random parameters, then TinyViT's own: attention biases N(0, 1),
    BatchNorm running means N(0, 0.2) and variances in [0.5, 1.5]."""
    sam_fixture.randomize(sam, seed)
    g = torch.Generator().manual_seed(seed + 1000)
    with torch.no_grad():
        for name, p in sam.named_parameters():
            if name.endswith("attention_biases"):
                p.copy_(torch.randn(p.shape, generator=g))
        for name, b in sam.named_buffers():
            if name.endswith("running_mean"):
                b.copy_(0.2 * torch.randn(b.shape, generator=g))
            elif name.endswith("running_var"):
                b.copy_(0.5 + torch.rand(b.shape, generator=g))
    sam.eval()   # after the biases: Attention.train(False) caches attention_biases[:, idxs] as `ab`


def make(repo, images_dir, out):
    sam_fixture = load_script("make_sam_fixture", "make-sam-fixture.py")
    sam = build(repo, CONFIG)
    randomize(sam, SEED, sam_fixture)
    import mobile_sam
    from mobile_sam import SamPredictor
    # make-sam-fixture.py's segment_everything case imports segment_anything's mask generator:
    # mobile_sam is that package with TinyViT added, under another name
    sys.modules["segment_anything"] = mobile_sam

    os.makedirs(out, exist_ok=True)
    torch.save(sam.state_dict(), os.path.join(out, "mobile_sam.pt"))
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(CONFIG, f, indent=1)
        f.write("\n")

    predictor = SamPredictor(sam)
    cases, expected = [], {}
    for image, kinds in IMAGES.items():
        stem = os.path.splitext(image)[0]
        rgb = np.array(Image.open(os.path.join(images_dir, image)).convert("RGB"))
        h, w = rgb.shape[:2]
        predictor.set_image(rgb)
        expected[f"{stem}.resized"] = torch.from_numpy(predictor.transform.apply_image(rgb).copy())
        expected[f"{stem}.image_embeddings"] = predictor.get_image_embedding().clone()
        for kind in kinds:
            name = f"{stem}.{kind}"
            coords, labels, box, multimask = sam_fixture.case_prompts(kind, w, h)
            mask_input = None
            if kind == "mask_refine":
                _, iou, low = predictor.predict(np.array(coords), np.array(labels), multimask_output=True)
                mask_input = low[int(np.argmax(iou))][None]
                expected[f"{name}.mask_input"] = torch.from_numpy(mask_input.copy())
            masks, iou, low = predictor.predict(
                point_coords=np.array(coords) if coords else None,
                point_labels=np.array(labels) if labels else None,
                box=np.array(box) if box else None,
                mask_input=mask_input,
                multimask_output=multimask)
            expected[f"{name}.low_res_logits"] = torch.from_numpy(low.copy())
            expected[f"{name}.iou_predictions"] = torch.from_numpy(iou.copy())
            expected[f"{name}.masks"] = torch.from_numpy(masks.astype(np.uint8))
            cases.append({"image": image, "name": name, "multimask_output": multimask, "point_coords": coords,
                          "point_labels": labels, "box": box,
                          "mask_input": f"{name}.mask_input" if mask_input is not None else None})
            on = masks.reshape(masks.shape[0], -1).mean(1)
            print(f"{name}: iou {np.round(iou, 3).tolist()} foreground {np.round(on, 3).tolist()} "
                  f"logits [{low.min():.2f}, {low.max():.2f}]")
    doc = {"cases": cases, "segment_everything": sam_fixture.everything(sam, images_dir, EVERYTHING, expected)}
    sam_fixture.load_writer()(expected, os.path.join(out, "cases.safetensors"))
    with open(os.path.join(out, "cases.json"), "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    print(f"wrote {os.path.basename(out)}: {len(cases)} cases")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mobilesam-repo", required=True, help="a checkout of ChaoningZhang/MobileSAM")
    ap.add_argument("--images", default=os.path.join(ROOT, "..", "shared", "fixtures", "images"))
    ap.add_argument("--out-dir", default=os.path.join(ROOT, "tests", "data"))
    args = ap.parse_args()
    try:
        commit = subprocess.run(["git", "-C", args.mobilesam_repo, "rev-parse", "HEAD"], capture_output=True,
                                text=True, check=True).stdout.strip()
        print(f"MobileSAM at {commit}")
    except (OSError, subprocess.CalledProcessError):
        print("MobileSAM: not a git checkout (commit unknown)")
    torch.set_num_threads(2)
    make(args.mobilesam_repo, args.images, os.path.join(args.out_dir, "mobilesam-tiny"))


if __name__ == "__main__":
    main()
