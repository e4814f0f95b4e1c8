#!/usr/bin/env python3
"""End-to-end speed of kdaug's training arms beside a straightforward PyTorch implementation of
the same recipes (bench/py/kd_reference.py), run alternately in one run (BENCHMARK.md, "Speed").

For each round and arm: kdaug runs N steps of the arm's recipe (bf16 teacher as the shipped
recipes say), then PyTorch runs N steps of the same arm, both timed after the same warm-up steps;
images/s are compared as medians over rounds, with the ratio PyTorch seconds / kdaug seconds per
epoch. Arms with a bf16 student are also compared with PyTorch under bf16 autocast. Also: the synergy
step against the student-only step on the same three views (the limit of a KD step), and the
achieved GFLOP/s against the matrix-multiply peak from bench_matmul.

Usage: /usr/bin/python3 bench/e2e.py --build build [--rounds 3] [--steps 60] [--threads 2]
Writes bench/results/e2e.json and bench/results/e2e.md (the Markdown table, with the command).
"""
import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
EPOCH_IMAGES = 55000  # the canonical recipe's training split (60000 - 5000 validation)

# arm -> (kdaug recipe, extra --set overrides, PyTorch arm or None, student views, teacher views,
#         student precision). "teacher.cache=null" turns a recipe's soft-label cache off (the teacher
# then runs online); the cached arm reads the recipe's 4-view cache, built (or found) before its first
# timed run, and is compared with the same PyTorch synergy run as the online arm (PyTorch has no such
# cache). Arms with a bf16 student are compared with PyTorch in fp32 (the straightforward script) and
# with PyTorch under bf16 autocast + channels-last (the same precision).
BF16 = ["train.precision=bf16", "train.channels_last=true"]
ARMS = {
    "ce": ("recipes/fmnist/ce.yaml", [], "ce", 1, 0, "fp32"),
    "kd (teacher online)": ("recipes/fmnist/kd.yaml", ["teacher.cache=null"], "kd", 1, 1, "fp32"),
    "synergy (teacher online)": ("recipes/fmnist/synergy.yaml", ["teacher.cache=null"], "synergy", 3, 1, "fp32"),
    "synergy (cached)": ("recipes/fmnist/synergy.yaml", [], "synergy", 3, 0, "fp32"),
    "student only (synergy views)": ("bench/recipes/student_only.yaml", [], None, 3, 0, "fp32"),
    "synergy (teacher online) bf16": ("recipes/fmnist/synergy.yaml", ["teacher.cache=null"] + BF16, "synergy", 3, 1,
                                      "bf16"),
    "synergy (cached) bf16": ("recipes/fmnist/synergy.yaml", BF16, "synergy", 3, 0, "bf16"),
    "student only (synergy views) bf16": ("bench/recipes/student_only.yaml", BF16, None, 3, 0, "bf16"),
}
WARMUP = 5  # steps excluded from the timing on both sides (kd_reference.py's --warmup default)
SHIPPED_TEACHER = os.path.join(ROOT, "models", "fmnist-resnet56.pt")


def sh(cmd, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        sys.exit(f"e2e: command failed ({r.returncode}): {' '.join(cmd)}\n{r.stderr[-2000:]}")
    return r.stdout


def kdaug_run(kdaug, recipe, sets, teacher, steps, threads, tmp, profile=False):
    out = tempfile.mkdtemp(dir=tmp)
    cmd = [kdaug, "run", os.path.join(ROOT, recipe), "--out", out, "--threads", str(threads),
           "--max-steps", str(steps), "--set", "train.epochs=1", "--set", "data.val_size=500",
           "--set", "data.test_limit=200", "--set", f"teacher.checkpoint={teacher}"]
    for s in sets:
        cmd += ["--set", s]
    if profile:
        cmd.append("--profile")
    # The recipe's teacher section is only read by recipes that have one; others ignore the override
    # by failing on an unknown section, so add it only where the recipe names a teacher.
    if "teacher:" not in open(os.path.join(ROOT, recipe)).read():
        i = cmd.index(f"teacher.checkpoint={teacher}")
        del cmd[i - 1:i + 1]
    sh(cmd, cwd=ROOT)
    with open(os.path.join(out, "metrics.jsonl")) as f:
        rec = json.loads(f.readline())
    prof = None
    if profile and os.path.exists(os.path.join(out, "profile.json")):
        with open(os.path.join(out, "profile.json")) as f:
            prof = json.load(f)
    return {"seconds": rec["seconds"], "profile": prof}


def kdaug_timed(kdaug, recipe, sets, teacher, steps, threads, tmp):
    """Seconds of `steps` steps after WARMUP steps: an epoch cut at WARMUP + steps steps minus one cut at
    WARMUP steps (kdaug times whole epochs, so its start-up and warm-up cancel in the difference)."""
    long = kdaug_run(kdaug, recipe, sets, teacher, WARMUP + steps, threads, tmp)
    short = kdaug_run(kdaug, recipe, sets, teacher, WARMUP, threads, tmp)
    seconds = long["seconds"] - short["seconds"]
    if seconds <= 0:
        sys.exit(f"e2e: {recipe}: {WARMUP + steps} steps took {long['seconds']:.2f} s but {WARMUP} took "
                 f"{short['seconds']:.2f} s; use more --steps")
    return {"seconds": seconds, "images_per_s": steps * 128 / seconds}


def pytorch_run(arm, steps, threads, workers, precision="fp32"):
    cmd = [sys.executable, os.path.join(HERE, "py", "kd_reference.py"), "--arm", arm, "--steps", str(steps),
           "--threads", str(threads), "--workers", str(workers), "--warmup", str(WARMUP), "--precision", precision]
    return json.loads(sh(cmd).strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--arms", default=",".join(ARMS), help="comma list of " + ", ".join(ARMS))
    ap.add_argument("--json", default=os.path.join(HERE, "results", "e2e.json"))
    args = ap.parse_args()
    kdaug = os.path.abspath(os.path.join(args.build, "kdaug"))
    arms = [a.strip() for a in args.arms.split(",") if a.strip()]
    for a in arms:
        if a not in ARMS:
            sys.exit(f"e2e: unknown arm '{a}' (known: {', '.join(ARMS)})")
    tmp = tempfile.mkdtemp(prefix="kdaug-e2e-")

    # The shipped resnet56 teacher (its soft-label cache is then the one real runs use); without
    # it, a barely trained resnet56 (its weights do not change the speed).
    teacher = SHIPPED_TEACHER
    if not os.path.exists(teacher):
        teacher_dir = os.path.join(tmp, "teacher")
        sh([kdaug, "train", "--model", "resnet56", "--epochs", "1", "--max-steps", "1", "--val-size", "500",
            "--out", teacher_dir, "--threads", str(args.threads)], cwd=ROOT)
        teacher = os.path.join(teacher_dir, "last.pt")
    if any("cached" in a for a in arms):
        # Build (or find) the cached arm's soft-label cache outside the timed runs.
        sh([kdaug, "cache", "build", os.path.join(ROOT, "recipes/fmnist/synergy.yaml"), "--threads",
            str(args.threads), "--set", f"teacher.checkpoint={teacher}"], cwd=ROOT)

    # The PyTorch DataLoader's best worker count, once, on the heaviest arm.
    probe = pytorch_run("synergy", max(10, args.steps // 4), args.threads, -1)
    workers = probe["workers"]
    print(f"e2e: PyTorch DataLoader workers = {workers} (trials {probe['worker_trials_s']})", flush=True)

    samples = {a: {"kdaug": [], "pytorch": [], "pytorch_bf16": [], "profile": None} for a in arms}
    for r in range(args.rounds):
        measured = {}  # (PyTorch arm, precision) -> this round's result, shared by the arms that use it
        for a in arms:
            recipe, sets, py_arm, _, _, precision = ARMS[a]
            k = kdaug_timed(kdaug, recipe, sets, teacher, args.steps, args.threads, tmp)
            samples[a]["kdaug"].append(k["images_per_s"])
            if r == 0:  # where a step's time goes, from a separate run (--profile adds synchronisation)
                samples[a]["profile"] = kdaug_run(kdaug, recipe, sets, teacher, WARMUP + args.steps, args.threads, tmp,
                                                  profile=True)["profile"]
            line = f"e2e: round {r + 1}/{args.rounds} {a}: kdaug {k['images_per_s']:.0f} img/s"
            if py_arm:
                for prec, key in (("fp32", "pytorch"), ("bf16", "pytorch_bf16")):
                    if prec == "bf16" and precision != "bf16":
                        continue
                    if (py_arm, prec) not in measured:
                        measured[(py_arm, prec)] = pytorch_run(py_arm, args.steps, args.threads, workers, prec)
                    samples[a][key].append(measured[(py_arm, prec)]["images_per_s"])
                    line += f", pytorch {prec} {samples[a][key][-1]:.0f} img/s"
            print(line, flush=True)

    models = json.loads(sh([kdaug, "models", "--json"]))["models"]
    macs = {m["name"]: m["macs"] for m in models}
    peak = None
    matmul = os.path.join(HERE, "results", "matmul.json")
    if os.path.exists(matmul):
        with open(matmul) as f:
            peak = json.load(f)

    rows = []
    student_only = {}
    for a in arms:
        if a.startswith("student only"):
            student_only[ARMS[a][5]] = statistics.median(samples[a]["kdaug"])
    for a in arms:
        _, _, py_arm, s_views, t_views, precision = ARMS[a]
        k = statistics.median(samples[a]["kdaug"])
        # Training flops per original image: forward + backward ~ 3x the forward for each student
        # view, a forward for each teacher view (multiply-adds x 2 = flops).
        flops = 2 * (3 * s_views * macs["resnet8"] + t_views * macs["resnet56"])
        row = {"arm": a, "student_precision": precision, "kdaug_images_per_s": k, "kdaug_epoch_s": EPOCH_IMAGES / k,
               "kdaug_samples": samples[a]["kdaug"], "gflops_achieved": flops * k / 1e9,
               "profile": samples[a]["profile"]}
        for key, name in (("pytorch", ""), ("pytorch_bf16", "_bf16")):
            if samples[a][key]:
                p = statistics.median(samples[a][key])
                row.update({f"pytorch{name}_images_per_s": p, f"pytorch{name}_epoch_s": EPOCH_IMAGES / p,
                            f"pytorch{name}_samples": samples[a][key],
                            f"ratio_pytorch{name}_over_kdaug_time": k / p})
        if precision in student_only and s_views == 3 and not a.startswith("student only"):
            row["step_over_student_only"] = student_only[precision] / k
        rows.append(row)

    cmd = shlex.join([os.path.relpath(sys.argv[0], ROOT)] + sys.argv[1:])
    result = {"benchmark": "e2e", "command": "python3 " + cmd, "threads": args.threads, "steps": args.steps,
              "rounds": args.rounds, "pytorch_workers": workers, "date": time.strftime("%Y-%m-%d %H:%M"),
              "matmul_peak": peak and {"fp32": peak["peak_gflops_fp32"], "bf16": peak["peak_gflops_bf16"]},
              "rows": rows}
    os.makedirs(os.path.dirname(args.json), exist_ok=True)
    with open(args.json + ".tmp", "w") as f:
        json.dump(result, f, indent=2)
    os.replace(args.json + ".tmp", args.json)

    md = [f"`{result['command']}` ({args.threads} threads, {args.steps} steps after {WARMUP} warm-up steps x "
          f"{args.rounds} rounds, medians; epoch = {EPOCH_IMAGES} images; PyTorch DataLoader workers = {workers})",
          "",
          "| arm | kdaug img/s | kdaug s/epoch | PyTorch fp32 img/s | PyTorch fp32 time / kdaug time "
          "| PyTorch bf16 img/s | PyTorch bf16 time / kdaug time | step / student-only step | achieved GFLOP/s |",
          "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in rows:
        cells = [r["arm"], f"{r['kdaug_images_per_s']:.0f}", f"{r['kdaug_epoch_s']:.0f}"]
        for name in ("", "_bf16"):
            if f"pytorch{name}_images_per_s" in r:
                cells += [f"{r[f'pytorch{name}_images_per_s']:.0f}", f"{r[f'ratio_pytorch{name}_over_kdaug_time']:.2f}x"]
            else:
                cells += ["-", "-"]
        cells.append(f"{r['step_over_student_only']:.2f}" if "step_over_student_only" in r else "-")
        cells.append(f"{r['gflops_achieved']:.1f}")
        md.append("| " + " | ".join(cells) + " |")
    if peak:
        md += ["", f"Matrix-multiply peak (bench_matmul, {peak['threads']} threads): fp32 "
               f"{peak['peak_gflops_fp32']:.0f} GFLOP/s, bf16 {peak['peak_gflops_bf16']:.0f} GFLOP/s."]
    text = "\n".join(md) + "\n"
    with open(os.path.splitext(args.json)[0] + ".md", "w") as f:
        f.write(text)
    print(text)


if __name__ == "__main__":
    main()
