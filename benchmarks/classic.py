"""Classic codecs through Pillow, each swept over its quality range: JPEG 4:2:0 optimized,
WebP method 6, JPEG 2000 (OpenJPEG 9/7 wavelet with the RGB->YCbCr transform; without
`mct=1` Pillow codes RGB planes and loses ~3 dB), AVIF 4:4:4."""
from __future__ import annotations

import io
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np
from PIL import Image


@dataclass(frozen=True)
class Classic:
    name: str
    settings: list[float]
    save: Callable[[Image.Image, io.BytesIO, float], None]


def _jpeg(img, buf, q):
    img.save(buf, "JPEG", quality=int(q), subsampling="4:2:0", optimize=True)


def _webp(img, buf, q):
    img.save(buf, "WEBP", quality=int(q), method=6)


def _j2k(img, buf, bpp):
    ratio = 24.0 / bpp  # quality_layers are compression ratios against 24-bit RGB
    img.save(buf, "JPEG2000", quality_mode="rates", quality_layers=[ratio], irreversible=True, mct=1)


def _avif(img, buf, q):
    img.save(buf, "AVIF", quality=int(q), subsampling="4:4:4", speed=6)


CLASSICS = {
    "jpeg": Classic("JPEG (Pillow, 4:2:0, optimize)", [1, 2, 3, 5, 10, 15, 20, 30, 40, 50, 60, 70, 80, 90, 95], _jpeg),
    "webp": Classic("WebP (Pillow, method 6)", [0, 2, 5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95], _webp),
    "jpeg2000": Classic("JPEG 2000 (Pillow/OpenJPEG)", [0.1, 0.15, 0.25, 0.35, 0.5, 0.75, 1.0, 1.5, 2.0], _j2k),
    "avif": Classic("AVIF (Pillow, 4:4:4, speed 6)", [5, 15, 25, 35, 45, 55, 65, 75, 85, 92], _avif),
}


def run_classic(key: str, pixels: np.ndarray, setting: float) -> tuple[bytes, np.ndarray, float, float]:
    """Encode and decode once: (file bytes, decoded pixels, encode s, decode s)."""
    c = CLASSICS[key]
    img = Image.fromarray(pixels)
    buf = io.BytesIO()
    t0 = time.perf_counter()
    c.save(img, buf, setting)
    t1 = time.perf_counter()
    data = buf.getvalue()
    out = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    return data, out, t1 - t0, time.perf_counter() - t1
