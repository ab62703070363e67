"""Small PyTorch nets exported with torch.onnx.export, for test/onnx-import.test.ts.

For each net: NAME_opset9.onnx and NAME_opset13.onnx (the same weights), and
NAME_input.pb / NAME_output.pb, TensorProtos of an input batch and of
PyTorch's output in eval mode. The batch axis is exported as dynamic ("N"),
so that x.view(x.size(0), -1) becomes torch.onnx's Shape -> Gather ->
Unsqueeze -> Concat -> Reshape chain, which the importer must resolve.

Run with Debian's python3-torch and python3-onnx:
    /usr/bin/python3 scripts/gen_onnx_fixtures.py
"""
import os

import torch
import torch.nn as nn
import torch.nn.functional as F
from onnx import numpy_helper

OUT = os.path.join(os.path.dirname(__file__), "..", "test", "fixtures", "onnx")


class ConvNet(nn.Module):
    """conv + relu + bn (after the relu, so the export keeps it), pool, a strided conv, x.view(x.size(0), -1), linear, softmax."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 4, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(4)
        self.pool = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(4, 6, 3, stride=2, bias=False)
        self.fc = nn.Linear(6 * 1 * 1, 5)

    def forward(self, x):
        x = self.pool(self.bn1(F.relu(self.conv1(x))))
        x = torch.tanh(self.conv2(x))
        x = x.view(x.size(0), -1)
        return F.softmax(self.fc(x), dim=1)


class Residual(nn.Module):
    """A residual block: relu(bn(conv(relu(bn(conv(x))))) + x), global average pool, linear."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(4, 4, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(4)
        self.conv2 = nn.Conv2d(4, 4, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(4)
        self.fc = nn.Linear(4, 3)

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = F.relu(self.bn2(self.conv2(y)) + x)
        y = F.adaptive_avg_pool2d(y, 1).flatten(1)
        return self.fc(y)


class Inception(nn.Module):
    """Parallel branches joined by a depth concatenation."""

    def __init__(self):
        super().__init__()
        self.b1 = nn.Conv2d(3, 2, 1)
        self.b3 = nn.Conv2d(3, 3, 3, padding=1)
        self.bp = nn.Conv2d(3, 2, 1)
        self.fc = nn.Linear(7 * 4 * 4, 4)

    def forward(self, x):
        pool = F.max_pool2d(x, 3, stride=1, padding=1)
        y = torch.cat([F.relu(self.b1(x)), F.relu(self.b3(x)), F.relu(self.bp(pool))], dim=1)
        y = F.avg_pool2d(y, 2)
        return self.fc(torch.flatten(y, 1))


class PoolAct(nn.Module):
    """Average pooling with ceil mode and without the padding, leaky relu, elu, sigmoid."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 6, 3)
        self.pool = nn.AvgPool2d(3, stride=2, padding=1, ceil_mode=True, count_include_pad=False)
        self.fc = nn.Linear(6 * 3 * 3, 4)

    def forward(self, x):
        y = self.pool(F.leaky_relu(self.conv(x), 0.2))
        y = F.elu(y, alpha=0.7)
        return torch.sigmoid(self.fc(y.reshape(y.shape[0], -1)))


class Padding(nn.Module):
    """Asymmetric zero padding before a conv (foldable), a constant padding, a max pool, matmul + bias."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 3, 3)
        self.w = nn.Parameter(torch.randn(3 * 4 * 4, 5) * 0.2)
        self.b = nn.Parameter(torch.randn(5) * 0.1)

    def forward(self, x):
        y = self.conv(F.pad(x, (1, 2, 0, 1)))
        y = F.max_pool2d(F.pad(y, (1, 1, 1, 1), value=0.5), 2)
        y = torch.flatten(y, 1)
        return torch.matmul(y, self.w) + self.b


NETS = {
    "convnet": (ConvNet, (2, 3, 8, 8)),
    "residual": (Residual, (2, 4, 6, 6)),
    "inception": (Inception, (2, 3, 8, 8)),
    "pool_act": (PoolAct, (2, 3, 7, 7)),
    "padding": (Padding, (2, 2, 7, 6)),
}


def randomise_bn(model, gen):
    """Running statistics away from 0 and 1, so that the import of them is tested."""
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=gen) * 0.3)
            m.running_var.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
            m.weight.data.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
            m.bias.data.copy_(torch.randn(m.num_features, generator=gen) * 0.2)


def main():
    os.makedirs(OUT, exist_ok=True)
    for name, (cls, shape) in NETS.items():
        torch.manual_seed(0)
        gen = torch.Generator().manual_seed(1)
        model = cls()
        with torch.no_grad():
            randomise_bn(model, gen)
        model.eval()
        x = torch.randn(*shape, generator=gen)
        with torch.no_grad():
            y = model(x)
        for opset in (9, 13):
            torch.onnx.export(
                model, x, os.path.join(OUT, f"{name}_opset{opset}.onnx"), opset_version=opset,
                input_names=["input.1"], output_names=["output"],
                dynamic_axes={"input.1": {0: "N"}, "output": {0: "N"}},
                do_constant_folding=True,
            )
        for kind, t in (("input", x), ("output", y)):
            with open(os.path.join(OUT, f"{name}_{kind}.pb"), "wb") as f:
                f.write(numpy_helper.from_array(t.numpy(), kind).SerializeToString())
        print(name, tuple(x.shape), "->", tuple(y.shape))
    lrn_dropout()
    file_fixtures()
    operator_fixtures()
    dtype_fixtures()


def lrn_dropout():
    """torch.onnx writes LocalResponseNorm as a chain of elementwise ops and drops Dropout in eval
    mode, so this graph is written by hand: Conv -> LRN -> Dropout -> Relu -> Flatten -> Gemm,
    with PyTorch computing the output (its LRN divides alpha by size, as ONNX's)."""
    from onnx import TensorProto, helper

    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(2)
    conv = nn.Conv2d(3, 6, 3)
    fc = nn.Linear(6 * 3 * 3, 4)
    x = torch.randn(2, 3, 5, 5, generator=gen)
    with torch.no_grad():
        y = F.conv2d(x, conv.weight, conv.bias)
        y = F.local_response_norm(y, 5, alpha=1e-2, beta=0.75, k=2.0)
        y = fc(torch.flatten(F.relu(y), 1))
    init = lambda name, t: numpy_helper.from_array(t.detach().numpy(), name)
    for opset in (9, 13):
        dropout_inputs = ["lrn"] if opset < 12 else ["lrn", "ratio"]
        nodes = [
            helper.make_node("Conv", ["x", "W", "B"], ["conv"], name="conv", kernel_shape=[3, 3]),
            helper.make_node("LRN", ["conv"], ["lrn"], name="lrn", size=5, alpha=1e-2, beta=0.75, bias=2.0),
            helper.make_node("Dropout", dropout_inputs, ["drop"], name="drop", **({"ratio": 0.3} if opset < 12 else {})),
            helper.make_node("Relu", ["drop"], ["relu"], name="relu"),
            helper.make_node("Flatten", ["relu"], ["flat"], name="flat", axis=1),
            helper.make_node("Gemm", ["flat", "fcW", "fcB"], ["y"], name="fc", transB=1),
        ]
        inits = [init("W", conv.weight), init("B", conv.bias), init("fcW", fc.weight), init("fcB", fc.bias)]
        if opset >= 12:
            inits.append(helper.make_tensor("ratio", TensorProto.FLOAT, [], [0.3]))
        graph = helper.make_graph(
            nodes, "lrn_dropout",
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 5, 5])],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4])],
            inits,
        )
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="gen_onnx_fixtures")
        with open(os.path.join(OUT, f"lrn_dropout_opset{opset}.onnx"), "wb") as f:
            f.write(model.SerializeToString())
    for kind, t in (("input", x), ("output", y)):
        with open(os.path.join(OUT, f"lrn_dropout_{kind}.pb"), "wb") as f:
            f.write(numpy_helper.from_array(t.numpy(), kind).SerializeToString())
    print("lrn_dropout", tuple(x.shape), "->", tuple(y.shape))


def file_fixtures():
    """Models for the file handling tests: external data (valid, and escaping the folder),
    a tensor claiming 2^40 elements, and a graph with two operators stride does not have."""
    import onnx
    from onnx import TensorProto, helper

    src = onnx.load(os.path.join(OUT, "lrn_dropout_opset13.onnx"))
    ext = os.path.join(OUT, "external")
    os.makedirs(ext, exist_ok=True)
    if os.path.exists(os.path.join(ext, "weights.bin")):
        os.remove(os.path.join(ext, "weights.bin"))  # onnx appends to an existing data file
    onnx.save_model(src, os.path.join(ext, "model.onnx"), save_as_external_data=True,
                    all_tensors_to_one_file=True, location="weights.bin", size_threshold=0)
    escape = onnx.load(os.path.join(ext, "model.onnx"), load_external_data=False)
    for t in escape.graph.initializer:
        for e in t.external_data:
            if e.key == "location":
                e.value = "../external/../../weights.bin"
    with open(os.path.join(OUT, "escape.onnx"), "wb") as f:
        f.write(escape.SerializeToString())

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])
    huge = TensorProto(name="huge", data_type=TensorProto.FLOAT, dims=[1 << 20, 1 << 20], raw_data=b"0123456789")
    graph = helper.make_graph([helper.make_node("Add", ["x", "huge"], ["y"], name="add")], "huge", [x], [y], [huge])
    with open(os.path.join(OUT, "huge_dims.onnx"), "wb") as f:
        f.write(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]).SerializeToString())

    nodes = [
        helper.make_node("Relu", ["x"], ["a"], name="relu"),
        helper.make_node("Hardmax", ["a"], ["b"], name="mystery1"),
        helper.make_node("Relu", ["b"], ["c"], name="relu2"),
        helper.make_node("Erf", ["c"], ["y"], name="mystery2"),
    ]
    graph = helper.make_graph(nodes, "unknown", [x], [y])
    with open(os.path.join(OUT, "unknown_ops.onnx"), "wb") as f:
        f.write(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]).SerializeToString())
    print("file fixtures: external/, escape.onnx, huge_dims.onnx, unknown_ops.onnx")


def operator_fixtures():
    """Hand-written graphs for semantics torch.onnx does not produce: Softmax's axis before and
    from opset 13 (2-D coercion vs one axis), and LpPool with asymmetric padding."""
    import numpy as np
    from onnx import TensorProto, helper

    def save(model, name):
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(model.SerializeToString())

    def save_pb(array, name):
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(numpy_helper.from_array(np.asarray(array, dtype=np.float32), name[:-3]).SerializeToString())

    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 3, 4)).astype(np.float32)
    for opset in (11, 13):
        graph = helper.make_graph(
            [helper.make_node("Softmax", ["x"], ["y"], name="softmax", axis=1)], "softmax",
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3, 4])],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3, 4])],
        )
        save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)]), f"softmax_opset{opset}.onnx")
    xt = torch.from_numpy(x)
    save_pb(x, "softmax_input.pb")
    save_pb(F.softmax(xt.reshape(2, 12), dim=1).reshape(2, 3, 4).numpy(), "softmax_opset11_output.pb")
    save_pb(F.softmax(xt, dim=1).numpy(), "softmax_opset13_output.pb")

    x = rng.standard_normal((2, 3, 5, 4)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("LpPool", ["x"], ["y"], name="lppool", p=2, kernel_shape=[2, 3], strides=[1, 2], pads=[1, 0, 0, 1])],
        "lppool",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3, 5, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
    )
    save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 11)]), "lppool.onnx")
    padded = F.pad(torch.from_numpy(x), (0, 1, 1, 0))  # (left, right, top, bottom) = pads [top 1, left 0, bottom 0, right 1]
    y = F.avg_pool2d(padded.pow(2), (2, 3), stride=(1, 2)).mul(6).sqrt()
    save_pb(x, "lppool_input.pb")
    save_pb(y.numpy(), "lppool_output.pb")
    graph = helper.make_graph(
        [helper.make_node("Unsqueeze", ["x", "axes"], ["y"], name="unsqueeze")], "unsqueeze",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3, 4, 1])],
        [helper.make_tensor("axes", TensorProto.INT64, [1], [-1])],
    )
    save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), "unsqueeze_opset13.onnx")
    print("operator fixtures: softmax_opset11/13, lppool, unsqueeze")


def dtype_fixtures():
    """TensorProtos of every element type the importer reads, raw and in the typed fields."""
    import numpy as np
    from onnx import TensorProto, helper

    floats = [1.5, -2.0, 0.25, 3.0]
    cases = {
        "float_raw": numpy_helper.from_array(np.array(floats, np.float32)),
        "float_typed": helper.make_tensor("t", TensorProto.FLOAT, [2, 2], floats),
        "double_raw": numpy_helper.from_array(np.array(floats, np.float64)),
        "double_typed": helper.make_tensor("t", TensorProto.DOUBLE, [4], floats),
        "float16_raw": numpy_helper.from_array(np.array(floats, np.float16)),
        "float16_typed": helper.make_tensor("t", TensorProto.FLOAT16, [4], np.array(floats, np.float16)),
        "bfloat16_typed": helper.make_tensor("t", TensorProto.BFLOAT16, [4], floats),
        "int64_raw": numpy_helper.from_array(np.array([-3, 0, 7, 2 ** 40], np.int64)),
        "int64_typed": helper.make_tensor("t", TensorProto.INT64, [4], [-3, 0, 7, 2 ** 40]),
        "int32_raw": numpy_helper.from_array(np.array([-3, 0, 7, 5], np.int32)),
        "int8_raw": numpy_helper.from_array(np.array([-3, 0, 7, 5], np.int8)),
        "uint8_raw": numpy_helper.from_array(np.array([3, 0, 7, 255], np.uint8)),
        "bool_raw": numpy_helper.from_array(np.array([True, False, True, True])),
    }
    for name, t in cases.items():
        with open(os.path.join(OUT, f"dtype_{name}.pb"), "wb") as f:
            f.write(t.SerializeToString())
    print("dtype fixtures:", ", ".join(cases))


if __name__ == "__main__":
    main()
