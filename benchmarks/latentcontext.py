"""How much would a context model save on candidate b1's latents? (issue 14, ceiling study)

    python -m benchmarks.latentcontext --crops 3 --steps 1000

Fits b1 (benchmarks.latentgrid, the ceiling study's shared synthesis) on 256x256 centre crops of val
images, rounds the latents as the coder does, and compares ideal code lengths of two integer-only models:
- per level: one zero-mean Laplace per level, its scale chosen from the codec's table (what is coded now);
- context: the same, with one scale per (level, context bucket) and the level's radius; the context is the
  sum of the magnitudes of four causal neighbours (N, W, NW, NE) plus twice the co-located coarser latent,
  all integers already decoded when levels are decoded coarsest first, bucketed at CONTEXT_EDGES, so a
  decoder derives the same model bit for bit. Each bucket's scale index costs a byte of header.
Cool-chic's autoregressive model (a small MLP on more neighbours) is the strong form of this; the bucketed
Laplace is its cheapest deterministic relative. Writes benchmarks/results/latent-context.{csv,md}.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import click
import numpy as np
import torch

from benchmarks import latentgrid
from benchmarks.ceiling import LAMS, LATENT_TRAIN_SIZE, centre_crops, latent_synth, to_target
from benchmarks.common import RESULTS, SHARED_DATA, machine, write_csv
from inrcodec.entropy import choose_scale

CONTEXT_EDGES = np.array([0, 1, 2, 3, 5, 9, 17])  # bucket k holds contexts in [edge k, edge k+1)


def contexts(q: np.ndarray, coarser: np.ndarray | None) -> np.ndarray:
    """Bucket of every latent of a level from its causal neighbours and the coarser level (integers)."""
    a = np.pad(np.abs(q).astype(np.int64), 1)
    c = a[:-2, 1:-1] + a[1:-1, :-2] + a[:-2, :-2] + a[:-2, 2:]
    if coarser is not None:
        c = c + 2 * np.abs(coarser).repeat(2, 0).repeat(2, 1)[:q.shape[0], :q.shape[1]]
    return np.searchsorted(CONTEXT_EDGES, c, side="right") - 1


def laplace_bits(values: np.ndarray, radius: int) -> float:
    """Ideal bits under the best table Laplace on [-radius, radius] for these integers (0 when radius is 0)."""
    return choose_scale(values.ravel(), radius)[1] if radius else 0.0


def level_bits(levels: list[np.ndarray]) -> tuple[float, float]:
    """(per-level bits, context-bucketed bits) of one image's latents: a level's radius serves all its
    buckets, and every bucket beyond the first costs its scale index's byte."""
    plain = ctx = 0.0
    for k, q in enumerate(levels):
        radius = int(np.abs(q).max(initial=0))
        plain += laplace_bits(q, radius)
        buckets = contexts(q, levels[k + 1] if k + 1 < len(levels) else None)
        used = np.unique(buckets)
        ctx += sum(laplace_bits(q[buckets == b], radius) for b in used) + 8 * (len(used) - 1)
    return plain, ctx


@click.command(help=__doc__)
@click.option("--data", type=click.Path(path_type=Path, file_okay=False), default=SHARED_DATA / "val/cbsd68",
              show_default=True, help="val folder (never Kodak)")
@click.option("--crops", type=int, default=3, show_default=True)
@click.option("--steps", type=int, default=1000, show_default=True)
@click.option("--meta-dir", type=click.Path(path_type=Path, file_okay=False), default=Path("runs/ceiling-meta"),
              show_default=True, help="where the ceiling study keeps (or trains) b's shared synthesis")
@click.option("--train-data", type=click.Path(path_type=Path, file_okay=False), default=SHARED_DATA / "train",
              show_default=True)
@click.option("--threads", type=int, default=2, show_default=True)
@click.option("--out", type=click.Path(path_type=Path, file_okay=False), default=RESULTS, show_default=True)
@click.option("--quiet", is_flag=True)
def main(data: Path, crops: int, steps: int, meta_dir: Path, train_data: Path, threads: int, out: Path,
         quiet: bool) -> None:
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    synth = latent_synth(meta_dir, train_data, LATENT_TRAIN_SIZE, 8.0)
    rows = []
    jobs = [(name, image, lam) for name, image in centre_crops(data, crops, 256) for lam in LAMS[1:3]]
    with click.progressbar(jobs, label="context probe", hidden=quiet) as bar:
        for name, image, lam in bar:
            t0 = time.perf_counter()
            latents, _ = latentgrid.fit(synth, to_target(image).reshape(1, *image.shape), lam, steps,
                                        latentgrid.SYNTH_LR)
            levels = [torch.round(z[0]).numpy().astype(np.int64) for z in latents]
            plain, ctx = level_bits(levels)
            px = image.shape[0] * image.shape[1]
            rows.append({"crop": name, "lambda": lam, "steps": steps, "latent_bpp": plain / px,
                         "context_bpp": ctx / px, "saving_pct": 100 * (1 - ctx / plain),
                         "seconds": time.perf_counter() - t0})
    out.mkdir(parents=True, exist_ok=True)
    write_csv(out / "latent-context.csv", list(rows[0]), rows)
    lines = ["# Context model probe on b1's latents (issue 14)", "",
             f"Machine: {machine('cpu')}. Command: `python -m benchmarks.latentcontext {' '.join(sys.argv[1:])}`.",
             "", "Ideal latent bits per pixel (the synthesis update and header are the same in both).", "",
             "| crop | λ | per-level Laplace bpp | context-bucketed bpp | saving |", "|---|---|---|---|---|"]
    lines += [f"| {r['crop']} | {r['lambda']:g} | {r['latent_bpp']:.4f} | {r['context_bpp']:.4f} | "
              f"{r['saving_pct']:.1f} % |" for r in rows]
    lines += ["", f"Mean saving: {np.mean([r['saving_pct'] for r in rows]):.1f} % of the latent bits."]
    (out / "latent-context.md").write_text("\n".join(lines) + "\n")
    if not quiet:
        click.echo("\n".join(lines))


if __name__ == "__main__":
    main()
