#!/usr/bin/python3
"""Runs the folders scripts/check_pytorch_zoo_export.mjs wrote: model.py with weights.pt loaded strictly
(the state-dict names must match exactly), on io.pt's input in eval mode, against stride's output.

    /usr/bin/python3 scripts/check_pytorch_zoo_export.py DIR
"""
import importlib.util
import os
import sys

import torch


def main(root):
    failed = 0
    for name in sorted(os.listdir(root)):
        folder = os.path.join(root, name)
        spec = importlib.util.spec_from_file_location(f"zoo_{name.replace('-', '_')}", os.path.join(folder, "model.py"))
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        model = module.build_model()
        model.load_state_dict(torch.load(os.path.join(folder, "weights.pt"), weights_only=True), strict=True)
        model.eval()
        io = torch.load(os.path.join(folder, "io.pt"), weights_only=True)
        with torch.no_grad():
            y = model(io["input"])
        expected = io["output"]
        ok = y.shape == expected.shape and torch.allclose(y, expected, atol=1e-4, rtol=1e-3)
        diff = (y - expected).abs().max().item() if y.shape == expected.shape else float("nan")
        failed += not ok
        print(f"{'ok  ' if ok else 'FAIL'} {name}: output {list(y.shape)}, max |PyTorch - stride| = {diff:.3g}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
