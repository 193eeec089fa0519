"""Regenerate the conformance streams in bitstreams/conformance (see FORMAT.md).

Run only when the format or the shipped init changes: the committed streams pin what
every decoder must reproduce.
"""
from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

from PIL import Image

import inrcodec
from inrcodec.decoder import symbols_sha256
from inrcodec.example import synthetic_image
from inrcodec.metrics import psnr
from inrcodec.sharedinit import INTEGRAL_INIT, SPARSE_INIT

HERE = Path(__file__).parent / "conformance"
CASES = [  # name, (height, width), seed, encoder settings; representation 2 cases also pin a preview
    ("small-q60", (48, 64), 11, {"quality": 60, "steps": 10, "init": SPARSE_INIT}),
    ("odd-q80", (37, 70), 12, {"quality": 80, "steps": 20, "init": SPARSE_INIT}),
    ("bpp2", (64, 96), 13, {"bpp": 2.0, "steps": 20, "init": SPARSE_INIT}),
    ("integral-w20-scalable", (56, 72), 14, {"bpp": 1.5, "steps": 10, "network_width": 20, "level": 5,
                                             "scalable": True}),
    ("integral-table-q50", (41, 67), 15, {"quality": 50, "steps": 10, "init": INTEGRAL_INIT}),
]
PREVIEW = 0.5  # width fraction of the pinned preview decodes


def main() -> None:
    HERE.mkdir(exist_ok=True)
    manifest = {}
    for name, (h, w), seed, settings in CASES:
        src = synthetic_image(h, w, seed)
        data = inrcodec.encode(src, **settings)
        Image.fromarray(src).save(HERE / f"{name}.source.png")
        (HERE / f"{name}.inr").write_bytes(data)
        manifest[name] = {"settings": settings, "bytes": len(data), "symbols_sha256": symbols_sha256(data)}
        fractions = {"decoded": 1.0} | ({"preview": PREVIEW} if inrcodec.info(data).representation == 2 else {})
        for kind, fraction in fractions.items():
            out = inrcodec.decode(data, width_fraction=fraction)
            Image.fromarray(out).save(HERE / f"{name}.{kind}.png")
            manifest[name][kind] = {"width_fraction": fraction, "sha256": hashlib.sha256(out.tobytes()).hexdigest(),
                                    "psnr_vs_source": round(psnr(out, src), 4)}
    (HERE / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    print(json.dumps(manifest, indent=2))


if __name__ == "__main__":
    argparse.ArgumentParser(description=__doc__.split("\n")[0]).parse_args()  # --help must not rewrite the streams
    main()
