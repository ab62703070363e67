#!/usr/bin/python3
"""Fixtures proving that a torchvision checkpoint gives torchvision's logits in stride.

Run from the repository root with Debian's PyTorch (python3-torch 1.13,
python3-torchvision 0.14):

    /usr/bin/python3 scripts/gen_torchvision_fixtures.py          # small models, committed
    /usr/bin/python3 scripts/gen_torchvision_fixtures.py --full   # full size, not committed
    /usr/bin/python3 scripts/gen_torchvision_fixtures.py --check [--full]   # reload the .pt files, compare logits

Small mode writes test/fixtures/torchvision/: for resnet18, vgg11_bn, googlenet
and alexnet, a narrow copy of the torchvision network built from torchvision's
own classes and blocks (so its state-dict names are exactly torchvision's),
with widths equal to what stride's zoo builds for the same widthMultiplier
(stride rounds every width as max(1, round(c * m))) and 10 classes, random
weights and random batch-norm running statistics, in eval mode. For each:

    NAME.safetensors          the state dict (float32; num_batches_tracked int64)
    NAME.f16.safetensors      the same in float16
    NAME.pt                   torch.save, zip format
    NAME.legacy.pt            torch.save, the legacy (pre-1.6) format
    NAME.f16.pt               torch.save of the float16 state dict
    NAME.f16.logits.f32       the logits with every weight rounded to float16
    NAME.ckpt.pt              {"epoch": 3, "state_dict": sd, "optimizer": opt.state_dict()}
    NAME.onnx                 torch.onnx.export, opset 13, dynamic batch (resnet18 also .opset9.onnx)
    NAME.logits.f32           raw little-endian float32 (googlenet also .aux_logits.f32), shapes in index.json
    input64.f32, input224.f32 the inputs (batch 2), shared by the models of that size

state-dict-shapes.json: the names and shapes of the full-size torchvision
models the zoo builds (resnet18-152, vgg11-19 with and without batch norm,
alexnet, googlenet with its auxiliary heads), to check the name mapping of
every variant without their weights; and index.json, which lists every model's stride builder options, file names,
shapes and settings. The .pt and .onnx files are for the torch.save reader and
the ONNX importer; the safetensors files (written by the small writer below,
since Python's safetensors package is not installed) are what loadWeights
reads today.

The logits are computed in float64 from the float32 weights and input and
rounded to float32 (PyTorch's float32 logits differ from them by the amount
recorded in index.json as float32_max_diff).

--full writes the full-size torchvision networks (resnet18(), vgg11_bn(),
googlenet(aux_logits=False, init_weights=True), alexnet()) with random
batch-norm statistics, at 224x224, to test/fixtures/torchvision-full/ (about
1.5 GB; in .gitignore).

Seeded: re-running reproduces the safetensors, raw, JSON, zip .pt and .onnx files byte
for byte (the legacy .pt format records object ids, which differ between runs).
"""
import copy
import importlib
import json
import math
import os
import struct
import sys
import zlib

import numpy as np
import torch
import torch.nn as nn
import torchvision

# The modules, not the builder functions of the same names that torchvision.models exports.
tv_googlenet = importlib.import_module("torchvision.models.googlenet")
tv_resnet = importlib.import_module("torchvision.models.resnet")
tv_vgg = importlib.import_module("torchvision.models.vgg")
tv_alexnet = importlib.import_module("torchvision.models.alexnet")

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
torch.set_num_threads(2)


def seed_of(name):
    return zlib.crc32(name.encode())


def w(c, m):
    """stride's width rounding (src/models/zoo/common.ts): JavaScript's Math.round, halves up (Python's round goes to even)."""
    return max(1, math.floor(c * m + 0.5))


# ---------------------------------------------------------------------------
# Narrow torchvision networks: torchvision's classes, only the widths changed.


class NarrowResNet(tv_resnet.ResNet):
    """torchvision's ResNet with every width scaled; __init__ mirrors ResNet's, forward is ResNet's."""

    def __init__(self, block, layers, m, num_classes):
        nn.Module.__init__(self)
        self._norm_layer = nn.BatchNorm2d
        self.inplanes = w(64, m)
        self.dilation = 1
        self.groups = 1
        self.base_width = 64  # BasicBlock refuses anything else; widths come from planes
        self.conv1 = nn.Conv2d(3, self.inplanes, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(self.inplanes)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, w(64, m), layers[0])
        self.layer2 = self._make_layer(block, w(128, m), layers[1], stride=2)
        self.layer3 = self._make_layer(block, w(256, m), layers[2], stride=2)
        self.layer4 = self._make_layer(block, w(512, m), layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(w(512, m) * block.expansion, num_classes)


def narrow_vgg(cfg_name, m, num_classes):
    cfg = [v if v == "M" else w(v, m) for v in tv_vgg.cfgs[cfg_name]]
    model = tv_vgg.VGG(tv_vgg.make_layers(cfg, batch_norm=True), num_classes=num_classes)
    last = [v for v in cfg if v != "M"][-1]
    hidden = w(4096, m)
    # Same structure as VGG's classifier (Linear, ReLU, Dropout, Linear, ReLU, Dropout, Linear), narrower.
    model.classifier = nn.Sequential(
        nn.Linear(last * 7 * 7, hidden), nn.ReLU(True), nn.Dropout(),
        nn.Linear(hidden, hidden), nn.ReLU(True), nn.Dropout(),
        nn.Linear(hidden, num_classes),
    )
    return model


class NarrowAlexNet(tv_alexnet.AlexNet):
    """torchvision's AlexNet layout with scaled widths; forward is AlexNet's."""

    def __init__(self, m, num_classes):
        nn.Module.__init__(self)
        c = [w(x, m) for x in (64, 192, 384, 256, 256)]
        self.features = nn.Sequential(
            nn.Conv2d(3, c[0], kernel_size=11, stride=4, padding=2), nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(c[0], c[1], kernel_size=5, padding=2), nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(c[1], c[2], kernel_size=3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(c[2], c[3], kernel_size=3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(c[3], c[4], kernel_size=3, padding=1), nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
        )
        self.avgpool = nn.AdaptiveAvgPool2d((6, 6))
        hidden = w(4096, m)
        self.classifier = nn.Sequential(
            nn.Dropout(p=0.5), nn.Linear(c[4] * 6 * 6, hidden), nn.ReLU(inplace=True),
            nn.Dropout(p=0.5), nn.Linear(hidden, hidden), nn.ReLU(inplace=True),
            nn.Linear(hidden, num_classes),
        )


class NarrowAux(tv_googlenet.InceptionAux):
    """InceptionAux with scaled widths (its 128 maps, 2048 = 128 * 4 * 4 inputs and 1024 hidden)."""

    def __init__(self, in_channels, num_classes, m):
        nn.Module.__init__(self)
        self.conv = tv_googlenet.BasicConv2d(in_channels, w(128, m), kernel_size=1)
        self.fc1 = nn.Linear(w(128, m) * 16, w(1024, m))
        self.fc2 = nn.Linear(w(1024, m), num_classes)
        self.dropout = nn.Dropout(p=0.7)


# The paper's table, as GoogLeNet.__init__ passes it to Inception.
INCEPTION = [
    ("3a", 64, 96, 128, 16, 32, 32), ("3b", 128, 128, 192, 32, 96, 64),
    ("4a", 192, 96, 208, 16, 48, 64), ("4b", 160, 112, 224, 24, 64, 64),
    ("4c", 128, 128, 256, 24, 64, 64), ("4d", 112, 144, 288, 32, 64, 64),
    ("4e", 256, 160, 320, 32, 128, 128), ("5a", 256, 160, 320, 32, 128, 128),
    ("5b", 384, 192, 384, 48, 128, 128),
]


class NarrowGoogLeNet(tv_googlenet.GoogLeNet):
    """GoogLeNet with scaled widths, built from torchvision's BasicConv2d and Inception; forward is GoogLeNet's."""

    def __init__(self, m, num_classes, aux_logits=True, transform_input=True):
        nn.Module.__init__(self)
        conv = tv_googlenet.BasicConv2d
        self.aux_logits = aux_logits
        self.transform_input = transform_input
        self.conv1 = conv(3, w(64, m), kernel_size=7, stride=2, padding=3)
        self.maxpool1 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.conv2 = conv(w(64, m), w(64, m), kernel_size=1)
        self.conv3 = conv(w(64, m), w(192, m), kernel_size=3, padding=1)
        self.maxpool2 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        in_c = w(192, m)
        outs = {}
        for tag, *spec in INCEPTION:
            c1, r3, c3, r5, c5, pp = [w(x, m) for x in spec]
            setattr(self, f"inception{tag}", tv_googlenet.Inception(in_c, c1, r3, c3, r5, c5, pp))
            in_c = c1 + c3 + c5 + pp
            outs[tag] = in_c
        self.maxpool3 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.maxpool4 = nn.MaxPool2d(2, stride=2, ceil_mode=True)
        if aux_logits:
            self.aux1 = NarrowAux(outs["4a"], num_classes, m)
            self.aux2 = NarrowAux(outs["4d"], num_classes, m)
        else:
            self.aux1 = None
            self.aux2 = None
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.dropout = nn.Dropout(p=0.2)
        self.fc = nn.Linear(in_c, num_classes)


# ---------------------------------------------------------------------------


def randomise(model, gen):
    """Random weights (PyTorch's default init scale) and random batch-norm statistics, all float32."""
    with torch.no_grad():
        for mod in model.modules():
            if isinstance(mod, (nn.Conv2d, nn.Linear)):
                fan_in = mod.weight[0].numel()
                bound = 1 / math.sqrt(fan_in)
                # Uniform with variance 1 / fan_in (PyTorch's default is a third of that): logits of order 1 to 10.
                mod.weight.copy_((torch.rand(mod.weight.shape, generator=gen) * 2 - 1) * bound * math.sqrt(3))
                if mod.bias is not None:
                    mod.bias.copy_((torch.rand(mod.bias.shape, generator=gen) * 2 - 1) * 0.1)
            elif isinstance(mod, nn.BatchNorm2d):
                n = mod.num_features
                mod.weight.copy_(torch.rand(n, generator=gen) + 0.5)
                mod.bias.copy_(torch.randn(n, generator=gen) * 0.1)
                mod.running_mean.copy_(torch.randn(n, generator=gen) * 0.2)
                mod.running_var.copy_(torch.rand(n, generator=gen) + 0.5)  # positive
                mod.num_batches_tracked.fill_(int(torch.randint(1, 1000, (1,), generator=gen)))
    model.eval()


ST_DTYPE = {torch.float32: "F32", torch.float16: "F16", torch.float64: "F64", torch.int64: "I64"}


def write_safetensors(path, sd):
    """safetensors: 8-byte little-endian header length, JSON header (space-padded to 8), raw little-endian bytes."""
    header, blobs, offset = {}, [], 0
    for name, t in sd.items():
        arr = t.detach().contiguous().cpu().numpy()
        b = arr.astype(arr.dtype.newbyteorder("<"), copy=False).tobytes()
        header[name] = {"dtype": ST_DTYPE[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(b)]}
        blobs.append(b)
        offset += len(b)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


def write_f32(path, t):
    t.detach().to(torch.float32).contiguous().numpy().astype("<f4").tofile(path)


def half_state_dict(sd):
    return {k: (v.half() if v.is_floating_point() else v) for k, v in sd.items()}


def reference_logits(model, x, extra=None):
    """float64 forward from the float32 values, rounded to float32; also PyTorch's float32 answer for the record."""
    with torch.no_grad():
        y32 = model(x)
        m64 = model.double()
        y64 = m64(x.double())
        aux = extra(m64, x.double()) if extra else None
        model.float()
    diff = float((y32.double() - y64).abs().max())
    return y64.float(), diff, aux


def googlenet_aux_outputs(model, x):
    """The auxiliary heads' outputs on their inputs (torchvision runs them only in training; eval mode here)."""
    feats = {}
    hooks = [getattr(model, f"inception{t}").register_forward_hook(lambda mod, i, o, t=t: feats.__setitem__(t, o)) for t in ("4a", "4d")]
    model(x)
    for h in hooks:
        h.remove()
    return torch.cat([model.aux1(feats["4a"]), model.aux2(feats["4d"])], 1).float()


def export(model, name, out, x, opsets, index_entry):
    sd = model.state_dict()
    write_safetensors(os.path.join(out, f"{name}.safetensors"), sd)
    files = {"safetensors": f"{name}.safetensors", "pt": f"{name}.pt", "legacy_pt": f"{name}.legacy.pt"}
    torch.save(sd, os.path.join(out, f"{name}.pt"))
    torch.save(sd, os.path.join(out, f"{name}.legacy.pt"), _use_new_zipfile_serialization=False)
    if index_entry.get("small"):
        half = half_state_dict(sd)
        write_safetensors(os.path.join(out, f"{name}.f16.safetensors"), half)
        torch.save(half, os.path.join(out, f"{name}.f16.pt"))
        # The reference for a float16 checkpoint: the same network with every weight rounded to float16.
        rounded = copy.deepcopy(model)
        rounded.load_state_dict({k: (v.float() if v.is_floating_point() else v) for k, v in half.items()})
        write_f32(os.path.join(out, f"{name}.f16.logits.f32"), reference_logits(rounded.eval(), x)[0])
        # A training checkpoint as people save them: the state dict nested under a key, next to optimiser state
        # (one SGD step; for alexnet, the smallest, with momentum, so the optimiser holds a buffer per parameter, the
        # others without, to keep the committed files small). The weights saved are the originals.
        saved = {k: v.clone() for k, v in sd.items()}  # state_dict() shares storage with the live model
        torch.manual_seed(0)
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9 if name == "alexnet" else 0)
        model.train()
        y = model(x)
        (y if isinstance(y, torch.Tensor) else y[0]).sum().backward()  # GoogLeNet returns a tuple in training
        opt.step()
        model.load_state_dict(saved)
        model.eval()
        torch.save({"epoch": 3, "state_dict": saved, "optimizer": opt.state_dict()}, os.path.join(out, f"{name}.ckpt.pt"))
        files.update(f16_safetensors=f"{name}.f16.safetensors", f16_pt=f"{name}.f16.pt", f16_logits=f"{name}.f16.logits.f32",
                     checkpoint_pt=f"{name}.ckpt.pt")
    model.eval()
    for opset in opsets:
        fname = f"{name}.onnx" if opset == 13 else f"{name}.opset{opset}.onnx"
        torch.onnx.export(
            model, x, os.path.join(out, fname), opset_version=opset, input_names=["input"], output_names=["logits"],
            dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}}, do_constant_folding=True,
        )
        files[f"onnx_opset{opset}"] = fname
    return files


def build(name, m, classes, full):
    if full:
        if name == "resnet18":
            return torchvision.models.resnet18()
        if name == "vgg11_bn":
            return torchvision.models.vgg11_bn()
        if name == "googlenet":
            return torchvision.models.googlenet(aux_logits=False, init_weights=True)
        return torchvision.models.alexnet()
    if name == "resnet18":
        return NarrowResNet(tv_resnet.BasicBlock, [2, 2, 2, 2], m, classes)
    if name == "vgg11_bn":
        return narrow_vgg("A", m, classes)
    if name == "googlenet":
        return NarrowGoogLeNet(m, classes, aux_logits=True, transform_input=True)
    return NarrowAlexNet(m, classes)


# How stride builds the same network: builder, its arguments, and what the test must do to match.
SMALL = {
    # name: (widthMultiplier, stride builder, its positional arguments, input size of the small fixture)
    # VGG and AlexNet run at 224: torch.onnx cannot export their AdaptiveAvgPool2d(7) / (6) unless the output
    # size divides the maps (7x7 and 6x6 at 224). Models of one input size share one input file.
    "resnet18": (1 / 16, "resnet", [18], 64),
    "vgg11_bn": (1 / 64, "vgg", ["A"], 224),
    "googlenet": (1 / 32, "googlenet", [], 64),
    "alexnet": (1 / 64, "alexnet", [], 224),
}
EXTRA_OPTS = {
    "resnet18": {},
    "vgg11_bn": {"batchNorm": True},
    "googlenet": {"variant": "torchvision"},
    "alexnet": {"variant": "torchvision"},
}


def state_dict_shapes(out):
    """Every torchvision classification model the zoo builds, full size: its state-dict names and shapes (no weights)."""
    tvm = torchvision.models
    builders = {
        **{f"resnet{d}": (getattr(tvm, f"resnet{d}"), {}) for d in (18, 34, 50, 101, 152)},
        **{f"vgg{d}{bn}": (getattr(tvm, f"vgg{d}{bn}"), {}) for d in (11, 13, 16, 19) for bn in ("", "_bn")},
        "alexnet": (tvm.alexnet, {}),
        "googlenet": (tvm.googlenet, {"aux_logits": True, "init_weights": False}),
    }
    shapes = {}
    for name, (fn, kw) in builders.items():
        sd = fn(**kw).state_dict()
        shapes[name] = {k: list(v.shape) for k, v in sd.items()}
    with open(os.path.join(out, "state-dict-shapes.json"), "w") as f:
        json.dump(shapes, f, separators=(",", ":"))
        f.write("\n")


def check(out, full):
    """Reloads every torch.save file into a fresh model and compares its logits with the recorded ones."""
    with open(os.path.join(out, "index.json")) as f:
        index = json.load(f)
    for name, e in index["models"].items():
        m = e["options"].get("widthMultiplier", 1)
        x = torch.from_numpy(np.fromfile(os.path.join(out, e["files"]["input"]), "<f4").reshape(e["input_shape"]))
        want = torch.from_numpy(np.fromfile(os.path.join(out, e["files"]["logits"]), "<f4").reshape(e["logits_shape"]))
        sources = {"pt": torch.load(os.path.join(out, e["files"]["pt"])), "legacy_pt": torch.load(os.path.join(out, e["files"]["legacy_pt"]))}
        if not full:
            ckpt = torch.load(os.path.join(out, e["files"]["checkpoint_pt"]))
            assert ckpt["epoch"] == 3 and "optimizer" in ckpt, name
            sources["checkpoint_pt"] = ckpt["state_dict"]
            sources["f16_pt"] = {k: (v.float() if v.is_floating_point() else v) for k, v in torch.load(os.path.join(out, e["files"]["f16_pt"])).items()}
        for kind, sd in sources.items():
            model = build(name, m, e["logits_shape"][1], full)
            model.load_state_dict(sd)
            model.eval()
            with torch.no_grad():
                got = model.double()(x.double()).float()
            diff = float((got - want).abs().max())
            limit = 0.05 if kind == "f16_pt" else 0
            assert diff <= limit, f"{name} {kind}: logits differ by {diff}"
            print(f"check {name} {kind}: max diff {diff:.2e}", flush=True)


def main():
    if "--check" in sys.argv[1:]:
        full = "--full" in sys.argv[1:]
        check(os.path.join(ROOT, "test", "fixtures", "torchvision-full" if full else "torchvision"), full)
        return
    full = "--full" in sys.argv[1:]
    out = os.path.join(ROOT, "test", "fixtures", "torchvision-full" if full else "torchvision")
    os.makedirs(out, exist_ok=True)
    classes = 1000 if full else 10
    index = {
        "generator": "scripts/gen_torchvision_fixtures.py" + (" --full" if full else ""),
        "torch": torch.__version__, "torchvision": torchvision.__version__, "models": {},
    }
    inputs = {}
    for name, (m, builder, args, small_size) in SMALL.items():
        mult = 1 if full else m
        size = 224 if full else small_size
        gen = torch.Generator().manual_seed(seed_of(name + (":full" if full else "")))
        model = build(name, mult, classes, full)
        randomise(model, gen)
        if size not in inputs:
            inputs[size] = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(seed_of(f"input{size}")))
            write_f32(os.path.join(out, f"input{size}.f32"), inputs[size])
        x = inputs[size]
        extra = googlenet_aux_outputs if (name == "googlenet" and not full) else None
        logits, diff, aux = reference_logits(model, x, extra)
        write_f32(os.path.join(out, f"{name}.logits.f32"), logits)
        entry = {"small": not full}
        files = export(model, name, out, x, [13, 9] if name == "resnet18" else [13], entry)
        files.update(input=f"input{size}.f32", logits=f"{name}.logits.f32")
        if aux is not None:
            write_f32(os.path.join(out, f"{name}.aux_logits.f32"), aux)
            files["aux_logits"] = f"{name}.aux_logits.f32"
        opts = {"numClasses": classes, "inputShape": [3, size, size], **EXTRA_OPTS[name]}
        if not full:
            opts["widthMultiplier"] = m
        sd = model.state_dict()
        index["models"][name] = {
            "builder": builder, "args": args, "options": opts,
            "transform_input": bool(getattr(model, "transform_input", False)),
            "aux_logits": bool(getattr(model, "aux1", None) is not None),
            "input_shape": list(x.shape), "logits_shape": list(logits.shape),
            "aux_logits_shape": list(aux.shape) if aux is not None else None,
            "parameters": sum(p.numel() for p in model.parameters()),
            "state_dict_entries": len(sd),
            "float32_max_diff": diff,
            "files": files,
        }
        print(f"{name}: {index['models'][name]['parameters']} parameters, float32 vs float64 logits {diff:.2e}", flush=True)
    if not full:
        state_dict_shapes(out)
    with open(os.path.join(out, "index.json"), "w") as f:
        json.dump(index, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
