/**
 * train.py and README.md of an exported folder: the stride run's recipe
 * (recipe.ts) as a DistributedDataParallel script for torchrun, and how to
 * run it and bring the result back into stride.
 */
import { PytorchExportError, py } from "./layers.js";
import type { TrainingRecipe } from "./recipe.js";

/** camelCase option -> PyTorch's keyword (a few are spelled their own way). */
function keyword(name: string): string {
  if (name === "tMax") return "T_max";
  return name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

function kwargs(o: Record<string, unknown>, skip: string[]): string {
  return Object.entries(o)
    .filter(([k, v]) => !skip.includes(k) && v !== undefined)
    .map(([k, v]) => `${keyword(k)}=${py(v)}`)
    .join(", ");
}

const OPTIMIZERS = ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad"];
const SCHEDULES = ["ReduceLROnPlateau", "StepLR", "CosineAnnealingLR", "OneCycleLR"];
const ONE_CYCLE_OPTIONS = ["maxLr", "totalSteps", "pctStart", "annealStrategy", "cycleMomentum", "baseMomentum", "maxMomentum", "divFactor", "finalDivFactor", "threePhase"];

/** A number as a Python float literal (OneCycleLR refuses an int pct_start). */
function pyFloat(v: unknown): string {
  const s = py(v);
  return /^-?\d+$/.test(s) ? `${s}.0` : s;
}

/**
 * torch.optim.lr_scheduler.OneCycleLR with the recorded options under PyTorch's keywords. The cycle spans
 * make_schedule's total_steps (this run's epochs x batches per epoch, the recorded totalSteps for the same
 * run) and train.py's --lr replaces max_lr.
 */
function oneCycle(s: NonNullable<TrainingRecipe["schedule"]>): string {
  const missing = ONE_CYCLE_OPTIONS.filter((k) => s[k] === undefined);
  if (missing.length) {
    throw new PytorchExportError(`the recorded OneCycleLR lacks ${missing.join(", ")} (an older stride recorded only its name); train the model again with this stride to record them`);
  }
  if (s.interval !== "batch") throw new PytorchExportError(`the recorded OneCycleLR is stepped per ${s.interval ?? "epoch"}; PyTorch's is stepped after every batch (interval "batch")`);
  return `torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=${py(s.maxLr)} if max_lr is None else max_lr, total_steps=total_steps, ` +
    `pct_start=${pyFloat(s.pctStart)}, anneal_strategy=${py(s.annealStrategy)}, cycle_momentum=${py(s.cycleMomentum)}, ` +
    `base_momentum=${py(s.baseMomentum)}, max_momentum=${py(s.maxMomentum)}, div_factor=${py(s.divFactor)}, ` +
    `final_div_factor=${py(s.finalDivFactor)}, three_phase=${py(s.threePhase)})`;
}

/** A JSON value as a Python literal (dicts, lists, strings, numbers, True/False/None). */
function pyValue(v: unknown, indent = ""): string {
  if (Array.isArray(v)) return `[${v.map((x) => pyValue(x, indent)).join(", ")}]`;
  if (v !== null && typeof v === "object") {
    const inner = indent + "    ";
    const items = Object.entries(v as Record<string, unknown>).map(([k, x]) => `${inner}${JSON.stringify(k)}: ${pyValue(x, inner)},`);
    return items.length ? `{\n${items.join("\n")}\n${indent}}` : "{}";
  }
  return py(v);
}

export interface TrainScriptInfo {
  recipe: TrainingRecipe;
  inputShape: number[];
  normalization?: { mean: number[]; std: number[] };
  classes?: string[];
}

export function generateTrainPy(info: TrainScriptInfo): string {
  const r = info.recipe;
  if (!OPTIMIZERS.includes(r.optimizer.type)) {
    throw new PytorchExportError(`the recorded optimizer ${r.optimizer.type} has no torch.optim counterpart in the exporter; use one of ${OPTIMIZERS.join(", ")}`);
  }
  if (r.schedule && !SCHEDULES.includes(r.schedule.type)) {
    throw new PytorchExportError(`the recorded schedule ${r.schedule.type} has no counterpart in the exporter; use one of ${SCHEDULES.join(", ")}`);
  }
  if (info.inputShape.length !== 3) {
    throw new PytorchExportError(`train.py trains image models ([C, H, W] inputs); this model takes ${JSON.stringify(info.inputShape)}`);
  }
  const smoothing = r.labelSmoothing ?? 0;
  if (typeof smoothing !== "number" || !(smoothing >= 0 && smoothing <= 1)) {
    throw new PytorchExportError(`the recorded labelSmoothing ${JSON.stringify(r.labelSmoothing)} is not a number from 0 to 1`);
  }
  const tta = r.testTimeAugmentation;
  const tenCrop = typeof tta === "string" ? /^ten-crop:(\d{1,3})$/.exec(tta) : null;
  if (tta !== undefined && tta !== "flip" && !tenCrop) {
    throw new PytorchExportError(`the recorded testTimeAugmentation ${JSON.stringify(tta)} is unknown; train.py knows "flip" and "ten-crop:P"`);
  }
  const optimizer = `torch.optim.${r.optimizer.type}(groups, ${kwargs(r.optimizer, ["type", "weightDecay"])})`;
  const schedule = !r.schedule ? "None"
    : r.schedule.type === "OneCycleLR" ? oneCycle(r.schedule)
    : `torch.optim.lr_scheduler.${r.schedule.type}(optimizer, ${kwargs(r.schedule, ["type", "monitor"])})`;
  const mean = info.normalization?.mean ?? new Array(info.inputShape[0]).fill(0);
  const std = info.normalization?.std ?? new Array(info.inputShape[0]).fill(1);
  return TRAIN_PY
    .replace("@RECIPE@", () => pyValue(r))
    .replace("@MEAN@", () => pyValue(mean))
    .replace("@STD@", () => pyValue(std))
    .replace("@CLASSES@", () => info.classes ? pyValue(info.classes) : "None")
    .replace("@OPTIMIZER@", () => optimizer)
    .replace("@SCHEDULE@", () => schedule)
    .replace("@PLATEAU@", () => r.schedule?.type === "ReduceLROnPlateau" ? "True" : "False")
    .replace("@PER_BATCH@", () => r.schedule?.interval === "batch" ? "True" : "False")
    .replace("@CRITERION@", () => smoothing > 0 ? `nn.CrossEntropyLoss(label_smoothing=${py(smoothing)})` : "nn.CrossEntropyLoss()")
    .replace("@TEST_FLIPS@", () => tta === "flip" ? "True" : "False")
    .replace("@TEN_CROP_PADDING@", () => tenCrop ? tenCrop[1] : "None");
}

const TRAIN_PY = `"""Train the exported model with the recipe of its stride run, on one or many processes.

Generated by \`stride export --format pytorch\`. Start it with torchrun (see README.md):

    torchrun --nproc_per_node=2 train.py --data /usr/share/datasets/fashion-mnist

Each process trains on its share of every epoch (DistributedSampler); gradients
are averaged across processes, so --batch-size is the global batch, as in stride.
Rank 0 logs, writes checkpoint.pt (a state dict with the names of weights.pt,
which stride reads back) and resume.pt, and reports the test accuracy (with
test-time flips or ten crops if the stride run used them).
"""
import argparse
import gzip
import os
import time
from collections import OrderedDict

import torch
import torch.distributed as dist
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Subset

from model import INPUT_SHAPE, build_model

# The stride run this folder was exported from (model.json extra.recipe).
RECIPE = @RECIPE@

# Inputs are scaled to [0, 1], then normalised per channel as the stride model was trained.
MEAN = @MEAN@
STD = @STD@
CLASSES = @CLASSES@


# --- data -------------------------------------------------------------------


def read_idx(path):
    """An IDX file (MNIST layout), gzip or not, as a uint8 tensor of its shape."""
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:2] == b"\\x1f\\x8b":
        raw = gzip.decompress(raw)
    if raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise ValueError(f"{path}: not an IDX file of unsigned bytes (magic {raw[:4].hex()})")
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    body = raw[4 + 4 * ndim:]
    count = 1
    for d in dims:
        count *= d
    if len(body) != count:
        raise ValueError(f"{path}: header says {dims} ({count} bytes) but {len(body)} bytes follow")
    return torch.frombuffer(bytearray(body), dtype=torch.uint8).reshape(dims)


def find_idx(folder, stem):
    for name in (stem, stem + ".gz"):
        if os.path.exists(os.path.join(folder, name)):
            return os.path.join(folder, name)
    return None


class ImageTensors(Dataset):
    """uint8 images [N, C, H, W] and labels [N], as floats in [0, 1]."""

    def __init__(self, images, labels, transform):
        self.images, self.labels, self.transform = images, labels, transform

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        return self.transform(self.images[i].float().div(255)), int(self.labels[i])


def read_cifar_batches(paths):
    """CIFAR-10's binary batches: records of 1 label byte and 3072 pixel bytes (1024 red, green, blue)."""
    raw = b"".join(open(p, "rb").read() for p in paths)
    if len(raw) % 3073:
        raise SystemExit(f"{paths}: {len(raw)} bytes is not a whole number of 3073-byte CIFAR-10 records")
    records = torch.frombuffer(bytearray(raw), dtype=torch.uint8).reshape(-1, 3073)
    return records[:, 1:].reshape(-1, 3, 32, 32), records[:, 0].long()


def load_data(folder, train_transform, test_transform):
    """(train, train_unaugmented, test) from IDX files (train-images-idx3-ubyte[.gz], … t10k-…), CIFAR-10's binary
    batches (data_batch_1.bin … test_batch.bin) or an image folder.
    train_unaugmented holds the training images with the test transform (for validation)."""
    from torchvision import datasets, transforms

    batches = [os.path.join(folder, f"data_batch_{i}.bin") for i in range(1, 6)]
    if os.path.exists(batches[0]):
        missing = [p for p in batches + [os.path.join(folder, "test_batch.bin")] if not os.path.exists(p)]
        if missing:
            raise SystemExit(f"--data {folder}: CIFAR-10 binary batches are incomplete: {', '.join(missing)} missing")
        tr_x, tr_y = read_cifar_batches(batches)
        te_x, te_y = read_cifar_batches([os.path.join(folder, "test_batch.bin")])
        return ImageTensors(tr_x, tr_y, train_transform), ImageTensors(tr_x, tr_y, test_transform), ImageTensors(te_x, te_y, test_transform)

    stems = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]
    paths = [find_idx(folder, s) for s in stems]
    if all(paths):
        tr_x, tr_y, te_x, te_y = (read_idx(p) for p in paths)
        tr_x, te_x = tr_x.unsqueeze(1), te_x.unsqueeze(1)  # grey images: one channel
        return ImageTensors(tr_x, tr_y, train_transform), ImageTensors(tr_x, tr_y, test_transform), ImageTensors(te_x, te_y, test_transform)
    if any(paths):
        missing = [s for s, p in zip(stems, paths) if p is None]
        raise SystemExit(f"--data {folder}: has some IDX files but not {', '.join(missing)} (.gz or not)")
    if not os.path.isdir(folder):
        raise SystemExit(f"--data {folder}: no such folder; give a folder of IDX files or of images (one sub-folder per class)")
    channels, height, width = INPUT_SHAPE
    # Image folders: read at the model's input size, grey if the model takes one channel.
    load = [transforms.Resize((height, width))] + ([transforms.Grayscale(1)] if channels == 1 else []) + [transforms.ToTensor()]
    train_tf, test_tf = transforms.Compose(load + [train_transform]), transforms.Compose(load + [test_transform])
    train_dir, test_dir = os.path.join(folder, "train"), os.path.join(folder, "test")
    if os.path.isdir(train_dir) and os.path.isdir(test_dir):
        train = datasets.ImageFolder(train_dir, train_tf)
        check_classes(train.classes, train_dir)
        return train, datasets.ImageFolder(train_dir, test_tf), datasets.ImageFolder(test_dir, test_tf)
    # One folder of class folders: 20% held out for testing, as stride splits it (not the same images).
    full, full_eval = datasets.ImageFolder(folder, train_tf), datasets.ImageFolder(folder, test_tf)
    check_classes(full.classes, folder)
    order = torch.randperm(len(full), generator=torch.Generator().manual_seed(RECIPE["seed"])).tolist()
    n_test = round(0.2 * len(full))
    return Subset(full, order[n_test:]), Subset(full_eval, order[n_test:]), Subset(full_eval, order[:n_test])


def check_classes(found, folder):
    """The class folders must be the model's classes, in its order, or every label would mean another class."""
    if CLASSES is not None and list(found) != list(CLASSES):
        raise SystemExit(f"--data {folder}: its class folders {found} are not the model's classes {CLASSES}")


def make_transforms():
    """(train, test) transforms of a [C, H, W] tensor in [0, 1]: the recipe's augmentation, then normalisation."""
    from torchvision import transforms

    normalize = transforms.Normalize(MEAN, STD)
    steps = []
    aug = RECIPE["augmentation"] or {}
    if "randomCrop" in aug:
        steps.append(transforms.RandomCrop(tuple(aug["randomCrop"]["size"]), padding=aug["randomCrop"]["padding"], fill=0))
    if "horizontalFlip" in aug:
        steps.append(transforms.RandomHorizontalFlip(aug["horizontalFlip"]["p"]))
    steps.append(normalize)
    if "randomErasing" in aug:
        # stride erases the [0, 1] image before normalising and fills the box with the channel means;
        # torchvision's RandomErasing after Normalize, filling with the recorded value in normalised
        # units (0 for the means), gives the same pixels, and both draw the box alike (area share
        # uniform in scale, aspect ratio log-uniform in ratio, 10 tries), after the crop and the flip.
        e = aug["randomErasing"]
        steps.append(transforms.RandomErasing(p=e["p"], scale=tuple(e["scale"]), ratio=tuple(e["ratio"]), value=e["value"]))
    return transforms.Compose(steps), normalize


# --- training ---------------------------------------------------------------


def param_groups(model, weight_decay):
    """Weight decay on weights only, as stride's decayGroups: not on biases nor batch-norm parameters."""
    decay, no_decay = [], []
    for module in model.modules():
        batch_norm = isinstance(module, nn.modules.batchnorm._BatchNorm)
        for name, p in module.named_parameters(recurse=False):
            (no_decay if batch_norm or name == "bias" else decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def make_optimizer(model):
    groups = param_groups(model, RECIPE["optimizer"]["weightDecay"])
    return @OPTIMIZER@


def make_schedule(optimizer, total_steps, max_lr=None):
    """The recipe's schedule: stepped once per epoch (the plateau schedule with the validation accuracy),
    or after every optimizer step when PER_BATCH (one-cycle, over total_steps steps, peaking at max_lr)."""
    return @SCHEDULE@


PLATEAU = @PLATEAU@
PER_BATCH = @PER_BATCH@
# Test-time flips for the final test (stride train --tta flip).
TEST_FLIPS = @TEST_FLIPS@
# Or ten crops at the input size of the image padded by this many pixels (stride train --tta ten-crop:P).
TEN_CROP_PADDING = @TEN_CROP_PADDING@


def make_criterion():
    """The training loss: cross-entropy, with the stride run's label smoothing if it had one."""
    return @CRITERION@


def schedule_state(schedule):
    """The schedule's state for resume.pt. torch 1.13's OneCycleLR holds its annealing function as a bound
    method, which would pickle the schedule with its optimizer and every parameter; its constructor sets it again."""
    if schedule is None:
        return None
    return {k: v for k, v in schedule.state_dict().items() if k != "anneal_func"}


def ten_crop_views(x, padding):
    """torchvision's Pad(padding) with black (0 before normalisation), then TenCrop at the input's size:
    the crops at the four corners and the centre, and their mirrors."""
    n, c, h, w = x.shape
    fill = torch.tensor([-m / s for m, s in zip(MEAN, STD)], dtype=x.dtype, device=x.device).view(1, c, 1, 1)
    padded = fill.expand(n, c, h + 2 * padding, w + 2 * padding).clone()
    padded[:, :, padding:padding + h, padding:padding + w] = x
    tops, lefts = [0, 0, 2 * padding, 2 * padding, padding], [0, 2 * padding, 0, 2 * padding, padding]
    views = [padded[:, :, t:t + h, l:l + w] for t, l in zip(tops, lefts)]
    return views + [torch.flip(v, dims=[3]) for v in views]


@torch.no_grad()
def evaluate(model, loader, device, flip=False, ten_crop_padding=None):
    """Loss, accuracy and top-5 accuracy over a whole loader, in eval mode; with flip, of the average of
    each image's logits and its left-right mirror's (stride's evaluate averages logits, not probabilities);
    with ten_crop_padding, of the average softmax of ten_crop_views (as stride's ten-crop)."""
    model.eval()
    loss, correct, top5, count = 0.0, 0, 0, 0
    for x, y in loader:
        x, y = x.to(device), y.to(device)
        if ten_crop_padding is not None:
            # The log of the averaged softmax: its argmax and top-k are the ranking, nll_loss its loss.
            probs = torch.stack([F.softmax(model(v).flatten(1), 1) for v in ten_crop_views(x, ten_crop_padding)]).mean(0)
            logits = probs.log()
            loss += F.nll_loss(logits, y, reduction="sum").item()
        else:
            logits = model(x).flatten(1)
            if flip:
                logits = (logits + model(torch.flip(x, dims=[3])).flatten(1)) / 2
            loss += F.cross_entropy(logits, y, reduction="sum").item()
        correct += (logits.argmax(1) == y).sum().item()
        k = min(5, logits.shape[1])
        top5 += (logits.topk(k, 1).indices == y[:, None]).any(1).sum().item()
        count += len(y)
    return {"loss": loss / max(count, 1), "accuracy": correct / max(count, 1), "top5": top5 / max(count, 1), "count": count, "correct": correct}


def state_dict_for_stride(model):
    """The state dict as plain tensors (no torch metadata), which torch.load(weights_only=True) and stride read."""
    return OrderedDict((k, v.detach().cpu().contiguous().clone()) for k, v in model.state_dict().items())


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="a folder of IDX files (MNIST layout), CIFAR-10 binary batches, or images (one sub-folder per class)")
    parser.add_argument("--epochs", type=int, default=RECIPE["epochs"])
    parser.add_argument("--batch-size", type=int, default=RECIPE["batchSize"], help="the global batch, split across processes")
    parser.add_argument("--lr", type=float, default=None, help="override the recipe's learning rate (one-cycle's max_lr)")
    parser.add_argument("--weights", default="weights.pt", help="start from these weights ('' to start from a fresh initialisation)")
    parser.add_argument("--out", default=".", help="where checkpoint.pt and resume.pt go")
    parser.add_argument("--resume", action="store_true", help="continue from OUT/resume.pt")
    parser.add_argument("--workers", type=int, default=0, help="data-loading worker processes per rank")
    args = parser.parse_args()

    distributed = "WORLD_SIZE" in os.environ
    if distributed:
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    rank = dist.get_rank() if distributed else 0
    world = dist.get_world_size() if distributed else 1
    if torch.cuda.is_available():
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        torch.cuda.set_device(device)
    else:
        device = torch.device("cpu")
    log = print if rank == 0 else (lambda *a, **k: None)
    if args.batch_size % world != 0:
        raise SystemExit(f"--batch-size {args.batch_size} does not split evenly over {world} processes; use a multiple of {world}")

    torch.manual_seed(RECIPE["seed"])
    train_tf, test_tf = make_transforms()
    train_full, train_eval, test = load_data(args.data, train_tf, test_tf)
    # The validation share the plateau schedule watches (a seeded split; not stride's exact images).
    order = torch.randperm(len(train_full), generator=torch.Generator().manual_seed(RECIPE["seed"])).tolist()
    n_val = round(RECIPE["valFraction"] * len(train_full))
    train = Subset(train_full, order[n_val:])
    val = Subset(train_eval, order[:n_val]) if n_val else None

    model = build_model()
    if args.weights:
        model.load_state_dict(torch.load(args.weights, map_location="cpu", weights_only=True))
    model.to(device)
    optimizer = make_optimizer(model)
    if args.lr is not None:
        for g in optimizer.param_groups:
            g["lr"] = args.lr
    sampler = DistributedSampler(train, num_replicas=world, rank=rank, shuffle=True, seed=RECIPE["seed"], drop_last=False)
    loader = DataLoader(train, batch_size=args.batch_size // world, sampler=sampler, num_workers=args.workers)
    max_batches = RECIPE.get("maxBatchesPerEpoch")
    steps_per_epoch = len(loader) if max_batches is None else min(len(loader), max_batches)
    total_steps = args.epochs * steps_per_epoch
    schedule = make_schedule(optimizer, total_steps, args.lr)
    if PER_BATCH and total_steps != RECIPE["schedule"]["totalSteps"]:
        log(f"the one-cycle spans this run's {total_steps} steps ({args.epochs} epochs of {steps_per_epoch} batches); "
            f"the stride run's spanned {RECIPE['schedule']['totalSteps']}")
    criterion = make_criterion()
    start = 0
    resume_path = os.path.join(args.out, "resume.pt")
    if args.resume:
        state = torch.load(resume_path, map_location="cpu")
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        if schedule is not None and state.get("schedule") is not None:
            schedule.load_state_dict(state["schedule"])
        if PER_BATCH and schedule.total_steps != total_steps:
            raise SystemExit(f"{resume_path}: its one-cycle spans {schedule.total_steps} steps, this run {total_steps}; "
                             "resume with the --epochs and --batch-size it started with")
        start = state["epoch"]
        log(f"resumed from {resume_path} after epoch {start}")
    net = DistributedDataParallel(model) if distributed else model

    eval_loader = lambda ds: DataLoader(ds, batch_size=256, shuffle=False, num_workers=args.workers)
    log(f"training on {len(train)} images ({len(val) if val else 0} validation, {len(test)} test) with {world} process(es) on {device}; "
        f"batch {args.batch_size} ({args.batch_size // world} per process), {args.epochs} epochs")
    for epoch in range(start, args.epochs):
        sampler.set_epoch(epoch)
        net.train()
        began, seen, loss_sum, correct = time.time(), 0, 0.0, 0
        for b, (x, y) in enumerate(loader):
            if max_batches is not None and b >= max_batches:
                break
            x, y = x.to(device), y.to(device)
            logits = net(x).flatten(1)
            loss = criterion(logits, y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if PER_BATCH:
                schedule.step()
            seen += len(y)
            loss_sum += loss.item() * len(y)
            correct += (logits.argmax(1) == y).sum().item()
        lr = optimizer.param_groups[0]["lr"]
        line = f"epoch {epoch + 1}/{args.epochs}: lr {lr:g}, train loss {loss_sum / max(seen, 1):.4f}, train accuracy {100 * correct / max(seen, 1):.2f}% (rank 0's share)"
        val_acc = None
        if val is not None:
            # Every rank evaluates the whole validation set, so all ranks step the schedule alike.
            v = evaluate(model, eval_loader(val), device)
            val_acc = v["accuracy"]
            line += f", validation accuracy {100 * val_acc:.2f}%"
        log(line + f" ({time.time() - began:.1f} s)")
        if schedule is not None and not PER_BATCH:
            if PLATEAU:
                if val_acc is None:
                    raise SystemExit("the plateau schedule watches validation accuracy: the recipe's valFraction must be above 0")
                schedule.step(val_acc)
            else:
                schedule.step()
        if rank == 0:
            torch.save(state_dict_for_stride(model), os.path.join(args.out, "checkpoint.pt"))
            torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                        "schedule": schedule_state(schedule), "epoch": epoch + 1}, resume_path)
    if rank == 0:
        r = evaluate(model, eval_loader(test), device, flip=TEST_FLIPS, ten_crop_padding=TEN_CROP_PADDING)
        views = " with flips" if TEST_FLIPS else f" with ten crops (padding {TEN_CROP_PADDING})" if TEN_CROP_PADDING is not None else ""
        print(f"test accuracy {100 * r['accuracy']:.2f}% ({r['correct']}/{r['count']}){views}, top-5 {100 * r['top5']:.2f}%, loss {r['loss']:.4f}")
        print(f"saved {os.path.join(args.out, 'checkpoint.pt')}")
    if distributed:
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
`;

export function generateReadme(o: { modelName: string; dataset?: string; hasRecipe: boolean }): string {
  const data = o.dataset === "fashion-mnist" ? "/usr/share/datasets/fashion-mnist" : "DATA";
  return `# ${o.modelName}, exported from stride

- \`model.py\`: the network as a PyTorch module (\`build_model()\`); its \`state_dict()\` names are those of \`weights.pt\`.
- \`weights.pt\`: the trained weights (\`torch.load("weights.pt", weights_only=True)\`).
${o.hasRecipe ? "- `train.py`: the stride run's training recipe (optimizer, schedule, label smoothing, augmentation, batch size,\n  epochs, seed, normalisation, test-time flips or ten crops) as a DistributedDataParallel script.\n" : "- `train.py`: not written: the model folder records no training recipe (train it with a `stride train` that records `extra.recipe`).\n"}
## Use the model

\`\`\`python
import torch
from model import build_model
model = build_model()
model.load_state_dict(torch.load("weights.pt", weights_only=True))
model.eval()
\`\`\`

Inputs are ${"`INPUT_SHAPE`"} images scaled to [0, 1] and normalised with the \`MEAN\`/\`STD\` in \`train.py\`.
${o.hasRecipe ? `
## Train on one machine

\`--data\` is a folder of IDX files (\`train-images-idx3-ubyte[.gz]\`, \`train-labels-idx1-ubyte[.gz]\`,
\`t10k-images-idx3-ubyte[.gz]\`, \`t10k-labels-idx1-ubyte[.gz]\`: MNIST / Fashion-MNIST), CIFAR-10's binary batches
(\`data_batch_1.bin\` … \`data_batch_5.bin\`, \`test_batch.bin\`) or an image folder
(\`train/\` and \`test/\` of class folders, or one folder of class folders, 20% of it held out for testing).

\`\`\`sh
torchrun --nproc_per_node=2 train.py --data ${data}            # 2 processes (CPU: gloo; GPUs: nccl)
torchrun --nproc_per_node=2 train.py --data ${data} --epochs 1 # a shorter run
torchrun --nproc_per_node=2 train.py --data ${data} --resume   # continue from resume.pt
python3 train.py --data ${data}                                 # one process, no torchrun
\`\`\`

With Debian's torch 1.13 on Python 3.11, torchrun stops at once with \`AttributeError: 'NoneType' object has no
attribute 'get'\` (its \`--redirects\`/\`--tee\` default of 0 is lost by Python 3.11's flag enums); add
\`--redirects 1 --tee 1\` before \`train.py\` (output then comes prefixed by the process's rank).

By default training starts from \`weights.pt\`; \`--weights ''\` starts from a fresh initialisation.
\`--batch-size\` is the global batch (split over the processes); batch norm computes its statistics over each
process's share, as plain DistributedDataParallel does (stride's run used the whole batch). Rank 0 prints the log, writes \`checkpoint.pt\`
after every epoch and the test accuracy at the end.

## Train on several machines

Run the same command on every machine, with its own \`--node_rank\` and the first machine's address:

\`\`\`sh
# machine 0 (10.0.0.1)
torchrun --nnodes=2 --node_rank=0 --nproc_per_node=2 --master_addr=10.0.0.1 --master_port=29500 train.py --data ${data}
# machine 1
torchrun --nnodes=2 --node_rank=1 --nproc_per_node=2 --master_addr=10.0.0.1 --master_port=29500 train.py --data ${data}
\`\`\`

Every machine needs this folder and the data at the same paths. \`checkpoint.pt\` and \`resume.pt\` are written
on the first machine (global rank 0): copy \`resume.pt\` to the others before \`--resume\`.
` : ""}
## Bring the result back into stride

\`checkpoint.pt\` (or \`weights.pt\`) holds the stride model's parameters under PyTorch's names
(\`running_mean\`/\`running_var\` for stride's \`runningMean\`/\`runningVar\`; \`num_batches_tracked\` is ignored):

\`\`\`sh
stride import checkpoint.pt --arch MODEL_DIR --out runs/back   # MODEL_DIR: the folder this was exported from
stride eval runs/back
\`\`\`

or from code, into the model loaded from MODEL_DIR:
\`loadWeights(model, stateDictToStride(loadTorchCheckpoint("checkpoint.pt")))\`.
`;
}
