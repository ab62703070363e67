#!/usr/bin/python3
"""Golden values for stride's optimisers, lr schedules and gradient clipping.

Run with Debian's PyTorch 1.13:  /usr/bin/python3 scripts/gen_optim_fixtures.py
Writes test/fixtures/optim.json. Seeded, so a re-run gives the same file.

- optimisers: for each optimiser and option set, a few small parameters, a
  fixed sequence of 5 gradients per parameter, and the parameter values after
  each step (torch.optim, single-tensor implementation, float32);
- schedules: the lr of each param group after construction and after each step;
- clip: gradients before and after torch.nn.utils.clip_grad_norm_, and the total norm.
"""
import json
import math
import os
import warnings

import torch

warnings.filterwarnings("ignore")  # lr_scheduler's "call optimizer.step() first" chatter
torch.manual_seed(1234)

STEPS = 5
SHAPES = [[2, 3], [4], [1]]


def f32(values):
    """Float32 values as the shortest decimals that read back to the same float32."""
    return [float("%.9g" % v) for v in values]


def flat(t):
    return f32(t.detach().reshape(-1).tolist())


def make_case(name, cls, options, torch_options, groups=None, frozen=None):
    """One optimiser trajectory. `groups`: list of (param indices, overrides, torch overrides)."""
    frozen = frozen or []
    inits = [torch.randn(s) for s in SHAPES]
    # Gradient scales differ per step so the adaptive methods' normalisation matters.
    scales = [1.0, 0.1, 3.0, 0.5, 2.0]
    grads = [[torch.randn(s) * scales[k] for s in SHAPES] for k in range(STEPS)]
    params = [torch.nn.Parameter(t.clone()) for t in inits]
    for i in frozen:
        params[i].requires_grad_(False)
    if groups is None:
        opt = cls([p for p in params], **torch_options)
    else:
        opt = cls([{"params": [params[i] for i in idx], **tov} for idx, _, tov in groups], **torch_options)
    trajectory = []
    for k in range(STEPS):
        for i, p in enumerate(params):
            p.grad = None if i in frozen else grads[k][i].clone()
        opt.step()
        trajectory.append([flat(p) for p in params])
    case = {
        "name": name,
        "optimizer": cls.__name__,
        "options": options,
        "shapes": SHAPES,
        "init": [flat(t) for t in inits],
        "grads": [[flat(g) for g in step] for step in grads],
        "trajectory": trajectory,
        "frozen": frozen,
    }
    if groups is not None:
        case["groups"] = [{"params": idx, "options": ov} for idx, ov, _ in groups]
    return case


def optimizer_cases():
    O = torch.optim
    cases = [
        make_case("sgd plain", O.SGD, {"lr": 0.1}, {"lr": 0.1}),
        make_case("sgd momentum", O.SGD, {"lr": 0.1, "momentum": 0.9}, {"lr": 0.1, "momentum": 0.9}),
        make_case("sgd momentum dampening weight decay", O.SGD,
                  {"lr": 0.05, "momentum": 0.8, "dampening": 0.3, "weightDecay": 0.01},
                  {"lr": 0.05, "momentum": 0.8, "dampening": 0.3, "weight_decay": 0.01}),
        make_case("sgd nesterov weight decay", O.SGD,
                  {"lr": 0.1, "momentum": 0.9, "nesterov": True, "weightDecay": 5e-4},
                  {"lr": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 5e-4}),
        make_case("sgd param groups, frozen parameter", O.SGD,
                  {"lr": 0.1, "momentum": 0.9, "weightDecay": 0.1},
                  {"lr": 0.1, "momentum": 0.9, "weight_decay": 0.1},
                  groups=[([0], {}, {}), ([1, 2], {"lr": 0.01, "weightDecay": 0}, {"lr": 0.01, "weight_decay": 0})],
                  frozen=[2]),
        make_case("adagrad defaults", O.Adagrad, {}, {}),
        make_case("adagrad lr decay, weight decay, initial accumulator", O.Adagrad,
                  {"lr": 0.1, "lrDecay": 0.05, "weightDecay": 0.01, "initialAccumulatorValue": 0.1},
                  {"lr": 0.1, "lr_decay": 0.05, "weight_decay": 0.01, "initial_accumulator_value": 0.1}),
        make_case("rmsprop defaults", O.RMSprop, {}, {}),
        make_case("rmsprop momentum weight decay", O.RMSprop,
                  {"lr": 0.01, "alpha": 0.9, "momentum": 0.9, "weightDecay": 0.01},
                  {"lr": 0.01, "alpha": 0.9, "momentum": 0.9, "weight_decay": 0.01}),
        make_case("rmsprop centered", O.RMSprop, {"lr": 0.01, "centered": True}, {"lr": 0.01, "centered": True}),
        make_case("rmsprop centered momentum", O.RMSprop,
                  {"lr": 0.005, "centered": True, "momentum": 0.5, "eps": 1e-6},
                  {"lr": 0.005, "centered": True, "momentum": 0.5, "eps": 1e-6}),
        make_case("adam defaults", O.Adam, {}, {}),
        make_case("adam weight decay", O.Adam, {"lr": 0.01, "weightDecay": 0.1}, {"lr": 0.01, "weight_decay": 0.1}),
        make_case("adam amsgrad betas", O.Adam,
                  {"lr": 0.01, "betas": [0.8, 0.99], "amsgrad": True, "eps": 1e-6},
                  {"lr": 0.01, "betas": (0.8, 0.99), "amsgrad": True, "eps": 1e-6}),
        make_case("adamw defaults", O.AdamW, {}, {}),
        make_case("adamw weight decay amsgrad", O.AdamW,
                  {"lr": 0.01, "weightDecay": 0.1, "amsgrad": True},
                  {"lr": 0.01, "weight_decay": 0.1, "amsgrad": True}),
        make_case("adamw param groups, frozen parameter", O.AdamW,
                  {"lr": 0.01, "weightDecay": 0.05},
                  {"lr": 0.01, "weight_decay": 0.05},
                  groups=[([0, 2], {}, {}), ([1], {"weightDecay": 0}, {"weight_decay": 0})],
                  frozen=[0]),
    ]
    return cases


def lr_sequence(make, steps, group_lrs, metrics=None):
    """lrs of every group after construction, then after each step."""
    params = [torch.nn.Parameter(torch.zeros(1)) for _ in group_lrs]
    opt = torch.optim.SGD([{"params": [p], "lr": lr} for p, lr in zip(params, group_lrs)], lr=group_lrs[0])
    sched = make(opt)
    seq = [[g["lr"] for g in opt.param_groups]]
    for k in range(steps):
        opt.step()
        if metrics is None:
            sched.step()
        else:
            sched.step(metrics[k])
        seq.append([g["lr"] for g in opt.param_groups])
    return seq


def schedule_cases():
    S = torch.optim.lr_scheduler
    # Validation accuracy: rises, stalls, rises a little (below the rel threshold), stalls again.
    acc = [0.30, 0.45, 0.52, 0.55, 0.55, 0.549, 0.551, 0.5500001, 0.60, 0.61, 0.605, 0.60,
           0.609, 0.61, 0.611, 0.62, 0.62, 0.62, 0.62, 0.62, 0.62, 0.62, 0.62, 0.62]
    loss = [2.3, 1.9, 1.7, 1.69, 1.695, 1.68, 1.70, 1.71, 1.65, 1.66, 1.67, 1.66, 1.68, 1.69,
            1.70, 1.7, 1.7, 1.7, 1.7, 1.7]
    cases = [
        {"name": "step lr", "schedule": "StepLR", "args": {"stepSize": 3, "gamma": 0.5}, "groupLrs": [0.1, 0.01],
         "lrs": lr_sequence(lambda o: S.StepLR(o, 3, 0.5), 12, [0.1, 0.01])},
        {"name": "step lr default gamma", "schedule": "StepLR", "args": {"stepSize": 4}, "groupLrs": [0.05],
         "lrs": lr_sequence(lambda o: S.StepLR(o, 4), 13, [0.05])},
        {"name": "multi-step lr, repeated milestone", "schedule": "MultiStepLR",
         "args": {"milestones": [2, 5, 5, 9], "gamma": 0.1}, "groupLrs": [0.1],
         "lrs": lr_sequence(lambda o: S.MultiStepLR(o, [2, 5, 5, 9], 0.1), 12, [0.1])},
        {"name": "cosine past tMax", "schedule": "CosineAnnealingLR", "args": {"tMax": 10, "etaMin": 0.001},
         "groupLrs": [0.1, 0.02],
         "lrs": lr_sequence(lambda o: S.CosineAnnealingLR(o, 10, 0.001), 45, [0.1, 0.02])},
        {"name": "cosine default etaMin", "schedule": "CosineAnnealingLR", "args": {"tMax": 7}, "groupLrs": [0.1],
         "lrs": lr_sequence(lambda o: S.CosineAnnealingLR(o, 7), 10, [0.1])},
        {"name": "plateau accuracy", "schedule": "ReduceLROnPlateau",
         "args": {"options": {"mode": "max", "patience": 2}}, "groupLrs": [0.1, 0.01], "metrics": acc,
         "lrs": lr_sequence(lambda o: S.ReduceLROnPlateau(o, mode="max", patience=2), len(acc), [0.1, 0.01], acc)},
        {"name": "plateau accuracy, cooldown, abs threshold, min lr", "schedule": "ReduceLROnPlateau",
         "args": {"options": {"mode": "max", "patience": 1, "cooldown": 2, "threshold": 0.005,
                              "thresholdMode": "abs", "factor": 0.5, "minLr": [0.02, 0.001]}},
         "groupLrs": [0.1, 0.01], "metrics": acc,
         "lrs": lr_sequence(lambda o: S.ReduceLROnPlateau(o, mode="max", patience=1, cooldown=2, threshold=0.005,
                                                          threshold_mode="abs", factor=0.5, min_lr=[0.02, 0.001]),
                            len(acc), [0.1, 0.01], acc)},
        {"name": "plateau loss", "schedule": "ReduceLROnPlateau",
         "args": {"options": {"mode": "min", "patience": 1, "threshold": 0.01}}, "groupLrs": [0.1], "metrics": loss,
         "lrs": lr_sequence(lambda o: S.ReduceLROnPlateau(o, mode="min", patience=1, threshold=0.01),
                            len(loss), [0.1], loss)},
        {"name": "linear warmup alone", "schedule": "LinearWarmup", "args": {"warmupSteps": 5, "startFactor": 0.1},
         "groupLrs": [0.1, 0.04],
         "lrs": lr_sequence(lambda o: S.LinearLR(o, start_factor=0.1, total_iters=5), 9, [0.1, 0.04])},
        {"name": "linear warmup then cosine", "schedule": "LinearWarmup",
         "args": {"warmupSteps": 4, "startFactor": 0.25, "then": {"schedule": "CosineAnnealingLR", "tMax": 6}},
         "groupLrs": [0.1],
         "lrs": lr_sequence(lambda o: S.SequentialLR(o, [S.LinearLR(o, start_factor=0.25, total_iters=4),
                                                          S.CosineAnnealingLR(o, 6)], milestones=[4]), 14, [0.1])},
        {"name": "linear warmup then step", "schedule": "LinearWarmup",
         "args": {"warmupSteps": 3, "startFactor": 0.5, "then": {"schedule": "StepLR", "stepSize": 2, "gamma": 0.5}},
         "groupLrs": [0.2, 0.02],
         "lrs": lr_sequence(lambda o: S.SequentialLR(o, [S.LinearLR(o, start_factor=0.5, total_iters=3),
                                                          S.StepLR(o, 2, 0.5)], milestones=[3]), 10, [0.2, 0.02])},
    ]
    return cases


def clip_cases():
    cases = []
    for max_norm, norm_type in [(1.0, 2.0), (100.0, 2.0), (0.5, 1.0), (0.3, math.inf), (2.0, 3.0)]:
        grads = [torch.randn(s) * 0.7 for s in SHAPES]
        params = [torch.nn.Parameter(torch.zeros(s)) for s in SHAPES]
        for p, g in zip(params, grads):
            p.grad = g.clone()
        total = torch.nn.utils.clip_grad_norm_(params, max_norm, norm_type)
        cases.append({
            "maxNorm": max_norm,
            "normType": "Infinity" if norm_type == math.inf else norm_type,
            "shapes": SHAPES,
            "grads": [flat(g) for g in grads],
            "clipped": [flat(p.grad) for p in params],
            "totalNorm": float("%.9g" % total.item()),
        })
    return cases


def main():
    out = {
        # test/helpers/golden.ts reads every JSON file in test/fixtures as a layer-fixture
        # file ({ family, cases }); an empty case list keeps it from choking on this one.
        "family": "optim",
        "cases": [],
        "generator": "scripts/gen_optim_fixtures.py",
        "torch": torch.__version__,
        "optimizers": optimizer_cases(),
        "schedules": schedule_cases(),
        "clip": clip_cases(),
    }
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "test", "fixtures", "optim.json")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(out, f, separators=(",", ":"))
        f.write("\n")
    print("wrote %s (%d bytes)" % (os.path.normpath(path), os.path.getsize(path)))


if __name__ == "__main__":
    main()
