"""Coded quality against the init's training time (val): does a longer training run only ever improve it?

For each representation-3 init with a latent predictor (snapshots of one run, or successive
inits), image and target rate: real streams after `--steps` fitting steps from that init (0: the
prediction as it stands, the init's own quality), RGB PSNR, and the BD-rate of each init against
the first. The training time is every stage the init's card records (the auto-decoder base, then
each predictor stage). Writes benchmarks/results/{name}.{csv,md,png}.

    python -m benchmarks.trainingcurve --data ../shared/data/val/cbsd68 --limit 6 \\
        --inits inrcodec/weights/latents-v2.npz runs/snap-6000.npz runs/snap-12000.npz
"""
from __future__ import annotations

import argparse
from collections import defaultdict
from pathlib import Path

import numpy as np

from benchmarks.bdrate import bd_rate
from benchmarks.common import RESULTS, finish, images_in, machine, pyplot, save, say, write_csv
from benchmarks.steps import coded, label
from inrcodec.images import load_image
from inrcodec.representations.latents.init import LATENT_INITS
from training.latents import predictor_stages

FIELDS = ["init", "train_min", "image", "steps", "target_bpp", "bpp", "psnr", "fit_s"]


def training_minutes(init: str) -> float:
    """All the CPU-or-device time the init's card records: its base's auto-decoder and each predictor stage."""
    meta = LATENT_INITS.open(init).meta
    return (meta["seconds"] + sum(s["seconds"] for s in predictor_stages(meta))) / 60


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--limit", type=int, default=6)
    ap.add_argument("--inits", nargs="+", required=True, help="inits (names or .npz), in training order")
    ap.add_argument("--steps", type=int, default=0, help="fitting steps from each init (0: the prediction)")
    ap.add_argument("--rates", type=float, nargs="+", default=[0.25, 0.5, 0.75, 1.0])
    ap.add_argument("--name", default="training-curve")
    ap.add_argument("--quiet", action="store_true")
    a = ap.parse_args()
    log, rows = say(a.quiet), []
    minutes = {label(i): training_minutes(i) for i in a.inits}
    for path in images_in(Path(a.data), a.limit):
        img = load_image(path)
        for init in a.inits:
            for rate in a.rates:
                if point := coded(img, init, a.steps, rate, log):
                    rows.append({"init": label(init), "train_min": minutes[label(init)], "image": path.stem,
                                 "steps": a.steps, **point})
                    log(str(rows[-1]))
                    write_csv(RESULTS / f"{a.name}.csv", FIELDS, rows)
    report(rows, minutes, a)


def report(rows: list[dict], minutes: dict[str, float], a: argparse.Namespace) -> None:
    """Mean PSNR per rate over the images every init reached, BD-rate against the first init, a plot."""
    by = defaultdict(dict)
    for r in rows:
        by[r["init"], r["target_bpp"]][r["image"]] = r
    images = sorted({r["image"] for r in rows})
    shared = {rate: [im for im in images if all(im in by[i, rate] for i in minutes)] for rate in a.rates}

    def mean(init: str, rate: float, field: str) -> float:
        return float(np.mean([by[init, rate][im][field] for im in shared[rate]]))

    def curve(init: str) -> tuple[list[float], list[float]]:
        rates = [r for r in a.rates if shared[r]]
        return [mean(init, r, "bpp") for r in rates], [mean(init, r, "psnr") for r in rates]

    first = next(iter(minutes))
    lines = ["# Coded quality against the init's training time (val)", "",
             (f"Machine: {machine('cpu')}. Command: `python -m benchmarks.trainingcurve --data {a.data} --limit {a.limit} "
              f"--inits {' '.join(a.inits)} --steps {a.steps} --rates {' '.join(map(str, a.rates))}"
              + (f" --name {a.name}" if a.name != "training-curve" else "") + "`. "
              f"Real streams after {a.steps} fitting steps ({'the prediction as it stands' if a.steps == 0 else 'a refinement'}), "
              "rate control to each target; mean RGB PSNR (dB) over the images every init reached at that rate "
              "(count in brackets). Training minutes: every stage the init's card records."), "",
             "| init | training min | " + " | ".join(f"{r} bpp" for r in a.rates) + f" | BD-rate vs {first} |",
             "|---|---|" + "---|" * len(a.rates) + "---|"]
    for init, mins in minutes.items():
        cells = [f"{mean(init, r, 'psnr'):.2f} ({len(shared[r])})" if shared[r] else "—" for r in a.rates]
        bd = bd_rate(*curve(first), *curve(init))
        lines.append(f"| {init} | {mins:.0f} | " + " | ".join(cells) + f" | {bd:+.1f} % |")
    (RESULTS / f"{a.name}.md").write_text("\n".join(lines) + "\n")
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    order = sorted(minutes, key=minutes.get)
    for r in a.rates:
        if shared[r]:
            ax.plot([minutes[i] for i in order], [mean(i, r, "psnr") for i in order], "o-", label=f"{r} bpp")
    finish(ax, xlabel="training minutes (all stages)", ylabel="PSNR (dB)",
           title=f"Coded PSNR vs init training time (val, {a.steps} steps)")
    save(fig, RESULTS / f"{a.name}.png")


if __name__ == "__main__":
    main()
