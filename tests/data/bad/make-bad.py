#!/usr/bin/env python3
# make-bad.py — regenerates the small malformed inputs of tests/data/bad/ (run from anywhere;
# writes next to itself). Cases that need the fixtures (truncated real models, NaN weights,
# 1 MB prompts) are built at test time by tests/test-bad-corpus.c instead; see cases.txt.
# Files named *-fuzz-* are minimized fuzzer findings, committed as they are (not made here).
import os, struct, zlib

HERE = os.path.dirname(os.path.abspath(__file__))


def put(name, data):
    with open(os.path.join(HERE, name), "wb") as f:
        f.write(data)


# ---- safetensors ----
def st(header, data=b"", n_header=None):
    h = header.encode() if isinstance(header, str) else header
    return struct.pack("<Q", len(h) if n_header is None else n_header) + h + data

F = '{"dtype":"F32","shape":%s,"data_offsets":[%d,%d]}'
put("st-4-bytes.safetensors", b"\x10\0\0\0")
put("st-header-past-end.safetensors", st('{"a":1}', n_header=1000))
put("st-header-len-2e63.safetensors", st('{}', n_header=1 << 63))
put("st-not-json.safetensors", st('{"a":{"dtype":'))
put("st-trailing-garbage.safetensors", st('{} x'))
put("st-offsets-past-end.safetensors", st('{"w":%s}' % (F % ("[4]", 0, 16)), b"\0" * 8))
put("st-offsets-2e60.safetensors", st('{"w":%s}' % (F % ("[2]", 1 << 50, (1 << 50) + 8)), b"\0" * 8))
put("st-overlap.safetensors", st('{"a":%s,"b":%s}' % (F % ("[2]", 0, 8), F % ("[2]", 4, 12)), b"\0" * 12))
put("st-gap.safetensors", st('{"a":%s,"b":%s}' % (F % ("[1]", 0, 4), F % ("[1]", 8, 12)), b"\0" * 12))
put("st-size-mismatch.safetensors", st('{"w":%s}' % (F % ("[3]", 0, 8)), b"\0" * 8))
put("st-shape-overflow.safetensors", st('{"w":%s}' % (F % ("[4503599627370496,4503599627370496]", 0, 8)), b"\0" * 8))
put("st-negative-dim.safetensors", st('{"w":%s}' % (F % ("[-1]", 0, 0))))
put("st-float-dim.safetensors", st('{"w":%s}' % (F % ("[1.5]", 0, 0))))
put("st-nine-dims.safetensors", st('{"w":%s}' % (F % ("[1,1,1,1,1,1,1,1,1]", 0, 4)), b"\0" * 4))
put("st-duplicate-name.safetensors", st('{"w":%s,"w":%s}' % (F % ("[1]", 0, 4), F % ("[1]", 4, 8)), b"\0" * 8))
put("st-f64.safetensors", st('{"w":{"dtype":"F64","shape":[1],"data_offsets":[0,8]}}', b"\0" * 8))
put("st-unknown-dtype.safetensors", st('{"w":{"dtype":"Q9","shape":[1],"data_offsets":[0,1]}}', b"\0"))
put("st-no-offsets.safetensors", st('{"w":{"dtype":"F32","shape":[1]}}', b"\0" * 4))
put("st-metadata-not-string.safetensors", st('{"__metadata__":{"a":1}}'))
put("st-deep-json.safetensors", st("{\"w\":" + "[" * 5000 + "]" * 5000 + "}"))
# zero-size and 0-dim (scalar) tensors are valid: the reader must accept them
put("st-zero-size-and-scalar.safetensors",
    st('{"empty":%s,"scalar":%s}' % (F % ("[0,4]", 0, 0), F % ("[]", 0, 4)), struct.pack("<f", 1.0)))

# ---- GGUF ----
def gs(s):
    s = s.encode() if isinstance(s, str) else s
    return struct.pack("<Q", len(s)) + s

def gguf(n_tensors, n_kv, body=b"", version=3, magic=b"GGUF"):
    return magic + struct.pack("<IQQ", version, n_tensors, n_kv) + body

def tinfo(name, ne, gtype, off):
    return gs(name) + struct.pack("<I", len(ne)) + b"".join(struct.pack("<Q", x) for x in ne) + struct.pack("<IQ", gtype, off)

def pad32(b):
    return b + b"\0" * ((32 - len(b) % 32) % 32)

kv_arch = gs("general.architecture") + struct.pack("<I", 8) + gs("clip")
put("gguf-bad-magic.gguf", gguf(0, 0, magic=b"GGUG"))
put("gguf-version-99.gguf", gguf(0, 0, version=99))
put("gguf-big-endian.gguf", gguf(0, 0, version=3 << 24))
put("gguf-2e31-tensors.gguf", gguf(1 << 31, 0, b"\0" * 64))
put("gguf-2e63-kv.gguf", gguf(0, 1 << 63, b"\0" * 64))
put("gguf-4gb-key.gguf", gguf(0, 1, struct.pack("<Q", 1 << 32) + b"general.architecture"))
put("gguf-4gb-string.gguf", gguf(0, 1, gs("general.name") + struct.pack("<IQ", 8, 1 << 32) + b"abc"))
put("gguf-2e62-array.gguf", gguf(0, 1, gs("a") + struct.pack("<IIQ", 9, 4, 1 << 62) + b"\0" * 16))
put("gguf-nested-arrays.gguf", gguf(0, 1, gs("a") + struct.pack("<I", 9) + struct.pack("<IQ", 9, 1) * 20 + b"\0" * 16))
put("gguf-bad-value-type.gguf", gguf(0, 1, gs("a") + struct.pack("<I", 77) + b"\0" * 16))
put("gguf-duplicate-key.gguf", gguf(0, 2, (gs("a") + struct.pack("<IB", 0, 1)) * 2 + b"\0" * 8))
put("gguf-alignment-3.gguf", gguf(0, 1, gs("general.alignment") + struct.pack("<II", 4, 3) + b"\0" * 8))
put("gguf-tensor-past-end.gguf", pad32(gguf(1, 1, kv_arch + tinfo("w", [1024], 0, 0))) + b"\0" * 32)
put("gguf-tensor-offset-2e63.gguf", pad32(gguf(1, 1, kv_arch + tinfo("w", [4], 0, 1 << 63))) + b"\0" * 32)
put("gguf-tensor-overflow.gguf", pad32(gguf(1, 1, kv_arch + tinfo("w", [1 << 40, 1 << 40], 0, 0))) + b"\0" * 32)
put("gguf-tensor-negative-dim.gguf", pad32(gguf(1, 1, kv_arch + tinfo("w", [(1 << 64) - 1], 0, 0))) + b"\0" * 32)
put("gguf-tensor-five-dims.gguf", pad32(gguf(1, 1, kv_arch + tinfo("w", [1, 1, 1, 1, 1], 0, 0))) + b"\0" * 32)
put("gguf-tensor-bad-type.gguf", pad32(gguf(1, 1, kv_arch + tinfo("w", [4], 99, 0))) + b"\0" * 32)
put("gguf-tensor-q8-row.gguf", pad32(gguf(1, 1, kv_arch + tinfo("w", [31], 8, 0))) + b"\0" * 64)
put("gguf-tensor-misaligned.gguf", pad32(gguf(1, 1, kv_arch + tinfo("w", [4], 0, 3))) + b"\0" * 64)
put("gguf-overlap.gguf", pad32(gguf(2, 1, kv_arch + tinfo("a", [16], 0, 0) + tinfo("b", [16], 0, 32))) + b"\0" * 96)
put("gguf-duplicate-tensor.gguf", pad32(gguf(2, 1, kv_arch + tinfo("a", [8], 0, 0) + tinfo("a", [8], 0, 32))) + b"\0" * 64)

# ---- images ----
def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xffffffff)

def png(w, h, depth, color, raw):
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, color, 0, 0, 0))
            + png_chunk(b"IDAT", zlib.compress(raw)) + png_chunk(b"IEND", b""))

put("img-empty.png", b"")
put("img-not-an-image.png", b"this is a text file, not an image\n")
put("img-1x1.png", png(1, 1, 8, 2, b"\0\xc8\x0a\x1e"))
put("img-16bit-rgb.png", png(3, 2, 16, 2, b"".join(b"\0" + bytes((x * 40 + y * 9) & 255 for x in range(18)) for y in range(2))))
put("img-16bit-gray.png", png(4, 4, 16, 0, b"".join(b"\0" + bytes(range(y, y + 8)) for y in range(4))))
put("img-bomb-65535.png", png(65535, 65535, 8, 2, b"\0" * 64))
put("img-bomb-1x2e31.png", png(1, (1 << 31) - 1, 8, 0, b"\0" * 64))
ok = png(8, 8, 8, 2, b"".join(b"\0" + bytes(24) for _ in range(8)))
put("img-truncated.png", ok[:len(ok) - 30])
# aspect ratio over 2048:1: SAM's ResizeLongestSide(1024) rounds the short side to 0 (clamped to 1)
put("img-wide-3000x1.png", png(3000, 1, 8, 2, b"\0" + bytes((x * 7) & 255 for x in range(9000))))
put("img-bad-crc.png", ok[:40] + bytes([ok[40] ^ 0xff]) + ok[41:])

def jpeg_sof(w, h, ncomp):
    # SOI, DQT, SOF0, DHT (DC+AC minimal), SOS header, a few entropy bytes, no EOI
    dqt = b"\xff\xdb" + struct.pack(">H", 67) + b"\0" + bytes([1] * 64)
    comps = b"".join(bytes([i + 1, 0x11, 0]) for i in range(ncomp))
    sof = b"\xff\xc0" + struct.pack(">HBHHB", 8 + 3 * ncomp, 8, h, w, ncomp) + comps
    dht = b"\xff\xc4" + struct.pack(">H", 3 + 16 + 1) + b"\x00" + bytes([1] + [0] * 15) + b"\x00"
    dht += b"\xff\xc4" + struct.pack(">H", 3 + 16 + 1) + b"\x10" + bytes([1] + [0] * 15) + b"\x00"
    sos = b"\xff\xda" + struct.pack(">HB", 6 + 2 * ncomp, ncomp) + b"".join(bytes([i + 1, 0]) for i in range(ncomp)) + b"\x00\x3f\x00"
    return b"\xff\xd8" + dqt + sof + dht + sos + b"\x00" * 16

put("img-bomb-65500.jpg", jpeg_sof(65500, 65500, 3))
put("img-truncated.jpg", jpeg_sof(16, 16, 3))
put("img-zero-height.jpg", jpeg_sof(16, 0, 1))
put("img-bomb.bmp", b"BM" + struct.pack("<IHHI", 70, 0, 0, 54) + struct.pack("<IiiHHIIiiII", 40, 65535, 65535, 1, 24, 0, 0, 0, 0, 0, 0) + b"\0" * 16)
put("img-bomb.gif", b"GIF89a" + struct.pack("<HHBBB", 65535, 65535, 0, 0, 0) + b",\0\0\0\0" + struct.pack("<HH", 65535, 65535) + b"\0\x02\x02\x44\x01\0;")
put("img-truncated.gif", b"GIF89a" + struct.pack("<HHBBB", 4, 4, 0x80, 0, 0) + b"\0\0\0\xff\xff\xff" + b",\0\0\0\0\x04\0\x04\0\0\x02")
put("img-truncated.webp", b"RIFF" + struct.pack("<I", 100) + b"WEBPVP8L" + struct.pack("<I", 80) + b"\x2f\xff\xff\xff")
put("img-bomb.webp", b"RIFF" + struct.pack("<I", 30) + b"WEBPVP8L" + struct.pack("<I", 10) + b"\x2f" + struct.pack("<I", (16383) | (16383 << 14)) + b"\0" * 5 + b"\0")

# ---- PyTorch archives (torch.save's layout, written by the real pickle module with stand-in
# torch globals, so the pickles are byte for byte what torch.save writes) ----
import collections, io as _io, pickle, sys, types, zipfile


def _fake_torch():
    torch, utils = types.ModuleType("torch"), types.ModuleType("torch._utils")
    class FloatStorage: pass
    class DoubleStorage: pass
    for c in (FloatStorage, DoubleStorage):
        c.__module__, c.__qualname__ = "torch", c.__name__
        setattr(torch, c.__name__, c)
    def _rebuild_tensor_v2(*a): pass
    _rebuild_tensor_v2.__module__, _rebuild_tensor_v2.__qualname__ = "torch._utils", "_rebuild_tensor_v2"
    utils._rebuild_tensor_v2 = _rebuild_tensor_v2
    torch._utils = utils
    sys.modules["torch"], sys.modules["torch._utils"] = torch, utils
    return torch


torch = _fake_torch()


class Storage:
    def __init__(self, key, numel, kind=None):
        self.key, self.numel, self.kind = key, numel, kind or torch.FloatStorage


class Tensor:
    def __init__(self, storage, offset, size, stride):
        self.args = (storage, offset, tuple(size), tuple(stride), False, collections.OrderedDict())
    def __reduce__(self):
        return (torch._utils._rebuild_tensor_v2, self.args)


class _Pickler(pickle.Pickler):
    def persistent_id(self, obj):   # ref: torch/serialization.py _save.persistent_id
        if isinstance(obj, Storage):
            return ("storage", obj.kind, obj.key, "cpu", obj.numel)
        return None


def pth(name, obj, storages=None, top="archive", byteorder=b"little", data_pkl=None):
    b = _io.BytesIO()
    if data_pkl is None:
        pb = _io.BytesIO()
        _Pickler(pb, protocol=2).dump(obj)
        data_pkl = pb.getvalue()
    with zipfile.ZipFile(b, "w", zipfile.ZIP_STORED) as z:
        z.writestr(top + "/data.pkl", data_pkl)
        if byteorder is not None:
            z.writestr(top + "/byteorder", byteorder)
        for key, data in (storages or {}).items():
            z.writestr(top + "/data/" + key, data)
        z.writestr(top + "/version", b"3\n")
    put(name, b.getvalue())
    return b.getvalue()


class _System:
    def __reduce__(self):   # what a malicious checkpoint does: os.system at load time
        return (os.system, ("touch pwned",))


class _Eval:
    def __reduce__(self):
        return (eval, ("__import__('os').system('touch pwned')",))


w = struct.pack("<4f", 1, 2, 3, 4)
valid = pth("pth-valid-tiny.pth", collections.OrderedDict(w=Tensor(Storage("0", 4), 0, [2, 2], [2, 1])), {"0": w})
pth("pth-os-system.pth", collections.OrderedDict(w=_System()))
pth("pth-eval.pth", {"w": _Eval()})
pth("pth-reduce-storage-type.pth", None, data_pkl=b"\x80\x02ctorch\nFloatStorage\n)R.")
pth("pth-double-storage.pth", {"w": Tensor(Storage("0", 2, torch.DoubleStorage), 0, [2], [1])}, {"0": b"\0" * 16})
pth("pth-huge-numel.pth", {"w": Tensor(Storage("0", 1 << 62), 0, [4], [1])}, {"0": w})
pth("pth-shape-overflow.pth", {"w": Tensor(Storage("0", 4), 0, [1 << 62, 1 << 62], [1, 1])}, {"0": w})
pth("pth-view-past-storage.pth", {"w": Tensor(Storage("0", 4), 3, [2], [1])}, {"0": w})
pth("pth-missing-storage.pth", {"w": Tensor(Storage("7", 4), 0, [4], [1])}, {"0": w})
pth("pth-storage-key-path.pth", {"w": Tensor(Storage("../0", 4), 0, [4], [1])}, {"0": w})
cyc = {}
cyc["a"] = cyc
pth("pth-cycle.pth", cyc)
pth("pth-big-endian.pth", {"w": Tensor(Storage("0", 4), 0, [4], [1])}, {"0": w}, byteorder=b"big")
pth("pth-not-a-dict.pth", [1, 2, 3])
put("pth-truncated.pth", valid[:len(valid) // 2])
b = _io.BytesIO()
with zipfile.ZipFile(b, "w") as z:
    z.writestr("archive/other.txt", b"no pickle here")
put("pth-no-data-pkl.pth", b.getvalue())
put("pth-legacy.pth", bytes([0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19]) + b"\x2e")

# ---- text ----
put("text-not-utf8.txt", b"a photo of a \xff\xfe dog\n\xc3\x28\n")

# ---- valid but unusual images (need PIL; skipped without it) ----
try:
    import io
    from PIL import Image
    img = Image.new("RGB", (12, 8))
    for y in range(8):
        for x in range(12):
            img.putpixel((x, y), (x * 20, y * 30, 128))
    b = io.BytesIO()
    img.convert("CMYK").save(b, "JPEG", quality=90)
    put("img-cmyk.jpg", b.getvalue())
    exif = Image.Exif()
    exif[0x0112] = 6   # rotate 270 on load
    b = io.BytesIO()
    img.save(b, "JPEG", exif=exif.tobytes())
    put("img-exif-rotate.jpg", b.getvalue())
except ImportError:
    pass
