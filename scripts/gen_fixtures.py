#!/usr/bin/python3
"""Golden fixtures from PyTorch for every stride layer and loss that PyTorch has.

Run from the repository root with Debian's PyTorch:

    /usr/bin/python3 scripts/gen_fixtures.py

It writes test/fixtures/<family>.json, one file per layer family, which
test/golden.test.ts replays against every stride backend. The files are
committed: the tests never need Python.

Each layer case records the stride class and its constructor options exactly
as stride takes them (camelCase, API.md), the inputs, every parameter and
buffer (named as stride names them), the training flag, a random upstream
gradient dy, and PyTorch's answers: the output, the gradient of
loss = sum(y * dy) w.r.t. every input and parameter, and the buffers after
the forward pass (batch-norm running statistics). Each loss case records the
logits, labels, options, the loss and its gradient w.r.t. the logits.

Inputs, parameters and dy are float32 values. PyTorch evaluates each case in
float64 from those exact values and the answers are rounded to float32, so the
fixtures hold the correctly rounded result rather than one float32 summation
order; stride (float32) must land within the test's tolerance of it.

Every case draws its random numbers from its own seed (a hash of its name), so
adding or changing one case leaves every other value in the files unchanged,
and re-running the script reproduces the files byte for byte.
"""
import json
import math
import os
import sys
import warnings
import zlib

import numpy as np
import torch
import torch.nn.functional as F

OUT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "test", "fixtures")

torch.set_num_threads(1)
# PyTorch warns that "same" with an even kernel copies the input; that is the case being tested.
warnings.filterwarnings("ignore", message="Using padding='same'")


# ---------------------------------------------------------------------------
# Number formatting: the shortest decimal that reads back as the same float32
# (never more than 9 significant digits).

def f32_text(v):
    v32 = np.float32(v)
    if not np.isfinite(v32):
        raise ValueError(f"non-finite value {v} in a fixture")
    for digits in range(1, 10):
        s = "%.*g" % (digits, v32)
        if np.float32(float(s)) == v32:
            return s
    raise AssertionError("9 significant digits always round-trip a float32")


def tensor_json(t):
    t = t.detach().to(torch.float64).contiguous()
    values = ",".join(f32_text(v) for v in t.flatten().tolist())
    return '{"shape":%s,"data":[%s]}' % (json.dumps(list(t.shape), separators=(",", ":")), values)


def to_json(obj):
    """Compact JSON in which every tensor is written with float32 digits."""
    if isinstance(obj, torch.Tensor):
        return tensor_json(obj)
    if isinstance(obj, dict):
        return "{" + ",".join(json.dumps(k) + ":" + to_json(v) for k, v in obj.items()) + "}"
    if isinstance(obj, (list, tuple)):
        return "[" + ",".join(to_json(v) for v in obj) + "]"
    if isinstance(obj, float):
        return f32_text(obj)
    return json.dumps(obj)


# ---------------------------------------------------------------------------
# Random values, seeded per case.

class Gen:
    """The random numbers of one case: seeded from the case name."""

    def __init__(self, name):
        self.g = torch.Generator().manual_seed(zlib.crc32(name.encode()))

    def randn(self, *shape, scale=1.0):
        return torch.randn(*shape, generator=self.g) * scale  # float32, exact in float64

    def uniform(self, *shape, low=0.0, high=1.0):
        return torch.rand(*shape, generator=self.g) * (high - low) + low

    def ints(self, low, high, *shape):
        """Whole numbers in [low, high): inputs full of ties."""
        return torch.randint(low, high, shape, generator=self.g).to(torch.float32)

    def labels(self, n, classes):
        return torch.randint(0, classes, (n,), generator=self.g)


# ---------------------------------------------------------------------------
# Running one layer case through PyTorch.

def layer_case(name, cls, options, inputs, fn, params=None, buffers=None, training=False, gen=None, index_inputs=False):
    """fn(xs, ps, bs) -> y computes the layer in PyTorch from float64 leaves;
    bs (the buffers) may be updated in place, as batch-norm does. With
    index_inputs the inputs are integer ids (stored as floats, as stride takes
    them): they have no gradient in PyTorch and stride returns zeros for them."""
    params = params or {}
    buffers = buffers or {}
    xs = [x.to(torch.float64).requires_grad_(not index_inputs) for x in inputs]
    ps = {k: v.to(torch.float64).requires_grad_(True) for k, v in params.items()}
    bs = {k: v.to(torch.float64).clone() for k, v in buffers.items()}
    y = fn(xs, ps, bs)
    dy = gen.randn(*y.shape)
    (y * dy.to(torch.float64)).sum().backward()
    case = {
        "name": name,
        "kind": "layer",
        "class": cls,
        "options": options,
        "training": training,
        "inputs": inputs,
        "params": params,
        "buffers": buffers,
        "dy": dy,
        "expected": {
            "output": y,
            "inputGrads": [torch.zeros_like(x) if index_inputs else x.grad for x in xs],
            "paramGrads": {k: p.grad for k, p in ps.items()},
            "buffers": bs,
        },
    }
    return case


def loss_case(name, function, logits, labels, options, fn):
    z = logits.to(torch.float64).requires_grad_(True)
    loss = fn(z, labels)
    loss.backward()
    return {
        "name": name,
        "kind": "loss",
        "function": function,
        "options": options,
        "logits": logits,
        "labels": labels.tolist(),
        "expected": {"loss": float(loss), "grad": z.grad},
    }


def pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def close(a, b):
    return torch.allclose(a, b, rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------------------
# Convolutions.

def conv2d_torch(opts):
    """PyTorch's computation for stride's Conv2d options (every padding form)."""
    stride = pair(opts.get("stride", 1))
    dilation = pair(opts.get("dilation", 1))
    groups = opts.get("groups", 1)
    padding = opts.get("padding", 0)

    def fn(xs, ps, bs):
        x = xs[0]
        w, b = ps["weight"], ps.get("bias")
        if isinstance(padding, list) and len(padding) == 4:
            top, bottom, left, right = padding
            x = F.pad(x, (left, right, top, bottom))  # F.pad lists the last axis first
            return F.conv2d(x, w, b, stride, 0, dilation, groups)
        if isinstance(padding, str):
            y = F.conv2d(x, w, b, stride, padding, dilation, groups)
            if padding == "same":
                # Check PyTorch's "same" against explicit padding with the odd pixel bottom/right.
                k = w.shape[-2:]
                th, tw = (dilation[0] * (k[0] - 1), dilation[1] * (k[1] - 1))
                manual = F.conv2d(F.pad(x, (tw // 2, tw - tw // 2, th // 2, th - th // 2)), w, b, stride, 0, dilation, groups)
                assert close(y, manual), "PyTorch's 'same' padding is not bottom/right-heavy here"
            return y
        return F.conv2d(x, w, b, stride, pair(padding), dilation, groups)

    return fn


def conv2d_case(name, opts, input_shape, gen_name=None):
    g = Gen(name)
    cin, cout, k = opts["inChannels"], opts["outChannels"], pair(opts["kernelSize"])
    groups = opts.get("groups", 1)
    x = g.randn(*input_shape)
    params = {"weight": g.randn(cout, cin // groups, *k, scale=0.5)}
    if opts.get("bias", True):
        params["bias"] = g.randn(cout, scale=0.5)
    return layer_case(name, "Conv2d", opts, [x], conv2d_torch(opts), params, gen=g)


def conv1d_torch(opts):
    stride, dilation, groups = opts.get("stride", 1), opts.get("dilation", 1), opts.get("groups", 1)
    padding = opts.get("padding", 0)

    def fn(xs, ps, bs):
        x, w, b = xs[0], ps["weight"], ps.get("bias")
        if isinstance(padding, list):
            return F.conv1d(F.pad(x, tuple(padding)), w, b, stride, 0, dilation, groups)
        if padding == "same":
            y = F.conv1d(x, w, b, stride, "same", dilation, groups)
            total = dilation * (w.shape[-1] - 1)
            manual = F.conv1d(F.pad(x, (total // 2, total - total // 2)), w, b, stride, 0, dilation, groups)
            assert close(y, manual), "PyTorch's 'same' padding is not right-heavy here"
            return y
        return F.conv1d(x, w, b, stride, padding, dilation, groups)

    return fn


def conv1d_case(name, opts, input_shape):
    g = Gen(name)
    cin, cout, k, groups = opts["inChannels"], opts["outChannels"], opts["kernelSize"], opts.get("groups", 1)
    x = g.randn(*input_shape)
    params = {"weight": g.randn(cout, cin // groups, k, scale=0.5)}
    if opts.get("bias", True):
        params["bias"] = g.randn(cout, scale=0.5)
    return layer_case(name, "Conv1d", opts, [x], conv1d_torch(opts), params, gen=g)


def conv_family():
    c2 = conv2d_case
    c1 = conv1d_case
    return [
        c2("Conv2d 3->4 k3 pad 1", {"inChannels": 3, "outChannels": 4, "kernelSize": 3, "padding": 1}, [2, 3, 5, 5]),
        c2("Conv2d stride 2 inexact fit (floor) on 8x10", {"inChannels": 2, "outChannels": 3, "kernelSize": 3, "stride": 2}, [2, 2, 8, 10]),
        c2("Conv2d padding number 2, k5", {"inChannels": 2, "outChannels": 2, "kernelSize": 5, "padding": 2}, [1, 2, 6, 5]),
        c2("Conv2d padding [h, w] = [1, 2], k [3, 5]", {"inChannels": 2, "outChannels": 3, "kernelSize": [3, 5], "padding": [1, 2]}, [2, 2, 5, 6]),
        c2("Conv2d asymmetric padding [0, 2, 1, 0]", {"inChannels": 2, "outChannels": 2, "kernelSize": 3, "padding": [0, 2, 1, 0]}, [2, 2, 5, 5]),
        c2("Conv2d asymmetric padding [1, 0, 2, 1], stride 2", {"inChannels": 3, "outChannels": 2, "kernelSize": 3, "stride": 2, "padding": [1, 0, 2, 1]}, [1, 3, 6, 7]),
        c2("Conv2d same, even kernel 4 (odd pixel bottom/right)", {"inChannels": 2, "outChannels": 3, "kernelSize": 4, "padding": "same"}, [2, 2, 5, 6]),
        c2("Conv2d same, kernel [2, 3]", {"inChannels": 2, "outChannels": 2, "kernelSize": [2, 3], "padding": "same"}, [1, 2, 4, 5]),
        c2("Conv2d same, k3 dilation 2", {"inChannels": 2, "outChannels": 2, "kernelSize": 3, "dilation": 2, "padding": "same"}, [1, 2, 6, 6]),
        c2("Conv2d same, k2 dilation 3 (odd total padding)", {"inChannels": 2, "outChannels": 2, "kernelSize": 2, "dilation": 3, "padding": "same"}, [2, 2, 5, 7]),
        c2("Conv2d valid", {"inChannels": 2, "outChannels": 3, "kernelSize": 3, "padding": "valid"}, [2, 2, 5, 4]),
        c2("Conv2d dilation 2, pad 2", {"inChannels": 2, "outChannels": 2, "kernelSize": 3, "dilation": 2, "padding": 2}, [2, 2, 6, 7]),
        c2("Conv2d dilation [1, 2], stride [2, 1], pad [1, 0]", {"inChannels": 2, "outChannels": 2, "kernelSize": [3, 2], "stride": [2, 1], "dilation": [1, 2], "padding": [1, 0]}, [1, 2, 7, 6]),
        c2("Conv2d groups 2", {"inChannels": 4, "outChannels": 6, "kernelSize": 3, "padding": 1, "groups": 2}, [2, 4, 4, 4]),
        c2("Conv2d depthwise, channel multiplier 2", {"inChannels": 3, "outChannels": 6, "kernelSize": 3, "padding": 1, "groups": 3}, [2, 3, 5, 4]),
        c2("Conv2d depthwise, stride 2", {"inChannels": 4, "outChannels": 4, "kernelSize": 3, "stride": 2, "padding": 1, "groups": 4}, [1, 4, 7, 6]),
        c2("Conv2d no bias", {"inChannels": 3, "outChannels": 2, "kernelSize": 3, "bias": False}, [2, 3, 4, 5]),
        c2("Conv2d non-square kernel [2, 3], stride [2, 1] on 5x7", {"inChannels": 2, "outChannels": 3, "kernelSize": [2, 3], "stride": [2, 1]}, [1, 2, 5, 7]),
        c2("Conv2d 1x1", {"inChannels": 4, "outChannels": 3, "kernelSize": 1}, [2, 4, 3, 5]),
        c2("Conv2d 1x1 stride 2", {"inChannels": 3, "outChannels": 2, "kernelSize": 1, "stride": 2}, [2, 3, 5, 4]),
        c2("Conv2d unbatched [C, H, W]", {"inChannels": 2, "outChannels": 3, "kernelSize": 3, "padding": 1}, [2, 4, 5]),
        c2("Conv2d kernel covers the input", {"inChannels": 2, "outChannels": 2, "kernelSize": [3, 4]}, [2, 2, 3, 4]),
        c1("Conv1d pad 1", {"inChannels": 3, "outChannels": 4, "kernelSize": 3, "padding": 1}, [2, 3, 7]),
        c1("Conv1d stride 2, dilation 2", {"inChannels": 2, "outChannels": 3, "kernelSize": 3, "stride": 2, "dilation": 2}, [2, 2, 11]),
        c1("Conv1d groups 2", {"inChannels": 4, "outChannels": 2, "kernelSize": 2, "groups": 2}, [2, 4, 6]),
        c1("Conv1d same, even kernel 4", {"inChannels": 2, "outChannels": 3, "kernelSize": 4, "padding": "same"}, [2, 2, 7]),
        c1("Conv1d same, k3 dilation 2", {"inChannels": 2, "outChannels": 2, "kernelSize": 3, "dilation": 2, "padding": "same"}, [1, 2, 6]),
        c1("Conv1d valid", {"inChannels": 2, "outChannels": 2, "kernelSize": 3, "padding": "valid"}, [2, 2, 5]),
        c1("Conv1d padding [left, right] = [2, 0]", {"inChannels": 2, "outChannels": 2, "kernelSize": 3, "padding": [2, 0]}, [2, 2, 5]),
        c1("Conv1d no bias, stride 3 inexact", {"inChannels": 3, "outChannels": 2, "kernelSize": 2, "stride": 3, "bias": False}, [2, 3, 8]),
        c1("Conv1d unbatched [C, L]", {"inChannels": 2, "outChannels": 3, "kernelSize": 3, "padding": 1}, [2, 6]),
    ]


# ---------------------------------------------------------------------------
# Pooling.

def pool_case(name, cls, opts, x, fn):
    return layer_case(name, cls, opts, [x], lambda xs, ps, bs: fn(xs[0]), gen=Gen(name + "/dy"))


def max_pool(name, opts, x):
    k = pair(opts["kernelSize"])
    s = pair(opts.get("stride", opts["kernelSize"]))
    fn = lambda t: F.max_pool2d(t, k, s, pair(opts.get("padding", 0)), pair(opts.get("dilation", 1)), opts.get("ceilMode", False))
    return pool_case(name, "MaxPool2d", opts, x, fn)


def avg_pool(name, opts, x):
    k = pair(opts["kernelSize"])
    s = pair(opts.get("stride", opts["kernelSize"]))
    fn = lambda t: F.avg_pool2d(t, k, s, pair(opts.get("padding", 0)), opts.get("ceilMode", False), opts.get("countIncludePad", True))
    return pool_case(name, "AvgPool2d", opts, x, fn)


def lp_pool(name, opts, x):
    k = pair(opts["kernelSize"])
    s = pair(opts.get("stride", opts["kernelSize"]))
    fn = lambda t: F.lp_pool2d(t, float(opts.get("normType", 2)), k, s, opts.get("ceilMode", False))
    return pool_case(name, "LPPool2d", opts, x, fn)


def pool_family():
    def r(name, *shape):
        return Gen(name).randn(*shape)

    def ties(name, *shape):
        return Gen(name).ints(-2, 3, *shape)  # five values: most windows hold a tie

    cases = []
    n = "MaxPool2d k2 with ties (the first maximum wins)"
    cases.append(max_pool(n, {"kernelSize": 2}, ties(n, 2, 2, 4, 6)))
    n = "MaxPool2d 3x3 stride 2 overlapping, with ties"
    cases.append(max_pool(n, {"kernelSize": 3, "stride": 2}, ties(n, 2, 2, 7, 7)))
    n = "MaxPool2d 3x3 stride 2 overlapping, random"
    cases.append(max_pool(n, {"kernelSize": 3, "stride": 2}, r(n, 1, 3, 7, 6)))
    n = "MaxPool2d k3 stride 2 padding 1"
    cases.append(max_pool(n, {"kernelSize": 3, "stride": 2, "padding": 1}, r(n, 2, 2, 6, 5)))
    n = "MaxPool2d padding 1 on negative inputs"
    cases.append(max_pool(n, {"kernelSize": 2, "stride": 1, "padding": 1}, -Gen(n).uniform(1, 2, 3, 3, low=0.5, high=2.0)))
    n = "MaxPool2d k2 dilation 2"
    cases.append(max_pool(n, {"kernelSize": 2, "stride": 1, "dilation": 2}, r(n, 2, 2, 5, 5)))
    n = "MaxPool2d k3 dilation [2, 1] padding 1"
    cases.append(max_pool(n, {"kernelSize": 3, "stride": 2, "dilation": [2, 1], "padding": 1}, r(n, 1, 2, 7, 6)))
    n = "MaxPool2d ceilMode, window hangs over the edge"
    cases.append(max_pool(n, {"kernelSize": 2, "stride": 2, "ceilMode": True}, r(n, 2, 2, 5, 5)))
    n = "MaxPool2d ceilMode k3 stride 2 with ties"
    cases.append(max_pool(n, {"kernelSize": 3, "stride": 2, "ceilMode": True}, ties(n, 1, 2, 6, 8)))
    n = "MaxPool2d ceilMode with padding"
    cases.append(max_pool(n, {"kernelSize": 3, "stride": 2, "padding": 1, "ceilMode": True}, r(n, 1, 2, 6, 6)))
    n = "MaxPool2d non-square kernel [2, 3], stride [1, 2]"
    cases.append(max_pool(n, {"kernelSize": [2, 3], "stride": [1, 2]}, r(n, 2, 2, 4, 7)))
    n = "MaxPool2d unbatched [C, H, W]"
    cases.append(max_pool(n, {"kernelSize": 2}, r(n, 3, 4, 4)))

    n = "AvgPool2d k2"
    cases.append(avg_pool(n, {"kernelSize": 2}, r(n, 2, 2, 4, 6)))
    n = "AvgPool2d k3 stride 2 padding 1, countIncludePad true"
    cases.append(avg_pool(n, {"kernelSize": 3, "stride": 2, "padding": 1}, r(n, 2, 2, 5, 6)))
    n = "AvgPool2d k3 stride 2 padding 1, countIncludePad false"
    cases.append(avg_pool(n, {"kernelSize": 3, "stride": 2, "padding": 1, "countIncludePad": False}, r(n, 2, 2, 5, 6)))
    n = "AvgPool2d ceilMode, window hangs over the edge"
    cases.append(avg_pool(n, {"kernelSize": 2, "stride": 2, "ceilMode": True}, r(n, 2, 2, 5, 5)))
    n = "AvgPool2d ceilMode with padding, countIncludePad true"
    cases.append(avg_pool(n, {"kernelSize": 3, "stride": 2, "padding": 1, "ceilMode": True}, r(n, 1, 2, 6, 6)))
    n = "AvgPool2d ceilMode with padding, countIncludePad false"
    cases.append(avg_pool(n, {"kernelSize": 3, "stride": 2, "padding": 1, "ceilMode": True, "countIncludePad": False}, r(n, 1, 2, 6, 6)))
    n = "AvgPool2d non-square kernel [3, 2], stride [2, 1], padding [1, 0]"
    cases.append(avg_pool(n, {"kernelSize": [3, 2], "stride": [2, 1], "padding": [1, 0]}, r(n, 2, 2, 6, 4)))

    n = "LPPool2d normType 2, k2"
    cases.append(lp_pool(n, {"normType": 2, "kernelSize": 2}, r(n, 2, 2, 4, 4)))
    n = "LPPool2d normType 1, k2"
    cases.append(lp_pool(n, {"normType": 1, "kernelSize": 2}, r(n, 2, 2, 4, 6)))
    n = "LPPool2d normType 2, k3 stride 2 (inexact)"
    cases.append(lp_pool(n, {"normType": 2, "kernelSize": 3, "stride": 2}, r(n, 1, 3, 6, 7)))
    n = "LPPool2d normType 2, ceilMode (hanging window, PyTorch scales it up)"
    cases.append(lp_pool(n, {"normType": 2, "kernelSize": 2, "stride": 2, "ceilMode": True}, r(n, 2, 2, 5, 5)))
    n = "LPPool2d normType 1, ceilMode"
    cases.append(lp_pool(n, {"normType": 1, "kernelSize": 3, "stride": 2, "ceilMode": True}, r(n, 1, 2, 6, 6)))
    n = "LPPool2d normType 2, kernel [2, 3]"
    cases.append(lp_pool(n, {"normType": 2, "kernelSize": [2, 3], "stride": [2, 1]}, r(n, 1, 2, 4, 5)))

    n = "GlobalAvgPool2d"
    cases.append(pool_case(n, "GlobalAvgPool2d", {}, r(n, 2, 3, 4, 5), lambda t: F.adaptive_avg_pool2d(t, 1)))
    n = "GlobalAvgPool2d 1x1 input"
    cases.append(pool_case(n, "GlobalAvgPool2d", {}, r(n, 2, 3, 1, 1), lambda t: F.adaptive_avg_pool2d(t, 1)))

    # AdaptiveAvgPool2d (torchvision's AlexNet/VGG heads): uneven, overlapping windows.
    n = "AdaptiveAvgPool2d 5x7 -> 3x2 (overlapping windows)"
    cases.append(pool_case(n, "AdaptiveAvgPool2d", {"outputSize": [3, 2]}, r(n, 2, 2, 5, 7), lambda t: F.adaptive_avg_pool2d(t, (3, 2))))
    n = "AdaptiveAvgPool2d 4x4 -> 6x6 (upsampling repeats)"
    cases.append(pool_case(n, "AdaptiveAvgPool2d", {"outputSize": 6}, r(n, 1, 2, 4, 4), lambda t: F.adaptive_avg_pool2d(t, 6)))

    n = "GlobalMaxPool1d"
    cases.append(pool_case(n, "GlobalMaxPool1d", {}, r(n, 2, 3, 6), lambda t: t.amax(dim=2)))
    n = "GlobalMaxPool1d with a tie (amax splits the gradient evenly)"
    x = Gen(n).randn(2, 3, 5)
    x[0, 1, 1] = 3.0
    x[0, 1, 3] = 3.0  # two equal maxima in one row
    x[1, 2, 0] = 2.5
    x[1, 2, 4] = 2.5
    x[1, 2, 2] = 2.5  # three
    cases.append(pool_case(n, "GlobalMaxPool1d", {}, x, lambda t: t.amax(dim=2)))
    return cases


# ---------------------------------------------------------------------------
# Linear.

def linear_case(name, opts, input_shape):
    g = Gen(name)
    x = g.randn(*input_shape)
    params = {"weight": g.randn(opts["outFeatures"], opts["inFeatures"], scale=0.5)}
    if opts.get("bias", True):
        params["bias"] = g.randn(opts["outFeatures"], scale=0.5)
    return layer_case(name, "Linear", opts, [x], lambda xs, ps, bs: F.linear(xs[0], ps["weight"], ps.get("bias")), params, gen=g)


def embedding_case(name, opts, ids):
    g = Gen(name)
    params = {"weight": g.randn(opts["numEmbeddings"], opts["embeddingDim"])}
    ncl = opts.get("layout", "NLC") == "NCL"

    def fn(xs, ps, bs):
        y = F.embedding(xs[0].long(), ps["weight"])  # [N, L, D]
        return y.transpose(1, 2) if ncl else y

    return layer_case(name, "Embedding", opts, [torch.tensor(ids, dtype=torch.float32)], fn, params, gen=g, index_inputs=True)


def dense_family():
    return [
        linear_case("Linear 5->3", {"inFeatures": 5, "outFeatures": 3}, [4, 5]),
        linear_case("Linear no bias", {"inFeatures": 6, "outFeatures": 4, "bias": False}, [3, 6]),
        linear_case("Linear 3-D input [N, T, F]", {"inFeatures": 4, "outFeatures": 3}, [2, 3, 4]),
        linear_case("Linear batch of 1", {"inFeatures": 7, "outFeatures": 2}, [1, 7]),
        # Repeated ids: their rows of the weight gradient accumulate.
        embedding_case("Embedding [N, L] -> [N, L, D], repeated ids", {"numEmbeddings": 6, "embeddingDim": 3}, [[1, 4, 1, 0], [5, 1, 2, 2]]),
        embedding_case("Embedding layout NCL -> [N, D, L]", {"numEmbeddings": 5, "embeddingDim": 4, "layout": "NCL"}, [[0, 3, 3], [4, 1, 0]]),
    ]


# ---------------------------------------------------------------------------
# Normalisation.

def batch_norm_case(name, cls, opts, input_shape, training):
    g = Gen(name)
    c = opts["numFeatures"]
    x = g.randn(*input_shape, scale=1.5) + 0.7
    params = {}
    if opts.get("affine", True):
        params = {"weight": g.randn(c, scale=0.5) + 1.0, "bias": g.randn(c, scale=0.5)}
    # Non-default running statistics, so the update rule (and eval mode) is really exercised.
    buffers = {"runningMean": g.randn(c, scale=0.3), "runningVar": g.uniform(c, low=0.5, high=1.5)}
    eps, momentum = opts.get("eps", 1e-5), opts.get("momentum", 0.1)

    def fn(xs, ps, bs):
        return F.batch_norm(xs[0], bs["runningMean"], bs["runningVar"], ps.get("weight"), ps.get("bias"), training, momentum, eps)

    return layer_case(name, cls, opts, [x], fn, params, buffers, training, gen=g)


def lrn_case(name, opts, input_shape, scale=1.0):
    g = Gen(name)
    x = g.randn(*input_shape, scale=scale)
    fn = lambda xs, ps, bs: F.local_response_norm(xs[0], opts["size"], opts.get("alpha", 1e-4), opts.get("beta", 0.75), opts.get("k", 1.0))
    return layer_case(name, "LocalResponseNorm", opts, [x], fn, gen=g)


def norm_family():
    b2, b1 = "BatchNorm2d", "BatchNorm1d"
    return [
        batch_norm_case("BatchNorm2d training, momentum 0.1", b2, {"numFeatures": 3}, [4, 3, 3, 2], True),
        batch_norm_case("BatchNorm2d training, momentum 0.3, eps 1e-3", b2, {"numFeatures": 2, "momentum": 0.3, "eps": 1e-3}, [2, 2, 3, 3], True),
        batch_norm_case("BatchNorm2d eval", b2, {"numFeatures": 3}, [2, 3, 2, 3], False),
        batch_norm_case("BatchNorm2d training, affine false", b2, {"numFeatures": 2, "affine": False}, [3, 2, 2, 2], True),
        batch_norm_case("BatchNorm2d eval, affine false", b2, {"numFeatures": 2, "affine": False}, [2, 2, 2, 3], False),
        batch_norm_case("BatchNorm1d [N, C] training", b1, {"numFeatures": 4}, [5, 4], True),
        batch_norm_case("BatchNorm1d [N, C] training, momentum 0.5", b1, {"numFeatures": 3, "momentum": 0.5}, [4, 3], True),
        batch_norm_case("BatchNorm1d [N, C, L] training", b1, {"numFeatures": 3}, [2, 3, 4], True),
        batch_norm_case("BatchNorm1d [N, C] eval", b1, {"numFeatures": 4}, [3, 4], False),
        batch_norm_case("BatchNorm1d [N, C, L] eval", b1, {"numFeatures": 2}, [2, 2, 3], False),
        batch_norm_case("BatchNorm1d [N, C, L] training, affine false", b1, {"numFeatures": 2, "affine": False}, [3, 2, 3], True),
        lrn_case("LocalResponseNorm AlexNet (size 5, alpha 1e-4, beta 0.75, k 2)", {"size": 5, "alpha": 1e-4, "beta": 0.75, "k": 2}, [2, 7, 3, 3], scale=10.0),
        lrn_case("LocalResponseNorm defaults, size 5", {"size": 5}, [1, 6, 2, 3], scale=10.0),
        lrn_case("LocalResponseNorm even size 4", {"size": 4, "alpha": 0.5, "beta": 0.75, "k": 1.5}, [2, 6, 2, 2]),
        lrn_case("LocalResponseNorm even size 2", {"size": 2, "alpha": 1, "beta": 0.5, "k": 1}, [1, 4, 3, 2]),
        lrn_case("LocalResponseNorm size 3, alpha 1, beta 0.5, k 1", {"size": 3, "alpha": 1, "beta": 0.5, "k": 1}, [2, 5, 2, 2]),
        lrn_case("LocalResponseNorm size larger than the channels", {"size": 7, "alpha": 0.3, "beta": 1, "k": 1}, [1, 3, 2, 2]),
    ]


# ---------------------------------------------------------------------------
# Activations, reshaping, merging, dropout.

def unary_case(name, cls, opts, x, fn):
    return layer_case(name, cls, opts, [x], lambda xs, ps, bs: fn(xs[0]), gen=Gen(name + "/dy"))


def nonzero(name, *shape, scale=1.0):
    """Random values kept away from 0, where ReLU-like gradients have a kink."""
    x = Gen(name).randn(*shape, scale=scale)
    return torch.where(x.abs() < 0.05, torch.full_like(x, 0.3), x)


def activation_family():
    cases = []
    n = "ReLU"
    cases.append(unary_case(n, "ReLU", {}, nonzero(n, 2, 3, 2, 2), F.relu))
    n = "LeakyReLU default slope"
    cases.append(unary_case(n, "LeakyReLU", {}, nonzero(n, 3, 5), lambda t: F.leaky_relu(t, 0.01)))
    n = "LeakyReLU negativeSlope 0.2"
    cases.append(unary_case(n, "LeakyReLU", {"negativeSlope": 0.2}, nonzero(n, 2, 2, 2, 3), lambda t: F.leaky_relu(t, 0.2)))
    n = "ELU default alpha"
    cases.append(unary_case(n, "ELU", {}, nonzero(n, 3, 5, scale=2.0), lambda t: F.elu(t, 1.0)))
    n = "ELU alpha 0.5"
    cases.append(unary_case(n, "ELU", {"alpha": 0.5}, nonzero(n, 2, 2, 2, 3, scale=2.0), lambda t: F.elu(t, 0.5)))
    n = "Tanh"
    cases.append(unary_case(n, "Tanh", {}, Gen(n).randn(2, 3, 2, 2, scale=1.5), torch.tanh))
    n = "Sigmoid"
    cases.append(unary_case(n, "Sigmoid", {}, Gen(n).randn(3, 5, scale=2.0), torch.sigmoid))
    n = "Softmax dim 1 on [N, C]"
    cases.append(unary_case(n, "Softmax", {}, Gen(n).randn(3, 5, scale=2.0), lambda t: F.softmax(t, dim=1)))
    n = "Softmax dim 1 on [N, C, H, W]"
    cases.append(unary_case(n, "Softmax", {}, Gen(n).randn(2, 4, 2, 3, scale=2.0), lambda t: F.softmax(t, dim=1)))
    n = "Softmax large logits"
    cases.append(unary_case(n, "Softmax", {}, Gen(n).randn(2, 4, scale=30.0) + 50.0, lambda t: F.softmax(t, dim=1)))
    return cases


def reshape_family():
    n1, n2 = "Flatten [N, C, H, W]", "Flatten [N, F] (already flat)"
    return [
        unary_case(n1, "Flatten", {}, Gen(n1).randn(2, 3, 2, 2), lambda t: torch.flatten(t, 1)),
        unary_case(n2, "Flatten", {}, Gen(n2).randn(3, 4), lambda t: torch.flatten(t, 1)),
    ]


def tensor_ops_family():
    """The layers ONNX import adds (src/layers/tensor-ops.ts), against the PyTorch code they stand for."""
    cases = []
    n = "Reshape [0, -1, 2] copies the batch"
    cases.append(unary_case(n, "Reshape", {"shape": [0, -1, 2]}, Gen(n).randn(2, 3, 4), lambda t: t.reshape(t.shape[0], -1, 2)))
    n = "Reshape [-1] flattens everything"
    cases.append(unary_case(n, "Reshape", {"shape": [-1]}, Gen(n).randn(2, 3), lambda t: t.reshape(-1)))
    n = "Pad 0.5 on H and W, asymmetric"
    pads = [0, 0, 1, 0, 0, 0, 2, 1]  # ONNX order: begins of N, C, H, W, then ends
    cases.append(unary_case(n, "Pad", {"pads": pads, "value": 0.5}, Gen(n).randn(2, 2, 3, 3), lambda t: F.pad(t, (0, 1, 1, 2), value=0.5)))
    n = "Pad -3 on both axes of [N, F]"
    cases.append(unary_case(n, "Pad", {"pads": [1, 0, 0, 2], "value": -3}, Gen(n).randn(3, 4), lambda t: F.pad(t, (0, 2, 1, 0), value=-3.0)))
    n = "GlobalMaxPool2d"
    cases.append(unary_case(n, "GlobalMaxPool2d", {}, Gen(n).randn(2, 3, 3, 4), lambda t: t.amax(dim=(2, 3), keepdim=True)))
    for n, shape, bias_shape in (("BiasAdd per channel [C, 1, 1]", (2, 3, 2, 2), (3, 1, 1)), ("BiasAdd a whole map [H, W]", (2, 4, 2, 3), (2, 3))):
        g = Gen(n)
        x, b = g.randn(*shape), g.randn(*bias_shape)
        cases.append(layer_case(n, "BiasAdd", {"shape": list(bias_shape)}, [x], lambda xs, ps, bs: xs[0] + ps["bias"],
                                params={"bias": b}, gen=Gen(n + "/dy")))
    n = "AxisSoftmax axes 1..-1 (ONNX Softmax before opset 13)"
    cases.append(unary_case(n, "AxisSoftmax", {"startDim": 1, "endDim": -1}, Gen(n).randn(2, 3, 4, scale=2.0),
                            lambda t: F.softmax(t.reshape(2, 12), dim=1).reshape(2, 3, 4)))
    n = "AxisSoftmax axis 0"
    cases.append(unary_case(n, "AxisSoftmax", {"startDim": 0, "endDim": 0}, Gen(n).randn(3, 4, scale=2.0), lambda t: F.softmax(t, dim=0)))
    n = "ConstantScale [H, W]"
    g = Gen(n)
    x, scale = g.randn(2, 2, 2, 3), g.uniform(2, 3, low=0.5, high=2.0)
    cases.append(layer_case(n, "ConstantScale", {"shape": [2, 3]}, [x], lambda xs, ps, bs: xs[0] * bs["scale"],
                            buffers={"scale": scale}, gen=Gen(n + "/dy")))
    n = "Identity"
    cases.append(unary_case(n, "Identity", {}, Gen(n).randn(2, 3), lambda t: t * 1.0))
    n = "Transpose [0, 2, 3, 1] (NCHW to NHWC)"
    cases.append(unary_case(n, "Transpose", {"perm": [0, 2, 3, 1]}, Gen(n).randn(2, 3, 2, 4), lambda t: t.permute(0, 2, 3, 1)))
    n = "Transpose [1, 0]"
    cases.append(unary_case(n, "Transpose", {"perm": [1, 0]}, Gen(n).randn(3, 5), lambda t: t.t()))
    n = "IndexSelect channels [2, 0, 2] (a repeated index adds both gradients)"
    cases.append(unary_case(n, "IndexSelect", {"axis": 1, "indices": [2, 0, 2]}, Gen(n).randn(2, 3, 2, 2),
                            lambda t: t.index_select(1, torch.tensor([2, 0, 2]))))
    n = "IndexSelect one channel, squeezed (ONNX Gather with a scalar index: x[:, 1])"
    cases.append(unary_case(n, "IndexSelect", {"axis": 1, "indices": [1], "squeeze": True}, Gen(n).randn(2, 3, 2, 2), lambda t: t[:, 1]))
    return cases


def merge_case(name, cls, opts, xs, fn):
    return layer_case(name, cls, opts, xs, lambda ts, ps, bs: fn(ts), gen=Gen(name + "/dy"))


def merge_family():
    def r(name, *shapes):
        g = Gen(name)
        return [g.randn(*s) for s in shapes]

    n1 = "Concat axis 1, three inputs of 2, 3 and 1 channels"
    n2 = "Concat default axis on [N, F]"
    n3 = "Add two inputs"
    n4 = "Add three inputs"
    return [
        merge_case(n1, "Concat", {"axis": 1}, r(n1, [2, 2, 3, 3], [2, 3, 3, 3], [2, 1, 3, 3]), lambda ts: torch.cat(ts, 1)),
        merge_case(n2, "Concat", {}, r(n2, [2, 3], [2, 4]), lambda ts: torch.cat(ts, 1)),
        merge_case(n3, "Add", {}, r(n3, [2, 3, 2, 2], [2, 3, 2, 2]), lambda ts: ts[0] + ts[1]),
        merge_case(n4, "Add", {}, r(n4, [2, 2, 3], [2, 2, 3], [2, 2, 3]), lambda ts: ts[0] + ts[1] + ts[2]),
    ]


def dropout_family():
    # Only evaluation mode: the random masks of training cannot match PyTorch's.
    n1, n2 = "Dropout eval is the identity", "Dropout p 0.2 eval"
    return [
        unary_case(n1, "Dropout", {}, Gen(n1).randn(2, 3, 2, 2), lambda t: F.dropout(t, 0.5, training=False)),
        unary_case(n2, "Dropout", {"p": 0.2}, Gen(n2).randn(3, 4), lambda t: F.dropout(t, 0.2, training=False)),
    ]


# ---------------------------------------------------------------------------
# Losses.

def loss_family():
    cases = []

    def ce(name, n, c, scale=2.0):
        g = Gen(name)
        logits, labels = g.randn(n, c, scale=scale), g.labels(n, c)
        cases.append(loss_case(name, "softmaxCrossEntropy", logits, labels, {}, lambda z, y: F.cross_entropy(z, y)))

    def hinge(name, n, c, margin, scale=1.0):
        g = Gen(name)
        logits, labels = g.randn(n, c, scale=scale), g.labels(n, c)
        options = {} if margin is None else {"margin": margin}
        cases.append(loss_case(name, "multiClassHinge", logits, labels, options,
                               lambda z, y: F.multi_margin_loss(z, y, margin=1.0 if margin is None else margin)))

    ce("softmaxCrossEntropy 4x5", 4, 5)
    ce("softmaxCrossEntropy 1 sample, 3 classes", 1, 3)
    ce("softmaxCrossEntropy large logits", 3, 4, scale=40.0)
    hinge("multiClassHinge default margin", 4, 5, None)
    hinge("multiClassHinge margin 1", 3, 4, 1.0, scale=0.5)
    hinge("multiClassHinge margin 2", 4, 3, 2.0)
    hinge("multiClassHinge margin 0.3, well separated", 3, 6, 0.3, scale=3.0)
    return cases


# ---------------------------------------------------------------------------

FAMILIES = {
    "conv": conv_family,
    "pool": pool_family,
    "dense": dense_family,
    "norm": norm_family,
    "activation": activation_family,
    "reshape": reshape_family,
    "merge": merge_family,
    "dropout": dropout_family,
    "loss": loss_family,
    "tensor-ops": tensor_ops_family,
}


def write_family(family, cases):
    names = [c["name"] for c in cases]
    dupes = {n for n in names if names.count(n) > 1}
    if dupes:
        raise SystemExit(f"{family}: duplicate case names {sorted(dupes)}")
    header = {
        "family": family,
        "generator": "scripts/gen_fixtures.py",
        "torch": torch.__version__.split("+")[0],
        "note": "float32 inputs; PyTorch's answers computed in float64 and rounded to float32; "
                "gradients are of sum(output * dy)",
    }
    lines = ["{" + to_json(header)[1:-1] + ',"cases":[']
    lines.append(",\n".join(to_json(c) for c in cases))
    lines.append("]}\n")
    path = os.path.join(OUT_DIR, family + ".json")
    with open(path, "w") as f:
        f.write("\n".join(lines))
    return path


def main():
    os.makedirs(OUT_DIR, exist_ok=True)
    total_bytes = 0
    # Families named on the command line, or all of them.
    chosen = sys.argv[1:] or list(FAMILIES)
    unknown = [f for f in chosen if f not in FAMILIES]
    if unknown:
        raise SystemExit(f"unknown families {unknown}; known: {list(FAMILIES)}")
    for family in chosen:
        cases = FAMILIES[family]()
        path = write_family(family, cases)
        size = os.path.getsize(path)
        total_bytes += size
        print(f"{os.path.relpath(path)}: {len(cases)} cases, {size / 1024:.1f} KiB")
    print(f"total {total_bytes / 1024:.1f} KiB")


if __name__ == "__main__":
    sys.exit(main())
