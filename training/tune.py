"""Choose the codec's default level and fitting learning rate on validation images (never Kodak).

Fits each image once per (level, lr) through the codec's own API, rate-controls that
fit to each target bpp, decodes, and reports mean PSNR. `--write` stores the best level in
the init.
"""
from __future__ import annotations

import argparse
import itertools
import time
from pathlib import Path

import numpy as np

from inrcodec import codec
from inrcodec.images import load_image
from inrcodec.metrics import psnr
from inrcodec.sharedinit import load_init, save_init
from training.patches import image_files


def rd_points(init_path: str, level: int, pixels: np.ndarray, steps: int, lr: float, rates: list[float]):
    h, w, _ = pixels.shape
    out = []
    for bpp in rates:  # the fit depends on the target, as in `inrcodec encode --bpp`
        data = codec.analyse(pixels, bpp=bpp, steps=steps, level=level, lr=lr, init=init_path).compress(bpp=bpp)
        out.append((8 * len(data) / (h * w), psnr(codec.decode(data, init=init_path), pixels)))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("init", type=Path)
    ap.add_argument("--val", type=Path, default=Path("../shared/data/val/cbsd68"))
    ap.add_argument("--images", type=int, default=4)
    ap.add_argument("--levels", type=int, nargs="+")
    ap.add_argument("--lrs", type=float, nargs="+", default=[codec.FIT_LR])
    ap.add_argument("--steps", type=int, default=codec.PRESETS["default"])
    ap.add_argument("--rates", type=float, nargs="+", default=[0.25, 0.5, 1.0])
    ap.add_argument("--write", action="store_true", help="store the best level as the init's codec level")
    a = ap.parse_args()
    init = load_init(str(a.init))
    files = image_files([a.val])[:: max(1, len(image_files([a.val])) // a.images)][: a.images]
    images = [load_image(f) for f in files]
    levels = a.levels or list(range(len(init.levels)))
    results = {}
    for level, lr in itertools.product(levels, a.lrs):
        t0 = time.time()
        pts = np.array([rd_points(str(a.init), level, px, a.steps, lr, a.rates) for px in images])  # (img, rate, 2)
        results[level, lr] = pts[:, :, 1].mean(0)
        print(f"level {level} (density {init.levels[level].density:.3f}) lr {lr:g}: mean PSNR "
              + " ".join(f"{r}bpp {p:.2f}" for r, p in zip(a.rates, results[level, lr]))
              + f" | mean {results[level, lr].mean():.2f} ({time.time() - t0:.0f}s)", flush=True)
    best_level, best_lr = max(results, key=lambda k: results[k].mean())
    print(f"best: level {best_level}, lr {best_lr:g}")
    if a.write:
        meta = dict(init.meta, codec_level=best_level, codec_selection={
            "on": f"{len(images)} images of {a.val.name}", "steps": a.steps, "rates": a.rates,
            "mean_psnr": {f"level {k[0]} lr {k[1]:g}": round(float(v.mean()), 3) for k, v in results.items()}})
        sha = save_init(a.init, init.name, init.spec, init.tile, init.overlap, init.levels, meta)
        print(f"wrote codec_level={best_level} into {a.init} (sha256 {sha})")


if __name__ == "__main__":
    main()
