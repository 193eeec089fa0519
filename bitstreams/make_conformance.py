"""Regenerate the conformance streams in bitstreams/conformance (see FORMAT.md).

Run only when the format or the shipped init changes: the committed streams pin what
every decoder must reproduce.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

from PIL import Image

import inrcodec
from inrcodec.codec import symbols_sha256
from inrcodec.example import synthetic_image
from inrcodec.metrics import psnr

HERE = Path(__file__).parent / "conformance"
CASES = [  # name, (height, width), seed, encoder settings
    ("small-q60", (48, 64), 11, {"quality": 60, "steps": 10}),
    ("odd-q80", (37, 70), 12, {"quality": 80, "steps": 20}),
    ("bpp2", (64, 96), 13, {"bpp": 2.0, "steps": 20}),
]


def main() -> None:
    HERE.mkdir(exist_ok=True)
    manifest = {}
    for name, (h, w), seed, settings in CASES:
        src = synthetic_image(h, w, seed)
        data = inrcodec.encode(src, **settings)
        out = inrcodec.decode(data)
        Image.fromarray(src).save(HERE / f"{name}.source.png")
        Image.fromarray(out).save(HERE / f"{name}.decoded.png")
        (HERE / f"{name}.inr").write_bytes(data)
        manifest[name] = {"settings": settings, "bytes": len(data),
                          "symbols_sha256": symbols_sha256(data),
                          "decoded_sha256": hashlib.sha256(out.tobytes()).hexdigest(),
                          "psnr_vs_source": round(psnr(out, src), 4)}
    (HERE / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    print(json.dumps(manifest, indent=2))


if __name__ == "__main__":
    main()
