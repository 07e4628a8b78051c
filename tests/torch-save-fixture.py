#!/usr/bin/env python3
# torch-save-fixture.py SRC.safetensors OUT [--script] — writes the tensors of a safetensors
# file with PyTorch itself, for test-pytorch: torch.save of the state dict (an OrderedDict),
# or with --script a TorchScript archive (torch.jit.save of a scripted module tree whose
# parameters carry the dotted names, as OpenAI's CLIP .pt files hold them). Needs torch.
import collections, json, struct, sys

import torch

src, out = sys.argv[1], sys.argv[2]
script = "--script" in sys.argv[3:]
dtypes = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16, "I64": torch.int64, "I32": torch.int32,
          "U8": torch.uint8}
with open(src, "rb") as f:
    n = struct.unpack("<Q", f.read(8))[0]
    header = json.loads(f.read(n))
    data = f.read()
sd = collections.OrderedDict()
for name, e in header.items():
    if name == "__metadata__":
        continue
    b, en = e["data_offsets"]
    t = torch.frombuffer(bytearray(data[b:en]), dtype=dtypes[e["dtype"]]) if en > b else torch.empty(0, dtype=dtypes[e["dtype"]])
    sd[name] = t.reshape(e["shape"]).clone()
if not script:
    torch.save(sd, out)
    sys.exit(0)


class Node(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


root = Node()
for name, t in sd.items():
    *path, leaf = name.split(".")
    m = root
    for p in path:
        if not hasattr(m, p):
            m.add_module(p, Node())
        m = getattr(m, p)
    m.register_parameter(leaf, torch.nn.Parameter(t, requires_grad=False))
torch.jit.save(torch.jit.script(root), out)
