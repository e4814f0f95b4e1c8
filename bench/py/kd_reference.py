#!/usr/bin/env python3
"""A straightforward PyTorch implementation of kdaug's Fashion-MNIST recipes, for the speed
comparison in bench/ (BENCHMARK.md, "Speed"): the same models (CIFAR ResNets: resnet56 teacher,
resnet8 student), the same hyper-parameters (SGD, Nesterov 0.9, wd 5e-4, lr 0.1, batch 128),
torchvision transforms applied per sample in DataLoader workers, the teacher online in fp32.
With --precision bf16, what a PyTorch user would write for the same speed-up kdaug's bf16 recipes
get: both networks in channels-last, forward passes under torch.autocast(cpu, bfloat16).

Arms (BENCHMARK.md's ablation):
  ce       student on x with labels
  kd       Hinton KD, teacher on x: a*CE(s(x), y) + (1-a)*T^2 KL(t(x) || s(x))
  synergy  a*CE(s(x), y) + (1-a)*(T^2 KL(t(x') || s(x')) + T^2 KL(t(x') || s(x'')))
           x' = crop(pad 2) + rotation(10 deg) + scale(0.9..1.1) + hflip, x'' = clamp(x' + N(0, 0.1))

Prints one JSON line: {"arm", "steps", "batch", "seconds", "images_per_s", "workers", ...}.
Times `--steps` training steps after `--warmup` steps (the DataLoader's start-up included once).
"""
import argparse
import gzip
import json
import os
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision.transforms as T

MEAN, STD = 0.2860, 0.3530


def read_idx(path):
    with gzip.open(path, "rb") if path.endswith(".gz") else open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


class Block(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = None
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return F.relu(y + (x if self.shortcut is None else self.shortcut(x)))


class ResNet(nn.Module):
    """He et al. 2016 CIFAR ResNet, as in kdaug's zoo (input normalised inside the model)."""

    def __init__(self, depth, in_channels=1, classes=10):
        super().__init__()
        n = (depth - 2) // 6
        layers = [nn.Conv2d(in_channels, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU()]
        cin = 16
        for width, stride in ((16, 1), (32, 2), (64, 2)):
            for i in range(n):
                layers.append(Block(cin, width, stride if i == 0 else 1))
                cin = width
        self.features = nn.Sequential(*layers)
        self.fc = nn.Linear(64, classes)

    def forward(self, x):
        x = (x - MEAN) / STD
        return self.fc(F.adaptive_avg_pool2d(self.features(x), 1).flatten(1))


class FashionMNIST(torch.utils.data.Dataset):
    """uint8 images in memory; returns (x, x', label) with x' from torchvision transforms."""

    def __init__(self, root, augment):
        self.images = torch.from_numpy(read_idx(os.path.join(root, "train-images-idx3-ubyte.gz")).copy())
        self.labels = torch.from_numpy(read_idx(os.path.join(root, "train-labels-idx1-ubyte.gz")).astype(np.int64))
        self.augment = augment
        self.tf = T.Compose([
            T.RandomCrop(28, padding=2),
            T.RandomAffine(degrees=10, scale=(0.9, 1.1)),
            T.RandomHorizontalFlip(),
        ])

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        x = self.images[i].unsqueeze(0).float().div_(255)
        if self.augment:
            return x, self.tf(x), self.labels[i]
        return x, x, self.labels[i]


def kl_t(s, t, temp):
    return F.kl_div(F.log_softmax(s / temp, 1), F.softmax(t / temp, 1), reduction="batchmean") * temp * temp


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--arm", choices=["ce", "ce_da", "kd", "synergy"], required=True)
    ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--workers", type=int, default=-1, help="-1: try 0, 1, 2 and keep the fastest")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)

    augment = args.arm in ("synergy", "ce_da")
    ds = FashionMNIST(args.data, augment)
    student = ResNet(8)
    teacher = ResNet(56).eval() if args.arm in ("kd", "synergy") else None
    if teacher is not None:
        for p in teacher.parameters():
            p.requires_grad_(False)
    bf16 = args.precision == "bf16"
    if bf16:
        student = student.to(memory_format=torch.channels_last)
        if teacher is not None:
            teacher = teacher.to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(student.parameters(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4)
    a, temp = 0.5, 4.0

    def step(x, xa, y):
        if bf16:
            x = x.contiguous(memory_format=torch.channels_last)
            xa = xa.contiguous(memory_format=torch.channels_last)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = forward(x, xa, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss.item()

    def forward(x, xa, y):
        if args.arm == "ce":
            loss = F.cross_entropy(student(x), y)
        elif args.arm == "ce_da":
            loss = F.cross_entropy(student(xa), y)
        elif args.arm == "kd":
            with torch.no_grad():
                t = teacher(x)
            s = student(x)
            loss = a * F.cross_entropy(s, y) + (1 - a) * kl_t(s, t, temp)
        else:
            xp = (xa + 0.1 * torch.randn_like(xa)).clamp_(0, 1)
            with torch.no_grad():
                t = teacher(xa)
            s = student(torch.cat([x, xa, xp]))
            so, sa, sp = s.split(x.size(0))
            loss = a * F.cross_entropy(so, y) + (1 - a) * (kl_t(sa, t, temp) + kl_t(sp, t, temp))
        return loss

    def run(workers, steps, warmup):
        loader = torch.utils.data.DataLoader(ds, batch_size=args.batch, shuffle=True, drop_last=True,
                                             num_workers=workers, persistent_workers=False)
        it = iter(loader)
        for _ in range(warmup):
            step(*next(it))
        t0 = time.perf_counter()
        for _ in range(steps):
            step(*next(it))
        return time.perf_counter() - t0

    if args.workers >= 0:
        workers = args.workers
        tried = {}
    else:
        # The DataLoader's best worker count on this machine, by a short trial of each.
        tried = {w: run(w, max(8, args.steps // 6), 2) for w in (0, 1, 2)}
        workers = min(tried, key=tried.get)
    seconds = run(workers, args.steps, args.warmup)
    images = args.steps * args.batch
    print(json.dumps({"arm": args.arm, "impl": "pytorch", "steps": args.steps, "batch": args.batch,
                      "seconds": seconds, "images_per_s": images / seconds, "workers": workers,
                      "worker_trials_s": {str(k): v for k, v in tried.items()}, "threads": args.threads,
                      "precision": args.precision, "torch": torch.__version__}))


if __name__ == "__main__":
    main()
