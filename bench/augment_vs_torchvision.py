#!/usr/bin/python3
"""Augmentation throughput of the canonical fmnist-synergy pipeline (BENCHMARK.md): kdaug's batched
pipeline beside the same pipeline in torchvision applied per image, as a PyTorch DataLoader does,
run alternately in one run so that both see the same machine load.

  kdaug:       build/bench_augment, row "uint8 in: augment + perturb" on batches of 128 x 1x28x28
               (uint8 -> float, crop + rotate + scale + flip fused into one resampling, x'' noise),
               at 1..--threads intra-op threads; the fastest counts (on a loaded machine one thread
               can beat two, whose barriers wait for the busier core)
  torchvision: a Dataset of the real Fashion-MNIST training images whose __getitem__ runs
               RandomCrop(28, padding=2), RandomAffine(10, scale=(0.9, 1.1)), RandomHorizontalFlip
               and Gaussian noise (sigma 0.1, clamped) on one image; a DataLoader batches 128 of them
               (num_workers: the fastest of 0, 1 and 2, chosen once).

Usage: /usr/bin/python3 bench/augment_vs_torchvision.py --build build [--rounds 3] [--batches 40] [--threads 2]
Writes bench/results/augment_vs_torchvision.json and .md (the table, with the command).
"""
import argparse
import gzip
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch
import torchvision.transforms as T

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
KDAUG_ROW = "uint8 in: augment + perturb"


def read_idx_images(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    n, h, w = (int.from_bytes(data[i:i + 4], "big") for i in (4, 8, 12))
    return np.frombuffer(data, dtype=np.uint8, offset=16).reshape(n, 1, h, w)


class Augmented(torch.utils.data.Dataset):
    def __init__(self, images):
        self.images = torch.from_numpy(images.copy())
        self.tf = T.Compose([
            T.RandomCrop(28, padding=2),
            T.RandomAffine(degrees=10, scale=(0.9, 1.1)),
            T.RandomHorizontalFlip(),
        ])

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        x = self.tf(self.images[i].float().div_(255))
        return (x + 0.1 * torch.randn_like(x)).clamp_(0, 1)


def torchvision_ips(ds, batches, batch, workers, seed):
    torch.manual_seed(seed)
    loader = torch.utils.data.DataLoader(ds, batch_size=batch, shuffle=True, drop_last=True, num_workers=workers,
                                         persistent_workers=False)
    it = iter(loader)
    next(it)  # worker start-up and the first batch are not timed
    t0 = time.perf_counter()
    for _ in range(batches):
        next(it)
    return batches * batch / (time.perf_counter() - t0)


def kdaug_ips(build, threads, batch, min_time):
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "augment.json")
        cmd = [os.path.join(build, "bench_augment"), "--threads", str(threads), "--batch", str(batch),
               "--min-time", str(min_time), "--json", out]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
        results = json.load(open(out))["results"]
    rows = [r for r in results if r["op"] == KDAUG_ROW and r["shape"][1:] == [1, 28, 28]]
    if not rows:
        sys.exit(f"augment_vs_torchvision: bench_augment wrote no '{KDAUG_ROW}' row for 1x28x28")
    return rows[0]["images_per_s"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--batches", type=int, default=40, help="torchvision batches timed per round")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--threads", type=int, default=os.cpu_count(),
                    help="cores for both sides: kdaug runs at 1..N intra-op threads and the fastest counts, "
                         "as the DataLoader's fastest worker count in 0..N does")
    ap.add_argument("--min-time", type=float, default=1.0, help="kdaug: seconds of timed calls per op")
    ap.add_argument("--out", default=os.path.join(ROOT, "bench", "results", "augment_vs_torchvision"))
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    ds = Augmented(read_idx_images(os.path.join(a.data, "train-images-idx3-ubyte.gz")))

    trials = {w: torchvision_ips(ds, max(5, a.batches // 4), a.batch, w, 0) for w in (0, 1, 2)}
    workers = max(trials, key=trials.get)
    print(f"augment_vs_torchvision: DataLoader workers = {workers} (trial images/s {trials})", flush=True)

    rounds = []
    for r in range(a.rounds):
        by_threads = {t: kdaug_ips(a.build, t, a.batch, a.min_time) for t in range(1, a.threads + 1)}
        k = max(by_threads.values())
        tv = torchvision_ips(ds, a.batches, a.batch, workers, r + 1)
        rounds.append({"kdaug_images_per_s": k, "torchvision_images_per_s": tv, "ratio": k / tv,
                       "kdaug_images_per_s_by_threads": by_threads})
        print(f"round {r + 1}/{a.rounds}: kdaug {k:.0f} images/s (by threads {by_threads}), "
              f"torchvision {tv:.0f} images/s, ratio {k / tv:.1f}x", flush=True)

    med = {key: statistics.median(x[key] for x in rounds) for key in ("kdaug_images_per_s", "torchvision_images_per_s", "ratio")}
    med_threads = {t: statistics.median(x["kdaug_images_per_s_by_threads"][t] for x in rounds)
                   for t in rounds[0]["kdaug_images_per_s_by_threads"]}
    command = "/usr/bin/python3 bench/augment_vs_torchvision.py " + " ".join(sys.argv[1:])
    result = {"benchmark": "augment_vs_torchvision", "command": command, "threads": a.threads, "batch": a.batch,
              "dataloader_workers": workers, "worker_trials_images_per_s": trials,
              "pipeline": "crop(pad 2) + rotate(10) + scale(0.9-1.1) + hflip(0.5) + gaussian noise(0.1), 1x28x28",
              "torch": torch.__version__, "rounds": rounds, "median": med,
              "median_kdaug_images_per_s_by_threads": med_threads}
    md = (f"## Augmentation: kdaug batched vs torchvision per image ({a.threads} threads, batch {a.batch})\n\n"
          "| side | images/s (median of %d rounds) |\n| --- | ---: |\n" % a.rounds
          + "".join(f"| kdaug (`{KDAUG_ROW}`), {t} thread{'s' if t > 1 else ''} | {v:.0f} |\n"
                    for t, v in med_threads.items())
          + f"| kdaug, fastest thread count per round | {med['kdaug_images_per_s']:.0f} |\n"
          + f"| torchvision per image, DataLoader workers {workers} | {med['torchvision_images_per_s']:.0f} |\n"
          + f"| ratio kdaug / torchvision | {med['ratio']:.1f}x |\n\nCommand: `{command}`\n")
    os.makedirs(os.path.dirname(a.out), exist_ok=True)
    for ext, text in ((".json", json.dumps(result, indent=2) + "\n"), (".md", md)):
        tmp = a.out + ext + ".tmp"
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, a.out + ext)
    print(md)


if __name__ == "__main__":
    main()
