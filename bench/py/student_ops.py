#!/usr/bin/env python3
"""Where a student training step's time goes, operator by operator: the resnet8 of
kd_reference.py trained on one batch of three synergy views (384 images of 1x28x28), under
PyTorch's profiler. PyTorch runs the same LibTorch kernels as kdaug, so the shares tell which
kernels bound a kdaug step (docs/benchmarks.md, issue 6).

Usage: /usr/bin/python3 bench/py/student_ops.py [--precision fp32|bf16] [--nchw] [--threads 1]
"""
import argparse
import os
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kd_reference as R  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    ap.add_argument("--nchw", action="store_true", help="contiguous NCHW instead of channels-last")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch", type=int, default=384, help="images per step (3 views x 128)")
    ap.add_argument("--steps", type=int, default=5)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    fmt = torch.contiguous_format if args.nchw else torch.channels_last
    model = R.ResNet(8).to(memory_format=fmt)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4)
    x = torch.rand(args.batch, 1, 28, 28).contiguous(memory_format=fmt)
    y = torch.randint(10, (args.batch,))
    bf16 = args.precision == "bf16"

    def step():
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            logits = model(x)
        loss = F.cross_entropy(logits.float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for _ in range(3):
        step()
    t0 = time.perf_counter()
    for _ in range(args.steps):
        step()
    ms = (time.perf_counter() - t0) / args.steps * 1e3
    with torch.autograd.profiler.profile() as prof:
        for _ in range(args.steps):
            step()
    print(f"{args.precision}, {'NCHW' if args.nchw else 'channels-last'}, {args.threads} thread(s), "
          f"batch {args.batch}: {ms:.1f} ms per step")
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=12))


if __name__ == "__main__":
    main()
