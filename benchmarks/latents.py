"""Representation 3 on val images: what the context model saves, and what decoding and previews cost.

For each image and target rate: `analyse(bpp=rate, init=latents)` then `compress(bpp=rate)` (real
streams), and on the coded latents of that stream:
- the context model's saving: their bits under the ARM (the stream's latent payload) against one
  zero-mean Laplace per grid at its best scale (inrcodec.entropy.choose_scale, the tiles' coder and
  the ceiling study's candidate b);
- the decoder's cost: entropy decoding and rendering at the native size, a 3840x2160 render, and the
  preview (the coarsest grids only): its time and PSNR.
Seconds per fitting step are also measured on a 768x512 synthetic image (a Kodak image's size).
Writes benchmarks/results/<name>.{csv,md}.

    python -m benchmarks.latents --data ../shared/data/val/cbsd68 --limit 3 --rates 0.25 0.5 1.0
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from benchmarks.common import RESULTS, images_in, machine, say, write_csv
from inrcodec import decoder
from inrcodec.bitstream import payload_words
from inrcodec.encoder import analyse
from inrcodec.entropy import choose_scale, encode_tensors
from inrcodec.example import synthetic_image
from inrcodec.images import load_image
from inrcodec.metrics import psnr
from inrcodec.presets import PREVIEW_DEFAULT
from inrcodec.representations.latents.init import LATENT_INIT

FIELDS = ["image", "target_bpp", "steps", "bpp", "psnr", "fit_s", "latent_bits_arm", "latent_bits_laplace",
          "arm_saving", "entropy_decode_s", "render_s", "render_4k_s", "preview_s", "preview_psnr"]


def seconds_per_step(init: str, steps: int = 10) -> float:
    """Fit seconds per step on a 768x512 image, after a warm-up fit."""
    img = synthetic_image(512, 768, seed=3)
    analyse(img, bpp=0.5, steps=2, init=init)
    return analyse(img, bpp=0.5, steps=steps, init=init).seconds / steps


def timed(f, *args, **kw):
    t0 = time.perf_counter()
    out = f(*args, **kw)
    return out, time.perf_counter() - t0


def measure(path: Path, rate: float, steps: int | None, init: str) -> dict:
    px = load_image(path)
    fit = analyse(px, bpp=rate, steps=steps, init=init)
    data = fit.compress(bpp=rate)
    init_arg = init if init.endswith(".npz") else None
    (p, tensors), t_entropy = timed(decoder.decode_tensors, data, init_arg)
    n = len(p.init.masks)
    words = payload_words(data, p.offset)  # the payload but the synthesis update's share of it
    latent_bits = 32 * (len(words) - len(encode_tensors(tensors[:n])))
    laplace = sum(choose_scale(t.symbols, t.radius)[1] for t in tensors[n:] if t.radius)
    h, w, _ = px.shape
    out, t_render = timed(p.rep.render, tensors, h, w)
    _, t_4k = timed(p.rep.render, tensors, 2160, 3840)
    preview, t_preview = timed(decoder.decode, data, init=init_arg, width_fraction=PREVIEW_DEFAULT)
    full = np.rint(np.clip(out, 0, 1) * 255).astype(np.uint8).reshape(h, w, 3)
    return {"image": path.stem, "target_bpp": rate, "steps": p.rep.settings.steps, "bpp": 8 * len(data) / (h * w),
            "psnr": psnr(full, px), "fit_s": fit.seconds, "latent_bits_arm": latent_bits,
            "latent_bits_laplace": laplace, "arm_saving": 1 - latent_bits / laplace, "entropy_decode_s": t_entropy,
            "render_s": t_render, "render_4k_s": t_4k, "preview_s": t_preview, "preview_psnr": psnr(preview, px)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", required=True, type=Path)
    ap.add_argument("--limit", type=int, default=3)
    ap.add_argument("--rates", type=float, nargs="+", default=[0.25, 0.5, 1.0])
    ap.add_argument("--steps", type=int, help="fitting steps (default: the default preset's)")
    ap.add_argument("--init", default=LATENT_INIT)
    ap.add_argument("--name", default="latents-val")
    ap.add_argument("--quiet", action="store_true")
    a = ap.parse_args()
    log = say(a.quiet)
    per_step = seconds_per_step(a.init)
    log(f"{per_step:.3f} s per fitting step on 768x512")
    rows = []
    for path in images_in(a.data, a.limit):
        for rate in a.rates:
            rows.append(measure(path, rate, a.steps, a.init))
            r = rows[-1]
            log(f"{path.stem} {rate}: {r['bpp']:.3f} bpp {r['psnr']:.2f} dB, ARM saves {100 * r['arm_saving']:.1f} %")
            write_csv(RESULTS / f"{a.name}.csv", FIELDS, rows)
    write_md(RESULTS / f"{a.name}.md", rows, per_step, machine("cpu"), a)


def write_md(path: Path, rows: list[dict], per_step: float, where: str, a: argparse.Namespace) -> None:
    mean = {k: float(np.mean([r[k] for r in rows])) for k in FIELDS[3:]}
    lines = [f"# Representation 3 on {a.data.name} ({len({r['image'] for r in rows})} images)", "",
             f"`python -m benchmarks.latents --data {a.data} --limit {a.limit} --rates {' '.join(map(str, a.rates))}"
             + (f" --steps {a.steps}" if a.steps else "") + f"`, init {a.init}; {where}.", "",
             f"Fitting: {per_step:.3f} s per step on a 768x512 image.", "",
             "| image | target | bpp | PSNR | fit s | ARM saving vs one Laplace per grid | entropy decode s | "
             "render s | 4K render s | preview s | preview PSNR |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['image']} | {r['target_bpp']} | {r['bpp']:.3f} | {r['psnr']:.2f} | {r['fit_s']:.1f} | "
                     f"{100 * r['arm_saving']:.1f} % | {r['entropy_decode_s']:.3f} | {r['render_s']:.3f} | "
                     f"{r['render_4k_s']:.2f} | {r['preview_s']:.3f} | {r['preview_psnr']:.2f} |")
    lines.append(f"| mean | | {mean['bpp']:.3f} | {mean['psnr']:.2f} | {mean['fit_s']:.1f} | "
                 f"{100 * mean['arm_saving']:.1f} % | {mean['entropy_decode_s']:.3f} | {mean['render_s']:.3f} | "
                 f"{mean['render_4k_s']:.2f} | {mean['preview_s']:.3f} | {mean['preview_psnr']:.2f} |")
    path.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
