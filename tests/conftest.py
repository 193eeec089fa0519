"""Generated test images: the tests never need ../shared or a GPU."""
from __future__ import annotations

import numpy as np
import pytest


def synthetic_image(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A photo-like RGB image: smooth gradients, hard-edged shapes and band-limited texture."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    img = np.zeros((height, width, 3))
    for c in range(3):
        a, b = rng.uniform(-1, 1, 2)
        img[..., c] = 110 + 60 * (a * y / height + b * x / width)
    for _ in range(4):
        cy, cx, r = rng.uniform(0, height), rng.uniform(0, width), rng.uniform(4, min(height, width) / 3)
        img[(y - cy) ** 2 + (x - cx) ** 2 < r * r] += rng.uniform(-60, 60, 3)
    noise = rng.normal(0, 1, (height // 4 + 2, width // 4 + 2, 3))
    from PIL import Image
    tex = np.stack([np.asarray(Image.fromarray(noise[..., c].astype(np.float32), "F").resize(
        (width, height), Image.BICUBIC)) for c in range(3)], -1)
    img += 12 * tex
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0 ** 2 / mse))


@pytest.fixture(scope="session")
def image() -> np.ndarray:
    return synthetic_image(64, 96)


@pytest.fixture(scope="session")
def stream(image) -> bytes:
    import inrcodec
    return inrcodec.encode(image, quality=60, steps=8)
