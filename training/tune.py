"""Choose how the codec uses an init, on validation images (never Kodak).

Fits each image through the codec's own API for every candidate (level, width, lr) and target
rate, rate-controls the fit to that target, decodes, and records mean PSNR. Then:
- a fixed-width init gets its best level (`--write` stores it as `codec_level`);
- an integral init gets three rate-control policies, each a table from rate to (width, level):
  *ladder* (full width, best level per rate), *width* (the best single full-width level, best
  width per rate) and *both* (best pair per rate). `--policy-file` writes all three with every
  measurement; `--write` stores the best policy (mean PSNR over the rates) as `codec_table`.
"""
from __future__ import annotations

import argparse
import itertools
import json
import math
import time
from pathlib import Path

import numpy as np

from inrcodec import decoder, encoder
from inrcodec.images import load_image
from inrcodec.metrics import psnr
from inrcodec.sharedinit import load_init_file, save_init
from inrcodec.tiles import FIT_LR
from training.patches import image_files

POLICIES = ("ladder", "width", "both")


def rd_points(init_path: str, level: int, pixels: np.ndarray, steps: int, lr: float, rates: list[float],
              width: int | None = None):
    h, w, _ = pixels.shape
    out = []
    for bpp in rates:  # the fit depends on the target, as in `inrcodec encode --bpp`
        data = encoder.analyse(pixels, bpp=bpp, steps=steps, level=level, lr=lr, init=init_path,
                             network_width=width).compress(bpp=bpp)
        out.append((8 * len(data) / (h * w), psnr(decoder.decode(data, init=init_path), pixels)))
    return out


def policies(results: dict[tuple[int, int], list[float]], rates: list[float], full: int) -> dict[str, list[dict]]:
    """Rate -> (width, level) tables from mean PSNR per (width, level) at each rate."""
    fixed = max((k for w, k in results if w == full), key=lambda k: np.mean(results[full, k]))
    allowed = {"ladder": lambda w, k: w == full, "width": lambda w, k: k == fixed, "both": lambda w, k: True}
    bounds = [math.sqrt(a * b) for a, b in itertools.pairwise(rates)] + [64.0]  # geometric midpoints
    out = {}
    for name in POLICIES:
        rows = []
        for i, (rate, bound) in enumerate(zip(rates, bounds, strict=True)):
            w, k = max((key for key in results if allowed[name](*key)), key=lambda key: results[key][i])
            rows.append({"max_bpp": round(bound, 4), "width": w, "level": k, "val_bpp": rate,
                         "val_psnr": round(float(results[w, k][i]), 3)})
        out[name] = rows
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("init", type=Path)
    ap.add_argument("--val", type=Path, default=Path("../shared/data/val/cbsd68"))
    ap.add_argument("--images", type=int, default=4)
    ap.add_argument("--levels", type=int, nargs="+")
    ap.add_argument("--widths", type=int, nargs="+", help="integral init: tile network widths to try")
    ap.add_argument("--lrs", type=float, nargs="+", default=[FIT_LR])
    ap.add_argument("--steps", type=int, default=40, help="fitting steps (the shipped table was chosen at 40, "
                    "the default preset's steps then)")
    ap.add_argument("--rates", type=float, nargs="+", default=[0.25, 0.5, 1.0])
    ap.add_argument("--policy-file", type=Path, help="integral init: write the three policies and all scores here")
    ap.add_argument("--write", action="store_true", help="store the choice in the init")
    a = ap.parse_args()
    init = load_init_file(a.init)
    integral = init.integral
    files = image_files([a.val])[:: max(1, len(image_files([a.val])) // a.images)][: a.images]
    images = [load_image(f) for f in files]
    levels = a.levels or list(range(len(init.levels)))
    widths = (a.widths or [init.spec.hidden]) if integral else [None]
    results, lr_results = {}, {}
    t_all = time.time()
    for width, level, lr in itertools.product(widths, levels, a.lrs):
        t0 = time.time()
        pts = np.array([rd_points(str(a.init), level, px, a.steps, lr, a.rates, width) for px in images])
        scores = pts[:, :, 1].mean(0)  # (rate,)
        lr_results[width, level, lr] = scores
        print(f"width {width or init.spec.hidden} level {level} (density {init.levels[level].density:.3f}) "
              f"lr {lr:g}: mean PSNR " + " ".join(f"{r}bpp {p:.2f}" for r, p in zip(a.rates, scores, strict=True))
              + " | mean bpp " + " ".join(f"{b:.3f}" for b in pts[:, :, 0].mean(0))
              + f" | mean {scores.mean():.2f} ({time.time() - t0:.0f}s)", flush=True)
    for (width, level, _lr), scores in lr_results.items():  # best lr per (width, level)
        key = (width or init.spec.hidden, level)
        if key not in results or scores.mean() > np.mean(results[key]):
            results[key] = scores.tolist()
    on = f"{len(images)} images of {a.val.name}"
    if not integral:
        best_level, best_lr = max(lr_results, key=lambda k: lr_results[k].mean())[1:]
        print(f"best: level {best_level}, lr {best_lr:g}")
        meta = dict(init.meta, codec_level=best_level, codec_selection={
            "on": on, "steps": a.steps, "rates": a.rates,
            "mean_psnr": {f"level {k[1]} lr {k[2]:g}": round(float(v.mean()), 3) for k, v in lr_results.items()}})
    else:
        tables = policies(results, a.rates, init.spec.hidden)
        means = {name: float(np.mean([r["val_psnr"] for r in rows])) for name, rows in tables.items()}
        best = max(POLICIES, key=lambda name: means[name])
        for name in POLICIES:
            print(f"{name}: mean {means[name]:.2f} dB: " + ", ".join(
                f"{r['val_bpp']} bpp -> width {r['width']} level {r['level']} ({r['val_psnr']:.2f})" for r in tables[name]))
        print(f"best policy: {best}")
        if a.policy_file:
            a.policy_file.write_text(json.dumps({
                "init": init.name, "on": on, "steps": a.steps, "rates": a.rates, "minutes": round((time.time() - t_all) / 60, 1),
                "mean_psnr": means, "best": best, "policies": tables,
                "scores": [{"width": w, "level": k, "psnr": [round(x, 3) for x in v]} for (w, k), v in sorted(results.items())]},
                indent=1) + "\n")
        meta = dict(init.meta, codec_table=tables[best], codec_level=tables[best][-1]["level"], codec_selection={
            "on": on, "steps": a.steps, "rates": a.rates, "policy": best, "mean_psnr_by_policy": means})
    if a.write:
        sha = save_init(a.init, init.name, init.spec, init.tile, init.overlap, init.levels, meta)
        print(f"wrote the codec's choice into {a.init} (sha256 {sha})")


if __name__ == "__main__":
    main()
