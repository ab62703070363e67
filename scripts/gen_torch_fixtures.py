#!/usr/bin/python3
"""Writes the torch.save fixtures for test/torch-checkpoint.test.ts.

Run with Debian's python3-torch (torch 1.13):  /usr/bin/python3 scripts/gen_torch_fixtures.py
Outputs test/fixtures/torch/*.pt and expected.json (what each file's state dict
must read back as). The hostile files are written with torch.save of objects
whose __reduce__ names a dangerous callable; this script never loads them.
"""
import collections
import json
import os
import pickle
import subprocess
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "test", "fixtures", "torch")
# The command each hostile file would run if a reader executed it; the test asserts this file never appears.
PWNED = "/tmp/stride-torch-fixture-pwned"

SAFETENSORS_DTYPE = {
    torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.float64: "F64",
    torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8",
    torch.uint8: "U8", torch.bool: "BOOL",
}


def values(t):
    """A tensor's values, flattened row-major, in a form JSON holds exactly."""
    t = t.contiguous().reshape(-1)
    if t.dtype in (torch.float16, torch.bfloat16):
        return [int(v) & 0xFFFF for v in t.view(torch.int16).tolist()]  # raw bit patterns
    if t.dtype == torch.int64:
        return [str(v) for v in t.tolist()]  # beyond 2^53
    if t.dtype == torch.bool:
        return [int(v) for v in t.tolist()]
    if t.dtype == torch.float32:
        return [float(v) for v in t.tolist()]  # a float32 widened to double: exact
    return t.tolist()


def expect(sd):
    return {k: {"dtype": SAFETENSORS_DTYPE[v.dtype], "shape": list(v.shape), "values": values(v)} for k, v in sd.items()}


def every_dtype():
    base = torch.arange(12, dtype=torch.float32).reshape(3, 4) / 7 - 0.5
    sd = collections.OrderedDict()
    sd["f32"] = base.clone()
    sd["f16"] = (base * 3).half()
    sd["bf16"] = (base * 3).bfloat16()
    sd["f64"] = base.double() / 3
    sd["i64"] = torch.tensor([0, -1, 2**40 + 3, -(2**62), 2**63 - 1], dtype=torch.int64)
    sd["i32"] = torch.tensor([[-(2**31), 5], [7, 2**31 - 1]], dtype=torch.int32)
    sd["i16"] = torch.tensor([-32768, 0, 32767], dtype=torch.int16)
    sd["i8"] = torch.tensor([-128, -1, 0, 127], dtype=torch.int8)
    sd["u8"] = torch.tensor([0, 1, 200, 255], dtype=torch.uint8)
    sd["bool"] = torch.tensor([[True, False, True]])
    # Views: a transposed (non-contiguous) tensor, a slice with a storage offset
    # and strides, two tensors sharing one storage, a broadcast (stride 0).
    sd["transposed"] = (torch.arange(6, dtype=torch.float32).reshape(2, 3) + 0.25).t()
    grid = torch.arange(30, dtype=torch.float32).reshape(5, 6)
    sd["slice"] = grid[1:4, 2:5]
    shared = torch.arange(10, dtype=torch.float32) * 1.5
    sd["shared_a"] = shared[:6].view(2, 3)
    sd["shared_b"] = shared[4:]
    sd["expanded"] = torch.tensor([1.0, 2.0, 3.0]).expand(2, 3)
    sd["sliced_i64"] = torch.arange(20, dtype=torch.int64).reshape(4, 5)[:, 1::2]
    sd["scalar"] = torch.tensor(3.5)
    sd["empty"] = torch.zeros(0, 3)
    return sd


class Tiny(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 2, 3)
        self.bn = torch.nn.BatchNorm2d(2)
        self.fc = torch.nn.Linear(16, 3)

    def forward(self, x):
        x = torch.relu(self.bn(self.conv(x)))
        return self.fc(x.flatten(1))


def trained():
    torch.manual_seed(0)
    model = Tiny()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    x = torch.randn(4, 1, 4, 6)
    loss = model(x).square().mean()
    loss.backward()
    opt.step()
    return model, opt


class Hostile:
    """Pickles as a call of `fn(*args)`: what a malicious checkpoint looks like."""

    def __init__(self, fn, args):
        self.fn, self.args = fn, args

    def __reduce__(self):
        return (self.fn, self.args)


def main():
    os.makedirs(OUT, exist_ok=True)
    expected = {}

    def save(name, obj, state_dict, **kw):
        torch.save(obj, os.path.join(OUT, name), **kw)
        expected[name] = expect(state_dict)

    sd = every_dtype()
    save("every_dtype.pt", sd, sd)  # torch's default: zip, pickle protocol 2
    save("every_dtype_proto4.pt", sd, sd, pickle_protocol=pickle.DEFAULT_PROTOCOL)
    save("every_dtype_legacy.pt", sd, sd, _use_new_zipfile_serialization=False)
    save("every_dtype_legacy_proto4.pt", sd, sd, _use_new_zipfile_serialization=False, pickle_protocol=4)

    model, opt = trained()
    msd = model.state_dict()
    save("training.pt", {"epoch": 3, "arch": "tiny", "best_acc": 0.75, "state_dict": msd, "optimizer": opt.state_dict()}, msd)
    save("training_legacy.pt", {"epoch": 3, "state_dict": msd, "optimizer": opt.state_dict()}, msd, _use_new_zipfile_serialization=False)
    save("nested_model.pt", {"model": msd, "epoch": 1}, msd)
    save("nested_model_state_dict.pt", {"model_state_dict": msd, "optimizer_state_dict": opt.state_dict(), "loss": 0.5}, msd)
    wrapped = torch.nn.DataParallel(model)
    save("dataparallel.pt", wrapped.state_dict(), msd)  # keys "module.conv.weight", ...: read back without "module."
    # keep_vars=True keeps nn.Parameters, pickled through torch._utils._rebuild_parameter.
    save("parameters.pt", model.state_dict(keep_vars=True), msd)
    half = Tiny().half().state_dict()
    save("float16.pt", half, half)

    # Hostile files: never loaded here. Each would create PWNED if a reader executed it.
    weight = torch.ones(2)
    hostile = {
        "hostile_os_system.pt": Hostile(os.system, (f"touch {PWNED}",)),
        "hostile_eval.pt": Hostile(eval, (f"__import__('os').system('touch {PWNED}')",)),
        "hostile_popen.pt": Hostile(subprocess.Popen, (["touch", PWNED],)),
    }
    for name, payload in hostile.items():
        torch.save(collections.OrderedDict([("weight", weight), ("payload", payload)]), os.path.join(OUT, name))
    torch.save(collections.OrderedDict([("weight", weight), ("payload", hostile["hostile_os_system.pt"])]),
               os.path.join(OUT, "hostile_os_system_legacy.pt"), _use_new_zipfile_serialization=False)

    with open(os.path.join(OUT, "expected.json"), "w") as f:
        json.dump({"torch": torch.__version__, "pwned_marker": PWNED, "files": expected}, f, indent=1)
        f.write("\n")
    for name in sorted(os.listdir(OUT)):
        print(f"{os.path.getsize(os.path.join(OUT, name)):8d}  {name}")


def roundtrip():
    """The second half of the round trip: torch.load(weights_only=True) reads stride's file, which must
    equal torch's own load of the original, and torch.save writes it again for stride to read back."""
    mine = torch.load(os.path.join(OUT, "stride_written.pt"), weights_only=True)
    theirs = torch.load(os.path.join(OUT, "every_dtype.pt"), weights_only=True)
    assert list(mine) == list(theirs), (list(mine), list(theirs))
    for k in theirs:
        assert mine[k].dtype == theirs[k].dtype and mine[k].shape == theirs[k].shape, k
        assert torch.equal(mine[k], theirs[k]) or (mine[k].is_floating_point() and torch.equal(mine[k].isnan(), theirs[k].isnan())), k
    torch.save(mine, os.path.join(OUT, "stride_written_resaved.pt"))
    print(f"torch.load read stride_written.pt ({len(mine)} tensors, equal to torch's every_dtype.pt); wrote stride_written_resaved.pt")


if __name__ == "__main__":
    sys.exit(roundtrip() if sys.argv[1:] == ["--roundtrip"] else main())
