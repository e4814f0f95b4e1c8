#!/usr/bin/env python3
"""One Markdown table per metric family from several `kdaug eval` JSON files, side by side.

Usage: python3 scripts/eval_tables.py NAME=path/eval.json [NAME=path/eval.json ...] > tables.md
Families absent from a file show as "-" in its row.
"""
import json
import sys


def fmt(v, digits=4):
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return str(v)


def table(header, rows):
    out = ["| " + " | ".join(header) + " |", "| --- |" + " ---: |" * (len(header) - 1)]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out) + "\n"


def main():
    if len(sys.argv) < 2 or any("=" not in a for a in sys.argv[1:]):
        sys.exit("usage: eval_tables.py NAME=eval.json [NAME=eval.json ...]")
    models = []
    for arg in sys.argv[1:]:
        name, path = arg.split("=", 1)
        try:
            with open(path) as f:
                models.append((name, json.load(f)))
        except (OSError, json.JSONDecodeError) as e:
            sys.exit(f"eval_tables: {path}: {e}")
    md = []

    md.append("### Clean test set\n")
    md.append(table(["model", "test images", "accuracy", "NLL"],
                    [[n, fmt(j.get("clean", {}).get("n")), fmt(j.get("clean", {}).get("accuracy")),
                      fmt(j.get("clean", {}).get("nll"))] for n, j in models]))

    sigmas = sorted({p["sigma"] for _, j in models for p in j.get("noise", {}).get("points", [])})
    md.append("\n### Gaussian noise sweep (accuracy; sigma in pixel units of [0,1] images)\n")
    md.append(table(["model"] + [f"sigma {s:g}" for s in sigmas],
                    [[n] + [fmt(next((p["accuracy"] for p in j.get("noise", {}).get("points", [])
                                      if p["sigma"] == s), None)) for s in sigmas] for n, j in models]))

    # The suite's own order (docs/eval.md): noise, blur, geometric, photometric, digital, lines.
    names = ["gaussian_noise", "shot_noise", "impulse_noise", "speckle_noise", "gaussian_blur", "motion_blur",
             "glass_blur", "rotate", "shear", "scale", "translate", "elastic", "brightness", "contrast", "inverse",
             "fog", "pixelate", "jpeg", "stripe", "zigzag", "dotted_line"]
    present = {c for _, j in models for c in j.get("corrupt", {}).get("corruptions", {})}
    names = [c for c in names if c in present]
    for _, j in models:
        for c in j.get("corrupt", {}).get("corruptions", {}):
            if c not in names:
                names.append(c)
    md.append("\n### Corruptions (accuracy averaged over severities 1-5; CE relative to the baseline)\n")
    rows = [["**mean corruption accuracy**"] + [fmt(j.get("corrupt", {}).get("mean_accuracy")) for _, j in models],
            ["**mCE** (baseline = 1)"] + [fmt(j.get("corrupt", {}).get("mce"), 3) for _, j in models],
            ["clean accuracy (same images)"] + [fmt(j.get("corrupt", {}).get("clean_accuracy")) for _, j in models]]
    for c in names:
        rows.append([c] + [fmt(j.get("corrupt", {}).get("corruptions", {}).get(c, {}).get("mean_accuracy"))
                           for _, j in models])
    md.append(table(["corruption"] + [n for n, _ in models], rows))

    attacks = []
    for _, j in models:
        for a in j.get("adv", {}).get("results", []) if isinstance(j.get("adv"), dict) else []:
            key = (a["attack"], a["eps_255"])
            if key not in attacks:
                attacks.append(key)
    md.append("\n### White-box L-inf attacks (robust accuracy; eps in grey levels /255)\n")
    def adv(j, key):
        for a in j.get("adv", {}).get("results", []):
            if (a["attack"], a["eps_255"]) == key:
                return a["accuracy"]
        return None
    md.append(table(["model"] + [f"{a.upper()} {e:g}/255" for a, e in attacks],
                    [[n] + [fmt(adv(j, k)) for k in attacks] for n, j in models]))

    md.append("\n### Calibration (test set; temperature fitted on the validation split)\n")
    rows = []
    for n, j in models:
        c = j.get("calib", {})
        b, a = c.get("before", {}), c.get("after", {})
        rows.append([n, fmt(b.get("ece")), fmt(b.get("nll")), fmt(c.get("temperature"), 3), fmt(a.get("ece")),
                     fmt(a.get("nll"))])
    md.append(table(["model", "ECE (15 bins)", "NLL", "fitted T", "ECE after", "NLL after"], rows))

    md.append("\n### Fidelity to the teacher (test set)\n")
    md.append(table(["model", "top-1 agreement", "KL(teacher ‖ model)"],
                    [[n, fmt(j.get("fidelity", {}).get("agreement")), fmt(j.get("fidelity", {}).get("kl"))]
                     for n, j in models]))

    md.append("\n### Cost\n")
    rows = []
    for n, j in models:
        c = j.get("cost", {})
        lat = {l["batch_size"]: l for l in c.get("latency", [])}
        rows.append([n, fmt(c.get("params")), fmt(c.get("macs")), fmt(c.get("checkpoint_bytes")),
                     fmt(lat.get(1, {}).get("median_ms"), 2), fmt(lat.get(128, {}).get("median_ms"), 1),
                     fmt(lat.get(128, {}).get("images_per_s"), 0), fmt(c.get("threads"))])
    md.append(table(["model", "parameters", "MACs / image", "checkpoint bytes", "batch 1 ms", "batch 128 ms",
                     "batch 128 images/s", "threads"], rows))
    print("\n".join(md))


if __name__ == "__main__":
    main()
