#!/usr/bin/python3
"""Runs ONNX's own checker (full_check: types and shapes inferred) on every
.onnx file in a folder: the files test/onnx-export.test.ts writes when
STRIDE_ONNX_EXPORT_DIR is set.

    STRIDE_ONNX_EXPORT_DIR=/tmp/onnx-export node --test dist/test/onnx-export.test.js
    /usr/bin/python3 scripts/check_onnx_export.py /tmp/onnx-export

Needs the onnx package (Debian: python3-onnx). Exits 1 if any file fails.
"""
import os
import sys

import onnx


def main() -> int:
    if len(sys.argv) != 2 or not os.path.isdir(sys.argv[1]):
        print(f"usage: {sys.argv[0]} DIR  (a folder of .onnx files)", file=sys.stderr)
        return 2
    folder = sys.argv[1]
    files = sorted(f for f in os.listdir(folder) if f.endswith(".onnx"))
    if not files:
        print(f"no .onnx files in {folder}", file=sys.stderr)
        return 2
    failed = 0
    for name in files:
        path = os.path.join(folder, name)
        try:
            onnx.checker.check_model(path, full_check=True)
            model = onnx.load(path)
            opset = next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
            print(f"ok    {name} (opset {opset}, {len(model.graph.node)} nodes)")
        except Exception as e:  # the checker raises several exception types
            failed += 1
            print(f"FAIL  {name}: {e}")
    print(f"{len(files) - failed} of {len(files)} files pass onnx {onnx.__version__}'s checker (full_check)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
