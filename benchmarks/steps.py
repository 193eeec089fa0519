"""How coded quality grows with fitting steps, and what each costs: the presets' step counts, chosen on val.

For each init (one curve each: the default, or `--inits` to set starts side by side; `scratch` is
representation 3 with per-image networks, see `scratch_init`), image, step count and target rate:
`analyse(steps=N, init=...)` then `compress(bpp=rate)`, real file sizes, RGB PSNR. Seconds per step
are also measured on a Kodak-sized (768x512) synthetic image, so that the presets' budgets
(fast/default/slow at most 10/60/600 s per Kodak image, this CPU) can be met. Writes
benchmarks/results/steps.{csv,md,png}. (The committed results also hold a cosine decay of Adam's
step size, measured with an option of the fit at commit fb62a98 and removed since: it lost at 40
and 120 steps and tied beyond.)

    python -m benchmarks.steps --data ../shared/data/val/cbsd68 --limit 3
"""
from __future__ import annotations

import argparse
import tempfile
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import numpy as np

from benchmarks.common import RESULTS, finish, images_in, machine, pyplot, save, say, write_csv
from inrcodec import decode
from inrcodec.encoder import analyse
from inrcodec.errors import UsageError
from inrcodec.example import synthetic_image
from inrcodec.images import load_image
from inrcodec.metrics import psnr
from inrcodec.representations.latents.init import LATENT_INIT, load_latent_init, save_latent_init
from training.latents import synthesis_init

FIELDS = ["init", "image", "steps", "target_bpp", "bpp", "psnr", "fit_s"]


def seconds_per_step(init: str | None = None, steps: int = 20) -> float:
    """Fit seconds per step on a 768x512 image (a Kodak image's size), at the default rate weight."""
    img = synthetic_image(512, 768, seed=3)
    analyse(img, bpp=0.5, steps=2, init=init)  # warm-up
    return (analyse(img, bpp=0.5, steps=steps, init=init).seconds - analyse(img, bpp=0.5, steps=0, init=init).seconds) / steps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--limit", type=int, default=3)
    ap.add_argument("--steps", type=int, nargs="+", default=[40, 120, 300, 900])
    ap.add_argument("--rates", type=float, nargs="+", default=[0.25, 0.5, 1.0])
    ap.add_argument("--inits", nargs="+", default=[None], help="inits (names or .npz) to compare: one curve each")
    ap.add_argument("--name", default="steps", help="result files' name (steps: the committed ones)")
    ap.add_argument("--quiet", action="store_true")
    a = ap.parse_args()
    log, rows = say(a.quiet), []
    per_step = {}
    inits = [scratch_init(Path(tempfile.mkdtemp()) / "scratch.npz") if i == "scratch" else i for i in a.inits]
    for init in inits:
        per_step[label(init)] = seconds_per_step(init)
        log(f"{label(init)}: {per_step[label(init)]:.3f} s per step on 768x512")
    for path in images_in(Path(a.data), a.limit):
        img = load_image(path)
        for init in inits:
            for steps in a.steps:
                for rate in a.rates:
                    if point := coded(img, init, steps, rate, log):
                        rows.append({"init": label(init), "image": path.stem, "steps": steps, **point})
                        log(str(rows[-1]))
                        write_csv(RESULTS / f"{a.name}.csv", FIELDS, rows)
    report(rows, per_step, a)


def coded(img: np.ndarray, init: str | None, steps: int, rate: float, log: Callable[[str], None]) -> dict | None:
    """One real stream of `img` at a target rate after `steps` fitting steps from `init`: its rate,
    PSNR and fit seconds, or None (logged) where the target is out of reach, which is a result too."""
    an = analyse(img, bpp=rate, steps=steps, init=init)
    try:
        data = an.compress(bpp=rate)
    except UsageError as e:
        log(f"{label(init)} {steps} steps {rate} bpp: {e}")
        return None
    return {"target_bpp": rate, "bpp": 8 * len(data) / (img.shape[0] * img.shape[1]),
            "psnr": psnr(decode(data, init=init if str(init).endswith(".npz") else None), img), "fit_s": an.seconds}


def scratch_init(path: Path) -> str:
    """The third start of issue 22's steps plot: zero latents and per-image networks. A research init
    with `latents-v1`'s levels and context model, but its synthesis freshly initialised (the trainer's
    init) and every weight free to move, so the fit learns the image's own network (coded as its update)."""
    base = load_latent_init(LATENT_INIT)
    values = [v.numpy() for v in synthesis_init(base.levels, base.meta["width"], base.meta["layers"], seed=0)]
    save_latent_init(path, "scratch", base.activation, values, [np.ones(v.shape, bool) for v in values], base.arm,
                     {**base.meta, "seconds": 0, "stages": []})
    return str(path)


def label(init: str | None) -> str:
    return Path(init).stem if init else "default"


def report(rows: list[dict], per_step: dict[str, float], a) -> None:
    mean = defaultdict(list)
    for r in rows:
        mean[r["init"], r["steps"], r["target_bpp"]].append(r["psnr"])
    lines = ["# Coded quality against fitting steps (val)", "",
             (f"Machine: {machine('cpu')}. Command: `python -m benchmarks.steps --data {a.data} --limit {a.limit} "
              f"--steps {' '.join(map(str, a.steps))} --rates {' '.join(map(str, a.rates))}"
              + (f" --inits {' '.join(map(str, a.inits))}" if a.inits != [None] else "")
              + (f" --name {a.name}" if a.name != "steps" else "") + "`. Mean RGB PSNR (dB) "
              "of real streams at each target rate (within 10 %), with rate control. Seconds per Kodak image: "
              "fit seconds per step on a 768x512 image times the steps (rate control and any prediction not "
              "included)."), "",
             "A dash: the target was out of reach for at least one image.", "",
             "| init | steps | est. s per Kodak image | " + " | ".join(f"{r} bpp" for r in a.rates) + " |",
             "|---|---|---|" + "---|" * len(a.rates)]
    for init, sec in per_step.items():
        for steps in a.steps:
            cells = [f"{np.mean(mean[init, steps, r]):.2f}" if len(mean[init, steps, r]) == a.limit else "—"
                     for r in a.rates]
            lines.append(f"| {init} | {steps} | {sec * steps:.0f} | " + " | ".join(cells) + " |")
    (RESULTS / f"{a.name}.md").write_text("\n".join(lines) + "\n")
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    for init in per_step:
        for r in a.rates:
            ax.plot(a.steps, [np.mean(mean[init, s, r]) for s in a.steps], "o-", label=f"{init}, {r} bpp")
    ax.set_xscale("symlog", linthresh=10)
    finish(ax, xlabel="fitting steps", ylabel="PSNR (dB)", title="Coded PSNR vs fitting steps (val)")
    save(fig, RESULTS / f"{a.name}.png")


if __name__ == "__main__":
    main()
