#!/usr/bin/python3
"""Runs the exported PyTorch fixtures: for each folder of test/fixtures/pytorch-export/
(model.py, weights.pt, input.pt written by scripts/write_pytorch_export_fixtures.mjs),
builds model.py's network, loads weights.pt with strict=True (so the state-dict names
must match exactly), runs input.pt in eval mode and saves the result as output.pt.

    npx tsc -p tsconfig.json && node scripts/write_pytorch_export_fixtures.mjs
    /usr/bin/python3 scripts/gen_pytorch_export_fixtures.py
"""
import importlib.util
import os
import sys
from collections import OrderedDict

import torch

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "test", "fixtures", "pytorch-export")


def load_module(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main():
    torch.manual_seed(0)
    for name in sorted(os.listdir(ROOT)):
        folder = os.path.join(ROOT, name)
        if not os.path.isdir(folder):
            continue
        module = load_module(os.path.join(folder, "model.py"), f"fixture_{name.replace('-', '_')}")
        model = module.build_model()
        state = torch.load(os.path.join(folder, "weights.pt"), weights_only=True)
        model.load_state_dict(state, strict=True)
        names = list(model.state_dict().keys())
        if names != list(state.keys()):
            sys.exit(f"{name}: state_dict order differs from weights.pt:\n{names}\n{list(state.keys())}")
        model.eval()
        x = torch.load(os.path.join(folder, "input.pt"), weights_only=True)["input"]
        with torch.no_grad():
            y = model(x)
        torch.save(OrderedDict([("output", y.contiguous())]), os.path.join(folder, "output.pt"))
        print(f"{name}: input {list(x.shape)} -> output {list(y.shape)}, {len(names)} state-dict entries")


if __name__ == "__main__":
    main()
