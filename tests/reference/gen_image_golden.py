"""Writes tests/golden/image_resize.safetensors, which tests/test_image.c
compares uz_image_resize (vision/image_transform.c) against. Run with Debian's
python3 (torch 1.13, CPU):  /usr/bin/python3 tests/reference/gen_image_golden.py

Two small uint8 images (RGB 7 wide x 5 high, gray 6 x 4; fixed numpy seed)
are resized up, down, and up in one axis while down in the other by
torch.nn.functional.interpolate(mode="bilinear", align_corners=False,
antialias=False) on float64 NCHW copies (torch 1.13 has no uint8 bilinear
kernel; float64 gives the exact blend, free of the float32 rounding and the
FMA contraction that PyTorch's float32 CPU kernel may or may not use). Stored
HWC as float32: "<name>.in" [H, W, C], and per output size
"<name>.<W>x<H>.exact" (the unrounded blend) and "<name>.<W>x<H>" (rounded
half up, floor(x + 0.5): the convention of PyTorch's later uint8 kernels and
of the C code). Values within float rounding of a half-integer may round
either way in float32; the C test accepts both neighbours there only.
Rerunning rewrites a byte-identical file.
"""
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_writer  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "golden",
                   "image_resize.safetensors")

# (name, width, height, channels, [(out_width, out_height), ...])
CASES = [
    ("rgb", 7, 5, 3, [(13, 11), (3, 2), (14, 10), (10, 3), (7, 5), (1, 1), (5, 9)]),
    ("gray", 6, 4, 1, [(9, 7), (2, 3), (12, 8), (6, 1)]),
]


def main():
    rng = np.random.default_rng(20240505)
    items = []
    for name, w, h, c, sizes in CASES:
        img = rng.integers(0, 256, size=(h, w, c), dtype=np.uint8)
        items.append((f"{name}.in", img.astype(np.float32)))
        x = torch.from_numpy(img.astype(np.float64)).permute(2, 0, 1).unsqueeze(0)
        for ow, oh in sizes:
            y = F.interpolate(x, size=(oh, ow), mode="bilinear", align_corners=False,
                              antialias=False)[0].permute(1, 2, 0).contiguous()
            items.append((f"{name}.{ow}x{oh}.exact", y.numpy().astype(np.float32)))
            rounded = torch.floor(y + 0.5).clamp(0, 255)
            items.append((f"{name}.{ow}x{oh}", rounded.numpy().astype(np.float32)))
    safetensors_writer.save(OUT, items, {"generator": "tests/reference/gen_image_golden.py"})


if __name__ == "__main__":
    main()
