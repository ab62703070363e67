"""PyTorch's side of the bench, run by bench/run.mjs with /usr/bin/python3.

  torch_bench.py bench  --specs FILE --workload ID --threads N [--budget S --long-budget S --max-iter S]
  torch_bench.py export --specs FILE --out DIR

`bench` times one workload with torch.set_num_threads(N) and prints one line
"BENCH_RESULT {json}", following the timing rules of bench/harness.mjs.
`export` writes the inference workloads (and the sgemm) as ONNX models for
onnxruntime-node. The nets come from the same specs as every other library's
(bench/workloads.mjs, handed over as JSON), built here in plain torch so that
torchvision is not needed.
"""

import argparse
import json
import os
import re
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class Residual(nn.Module):
    def __init__(self, body, shortcut):
        super().__init__()
        self.body = body
        self.shortcut = shortcut

    def forward(self, x):
        return self.body(x) + self.shortcut(x)


def build(layers, shape):
    """A spec's layer list as an nn.Sequential, and the output shape [C, H, W]."""
    c, h, w = shape
    mods = []
    for layer in layers:
        t = layer["type"]
        if t == "conv":
            k, s, p = layer["k"], layer["stride"], layer["pad"]
            mods.append(nn.Conv2d(c, layer["out"], k, stride=s, padding=p, bias=layer["bias"]))
            h = (h + 2 * p - k) // s + 1
            w = (w + 2 * p - k) // s + 1
            c = layer["out"]
        elif t == "bn":
            mods.append(nn.BatchNorm2d(c))
        elif t == "relu":
            mods.append(nn.ReLU(inplace=True))
        elif t == "maxpool":
            k, s, p = layer["k"], layer["stride"], layer["pad"]
            mods.append(nn.MaxPool2d(k, stride=s, padding=p))
            h = (h + 2 * p - k) // s + 1
            w = (w + 2 * p - k) // s + 1
        elif t == "gap":
            mods.append(nn.AdaptiveAvgPool2d(1))
            h = w = 1
        elif t == "flatten":
            mods.append(nn.Flatten())
            c, h, w = c * h * w, 1, 1
        elif t == "fc":
            mods.append(nn.Linear(c, layer["out"]))
            c = layer["out"]
        elif t == "residual":
            body, out_shape = build(layer["body"], [c, h, w])
            shortcut, _ = build(layer["shortcut"], [c, h, w])
            mods.append(Residual(body, shortcut))
            c, h, w = out_shape
        else:
            raise ValueError(f'spec: unknown layer type "{t}"')
    return nn.Sequential(*mods), [c, h, w]


def median(xs):
    return statistics.median(xs)


def measure(step, budget, long_budget, max_iter, min_runs=3, max_runs=7):
    """The rules of measure() in bench/harness.mjs."""
    t0 = time.perf_counter()
    step()
    cold = time.perf_counter() - t0
    if cold > max_iter:
        minutes = (1 + min_runs) * cold / 60
        return {"status": "skipped", "coldSec": cold,
                "note": f"would take {minutes:.1f} min (one iteration took {cold:.1f} s)"}
    per_run = []
    iters = 1
    if cold > budget / 4:
        runs = max(1, min(min_runs, int(long_budget // cold)))
        for _ in range(runs):
            t = time.perf_counter()
            step()
            per_run.append(time.perf_counter() - t)
    else:
        t1 = time.perf_counter()
        step()
        warm = max(time.perf_counter() - t1, 1e-6)
        iters = max(1, round(budget / 10 / warm))
        runs = max(min_runs, min(max_runs, int(budget // (iters * warm))))
        for _ in range(runs):
            t = time.perf_counter()
            for _ in range(iters):
                step()
            per_run.append((time.perf_counter() - t) / iters)
    return {"status": "ok", "coldSec": cold, "itersPerRun": iters, "secPerIter": per_run, "median": median(per_run)}


def to_unit(w, sec, flops):
    if w["unit"] == "GFLOP/s":
        return flops / sec / 1e9
    if w["unit"] == "ms":
        return sec * 1000 / w["batch"]
    return w["batch"] / sec


def blas_note():
    found = re.search(r"BLAS_INFO=(\w+)", torch.__config__.show())
    return f"BLAS_INFO={found.group(1)}" if found else "BLAS unknown"


def bench(args, specs):
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    w = next(x for x in specs["workloads"] if x["id"] == args.workload)
    base = {"lib": f"pytorch-{args.threads}t", "workload": w["id"], "version": torch.__version__,
            "threads": torch.get_num_threads()}
    flops = specs["flops"][w["id"]]
    details = []
    if w["kind"] == "sgemm":
        n = specs["sgemmSize"]
        a, b = torch.randn(n, n), torch.randn(n, n)
        step = lambda: torch.mm(a, b)
        details.append(f"torch.mm ({blas_note()})")
    else:
        spec = specs["nets"][w["net"]]
        model, _ = build(spec["layers"], spec["input"])
        base["params"] = sum(p.numel() for p in model.parameters())
        x = torch.randn(w["batch"], *spec["input"])
        if w["kind"] == "infer":
            model.eval()

            def step():
                with torch.no_grad():
                    model(x)
            details.append("eval() under no_grad (oneDNN convolutions)")
        else:
            model.train()
            y = torch.randint(0, spec["classes"], (w["batch"],))
            opt = torch.optim.SGD(model.parameters(), lr=specs["sgd"]["lr"], momentum=specs["sgd"]["momentum"])

            def step():
                opt.zero_grad()
                F.cross_entropy(model(x), y).backward()
                opt.step()
            details.append("torch.optim.SGD")
    m = measure(step, args.budget, args.long_budget, args.max_iter)
    if m["status"] != "ok":
        return {**base, **m, "details": details}
    return {**base, "status": "ok", "unit": w["unit"], "value": to_unit(w, m["median"], flops),
            "runs": len(m["secPerIter"]), "itersPerRun": m["itersPerRun"], "coldSec": m["coldSec"], "details": details}


class MatMul(nn.Module):
    def forward(self, a, b):
        return torch.matmul(a, b)


def export(args, specs):
    """Writes OUT/<workload>.onnx for each inference workload and the sgemm; prints what it wrote."""
    torch.manual_seed(0)
    os.makedirs(args.out, exist_ok=True)
    written = {}
    for w in specs["workloads"]:
        path = os.path.join(args.out, f'{w["id"]}.onnx')
        if w["kind"] == "sgemm":
            n = specs["sgemmSize"]
            torch.onnx.export(MatMul(), (torch.randn(n, n), torch.randn(n, n)), path,
                              opset_version=13, input_names=["a", "b"], output_names=["c"])
        elif w["kind"] == "infer":
            spec = specs["nets"][w["net"]]
            model, _ = build(spec["layers"], spec["input"])
            model.eval()
            torch.onnx.export(model, torch.randn(w["batch"], *spec["input"]), path,
                              opset_version=13, input_names=["x"], output_names=["y"], do_constant_folding=True)
        else:
            continue
        written[w["id"]] = path
    print("BENCH_RESULT " + json.dumps({"exported": written, "version": torch.__version__}), flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("mode", choices=["bench", "export"])
    p.add_argument("--specs", required=True, help="the JSON run.mjs writes: nets, workloads, flops, sgd")
    p.add_argument("--workload")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--budget", type=float, default=5)
    p.add_argument("--long-budget", type=float, default=40)
    p.add_argument("--max-iter", type=float, default=30)
    p.add_argument("--out")
    args = p.parse_args()
    with open(args.specs) as f:
        specs = json.load(f)
    if args.mode == "export":
        if not args.out:
            p.error("export needs --out DIR")
        export(args, specs)
        return
    if not args.workload:
        p.error("bench needs --workload ID")
    try:
        result = bench(args, specs)
    except Exception as e:  # one failed cell must not lose the others: report it
        print(repr(e), file=sys.stderr)
        result = {"lib": f"pytorch-{args.threads}t", "workload": args.workload, "status": "error",
                  "note": str(e).split("\n")[0]}
    print("BENCH_RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
