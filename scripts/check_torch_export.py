#!/usr/bin/python3
"""Loads a file written by stride's encodeTorchCheckpoint with torch.load(weights_only=True).

    /usr/bin/python3 scripts/check_torch_export.py FILE

Prints each key's dtype, shape and a checksum (the sum of its values as float64,
and the first few values), so the output can be compared with what was written.
Opt-in: the test suite does not run Python.
"""
import sys

import torch


def main(path):
    sd = torch.load(path, map_location="cpu", weights_only=True)
    print(f"torch {torch.__version__}: {type(sd).__name__} of {len(sd)} tensors")
    for name, t in sd.items():
        flat = t.reshape(-1)
        head = flat[:4].tolist()
        total = flat.double().sum().item() if t.numel() else 0.0
        print(f"{name}\t{str(t.dtype).replace('torch.', '')}\t{list(t.shape)}\tsum={total!r}\thead={head}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
