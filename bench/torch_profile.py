"""PyTorch's side of the inference-gap profile (bench/profile-gap.mjs):

  torch_profile.py --specs FILE --net resnet50 --threads N --runs R

Builds the bench's net from its spec (torch_bench.build, as the main bench),
in eval() under no_grad, and profiles forward passes with torch.profiler.
Every leaf module runs inside a record_function range named "gap::<kind>"
(set by forward hooks), and the residual sum inside "gap::add", so the
profiler's ranges add up per layer kind. PyTorch's eager mode fuses nothing:
batch norm and ReLU are their own rows. Prints one line: GAP_RESULT {json}.
"""

import argparse
import json
import statistics
import sys
import time

import torch
import torch.nn as nn
from torch.profiler import ProfilerActivity, profile, record_function

import torch_bench


def conv_kind(k, stride):
    """The names of bench/gap/kinds.mjs convKind()."""
    names = {(1, 1): "conv1x1", (1, 2): "conv1x1s2", (3, 1): "conv3x3", (3, 2): "conv3x3s2", (7, 2): "conv7x7s2"}
    return names.get((k, stride), "convOther")


def kind_of(m):
    if isinstance(m, nn.Conv2d):
        (kh, kw), (sh, sw) = m.kernel_size, m.stride
        return conv_kind(kh, sh) if kh == kw and sh == sw else "convOther"
    if isinstance(m, nn.MaxPool2d):
        return "maxpool"
    if isinstance(m, (nn.AdaptiveAvgPool2d, nn.AvgPool2d)):
        return "avgpool"
    if isinstance(m, nn.BatchNorm2d):
        return "bn"
    if isinstance(m, nn.ReLU):
        return "relu"
    if isinstance(m, nn.Linear):
        return "fc"
    return "other"


def residual_forward(self, x):
    """torch_bench.Residual.forward with its sum in a range of its own (the sum is in no leaf module)."""
    a = self.body(x)
    b = self.shortcut(x)
    with record_function("gap::add"):
        return a + b


def label_leaves(model):
    """Forward hooks that open a "gap::<kind>" range before each leaf module and close it after."""
    open_ranges = []
    handles = []

    def enter(kind):
        def pre(module, inputs):
            r = record_function(f"gap::{kind}")
            r.__enter__()
            open_ranges.append(r)
        return pre

    def leave(module, inputs, output):
        open_ranges.pop().__exit__(None, None, None)

    for m in model.modules():
        if len(list(m.children())) == 0:
            handles.append(m.register_forward_pre_hook(enter(kind_of(m))))
            handles.append(m.register_forward_hook(leave))
    return handles


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--specs", required=True)
    p.add_argument("--net", required=True, choices=["resnet50", "vgg16"])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--runs", type=int, default=7)
    args = p.parse_args()
    lib = f"pytorch-{args.threads}t"
    try:
        with open(args.specs) as f:
            spec = json.load(f)["nets"][args.net]
        torch.set_num_threads(args.threads)
        torch.manual_seed(0)
        model, _ = torch_bench.build(spec["layers"], spec["input"])
        model.eval()
        x = torch.randn(1, *spec["input"])
        with torch.no_grad():
            for _ in range(2):  # warm-up: oneDNN primitive caches, allocator
                model(x)
            # Passes with the profiler and without it alternate, so that what profiling costs
            # shows apart from the drift of a shared machine.
            plain_forward = torch_bench.Residual.forward
            plain = []
            runs = []
            for _ in range(args.runs):
                torch_bench.Residual.forward = plain_forward
                t = time.perf_counter()
                model(x)
                plain.append((time.perf_counter() - t) * 1000)
                torch_bench.Residual.forward = residual_forward
                handles = label_leaves(model)
                with profile(activities=[ProfilerActivity.CPU]) as prof:
                    t = time.perf_counter()
                    model(x)
                    total = (time.perf_counter() - t) * 1000
                by_kind = {}
                calls = {}
                for e in prof.events():
                    if e.name.startswith("gap::"):
                        kind = e.name[len("gap::"):]
                        by_kind[kind] = by_kind.get(kind, 0.0) + e.cpu_time_total / 1000
                        calls[kind] = calls.get(kind, 0) + 1
                for h in handles:
                    h.remove()
                by_kind["other"] = by_kind.get("other", 0.0) + max(0.0, total - sum(by_kind.values()))
                runs.append({"byKind": by_kind, "totalMs": total, "calls": calls})
        result = {"lib": lib, "threads": torch.get_num_threads(), "net": args.net, "version": torch.__version__,
                  "runs": runs, "plainMedianMs": statistics.median(plain),
                  "notes": ["eval() under no_grad, eager mode (no fusion); torch.profiler ranges per leaf module"]}
    except Exception as e:  # report the failure as a result, so the other columns survive
        print(repr(e), file=sys.stderr)
        result = {"lib": lib, "net": args.net, "error": str(e).split("\n")[0]}
    print("GAP_RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
