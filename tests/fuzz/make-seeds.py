#!/usr/bin/env python3
# make-seeds.py — writes the seed corpora of the fuzz targets into a build folder:
#   make-seeds.py <out-dir> <fixtures-dir> <bad-corpus-dir>
# Seeds are small and built at run time (from the shared fixtures, PIL and tests/data/bad),
# so nothing large is committed. Each target gets <out-dir>/<target>/.
import io, json, os, struct, sys

out, fixtures, bad = sys.argv[1], sys.argv[2], sys.argv[3]


def put(target, name, data):
    d = os.path.join(out, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def read(path):
    with open(path, "rb") as f:
        return f.read()


# ---- images ----
images = {}
try:
    from PIL import Image
    def enc(img, fmt, **kw):
        b = io.BytesIO()
        img.save(b, fmt, **kw)
        return b.getvalue()
    base = Image.new("RGB", (13, 7))
    for y in range(7):
        for x in range(13):
            base.putpixel((x, y), (x * 19 % 256, y * 37 % 256, (x * y * 11) % 256))
    images["rgb.png"] = enc(base, "PNG")
    images["rgba.png"] = enc(base.convert("RGBA"), "PNG")
    images["gray.png"] = enc(base.convert("L"), "PNG")
    images["la.png"] = enc(base.convert("LA"), "PNG")
    images["pal.png"] = enc(base.convert("P"), "PNG")
    images["bw.png"] = enc(base.convert("1"), "PNG")
    images["i16.png"] = enc(base.convert("I").point(lambda v: v * 200), "PNG")   # 16-bit gray
    images["optimized.png"] = enc(base, "PNG", optimize=True)
    images["1x1.png"] = enc(Image.new("RGB", (1, 1), (200, 10, 30)), "PNG")
    images["rgb.jpg"] = enc(base, "JPEG", quality=80)
    images["progressive.jpg"] = enc(base, "JPEG", progressive=True)
    images["gray.jpg"] = enc(base.convert("L"), "JPEG")
    images["cmyk.jpg"] = enc(base.convert("CMYK"), "JPEG")
    images["444.jpg"] = enc(base, "JPEG", subsampling=0)
    exif = Image.Exif()
    exif[0x0112] = 6   # orientation: rotate 90
    images["exif6.jpg"] = enc(base, "JPEG", exif=exif.tobytes())
    images["lossy.webp"] = enc(base, "WEBP", quality=70)
    images["lossless.webp"] = enc(base.convert("RGBA"), "WEBP", lossless=True)
    images["rgb.bmp"] = enc(base, "BMP")
    images["pal.gif"] = enc(base.convert("P"), "GIF")
    images["rgb.tga"] = enc(base, "TGA")
    images["rle.tga"] = enc(base, "TGA", compression="tga_rle")
except ImportError:
    print("make-seeds: PIL not available, image seeds come from the fixtures only", file=sys.stderr)
for name in ("gray_odd.jpg", "shapes_rgba.png"):
    p = os.path.join(fixtures, "images", name)
    if os.path.exists(p):
        images["fixture-" + name] = read(p)
if os.path.isdir(bad):
    for name in sorted(os.listdir(bad)):
        if name.rsplit(".", 1)[-1] in ("png", "jpg", "jpeg", "webp", "bmp", "gif", "tga", "img"):
            images["bad-" + name] = read(os.path.join(bad, name))
for name, data in images.items():
    put("fuzz-image-decode", name, data)
    if len(data) < 20000:
        put("fuzz-preprocess", name, bytes([63, 31, len(name) & 1]) + data)

# ---- safetensors ----
def safetensors(entries, metadata=None, pad=True):
    hdr, blob = {}, b""
    if metadata is not None:
        hdr["__metadata__"] = metadata
    for name, dtype, shape, data in entries:
        hdr[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(blob), len(blob) + len(data)]}
        blob += data
    h = json.dumps(hdr, separators=(",", ":")).encode()
    if pad:
        h += b" " * ((8 - len(h) % 8) % 8)
    return struct.pack("<Q", len(h)) + h + blob

names = ["image_encoder.blocks.0.attn.proj.bias", "image_encoder.blocks.0.attn.proj.weight",
         "prompt_encoder.point_embeddings.0.weight", "mask_decoder.iou_token.weight"]
p = os.path.join(fixtures, "sam-tiny", "model.safetensors")
if os.path.exists(p):
    with open(p, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        hdr = json.loads(f.read(n))
    names = [k for k in hdr if k != "__metadata__"][:12]
    put("fuzz-safetensors", "sam-tiny-header-only", struct.pack("<Q", n) + json.dumps(hdr).encode()[:n].ljust(n))
dt = {"F32": 4, "F16": 2, "BF16": 2, "I32": 4, "U8": 1}
ents = []
for i, nm in enumerate(names):
    d = list(dt)[i % len(dt)]
    shape = [[2, 3], [5], [1, 2, 2], [], [0, 4], [3, 1, 1, 2]][i % 6]
    cnt = 1
    for s in shape:
        cnt *= s
    ents.append((nm, d, shape, bytes((j * 7 + i) & 255 for j in range(cnt * dt[d]))))
put("fuzz-safetensors", "small", safetensors(ents, {"format": "pt"}))
put("fuzz-safetensors", "one", safetensors(ents[:1]))
put("fuzz-safetensors", "empty", safetensors([]))
put("fuzz-safetensors", "nopad", safetensors(ents[:3], pad=False))
put("fuzz-safetensors", "nan", safetensors([("w", "F32", [2], struct.pack("<ff", float("nan"), float("inf")))]))
if os.path.isdir(bad):
    for name in sorted(os.listdir(bad)):
        if name.endswith(".safetensors"):
            put("fuzz-safetensors", "bad-" + name, read(os.path.join(bad, name)))

# ---- PyTorch archives: the valid and malformed ones of the bad-input corpus (make-bad.py) ----
if os.path.isdir(bad):
    for name in sorted(os.listdir(bad)):
        if name.endswith(".pth"):
            put("fuzz-pytorch", "bad-" + name, read(os.path.join(bad, name)))
            try:   # the bare pickle too: the target wraps a non-zip input as archive/data.pkl
                import zipfile
                with zipfile.ZipFile(os.path.join(bad, name)) as z:
                    pkl = [n for n in z.namelist() if n.endswith("/data.pkl")]
                    if pkl:
                        put("fuzz-pytorch", "pkl-" + name, z.read(pkl[0]))
            except Exception:
                pass

# ---- GGUF ----
def gstr(s):
    s = s.encode() if isinstance(s, str) else s
    return struct.pack("<Q", len(s)) + s

def gkv(key, vtype, payload):
    return gstr(key) + struct.pack("<I", vtype) + payload

def gguf(kvs, tensors, align=32, version=3):
    meta = b"".join(kvs)
    infos, blob = b"", b""
    for name, ne, gtype, data in tensors:
        off = len(blob)
        infos += gstr(name) + struct.pack("<I", len(ne)) + b"".join(struct.pack("<Q", x) for x in ne)
        infos += struct.pack("<IQ", gtype, off)
        blob += data + b"\0" * ((align - len(data) % align) % align)
    head = b"GGUF" + struct.pack("<IQQ", version, len(tensors), len(kvs)) + meta + infos
    head += b"\0" * ((align - len(head) % align) % align)
    return head + blob

kvs = [
    gkv("general.architecture", 8, gstr("clip")),
    gkv("general.name", 8, gstr("fuzz")),
    gkv("general.alignment", 4, struct.pack("<I", 32)),
    gkv("clip.vision.image_size", 4, struct.pack("<I", 64)),
    gkv("clip.vision.embedding_length", 10, struct.pack("<Q", 128)),
    gkv("clip.vision.layer_norm_epsilon", 6, struct.pack("<f", 1e-5)),
    gkv("clip.has_vision_encoder", 7, b"\1"),
    gkv("f64", 12, struct.pack("<d", 0.5)),
    gkv("i8", 1, b"\xff"), gkv("i16", 3, struct.pack("<h", -3)), gkv("i64", 11, struct.pack("<q", -5)),
    gkv("clip.vision.image_mean", 9, struct.pack("<IQ", 6, 3) + struct.pack("<fff", 0.5, 0.5, 0.5)),
    gkv("tokenizer.ggml.tokens", 9, struct.pack("<IQ", 8, 3) + gstr("a") + gstr("bc") + gstr("")),
]
f16 = struct.pack("<8e", *[i / 4 for i in range(8)])
q8 = struct.pack("<e", 0.1) + bytes(range(32))
tens = [("v.patch_embd.weight", [4, 2], 0, struct.pack("<8f", *range(8))),
        ("v.blk.0.attn_q.weight", [8], 1, f16),
        ("v.blk.0.ffn_up.weight", [32, 1], 8, q8),
        ("scalar", [1], 0, struct.pack("<f", 2.0))]
put("fuzz-gguf", "small", gguf(kvs, tens))
put("fuzz-gguf", "meta-only", gguf(kvs, []))
put("fuzz-gguf", "tensors-only", gguf([], tens))
put("fuzz-gguf", "align64", gguf([gkv("general.alignment", 4, struct.pack("<I", 64))], tens, align=64))
put("fuzz-gguf", "v2", gguf(kvs[:3], tens[:1], version=2))
for name in ("mmproj-smolvlm-tiny-f32.gguf", "smolvlm-tiny-f16.gguf"):
    p = os.path.join(fixtures, "smolvlm-tiny", name)
    if os.path.exists(p):
        put("fuzz-gguf", "fixture-head-" + name, read(p)[:32768])   # metadata + tensor table (cut)
if os.path.isdir(bad):
    for name in sorted(os.listdir(bad)):
        if name.endswith(".gguf"):
            put("fuzz-gguf", "bad-" + name, read(os.path.join(bad, name)))

# ---- tokenizer ----
texts = ["a photo of a dog", "A  Photo\tOF\na DOG!!", "&amp;lt;b&amp;gt; html", "héllo wörld café",
         "日本語のテキスト", "emoji 😀👍🏽 mix", "don't we'll I'm", "12345 3.14 1e10", "\xff\xfe bad utf8",
         "a" * 300, "   ", "", "<|startoftext|> tokens <|endoftext|>"]
p = os.path.join(fixtures, "clip-tiny", "cases.json")
if os.path.exists(p):
    with open(p) as f:
        cases = json.load(f)
    texts += cases.get("texts", []) + [c["text"] for c in cases.get("tokenizer", [])]
for i, t in enumerate(texts):
    put("fuzz-clip-tokenizer", "t%03d" % i, t.encode("utf-8", "surrogateescape") if "\xff" not in t
        else b"\xff\xfe bad utf8 \xc3\x28 \xe2\x82")

# ---- byte-level BPE (fuzz-bpe-tokenizer; its vocab metadata through fuzz-gguf) ----
bpe_texts = ["Hello world", "<|im_start|>User: hi<end_of_utterance>\nAssistant:", "<row_1_col_1><image>",
             "1,000,000 and 3.14", "It's we'll they've", "\t tabs\n\n\n", "caf\u00e9 \u65e5\u672c \U0001f436\u200d",
             "x" * 300, "<|im_start|", ""]
p = os.path.join(fixtures, "smolvlm-tiny", "cases.json")
if os.path.exists(p):
    with open(p) as f:
        bpe_texts += [c["text"] for c in json.load(f).get("tokenizer", [])]
for i, t in enumerate(bpe_texts):
    put("fuzz-bpe-tokenizer", "t%03d" % i, t.encode())
put("fuzz-bpe-tokenizer", "bad-utf8", b"ok \xff\xfe \xc3\x28 \xe2\x82")

def gstrs(key, items):
    return gkv(key, 9, struct.pack("<IQ", 8, len(items)) + b"".join(gstr(x) for x in items))

bpe_tokens = ["a", "b", "c", "\u0120", "1", "2", "ab", "abc", "\u0120a", "12", "<|im_start|>", "<|im_end|>", "<|endoftext|>", "<image>"]
bpe_kvs = [
    gkv("tokenizer.ggml.model", 8, gstr("gpt2")),
    gkv("tokenizer.ggml.pre", 8, gstr("smollm")),
    gstrs("tokenizer.ggml.tokens", bpe_tokens),
    gkv("tokenizer.ggml.token_type", 9, struct.pack("<IQ", 5, len(bpe_tokens)) + struct.pack("<%di" % len(bpe_tokens), *([1] * 10 + [3, 3, 3, 4]))),
    gstrs("tokenizer.ggml.merges", ["a b", "ab c", "\u0120 a", "1 2"]),
    gkv("tokenizer.ggml.bos_token_id", 4, struct.pack("<I", 10)),
    gkv("tokenizer.ggml.eos_token_id", 4, struct.pack("<I", 11)),
    gkv("tokenizer.ggml.add_bos_token", 7, b"\1"),
]
put("fuzz-gguf", "bpe-vocab", gguf(bpe_kvs, []))
for pre in ("gpt-2", "llama-bpe", "qwen2"):
    put("fuzz-gguf", "bpe-vocab-" + pre, gguf(bpe_kvs[:1] + [gkv("tokenizer.ggml.pre", 8, gstr(pre))] + bpe_kvs[2:], []))

# ---- config.json (fuzz-config-json) ----
for rel in ("clip-tiny/config.json", "sam-tiny/config.json", "smolvlm-tiny/config.json"):
    p = os.path.join(fixtures, rel)
    if os.path.exists(p):
        put("fuzz-config-json", "fixture-" + rel.replace("/", "-"), read(p))
configs = {
    "hf-clip": {"text_config": {"num_attention_heads": 8, "hidden_act": "quick_gelu", "layer_norm_eps": 1e-5},
                "vision_config": {"num_attention_heads": 12, "hidden_act": "gelu", "layer_norm_eps": 1e-6}},
    "hf-clip-vision-only": {"vision_config": {"num_attention_heads": 16, "hidden_act": "gelu_pytorch_tanh"}},
    "hf-bad-act": {"text_config": {"hidden_act": "mish"}},
    "open-clip": {"model_cfg": {"embed_dim": 512, "quick_gelu": True, "vision_cfg": {"width": 768, "head_width": 64},
                                "text_cfg": {"width": 512, "heads": 8}}},
    "open-clip-flat": {"embed_dim": 512, "vision_cfg": {"width": 1024, "head_width": 80}, "text_cfg": {"heads": 12}},
    "flat": {"transformer_heads": 8, "vision_heads": 12, "activation": "silu", "layer_norm_eps": 1e-6},
    "flat-hidden-act": {"hidden_act": "relu", "transformer_heads": 65536.5},
    "flat-bad-act": {"activation": "tanh"},
    "sam-upstream": {"decoder_num_heads": 8, "encoder_num_heads": 12},
    "sam-hf": {"mask_decoder_config": {"num_attention_heads": 8, "hidden_size": 256}},
    "sam-big-heads": {"decoder_num_heads": 1e300},
    "types": {"text_config": [1, 2], "vision_config": None, "model_cfg": "x", "activation": 3, "layer_norm_eps": "1e-5"},
}
for name, c in configs.items():
    put("fuzz-config-json", name + ".json", json.dumps(c, indent=1).encode())
for name, text in (("array", b"[1, 2, 3]"), ("string", b'"config"'), ("empty", b""), ("truncated", b'{"text_config": {"hid'),
                   ("deep", b"[" * 2000 + b"]" * 2000), ("nul-inside", b'{"activation": "gelu\0x"}'),
                   ("utf8-key", '{"activación": "gelu", "vision_heads": 4}'.encode()), ("bom", b'\xef\xbb\xbf{"vision_heads": 2}')):
    put("fuzz-config-json", name + ".json", text)

# ---- SAM-family loading (fuzz-sam-load): base model, edits, "%%", config.json ----
data = os.path.dirname(os.path.abspath(bad))
sam_bases = {   # name: (folder of its config.json, encoder block prefix, decoder layer prefix)
    "sam-tiny": (os.path.join(fixtures, "sam-tiny"), "image_encoder.blocks.", "mask_decoder.transformer.layers."),
    "sam-mini": (os.path.join(data, "sam-mini"), "image_encoder.blocks.", "mask_decoder.transformer.layers."),
    "slimsam-tiny": (os.path.join(data, "slimsam-tiny"), "vision_encoder.layers.", "mask_decoder.transformer.layers."),
    "mobilesam-tiny": (os.path.join(data, "mobilesam-tiny"), "image_encoder.layers.", "mask_decoder.transformer.layers."),
    "effsam-tiny": (os.path.join(data, "effsam-tiny"), "image_encoder.blocks.", "mask_decoder.transformer.layers."),
}


def sam_seed(name, edits, config=b""):   # config b"": the base's own, None: no config.json
    if config == b"":
        p = os.path.join(sam_bases[name][0], "config.json")
        config = read(p) if os.path.exists(p) else None
    return (name + "\n" + "".join(e + "\n" for e in edits)).encode() + (b"%%\n" + config if config is not None else b"")


for name, (d, enc, dec) in sam_bases.items():
    if not os.path.exists(os.path.join(d, "config.json")):
        continue
    put("fuzz-sam-load", name, sam_seed(name, []))
    put("fuzz-sam-load", name + "-no-config", sam_seed(name, [], None))
    put("fuzz-sam-load", name + "-drop-block", sam_seed(name, ["drop %s1." % enc]))
    put("fuzz-sam-load", name + "-drop-block0", sam_seed(name, ["drop %s0." % enc]))
    put("fuzz-sam-load", name + "-extra-block", sam_seed(name, ["copy %s1. %s2." % (enc, enc)]))
    put("fuzz-sam-load", name + "-gap-block", sam_seed(name, ["copy %s1. %s5." % (enc, enc)]))
    put("fuzz-sam-load", name + "-drop-dec", sam_seed(name, ["drop %s1." % dec]))
    put("fuzz-sam-load", name + "-extra-dec", sam_seed(name, ["copy %s0. %s7." % (dec, dec)]))
    put("fuzz-sam-load", name + "-drop-hyper", sam_seed(name, ["drop mask_decoder.output_hypernetworks_mlps.1."]))
    put("fuzz-sam-load", name + "-mask-tokens", sam_seed(name, ["shape mask_decoder.mask_tokens.weight 2 32"]))
    put("fuzz-sam-load", name + "-iou-token", sam_seed(name, ["shape mask_decoder.iou_token.weight 1 31"]))
    put("fuzz-sam-load", name + "-nan", sam_seed(name, ["fill %s0. nan" % enc, "fill mask_decoder.iou_token inf"]))
    put("fuzz-sam-load", name + "-huge", sam_seed(name, ["fill image_encoder.patch_embed 1e30"]))
    put("fuzz-sam-load", name + "-f16", sam_seed(name, ["dtype %s f16" % enc, "dtype mask_decoder. bf16"]))
    j = json.loads(read(os.path.join(d, "config.json")))
    for key, v in (("image_size", 250), ("image_size", 2048), ("image_size", 16), ("patch_size", 8), ("encoder_depth", 3),
                   ("prompt_embed_dim", 64), ("decoder_num_heads", 3), ("encoder_num_heads", 5), ("num_multimask_outputs", 1),
                   ("mlp_ratio", 7.5), ("encoder_global_attn_indexes", [0, 9]), ("window_sizes", [7, 7, 7, 7]),
                   ("depths", [1, 2, 1, 1]), ("decoder_upscaling_layer_dims", [12, 8]),
                   ("vision_config", {"image_size": 250, "patch_size": 16}), ("mask_decoder_config", {"num_attention_heads": 5}),
                   ("prompt_encoder_config", {"image_size": 512, "image_embedding_size": 32})):
        k = dict(j)
        k[key] = v
        put("fuzz-sam-load", "%s-%s-%s" % (name, key, json.dumps(v).replace(" ", "")[:12]), sam_seed(name, [], json.dumps(k).encode()))
for name, edits in (("sam-mini-pos-embed", ["shape image_encoder.pos_embed 1 4 4 32"]),
                    ("sam-mini-rel-pos", ["shape image_encoder.blocks.0.attn.rel_pos_h 9 8"]),
                    ("sam-mini-patch", ["shape image_encoder.patch_embed.proj.weight 32 3 8 8"]),
                    ("slimsam-tiny-qkv", ["shape vision_encoder.layers.0.attn.qkv.weight 100 36"]),
                    ("effsam-tiny-points", ["drop prompt_encoder.invalid_points"]),
                    ("mobilesam-tiny-neck", ["shape image_encoder.neck.0.weight 32 48 1 1"])):
    base = next(b for b in sam_bases if name.startswith(b))
    put("fuzz-sam-load", name, sam_seed(base, edits))

# ---- serve requests (fuzz-serve-request): endpoint / method / chunking byte, image size byte,
# body limit byte, then the body ----
def req(sel, body, wbyte=200, limit=255):
    return bytes([sel, wbyte, limit]) + (body.encode() if isinstance(body, str) else body)

img = '"image": "0123456789abcdef"'
bodies = [
    (0, '{%s, "points": [[10, 20, 1], [30.5, 4, 0]], "box": [1, 2, 300, 400], "multimask": false}' % img),
    (0, '{%s, "points": [[10, 20]], "mask_input": "r12", "mask_index": 2}' % img),
    (0, '{%s, "box": [5, 5, 4, 4]}' % img),
    (0, '{%s, "points": null, "box": null, "mask_input": "r1"}' % img),
    (0, '{%s, "points": [%s]}' % (img, ", ".join(["[1, 1, 1]"] * 70))),
    (0, '{"points": [[1, 2, 1]]}'),
    (1, '{%s, "points_per_side": 16, "pred_iou_thresh": 0.5, "crop_n_layers": 1, "crop_overlap_ratio": 0.3, '
        '"min_mask_region_area": 100}' % img),
    (1, '{%s, "points_per_side": 0}' % img),
    (2, '{"texts": ["a photo of a dog", "a cat"]}'),
    (2, '{%s}' % img),
    (2, '{}'),
    (3, '{%s, "labels": ["dog", "cat", "truck"], "template": "a photo of a {}."}' % img),
    (3, '{%s, "labels": ["dog", ""]}' % img),
    (4, '{%s, "mask": "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAAAAAA6fptVAAAACklEQVR4nGNgAAAAAgABSK+kcQAAAABJRU5ErkJggg==", '
        '"top": 3}' % img),
    (4, '{%s, "mask": "data:image/png;base64,AAAA-_=="}' % img),
    (0, '{"image": '),
    (0, '[1, 2]'),
    (0, ''),
]
for i, (sel, body) in enumerate(bodies):
    put("fuzz-serve-request", "body%02d" % i, req(sel, body))
    put("fuzz-serve-request", "body%02d-chunked" % i, req(sel + 5 * 4 * 3, body, 17, 2))   # small chunks, a small limit
# chat requests (every body is parsed as one too)
dog = '"image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}'
chats = [
    '{"model": "m", "messages": [{"role": "user", "content": "What is this?"}], "max_tokens": 8}',
    '{"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": [{"type": "image_url", %s}, '
    '{"type": "text", "text": "q"}]}, {"role": "assistant", "content": "a"}, {"role": "user", "content": "more?"}], '
    '"stream": true, "stream_options": {"include_usage": true}, "stop": ["x", "yz"], "temperature": 0.5, "seed": -3}' % dog,
    '{"messages": [{"role": "user", "content": "q"}], "vlm_region": {"image": "0123456789abcdef", "points": [[1, 2, 1]], '
    '"box": [0, 0, 5, 5]}}',
    '{"messages": [{"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "image_url", "image_url": '
    '"vlm://image/0123456789abcdef"}]}], "vlm_region": {"image": "vlm://image/0123456789abcdef", "box": [1, 1, 2, 2]}}',
    '{"messages": [{"role": "developer", "content": "<__media__>"}, {"role": "user", "content": "x"}], "n": 2}',
    '{"messages": [{"role": "tool", "content": ""}], "max_tokens": 0}',
]
for i, body in enumerate(chats):
    put("fuzz-serve-request", "chat%02d" % i, req(0, body))
for i, url in enumerate(["/v1/segment", "/v1/health", "/v1/embed", "/v1/nope", "/", "/app.js", "/../../etc/passwd",
                         "/style.css", "/.hidden.html", "/a/b.png"]):
    put("fuzz-serve-request", "url%02d" % i, req(5 * (i % 4), url))
