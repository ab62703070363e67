#!/usr/bin/python3
"""Golden values for the time-to-accuracy recipe's training techniques.

Run with Debian's PyTorch 1.13:  /usr/bin/python3 scripts/gen_recipe_fixtures.py
Writes test/fixtures/recipe.json. Seeded, so a re-run gives the same file.

- labelSmoothing: logits, labels, epsilon, and nn.CrossEntropyLoss(label_smoothing=eps)'s
  loss and gradient w.r.t. the logits (computed in float64 from float32 logits);
- oneCycle: torch.optim.lr_scheduler.OneCycleLR's lr and momentum (or Adam's beta1) of
  every param group after construction and after each step;
- erase: torchvision 0.14's F.erase of an image for a fixed box and fill;
- erasingBoxes: RandomErasing.get_params's draws (area share, log aspect ratio) on each
  attempt and the box it returned, replayed from the same seed (torch's random stream
  cannot be reproduced in stride, so stride is checked on torch's own draws);
- tenCrop: torchvision's Pad(p) (black) then TenCrop(size), each view normalised: what stride's
  evaluate(tenCrop, tenCropPadding) feeds the model from the normalised image (from its own
  generator, so the cases above keep their draws).
"""
import json
import os
import warnings

import math

import torch
import torchvision.transforms as T
import torchvision.transforms.functional as TF

warnings.filterwarnings("ignore")  # the "call optimizer.step() first" chatter
torch.manual_seed(17)


def label_smoothing_cases():
    cases = []
    for name, n, c, eps in [("4x5 eps 0.1", 4, 5, 0.1), ("8x10 eps 0.2", 8, 10, 0.2),
                            ("3x3 eps 0", 3, 3, 0.0), ("2x4 eps 1", 2, 4, 1.0), ("6x10 large logits eps 0.1", 6, 10, 0.1)]:
        logits = torch.randn(n, c, dtype=torch.float32) * (30.0 if "large" in name else 2.0)
        labels = torch.randint(0, c, (n,))
        z = logits.double().requires_grad_(True)
        loss = torch.nn.CrossEntropyLoss(label_smoothing=eps)(z, labels)
        loss.backward()
        cases.append({
            "name": name, "epsilon": eps, "shape": [n, c],
            "logits": [float(v) for v in logits.reshape(-1).tolist()],
            "labels": labels.tolist(),
            "loss": float(loss), "grad": z.grad.reshape(-1).tolist(),
        })
    return cases


def momentum_of(group):
    return group["betas"][0] if "betas" in group else group["momentum"]


def one_cycle_case(name, optimizer, group_lrs, args, steps, momentum=0.9):
    params = [torch.nn.Parameter(torch.zeros(1)) for _ in group_lrs]
    groups = [{"params": [p], "lr": lr} for p, lr in zip(params, group_lrs)]
    if optimizer == "SGD":
        opt = torch.optim.SGD(groups, lr=group_lrs[0], momentum=momentum)
    else:
        opt = torch.optim.Adam(groups, lr=group_lrs[0])
    torch_args = {
        "max_lr": args["maxLr"], "pct_start": args.get("pctStart", 0.3),
        "anneal_strategy": args.get("annealStrategy", "cos"), "cycle_momentum": args.get("cycleMomentum", True),
        "base_momentum": args.get("baseMomentum", 0.85), "max_momentum": args.get("maxMomentum", 0.95),
        "div_factor": args.get("divFactor", 25.0), "final_div_factor": args.get("finalDivFactor", 1e4),
        "three_phase": args.get("threePhase", False),
    }
    if "totalSteps" in args:
        torch_args["total_steps"] = args["totalSteps"]
    else:
        torch_args["epochs"] = args["epochs"]
        torch_args["steps_per_epoch"] = args["stepsPerEpoch"]
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, **torch_args)
    lrs = [[g["lr"] for g in opt.param_groups]]
    moms = [[momentum_of(g) for g in opt.param_groups]]
    for _ in range(steps):
        opt.step()
        sched.step()
        lrs.append([g["lr"] for g in opt.param_groups])
        moms.append([momentum_of(g) for g in opt.param_groups])
    return {"name": name, "optimizer": optimizer, "groupLrs": group_lrs, "momentum": momentum,
            "args": args, "lrs": lrs, "momenta": moms}


def one_cycle_cases():
    return [
        one_cycle_case("defaults, 20 steps", "SGD", [0.1], {"maxLr": 1.0, "totalSteps": 20}, 20),
        one_cycle_case("epochs x steps per epoch, linear", "SGD", [0.1],
                       {"maxLr": 0.4, "epochs": 3, "stepsPerEpoch": 7, "annealStrategy": "linear"}, 21),
        one_cycle_case("three phases", "SGD", [0.1],
                       {"maxLr": 0.5, "totalSteps": 30, "threePhase": True, "pctStart": 0.25}, 30),
        one_cycle_case("two groups, a max lr each, custom factors", "SGD", [0.1, 0.01],
                       {"maxLr": [0.2, 0.05], "totalSteps": 15, "pctStart": 0.4, "divFactor": 10.0,
                        "finalDivFactor": 100.0, "baseMomentum": 0.8, "maxMomentum": 0.9}, 15),
        one_cycle_case("no momentum cycling", "SGD", [0.1],
                       {"maxLr": 0.3, "totalSteps": 10, "cycleMomentum": False}, 10),
        one_cycle_case("Adam's beta1 cycles", "Adam", [0.001],
                       {"maxLr": 0.01, "totalSteps": 12, "threePhase": True, "annealStrategy": "linear"}, 12),
        one_cycle_case("the step after the last is allowed", "SGD", [0.1], {"maxLr": 1.0, "totalSteps": 8}, 8),
    ]


def erase_cases():
    img = torch.rand(3, 8, 10)
    cases = []
    for name, (i, j, h, w), v in [("per-channel fill", (2, 3, 4, 5), torch.tensor([0.1, 0.2, 0.3])[:, None, None]),
                                  ("one value", (0, 0, 8, 1), torch.tensor([0.0])[:, None, None]),
                                  ("a fill per value", (5, 6, 3, 4), torch.randn(3, 3, 4))]:
        out = TF.erase(img, i, j, h, w, v)
        cases.append({"name": name, "shape": [3, 8, 10], "image": img.reshape(-1).tolist(), "box": [i, j, h, w],
                      "fill": v.reshape(-1).tolist(), "expected": out.reshape(-1).tolist()})
    return cases


def erasing_box_cases():
    """Boxes on a 10x12 image with wide ranges, so that some attempts do not fit and are retried."""
    height, width, scale, ratio = 10, 12, (0.1, 0.9), (0.2, 5.0)
    img = torch.zeros(1, height, width)
    log_ratio = torch.log(torch.tensor(ratio))
    cases = []
    for seed in range(300):
        torch.manual_seed(seed)
        i, j, h, w, _ = T.RandomErasing.get_params(img, scale=scale, ratio=ratio, value=[0.0])
        # The same draws again, recorded: get_params's loop, step by step.
        torch.manual_seed(seed)
        attempts = []
        for _ in range(10):
            area_draw = torch.empty(1).uniform_(scale[0], scale[1]).item()
            log_ratio_draw = torch.empty(1).uniform_(log_ratio[0], log_ratio[1]).item()
            erase_area = height * width * area_draw
            aspect = torch.exp(torch.tensor(log_ratio_draw)).item()
            bh = int(round(math.sqrt(erase_area * aspect)))
            bw = int(round(math.sqrt(erase_area / aspect)))
            fits = bh < height and bw < width
            attempts.append({"scaleDraw": area_draw, "logRatioDraw": log_ratio_draw, "fits": fits})
            if fits:
                torch.randint(0, height - bh + 1, size=(1,))
                torch.randint(0, width - bw + 1, size=(1,))
                assert (bh, bw) == (h, w), (seed, bh, bw, h, w)
                break
        cases.append({"seed": seed, "attempts": attempts, "box": [i, j, h, w]})
    return {"height": height, "width": width, "scale": list(scale), "ratio": list(ratio), "cases": cases}


def ten_crop_cases():
    g = torch.Generator().manual_seed(23)
    mean, std = [0.3, 0.6], [0.2, 0.5]
    cases = []
    # Even margins only: torchvision's centre crop rounds half to even, stride's puts the odd pixel low/right.
    for name, (h, w), size, padding in [("the input's size, padding 1", (5, 6), [5, 6], 1),
                                        ("smaller crops, padding 2", (5, 6), [3, 4], 2),
                                        ("no padding", (5, 6), [3, 4], 0)]:
        img = torch.rand(2, h, w, generator=g)
        views = TF.ten_crop(TF.pad(img, padding, fill=0), size)
        normalised = [TF.normalize(v, mean, std) for v in views]
        cases.append({"name": name, "shape": [2, h, w], "image": img.reshape(-1).tolist(), "size": size, "padding": padding,
                      "mean": mean, "std": std, "expected": torch.stack(normalised).reshape(-1).tolist()})
    return cases


def main():
    out = {"labelSmoothing": label_smoothing_cases(), "oneCycle": one_cycle_cases(),
           "erase": erase_cases(), "erasingBoxes": erasing_box_cases(), "tenCrop": ten_crop_cases()}
    path = os.path.join(os.path.dirname(__file__), "..", "test", "fixtures", "recipe.json")
    with open(path, "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    print("wrote", os.path.normpath(path))


if __name__ == "__main__":
    main()
