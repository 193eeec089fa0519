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
from inrcodec.representations.latents.init import LATENT_INIT, PREDICTED_INIT
from inrcodec.sharedinit import INTEGRAL_INIT, SPARSE_INIT

HERE = Path(__file__).parent / "conformance"
CASES = [  # name, (height, width), seed, encoder settings; representation 2 cases also pin a preview
    ("small-q60", (48, 64), 11, {"quality": 60, "steps": 10, "init": SPARSE_INIT}),
    ("odd-q80", (37, 70), 12, {"quality": 80, "steps": 20, "init": SPARSE_INIT}),
    ("bpp2", (64, 96), 13, {"bpp": 2.0, "steps": 20, "init": SPARSE_INIT}),
    ("integral-w20-scalable", (56, 72), 14, {"bpp": 1.5, "steps": 10, "network_width": 20, "level": 5,
                                             "scalable": True}),
    ("integral-table-q50", (41, 67), 15, {"quality": 50, "steps": 10, "init": INTEGRAL_INIT}),
    ("latents-q70", (32, 40), 16, {"quality": 70, "steps": 30, "init": LATENT_INIT}),
    ("latents-bpp3", (36, 52), 17, {"bpp": 3.0, "steps": 40, "init": LATENT_INIT}),
    ("predicted-v2-half-q60", (40, 56), 18, {"quality": 60, "steps": 10, "init": "latents-v2", "latent_scale": 0.5}),
    ("predicted-half-q60", (40, 56), 18, {"quality": 60, "steps": 10, "init": PREDICTED_INIT, "latent_scale": 0.5}),
]  # an init the encoder no longer picks keeps its case: its streams stay decodable
PREVIEW = 0.5  # width fraction of the pinned preview decodes


def main(only: list[str]) -> None:
    """Regenerate the cases named in `only` (all when empty), keeping the others' files and entries:
    a new representation's streams join without rewriting the older ones."""
    HERE.mkdir(exist_ok=True)
    path = HERE / "manifest.json"
    manifest = json.loads(path.read_text()) if only and path.exists() else {}
    for name, (h, w), seed, settings in CASES:
        if only and name not in only:
            continue
        src = synthetic_image(h, w, seed)
        data = inrcodec.encode(src, **settings)
        Image.fromarray(src).save(HERE / f"{name}.source.png")
        (HERE / f"{name}.inr").write_bytes(data)
        manifest[name] = {"settings": settings, "bytes": len(data), "symbols_sha256": symbols_sha256(data)}
        fractions = {"decoded": 1.0} | ({"preview": PREVIEW} if inrcodec.info(data).representation > 1 else {})
        for kind, fraction in fractions.items():
            out = inrcodec.decode(data, width_fraction=fraction)
            Image.fromarray(out).save(HERE / f"{name}.{kind}.png")
            manifest[name][kind] = {"width_fraction": fraction, "sha256": hashlib.sha256(out.tobytes()).hexdigest(),
                                    "psnr_vs_source": round(psnr(out, src), 4)}
    path.write_text(json.dumps(dict(sorted(manifest.items(), key=lambda kv: NAMES.index(kv[0]))), indent=2) + "\n")
    print(json.dumps(manifest, indent=2))


NAMES = [case[0] for case in CASES]

if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])  # --help must not rewrite the streams
    ap.add_argument("only", nargs="*", metavar="NAME", help=f"regenerate only these of {', '.join(NAMES)} "
                                                          "(default: all of them)")
    only = ap.parse_args().only
    if set(only) - set(NAMES):
        ap.error(f"unknown cases: {', '.join(sorted(set(only) - set(NAMES)))}")
    main(only)
