"""Would a per-image context model pay? The bits the default's own latents would save under an ARM fitted
to the image, against the shared one they are coded with (issue 22's limit analysis).

    python -m benchmarks.armfit --data ../shared/data/val/cbsd68 --limit 6 --rates 0.25 0.5 1.0

Encodes each image with the default preset at each target (real streams), decodes the stream's integer
latents, and fits a float copy of the shared ARM to those latents alone (Adam on their ideal code length,
the latents fixed). The saving is a lower bound: a fit that moved latents and ARM together could only do
better. A per-image ARM would cost its parameters in the stream; they are priced at 8 bits each (the latent
probe's price for per-image networks). Writes benchmarks/results/arm-per-image.{csv,md}.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import click
import numpy as np
import torch

from benchmarks.common import RESULTS, SHARED_DATA, images_in, machine, write_csv
from inrcodec.decoder import decode_tensors
from inrcodec.encoder import analyse
from inrcodec.images import load_image
from inrcodec.representations.latents.fit import float_arm, grid_bits
from inrcodec.representations.latents.stream import Latents

PARAM_BITS = 8


def per_image_bits(arm: list[tuple[torch.Tensor, torch.Tensor]], grids: list[torch.Tensor],
                   steps: int, lr: float) -> tuple[float, float]:
    """(bits under `arm`, bits under a copy of it fitted to these grids): ideal code lengths."""
    layers = [(w.clone().requires_grad_(), b.clone().requires_grad_()) for w, b in arm]
    opt = torch.optim.Adam([t for layer in layers for t in layer], lr=lr)
    priced = []  # step k's pricing is the copy after k updates: step 0's is the shared ARM's
    for k in range(steps + 1):
        bits = grid_bits(layers, grids).sum()
        priced.append(float(bits.detach()))
        if k == steps:
            break
        opt.zero_grad()
        bits.backward()
        opt.step()
    return priced[0], min(priced)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=SHARED_DATA / "val/cbsd68", help="val folder (never Kodak)")
    ap.add_argument("--limit", type=int, default=6)
    ap.add_argument("--rates", type=float, nargs="+", default=[0.25, 0.5, 1.0])
    ap.add_argument("--steps", type=int, default=400, help="Adam steps of the per-image ARM")
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--quiet", action="store_true")
    a = ap.parse_args()
    data, limit, rates, steps, lr, out, quiet = a.data, a.limit, a.rates, a.steps, a.lr, a.out, a.quiet
    torch.manual_seed(0)
    jobs = [(path, bpp) for path in images_in(data, limit) for bpp in rates]
    rows: list[dict] = []
    skipped: list[str] = []
    with click.progressbar(jobs, label="per-image ARM", hidden=quiet) as bar:
        for path, bpp in bar:
            t0 = time.perf_counter()
            pixels = load_image(path)
            stream = analyse(pixels, bpp=bpp, preset="default").compress(bpp)
            parsed, tensors = decode_tensors(stream)
            rep = parsed.rep
            if not isinstance(rep, Latents):  # the encoder fell back to the tiles: no context model to fit
                skipped.append(f"{path.stem} at {bpp:g} bpp")
                continue
            n = len(rep.init.masks)
            grids = [torch.from_numpy(t.symbols.reshape(s).astype(np.float32))[None]
                     for t, s in zip(tensors[n:], rep.sizes, strict=True)]
            arm = float_arm(rep.init.arm)
            shared, fitted = per_image_bits(arm, grids, steps, lr)
            px = pixels.shape[0] * pixels.shape[1]
            cost = PARAM_BITS * sum(w.numel() + b.numel() for w, b in arm)
            rows.append({"image": path.stem, "target_bpp": bpp, "init": rep.init.name, "stream_bpp": 8 * len(stream) / px,
                         "latent_bpp": shared / px, "fitted_arm_bpp": fitted / px,
                         "saving_pct": 100 * (1 - fitted / shared), "arm_cost_bpp": cost / px,
                         "net_saving_pct": 100 * (shared - fitted - cost) / (8 * len(stream)),
                         "seconds": time.perf_counter() - t0})
    out.mkdir(parents=True, exist_ok=True)
    write_csv(out / "arm-per-image.csv", list(rows[0]), rows)
    lines = ["# Would a per-image context model pay? (issue 22)", "",
             f"Machine: {machine('cpu')}. Command: `python -m benchmarks.armfit {' '.join(sys.argv[1:])}`.", "",
             "The default preset's real streams; their latents' ideal bits under the shared ARM and under a copy of "
             f"it fitted to each image's latents ({steps} Adam steps, latents fixed: a lower bound on the saving). "
             f"Net: the saving less the ARM's {PARAM_BITS} bits a parameter, as a share of the whole stream.", "",
             "| target bpp | images | stream bpp | latent bpp (shared ARM) | per-image ARM | saving | ARM cost bpp | net |",
             "|---|---|---|---|---|---|---|---|"]
    for bpp in rates:
        rs = [r for r in rows if r["target_bpp"] == bpp]
        if not rs:
            continue
        mean = {k: float(np.mean([r[k] for r in rs])) for k in
                ("stream_bpp", "latent_bpp", "fitted_arm_bpp", "saving_pct", "arm_cost_bpp", "net_saving_pct")}
        lines.append(f"| {bpp:g} | {len(rs)} | {mean['stream_bpp']:.3f} | {mean['latent_bpp']:.3f} | "
                     f"{mean['fitted_arm_bpp']:.3f} | {mean['saving_pct']:.1f} % | {mean['arm_cost_bpp']:.3f} | "
                     f"{mean['net_saving_pct']:.1f} % |")
    if skipped:
        lines += ["", "Coded by the tiles (no context model), left out: " + ", ".join(skipped) + "."]
    (out / "arm-per-image.md").write_text("\n".join(lines) + "\n")
    if not quiet:
        click.echo("\n".join(lines))


if __name__ == "__main__":
    main()
