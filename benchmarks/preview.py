"""Compute-scalable decoding: decode time against PSNR at reduced widths, and what a scalable fit costs.

    python -m benchmarks.preview --data ../shared/data/kodak --limit 6

Every image is coded at each target rate twice with the integral init and its shipped rate
table: a plain fit (the default) and a `--scalable` fit (which also fits random narrower
widths). Each stream is decoded at every width fraction (the same stream; `--width-fraction`)
and scored. Decodes are timed after all encoding, interleaved (every round decodes every
stream at every fraction; best of --repeats rounds), so that a machine whose speed drifts
(seen here: 2x between images) slows every fraction alike. Writes
benchmarks/results/preview.{csv,md,png}.
"""
from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict
from pathlib import Path

import click
import numpy as np

import inrcodec
from benchmarks.bdrate import bd_rate
from benchmarks.common import (
    RESULTS,
    SHARED_DATA,
    images_in,
    machine,
    pyplot,
    save,
    write_csv,
)
from inrcodec.decoder import preview_width
from inrcodec.encoder import pick_device
from inrcodec.images import load_image
from inrcodec.metrics import psnr
from inrcodec.sharedinit import INTEGRAL_INIT, SPARSE_INIT

FIELDS = ["image", "fit", "target", "bpp", "network", "fraction", "channels", "psnr", "decode_s", "encode_s"]
FITS = {"plain": False, "scalable": True}


def decode_seconds(data: bytes, fraction: float) -> float:
    t0 = time.perf_counter()
    inrcodec.decode(data, width_fraction=fraction)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.preview", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=SHARED_DATA / "kodak")
    ap.add_argument("--limit", type=int, default=6, help="first N images")
    ap.add_argument("--rates", type=float, nargs="+", default=[0.1, 0.25, 0.5, 1.0])
    ap.add_argument("--fractions", type=float, nargs="+", default=[1.0, 0.75, 0.5, 0.375, 0.25])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--name", default="preview")
    ap.add_argument("--quiet", action="store_true")
    a = ap.parse_args()
    device = pick_device(a.device)
    files = images_in(a.data, a.limit)
    rows, streams, t_start = [], [], time.time()
    jobs = [(f, fit, rate) for f in files for fit in FITS for rate in a.rates]
    with click.progressbar(jobs, label=f"preview: {len(files)} images", file=sys.stderr, hidden=a.quiet,
                           item_show_func=lambda j: j and f"{j[0].stem} {j[1]} {j[2]}") as bar:
        for path, fit, rate in bar:
            px = load_image(path)
            t0 = time.perf_counter()
            data = inrcodec.encode(px, bpp=rate, init=INTEGRAL_INIT, scalable=FITS[fit], device=device)
            enc = time.perf_counter() - t0
            i = inrcodec.info(data)
            for fraction in a.fractions:
                rows.append({"image": path.stem, "fit": fit, "target": rate, "bpp": 8 * len(data) / px[..., 0].size,
                             "network": f"{i.network_width}/L{i.level}", "fraction": fraction,
                             "channels": preview_width(i.network_width, fraction),
                             "psnr": psnr(inrcodec.decode(data, width_fraction=fraction), px),
                             "decode_s": float("inf"), "encode_s": enc})
                streams.append((data, fraction, rows[-1]))
            if fit == "plain" and rate == a.rates[0]:  # the fixed-width init (0.2's default), for scale
                streams.append((inrcodec.encode(px, quality=50, init=SPARSE_INIT, steps=0), 1.0, {"decode_s": float("inf")}))
    for _ in range(a.repeats):  # interleaved timing: every stream and fraction in every round
        for data, fraction, row in streams:
            row["decode_s"] = min(row["decode_s"], decode_seconds(data, fraction))
    reference = [row["decode_s"] for _, _, row in streams if "fit" not in row]
    a.out.mkdir(parents=True, exist_ok=True)
    write_csv(a.out / f"{a.name}.csv", FIELDS, rows)
    report(rows, a, machine(device), time.time() - t_start, float(np.median(reference)))


def report(rows: list[dict], a, machine_: str, seconds: float, reference_s: float) -> None:
    by: dict = defaultdict(list)
    for r in rows:
        by[r["fit"], r["target"], r["fraction"]].append(r)

    def mean(key: tuple, field: str) -> float:
        return float(np.mean([r[field] for r in by[key]]))

    def median(key: tuple, field: str) -> float:
        return float(np.median([r[field] for r in by[key]]))
    n_images = len({r["image"] for r in rows})
    md = ["# Compute-scalable decoding: previews at reduced width", "",
          f"`python -m benchmarks.preview {' '.join(sys.argv[1:])}` took **{seconds / 60:.0f} min** on {machine_}; "
          f"{n_images} Kodak images, integral init `{INTEGRAL_INIT}` with its shipped rate table, default preset.", "",
          "Each stream is decoded at every fraction of its coded width (`inrcodec decode --width-fraction F`; "
          "`--preview` is 0.5). Decode time: whole decode at native size (parse, entropy decoding, rendering), "
          f"best of {a.repeats} interleaved rounds; speed-up: against the same stream's full-width decode. For scale, a stream of "
          f"the fixed-width init `{SPARSE_INIT}` (representation 1, 32 channels, the default of inrcodec 0.2) "
          f"decodes these images in {reference_s:.3f} s (median).", "",
          "| fit | target bpp | mean bpp | network (width/level) | " + " | ".join(
              f"{f:g}× width: PSNR / decode s" for f in a.fractions) + " |",
          "|---|---|---|---|" + "---|" * len(a.fractions)]
    for fit in FITS:
        for rate in a.rates:
            nets = sorted({r["network"] for r in by[fit, rate, 1.0]})
            md.append(f"| {fit} | {rate:g} | {mean((fit, rate, 1.0), 'bpp'):.3f} | {', '.join(nets)} | " + " | ".join(
                f"{mean((fit, rate, f), 'psnr'):.2f} / {median((fit, rate, f), 'decode_s'):.3f}" for f in a.fractions) + " |")

    def stream(r: dict) -> tuple:
        return r["image"], r["fit"], r["target"]
    full_s = {stream(r): r["decode_s"] for r in rows if r["fraction"] == 1.0}
    speedup = {f: float(np.median([r["decode_s"] / full_s[stream(r)] for r in rows if r["fraction"] == f]))
               for f in a.fractions}
    md += ["", "| decode width | " + " | ".join(f"{f:g}×" for f in a.fractions) + " |", "|---|" + "---|" * len(a.fractions),
           "| median speed-up over the same stream's full-width decode | " + " | ".join(
               f"{1 / speedup[f]:.2f}×" for f in a.fractions) + " |"]
    md += ["", "## What a scalable fit costs, and what it buys", "",
           "PSNR of the scalable stream minus the plain one at the same target rate (dB), at each decode width:", "",
           "| target bpp | " + " | ".join(f"{f:g}× width" for f in a.fractions) + " |", "|---|" + "---|" * len(a.fractions)]
    md += [f"| {rate:g} | " + " | ".join(f"{mean(('scalable', rate, f), 'psnr') - mean(('plain', rate, f), 'psnr'):+.2f}"
                                         for f in a.fractions) + " |" for rate in a.rates]
    full = {fit: ([mean((fit, r, 1.0), "bpp") for r in a.rates], [mean((fit, r, 1.0), "psnr") for r in a.rates])
            for fit in FITS}
    bd = bd_rate(*full["plain"], *full["scalable"])
    md += ["", "Rate cost at full width (BD-rate of the scalable fit against the plain one, PCHIP over the mean "
           "curves, positive: more bits for the same PSNR): " + ("no common PSNR range" if np.isnan(bd) else f"{bd:+.0f} %")
           + ". Reduced-width curves are too flat and too far apart for a BD-rate to mean much.", "",
           "![PSNR against decode time](preview.png)"]
    (a.out / f"{a.name}.md").write_text("\n".join(md) + "\n")
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(13, 5))
    for i, rate in enumerate(a.rates):
        for fit, style in (("plain", "o-"), ("scalable", "s--")):
            t = [median((fit, rate, f), "decode_s") for f in a.fractions]
            q = [mean((fit, rate, f), "psnr") for f in a.fractions]
            axes[0].plot(t, q, style, color=plt.cm.viridis(i / max(1, len(a.rates) - 1)), label=f"{fit}, {rate:g} bpp")
    axes[0].axvline(reference_s, color="grey", lw=1, ls=":", label=f"{SPARSE_INIT} (0.2 default), full decode")
    axes[0].set_xlabel("decode time per image (s, best of interleaved rounds)")
    axes[0].set_ylabel("mean RGB PSNR (dB)")
    axes[0].set_title("Each point: one width fraction (rightmost = full width)", fontsize=9)
    for fit, style in (("plain", "o-"), ("scalable", "s--")):
        for j, f in enumerate(a.fractions):
            axes[1].plot([mean((fit, r, f), "bpp") for r in a.rates], [mean((fit, r, f), "psnr") for r in a.rates],
                         style, color=plt.cm.plasma(j / max(1, len(a.fractions) - 1)), label=f"{fit}, {f:g}× width")
    axes[1].set_xlabel("bits per pixel (real file size)")
    axes[1].set_ylabel("mean RGB PSNR (dB)")
    axes[1].set_title("Rate-distortion at each decode width", fontsize=9)
    for ax in axes:  # legends below the panels: inside, they covered the curves
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=2, frameon=False)
    fig.suptitle(f"Previews at reduced width, {n_images} Kodak images — {machine_}", fontsize=9)
    save(fig, a.out / f"{a.name}.png")
    print(f"wrote {a.out / a.name}.csv, .md and .png")


if __name__ == "__main__":
    main()
