#!/usr/bin/python3
"""The time-to-accuracy recipe of RESULTS.md in PyTorch, for a side-by-side run with stride.

    /usr/bin/python3 scripts/fashion_mnist_recipe.py --epochs N [--max-batches 20]

The same run as

    stride train resnet8-wide --dataset fashion-mnist --val-fraction 0 --batch-size 128 \\
      --optimizer nesterov --lr 0.2 --weight-decay 5e-4 --schedule onecycle \\
      --label-smoothing 0.1 --random-erasing 0.5 --tta flip --epochs N

(give it the number of epochs stride's --time-budget planned; stride prints it on every epoch line):
- data: Fashion-MNIST from the IDX files in /usr/share/datasets/fashion-mnist (Debian's
  dataset-fashion-mnist), pixels / 255, normalised by the training set's mean and std
  (population std, as stride's computeNormalization);
- augmentation: RandomCrop(28, padding=2) with zero fill, RandomHorizontalFlip, then after
  Normalize RandomErasing(p, value=0) (stride fills with the mean before normalising: the same);
- model: stride's resnet8-wide (src/cli/models.ts): 3x3 conv 32 (no bias), BN, ReLU, 2x2 max pool,
  three stages of one basic block (32, 64, 128 filters; strides 1, 2, 2; option-A shortcuts that
  subsample and zero-pad channels), global average pool, linear; Kaiming-normal (fan-in) convs,
  PyTorch's default init for the linear layer;
- training: SGD, Nesterov momentum, weight decay on conv and linear weights only (not biases or
  batch norm), OneCycleLR(max_lr=lr) stepped per batch with its default momentum cycling,
  CrossEntropyLoss(label_smoothing), shuffled batches;
- test: the 10,000 test images, logits averaged with those of the mirrored images (or, with
  --ten-crop P, the softmax of the ten views of the image padded by P, as stride's --tta ten-crop:P).
Prints a line per epoch, then the test accuracy and the wall time from the script's start.
The random streams differ from stride's (initialisation, shuffling, augmentation): compare the
accuracy and time, not the curves step by step.
"""
import argparse
import gzip
import os
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision.transforms as T

STARTED = time.perf_counter()
DATA = "/usr/share/datasets/fashion-mnist"


def read_idx(path):
    """An IDX file (gzip-compressed or not) as a uint8 numpy array of its dimensions."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        raw = f.read()
    if raw[0] != 0 or raw[1] != 0 or raw[2] != 8:
        raise SystemExit(f"{path}: not an IDX file of unsigned bytes")
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(raw[3])]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * len(dims)).reshape(dims)


def load(split, data_dir):
    prefix = "train" if split == "train" else "t10k"
    find = lambda kind: next(os.path.join(data_dir, f) for f in os.listdir(data_dir) if f.startswith(f"{prefix}-{kind}"))
    images = torch.from_numpy(read_idx(find("images")).astype(np.float32) / 255.0).unsqueeze(1)
    labels = torch.from_numpy(read_idx(find("labels")).astype(np.int64))
    return images, labels


class ShortcutPad(nn.Module):
    """Option-A shortcut: subsample by the stride, zero-pad the new channels after the old ones."""

    def __init__(self, extra, stride):
        super().__init__()
        self.extra, self.stride = extra, stride

    def forward(self, x):
        return F.pad(x[:, :, :: self.stride, :: self.stride], (0, 0, 0, 0, 0, self.extra))


class BasicBlock(nn.Module):
    def __init__(self, in_c, planes, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(in_c, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = ShortcutPad(planes - in_c, stride) if stride != 1 or in_c != planes else nn.Identity()

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(y)) + self.shortcut(x))


def resnet8_wide(num_classes=10, base=32):
    layers = [nn.Conv2d(1, base, 3, 1, 1, bias=False), nn.BatchNorm2d(base), nn.ReLU(), nn.MaxPool2d(2)]
    in_c = base
    for stage in range(3):
        planes = base * 2 ** stage
        layers.append(BasicBlock(in_c, planes, 1 if stage == 0 else 2))
        in_c = planes
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(in_c, num_classes)]
    model = nn.Sequential(*layers)
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
    return model


class Augmented(torch.utils.data.Dataset):
    def __init__(self, images, labels, mean, std, erasing):
        self.images, self.labels = images, labels
        self.crop_flip = T.Compose([T.RandomCrop(28, padding=2), T.RandomHorizontalFlip()])
        self.normalize = T.Normalize([mean], [std])
        self.erase = T.RandomErasing(p=erasing, value=0) if erasing > 0 else None

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        x = self.normalize(self.crop_flip(self.images[i]))
        return (self.erase(x) if self.erase else x), self.labels[i]


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--epochs", type=int, required=True, help="the epochs stride's --time-budget planned")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=0.2, help="OneCycleLR's max_lr")
    p.add_argument("--weight-decay", type=float, default=5e-4)
    p.add_argument("--label-smoothing", type=float, default=0.1)
    p.add_argument("--random-erasing", type=float, default=0.5)
    p.add_argument("--no-tta", action="store_true", help="test without the mirrored images")
    p.add_argument("--ten-crop", type=int, default=None, metavar="P",
                   help="test on ten views instead of flips, as stride's --tta ten-crop:P: the image padded by P black "
                        "pixels, cropped at its corners and centre, and their mirrors (softmax averaged)")
    p.add_argument("--max-batches", type=int, default=None, help="at most N batches per epoch (smoke runs)")
    p.add_argument("--base", type=int, default=32,
                   help="filters of the stem and first stage (doubled at each later stage); 32 is resnet8-wide, larger ones "
                        "ask what width buys at the same epochs (the multiply-adds grow with its square)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--data-dir", default=DATA)
    a = p.parse_args()
    torch.manual_seed(a.seed)
    torch.set_num_threads(a.threads)

    train_x, train_y = load("train", a.data_dir)
    test_x, test_y = load("test", a.data_dir)
    mean, std = float(train_x.mean()), float(train_x.std(unbiased=False))
    loader = torch.utils.data.DataLoader(Augmented(train_x, train_y, mean, std, a.random_erasing),
                                         batch_size=a.batch_size, shuffle=True, num_workers=0)
    steps = min(len(loader), a.max_batches or len(loader))

    model = resnet8_wide(base=a.base)
    decay = [p for n, p in model.named_parameters() if p.ndim > 1]
    no_decay = [p for n, p in model.named_parameters() if p.ndim <= 1]
    opt = torch.optim.SGD([{"params": decay, "weight_decay": a.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
                          lr=a.lr, momentum=0.9, nesterov=True)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=a.lr, epochs=a.epochs, steps_per_epoch=steps)
    criterion = nn.CrossEntropyLoss(label_smoothing=a.label_smoothing)
    print(f"pytorch {torch.__version__}, {torch.get_num_threads()} threads; resnet8-wide{'' if a.base == 32 else f' with base {a.base}'} "
          f"({sum(p.numel() for p in model.parameters()):,} parameters); {len(train_y)} training, {len(test_y)} test images; "
          f"batch {a.batch_size}, {a.epochs} epochs of {steps} batches, one-cycle max lr {a.lr}, nesterov, weight decay {a.weight_decay}, "
          f"label smoothing {a.label_smoothing}, random erasing p {a.random_erasing}", flush=True)

    for epoch in range(a.epochs):
        model.train()
        t0, seen, correct, total_loss = time.perf_counter(), 0, 0, 0.0
        for b, (x, y) in enumerate(loader):
            if b >= steps:
                break
            logits = model(x)
            loss = criterion(logits, y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            seen += len(y)
            total_loss += float(loss) * len(y)
            correct += int((logits.argmax(1) == y).sum())
        seconds = time.perf_counter() - t0
        print(f"epoch {epoch + 1}/{a.epochs}  loss {total_loss / seen:.4f}  acc {100 * correct / seen:.2f}%  "
              f"lr {opt.param_groups[0]['lr']:.3g}  {seen / seconds:.0f} img/s  {seconds:.1f}s", flush=True)

    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(test_y), 500):
            raw = test_x[i:i + 500]
            if a.ten_crop is not None:
                views = T.TenCrop(28)(F.pad(raw, [a.ten_crop] * 4))
                logits = torch.stack([F.softmax(model((v - mean) / std), 1) for v in views]).mean(0)
            else:
                x = (raw - mean) / std
                logits = model(x)
                if not a.no_tta:
                    logits = (logits + model(torch.flip(x, dims=[3]))) / 2
            correct += int((logits.argmax(1) == test_y[i:i + 500]).sum())
    views = f" with ten crops (padding {a.ten_crop})" if a.ten_crop is not None else "" if a.no_tta else " with flips"
    print(f"test accuracy {100 * correct / len(test_y):.2f}% ({correct}/{len(test_y)}){views}; "
          f"wall time {time.perf_counter() - STARTED:.1f} s in all", flush=True)


if __name__ == "__main__":
    main()
