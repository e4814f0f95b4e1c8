"""Reference outputs of torchvision.transforms.functional for tests/augment/test_torchvision.cpp.

Usage: python3 torchvision_ref.py SPEC.json

SPEC.json: {"images": {"rgb": {"file": "rgb.f32", "shape": [1, 3, H, W]}, ...},
            "cases": [{"name": "rotate_bilinear", "image": "rgb", "op": "rotate", "args": {...}}, ...]}
Images are raw little-endian float32 in [0,1] (values k/255). For every case this writes
<name>.f32 (float32, [1, C, H', W'], values in [0,1]) next to SPEC.json and prints one line
"ok <name> <shape>". Ops that torchvision defines on uint8 only (posterize, equalize) are run on
round(255 x) and divided by 255 again.
"""
import json
import os
import sys

import numpy as np
import torch
import torchvision
import torchvision.transforms.functional as TF
from torchvision.transforms import InterpolationMode


def interp(name):
    return InterpolationMode.BILINEAR if name == "bilinear" else InterpolationMode.NEAREST


def to_u8(x):
    return (x * 255).round().clamp(0, 255).to(torch.uint8)


def fill_arg(a):
    # torchvision: fill=None pads grid_sample with zeros; a number blends with a mask channel.
    return None if a.get("fill") is None else [float(a["fill"])]


def run_case(x, op, a):
    if op == "crop":  # pad then crop, as transforms.RandomCrop(padding=..., padding_mode=...)
        mode = {"zero": "constant", "reflect": "reflect", "edge": "edge"}[a["mode"]]
        p = TF.pad(x, [a["pad"]] * 4, fill=a.get("fill", 0.0), padding_mode=mode)
        return TF.crop(p, a["top"], a["left"], a["height"], a["width"])
    if op == "hflip":
        return TF.hflip(x)
    if op == "vflip":
        return TF.vflip(x)
    if op == "rotate":
        return TF.rotate(x, a["angle"], interpolation=interp(a["interp"]), fill=fill_arg(a))
    if op == "affine":
        return TF.affine(x, angle=a.get("angle", 0.0), translate=a.get("translate", [0.0, 0.0]),
                         scale=a.get("scale", 1.0), shear=a.get("shear", [0.0, 0.0]),
                         interpolation=interp(a["interp"]), fill=fill_arg(a))
    if op == "resized_crop":
        return TF.resized_crop(x, a["top"], a["left"], a["height"], a["width"], [a["out_h"], a["out_w"]],
                               interpolation=interp(a["interp"]), antialias=False)
    if op == "brightness":
        return TF.adjust_brightness(x, a["factor"])
    if op == "contrast":
        return TF.adjust_contrast(x, a["factor"])
    if op == "saturation":
        return TF.adjust_saturation(x, a["factor"])
    if op == "gamma":
        return TF.adjust_gamma(x, a["gamma"])
    if op == "sharpness":
        return TF.adjust_sharpness(x, a["factor"])
    if op == "invert":
        return TF.invert(x)
    if op == "solarize":
        return TF.solarize(x, a["threshold"])
    if op == "posterize":
        return TF.posterize(to_u8(x), a["bits"]).float() / 255
    if op == "equalize":
        return TF.equalize(to_u8(x)).float() / 255
    if op == "autocontrast":
        return TF.autocontrast(x)
    if op == "gaussian_blur":
        return TF.gaussian_blur(x, [a["kernel_size"]] * 2, [a["sigma"]] * 2)
    if op == "erase":
        return TF.erase(x, a["top"], a["left"], a["height"], a["width"], torch.tensor(a["value"]))
    raise ValueError("unknown op " + op)


def main():
    spec_path = sys.argv[1]
    d = os.path.dirname(os.path.abspath(spec_path))
    with open(spec_path) as f:
        spec = json.load(f)
    images = {}
    for key, im in spec["images"].items():
        arr = np.fromfile(os.path.join(d, im["file"]), dtype="<f4").reshape(im["shape"])
        images[key] = torch.from_numpy(arr.copy())
    torch.set_num_threads(1)
    for c in spec["cases"]:
        y = run_case(images[c["image"]].clone(), c["op"], c.get("args", {}))
        y = y.to(torch.float32).contiguous()
        y.numpy().astype("<f4").tofile(os.path.join(d, c["name"] + ".f32"))
        print("ok", c["name"], list(y.shape))
    print("torchvision", torchvision.__version__, "torch", torch.__version__)


if __name__ == "__main__":
    main()
