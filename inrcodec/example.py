"""A generated, photo-like example image: for the README demo, the tests and conformance streams.

    python -m inrcodec.example example.png [--size 512x768]
"""
from __future__ import annotations

import argparse

import numpy as np
from PIL import Image


def synthetic_image(height: int, width: int, seed: int = 0) -> np.ndarray:
    """RGB uint8: smooth gradients, hard-edged discs and band-limited texture, deterministic per seed."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    img = np.zeros((height, width, 3))
    for c in range(3):
        a, b = rng.uniform(-1, 1, 2)
        img[..., c] = 110 + 60 * (a * y / height + b * x / width)
    for _ in range(4):
        cy, cx, r = rng.uniform(0, height), rng.uniform(0, width), rng.uniform(4, min(height, width) / 3)
        img[(y - cy) ** 2 + (x - cx) ** 2 < r * r] += rng.uniform(-60, 60, 3)
    noise = rng.normal(0, 1, (height // 4 + 2, width // 4 + 2, 3)).astype(np.float32)
    tex = np.stack([np.asarray(Image.fromarray(noise[..., c], "F").resize((width, height), Image.Resampling.BICUBIC))
                    for c in range(3)], -1)
    img += 12 * tex
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def main() -> None:
    ap = argparse.ArgumentParser(description="Write a generated example image.")
    ap.add_argument("out")
    ap.add_argument("--size", default="512x768", help="HEIGHTxWIDTH")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    h, w = (int(v) for v in a.size.lower().split("x"))
    Image.fromarray(synthetic_image(h, w, a.seed)).save(a.out)
    print(f"{a.out}: {w}x{h}")


if __name__ == "__main__":
    main()
