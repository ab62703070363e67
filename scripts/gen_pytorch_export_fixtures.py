#!/usr/bin/python3
"""Runs the exported PyTorch fixtures: for each folder of test/fixtures/pytorch-export/
(model.py, weights.pt, input.pt written by scripts/write_pytorch_export_fixtures.mjs),
builds model.py's network, loads weights.pt with strict=True (so the state-dict names
must match exactly), runs input.pt in eval mode and saves the result as output.pt.
Where the folder has a train.py, also takes one step of its optimizer with its loss (two
steps when its schedule steps per batch, the schedule stepped after each: a one-cycle's
lr and momentum change between them) and saves the stepped weights with its checkpoint
writer (checkpoint.pt) and their output (after_step).

    npx tsc -p tsconfig.json && node scripts/write_pytorch_export_fixtures.mjs
    /usr/bin/python3 scripts/gen_pytorch_export_fixtures.py
"""
import importlib.util
import os
import sys
from collections import OrderedDict

import torch

# Importing train.py and model.py must not leave __pycache__ folders among the fixtures.
sys.dont_write_bytecode = True

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
        outputs = [("output", y.contiguous())]
        if os.path.exists(os.path.join(folder, "train.py")):
            outputs.append(("after_step", one_training_step(folder, x)))
        torch.save(OrderedDict(outputs), os.path.join(folder, "output.pt"))
        print(f"{name}: input {list(x.shape)} -> output {list(y.shape)}, {len(names)} state-dict entries"
              + (", train.py: one step, checkpoint.pt" if len(outputs) > 1 else ""))


# Steps of a per-batch schedule's fixture (test/helpers/pytorch-export-models.ts ONE_CYCLE_FIXTURE_STEPS);
# the cycle spans twice as many, so both steps are inside it.
PER_BATCH_STEPS = 2


def one_training_step(folder, x):
    """One step of train.py's own optimizer (its decay groups) and loss (make_criterion) in train mode,
    or PER_BATCH_STEPS with its per-batch schedule (make_schedule) stepped after each, saved with
    train.py's checkpoint writer as checkpoint.pt; returns the stepped model's eval output on x."""
    sys.path.insert(0, folder)
    sys.modules.pop("model", None)
    sys.modules.pop("train", None)
    try:
        import train
        import model as exported
    finally:
        sys.path.pop(0)
    net = exported.build_model()
    net.load_state_dict(torch.load(os.path.join(folder, "weights.pt"), weights_only=True))
    net.train()
    optimizer = train.make_optimizer(net)
    criterion = train.make_criterion()
    schedule = train.make_schedule(optimizer, 2 * PER_BATCH_STEPS) if train.PER_BATCH else None
    labels = torch.arange(x.shape[0]) % 10
    for _ in range(PER_BATCH_STEPS if train.PER_BATCH else 1):
        loss = criterion(net(x).flatten(1), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if schedule is not None:
            schedule.step()
    torch.save(train.state_dict_for_stride(net), os.path.join(folder, "checkpoint.pt"))
    net.eval()
    with torch.no_grad():
        return net(x).contiguous()


if __name__ == "__main__":
    main()
