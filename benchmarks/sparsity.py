"""Meta-SparseINR against its five baselines at equal parameter counts (Lee et al., NeurIPS 2021).

    python -m benchmarks.sparsity --train ../shared/data/train --natural ../shared/data/val/cbsd68 \\
        --faces ../shared/data/val/celeba32

Every network is meta-trained here by training.metasparse (the pipeline that made the shipped init):
1. Whole image, as in the paper, scaled down to a 2-core CPU (the sizes are printed in the results):
   a 4-layer SIREN meta-trained on natural images (train/), tested on centre crops of cbsd68 and of
   celeba32 faces: faces are the paper's cross-domain case, as we have no face training set.
2. The codec's tile networks at the codec's density: the shipped init against baselines trained with
   the shipped init's own data and schedule, fitted and coded by the codec itself.

Writes benchmarks/results/sparsity.{csv,md}, sparsity-steps.png and sparsity-params.png. Trained
networks are kept in --work and reused when the command runs again (delete them to retrain).
"""
from __future__ import annotations

import argparse
import csv
import functools
import math
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from benchmarks.common import RESULTS, ROOT, SHARED_DATA, count_params, finish, machine, pyplot, save, say
from inrcodec import decoder, encoder, tiles
from inrcodec.errors import UsageError
from inrcodec.images import load_image
from inrcodec.metrics import psnr
from inrcodec.sharedinit import SPARSE_INIT, Level, load_init, load_init_file, save_init
from inrcodec.siren import SirenSpec, siren_forward
from training.metasparse import (
    MetaConfig,
    global_magnitude_prune,
    meta_train,
    random_prune,
    siren_level,
    tile_coords,
    to_targets,
)
from training.patches import centre_squares, image_files, init_tiles, square_views

METHODS = ["Meta-SparseINR", "Random Pruning", "Dense-Narrow", "MAML+OneShot", "MAML+IMP", "Scratch"]
ADAM, SGD = "adam 1e-4", "sgd 1e-2"  # the paper's two test-time fits (eval.py: default, two_step_sgd)
PER_SIGNAL = {"MAML+OneShot", "MAML+IMP"}  # prune per image while fitting: Adam only, as in the paper
PAPER = [  # Lee et al. 2021, 178x178, 100 Adam steps (from the issue)
    ("CelebA", "Meta-SparseINR", 8704, 27.70), ("CelebA", "Random Pruning", 17000, 26.24),
    ("CelebA", "Dense-Narrow", 17708, 27.63), ("Imagenette", "Meta-SparseINR", 8704, 25.73),
    ("Imagenette", "Random Pruning", None, 24.06), ("Imagenette", "Dense-Narrow", None, 24.75)]
FIELDS = ["setting", "test_set", "level", "method", "params", "protocol", "step", "psnr", "bpp"]
CODEC_STEPS = 40  # the codec's fit as the committed results measured it (the default preset then)


def narrow_width(spec: SirenSpec, target: int) -> int:
    """Hidden width of the dense network with the parameter count nearest to `target`."""
    return min(range(2, spec.hidden + 1), key=lambda w: abs(count_params(replace(spec, hidden=w)) - target))


TRAINING: dict[str, tuple[int, bool]] = {}  # network file -> (seconds its training took, reused from an earlier run)


def cached(path: Path, spec: SirenSpec, tile: int, overlap: int, train) -> list[Level]:
    """Levels from `path` when an earlier run left them there, else train() them and save."""
    reused = path.exists()
    if not reused:
        t0 = time.time()
        levels, history = train()
        save_init(path, path.stem, spec, tile, overlap, levels,
                  {"history": history, "train_seconds": round(time.time() - t0)})
    init = load_init_file(path).to("cpu")
    TRAINING[path.name] = (init.meta["train_seconds"], reused)
    return init.levels


def fit_curve(level: Level, spec: SirenSpec, images: np.ndarray, steps: int, optim: str, lr: float,
              prune_at: dict[int, float] | None = None) -> np.ndarray:
    """PSNR (dB, float pixels) of every image before each step and after the last: (steps + 1, n).

    One network per image, all fitted at once: Adam and SGD act per element, so batching the
    images changes nothing. The mask stays fixed, except that `prune_at` {step: fraction}
    magnitude-prunes each image's own network after that step (MAML+OneShot, MAML+IMP).
    """
    coords = tile_coords(images.shape[1])
    chunk = max(1, 4_000_000 // (coords.shape[1] * spec.hidden))
    curves = []
    for i in range(0, len(images), chunk):
        target = to_targets(images[i:i + chunk])
        n = len(target)
        masks = [m.expand(n, *m.shape).clone() for m in level.masks]
        p = [(v * m).expand(n, *v.shape).clone().requires_grad_()
             for v, m in zip(level.values, level.masks, strict=True)]
        opt = (torch.optim.Adam if optim == "adam" else torch.optim.SGD)(p, lr=lr)
        curve = []
        for step in range(steps + 1):
            mse = (siren_forward(p, coords, spec) - target).pow(2).mean(dim=(1, 2))
            curve.append(-10 * torch.log10(mse.detach()))
            if step == steps:
                break
            opt.zero_grad()
            mse.sum().backward()
            opt.step()
            with torch.no_grad():
                if prune_at and step + 1 in prune_at:
                    masks = global_magnitude_prune(p, masks, prune_at[step + 1])
                for x, m in zip(p, masks, strict=True):
                    x.mul_(m)
        curves.append(torch.stack(curve))
    return torch.cat(curves, 1).numpy()


def per_signal_schedule(method: str, rounds: int, density: float, steps: int) -> dict[int, float]:
    """Where the paper's eval.py prunes while fitting: once, halfway, to the target density (OneShot),
    or 20% at `rounds` evenly spaced steps (IMP)."""
    if method == "MAML+OneShot":
        return {steps // 2: 1 - density}
    return {int(s): 0.2 for s in np.arange(0, steps, steps / (rounds + 1))[1:1 + rounds]}


def whole_image(a, work: Path, rows: list[dict], say) -> dict:
    spec = SirenSpec(hidden=a.width, depth=a.depth, w0=a.w0)
    cfg = MetaConfig(batch=a.batch, inner_steps=2, inner_lr=1e-2, lr_lr=0.0, outer_lr=a.outer_lr,
                     second_order=not a.first_order,
                     dense_steps=a.dense_steps, rounds=max(a.levels), round_steps=a.round_steps,
                     val_every=a.val_every, seed=0, quiet=a.quiet)
    files = image_files([a.train])
    held = files[:: a.select_every]  # model selection on held-out training images, never on the test sets
    train = square_views([f for f in files if f not in held], a.res, a.views, seed=0)
    select = centre_squares(held, a.res)
    tests = {"natural (cbsd68)": centre_squares(image_files([a.natural])[: a.test_images], a.res),
             "faces (celeba32)": centre_squares(image_files([a.faces])[: a.test_images], a.res)}
    say(f"whole image: {len(train)} training views of {a.res} px from {len(files) - len(held)} images, "
        f"{len(held)} held out for selection; SIREN {a.depth}x{a.width}, w0 {a.w0:g}")
    msi = cached(work / "whole-metasparse.npz", spec, a.res, 0,
                 lambda: meta_train(spec, train, select, cfg, label="Meta-SparseINR "))
    rp = msi[:1] + cached(work / "whole-random.npz", spec, a.res, 0,
                          lambda: meta_train(spec, train, select, replace(cfg, dense_steps=0, schedule_offset=a.dense_steps),
                                             start=msi[0],
                                             pruner=random_prune, label="Random Pruning "))
    info = {"spec": spec, "train": len(train), "held": len(held), "levels": {}}
    for k in a.levels:
        w = narrow_width(spec, msi[k].adapted)
        narrow = replace(spec, hidden=w)
        budget = a.dense_steps + k * a.round_steps  # the same number of outer steps as Meta-SparseINR at level k
        dn = cached(work / f"whole-narrow{w}.npz", narrow, a.res, 0,
                    functools.partial(meta_train, narrow, train, select, replace(cfg, dense_steps=budget, rounds=0),
                                      label=f"Dense-Narrow {w} "))[0]
        nets = {"Meta-SparseINR": (msi[k], spec), "Random Pruning": (rp[k], spec), "Dense-Narrow": (dn, narrow),
                "MAML+OneShot": (msi[0], spec), "MAML+IMP": (msi[0], spec),
                "Scratch": (siren_level(narrow, 1e-2, seed=1), narrow)}
        info["levels"][k] = {"density": msi[k].density}
        for method, (level, s) in nets.items():
            params = msi[k].adapted if method in PER_SIGNAL or s is spec else count_params(s)
            prune = per_signal_schedule(method, k, msi[k].density, a.adam_steps) if method in PER_SIGNAL else None
            for name, images in tests.items():
                t0 = time.time()
                adam = fit_curve(level, s, images, a.adam_steps, "adam", 1e-4, prune).mean(1)
                rows += [dict(setting="whole", test_set=name, level=k, method=method, params=params,
                              protocol=ADAM, step=i, psnr=float(v)) for i, v in enumerate(adam)]
                if method not in PER_SIGNAL:
                    sgd = fit_curve(level, s, images, 2, "sgd", 1e-2).mean(1)
                    rows.append(dict(setting="whole", test_set=name, level=k, method=method, params=params,
                                     protocol=SGD, step=2, psnr=float(sgd[-1])))
                say(f"  {method} @ {params} params, {name}: 100 Adam {adam[-1]:.2f} dB ({time.time() - t0:.0f}s)")
    return info


def codec_setting(a, work: Path, rows: list[dict], say) -> dict:
    shipped = load_init(SPARSE_INIT).to("cpu")
    lvl = tiles.default_level(shipped)
    ms = shipped.meta["args"]
    cfg = MetaConfig.of(ms, quiet=a.quiet, dense_steps=round(ms["dense_steps"] * a.codec_schedule),
                        round_steps=round(ms["round_steps"] * a.codec_schedule))
    spec = shipped.spec

    def data() -> tuple[np.ndarray, np.ndarray]:  # the shipped init's own tiles (its card), made only if needed
        return init_tiles(shipped.meta, a.train, a.natural, work)

    target = shipped.levels[lvl].adapted
    w = narrow_width(spec, target)
    narrow = replace(spec, hidden=w)
    paths = {"Meta-SparseINR": (SPARSE_INIT, lvl), "Random Pruning": (work / "codec-random.npz", lvl),
             "Dense-Narrow": (work / f"codec-narrow{w}.npz", 0), "Scratch": (work / f"codec-scratch{w}.npz", 0)}

    def random_pruning() -> tuple[list[Level], list[dict]]:  # from the shipped dense level, random masks
        levels, history = meta_train(spec, *data(), replace(cfg, dense_steps=0, rounds=lvl, schedule_offset=cfg.dense_steps),
                                     start=shipped.levels[0], pruner=random_prune, label="codec Random Pruning ")
        return [shipped.levels[0], *levels], history

    cached(paths["Random Pruning"][0], spec, shipped.tile, shipped.overlap, random_pruning)
    cached(paths["Dense-Narrow"][0], narrow, shipped.tile, shipped.overlap, lambda: meta_train(
        narrow, *data(), replace(cfg, dense_steps=cfg.dense_steps + lvl * cfg.round_steps, rounds=0),
        label=f"codec Dense-Narrow {w} "))
    cached(paths["Scratch"][0], narrow, shipped.tile, shipped.overlap,
           lambda: ([siren_level(narrow, cfg.inner_lr, seed=1)], []))
    files = image_files([a.natural])[: a.codec_images]
    images = [load_image(f) for f in files]
    for method, (path, level) in paths.items():
        params = target if method in ("Meta-SparseINR", "Random Pruning") else count_params(narrow)
        for r in a.codec_rates:
            got = []
            for px in images:
                fit = encoder.analyse(px, bpp=r, init=str(path), level=level, steps=CODEC_STEPS, device="cpu")
                try:
                    stream = fit.compress(bpp=r)
                    got.append((8 * len(stream) / px[..., 0].size,
                                psnr(decoder.decode(stream, init=str(path)), px)))
                except UsageError:  # this init cannot reach the rate on this image
                    got.append((math.nan, math.nan))
            bpp, db = np.mean(got, 0)
            rows.append(dict(setting="codec", test_set="natural (cbsd68)", level=level, method=method, params=params,
                             protocol=f"codec default, {r} bpp", step=CODEC_STEPS, psnr=float(db),
                             bpp=float(bpp)))
            say(f"  codec {method} @ {params} params, {r} bpp: {db:.2f} dB at {bpp:.3f} bpp")
    # per-signal pruning needs a mask per tile, which the stream would have to carry
    n_weights = sum(m.numel() for m in shipped.levels[lvl].masks[0::2])
    d = shipped.levels[lvl].density
    mask_bits = n_weights * -(d * math.log2(d) + (1 - d) * math.log2(1 - d))
    return {"level": lvl, "density": d, "width": w, "params": target, "narrow_params": count_params(narrow),
            "mask_bpp": mask_bits / shipped.tile ** 2, "images": len(files), "spec": spec}


def pick(rows: list[dict], **match) -> list[dict]:
    return [r for r in rows if all(r.get(k) == v for k, v in match.items())]


def final(rows: list[dict], **match) -> float:
    """PSNR at the last step of the matching curve (NaN when the method has no such protocol)."""
    rs = pick(rows, **match)
    return max(rs, key=lambda r: r["step"])["psnr"] if rs else math.nan


def cell(x: float) -> str:
    return "—" if math.isnan(x) else f"{x:.2f}"


def margins(rows: list[dict], sets: list[str], levels: list[int], other: str, proto: str) -> list[float]:
    """Meta-SparseINR minus `other` (dB) for every (test set, size) where both have the protocol."""
    diffs = [final(rows, setting="whole", test_set=s, level=k, method="Meta-SparseINR", protocol=proto)
             - final(rows, setting="whole", test_set=s, level=k, method=other, protocol=proto)
             for s in sets for k in levels]
    return [d for d in diffs if not math.isnan(d)]


def discussion(rows: list[dict], sets: list[str], levels: list[int], rates: list[float]) -> list[str]:
    """Where the paper's claim (Meta-SparseINR above each baseline) holds on our data, from the numbers."""
    out, verdict = [], {}
    for other in METHODS[1:]:
        wins = total = 0
        for proto in (SGD, ADAM):
            diffs = margins(rows, sets, levels, other, proto)
            if diffs:
                wins, total = wins + sum(d > 0 for d in diffs), total + len(diffs)
                out.append(f"- vs **{other}**, {'2 SGD steps' if proto == SGD else '100 Adam steps'}: "
                           f"Meta-SparseINR ahead in {sum(d > 0 for d in diffs)} of {len(diffs)} (test set, size) "
                           f"pairs, by {min(diffs):+.2f} to {max(diffs):+.2f} dB (mean {np.mean(diffs):+.2f}).")
        verdict[other] = "holds" if wins == total else "does not hold" if wins == 0 else "mostly holds" \
            if wins >= total / 2 else "mostly fails"
    summary = "; ".join(f"{v} against {', '.join(m for m in verdict if verdict[m] == v)}"
                        for v in ("holds", "mostly holds", "mostly fails", "does not hold") if v in verdict.values())
    out = [f"**In short, the paper's ordering {summary}.**", "", *out, ""]
    nat, face = sets[0], sets[-1]
    drops = {m: np.mean([final(rows, setting="whole", test_set=nat, level=k, method=m, protocol=ADAM)
                         - final(rows, setting="whole", test_set=face, level=k, method=m, protocol=ADAM)
                         for k in levels]) for m in METHODS}
    out.append(f"**Cross-domain.** Going from {nat} to {face} after 100 Adam steps costs, averaged over sizes: "
               + ", ".join(f"{m} {d:+.2f} dB" for m, d in drops.items()) + " (positive: worse on faces).")
    best = []
    for r in rates:
        ranked = sorted(pick(rows, setting="codec", protocol=f"codec default, {r} bpp"), key=lambda x: -x["psnr"])
        best.append(f"at {r} bpp " + " > ".join(f"{x['method']} {x['psnr']:.2f}" for x in ranked))
    out += ["", "**Codec setting.** Ranked by decoded PSNR: " + "; ".join(best) + "."]
    return out


def report(rows: list[dict], whole: dict, tiles: dict, a, seconds: float, where: str) -> None:
    out = RESULTS
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "sparsity.csv", "w", newline="") as f:
        w = csv.DictWriter(f, FIELDS)
        w.writeheader()
        w.writerows({k: (round(v, 4) if isinstance(v, float) else v) for k, v in r.items()} for r in rows)
    sets = list(dict.fromkeys(r["test_set"] for r in pick(rows, setting="whole")))
    levels = list(whole["levels"])
    reused = sum(sec for sec, again in TRAINING.values() if again)
    spec = whole["spec"]
    md = ["# Meta-SparseINR against its baselines", "",
          f"`{a.command}` took **{(seconds + reused) / 60:.0f} min** on {where} (no GPU), training included "
          f"({reused / 60:.0f} min of it in an earlier run of the same command whose networks this one reused). "
          "Training times: " + ", ".join(f"`{k}` {v[0] / 60:.1f} min" for k, v in TRAINING.items()) + ".", "",
          "## 1. Whole image (the paper's setting, scaled down)", "",
          f"Sizes reduced to fit a 2-core CPU: **{a.res}×{a.res} px** instead of 178×178, SIREN **{spec.depth}×"
          f"{spec.hidden}** instead of 4×256 (dense: {count_params(spec):,} parameters), w0 {spec.w0:g} "
          f"(the paper's 200 scaled by {a.res}/178), "
          f"{'first-order MAML (the paper: second order)' if a.first_order else 'second-order MAML as in the paper'} "
          f"with its inner loop (2 SGD steps, lr 1e-2, {a.batch} images per outer step), {a.dense_steps} dense outer steps then "
          f"{max(a.levels)} rounds of 20 % pruning × {a.round_steps} steps (the paper: 150,000 and 30,000). "
          f"Trained on {whole['train']} random square views of train/ (bsds432 + imagenet), best state per round "
          f"chosen on centre crops of {whole['held']} held-out training images. Tested on the centre squares of "
          f"the first {a.test_images} images of each test set, resized to {a.res} px: natural images (cbsd68, "
          "in domain) and faces (celeba32: **cross-domain**, the networks never saw a face).", "",
          "- Dense-Narrow: the dense SIREN whose width gives the nearest parameter count, meta-trained for as many "
          "outer steps as Meta-SparseINR took to reach that level. Scratch: that same shape from SIREN's random init.",
          "- MAML+OneShot and MAML+IMP prune each test image's own network while fitting it from the dense MAML "
          "init, as the paper's `eval.py` does (OneShot: once, at step 50; IMP: 20 % at evenly spaced steps); "
          "they have no 2-step result. Their masks are per image and would have to be stored. In the "
          "step curves they are the dense network until they prune.",
          "- PSNR is on float pixels in [0, 1], the mean over images of per-image PSNR, after 2 SGD steps "
          "(lr 1e-2) or 100 Adam steps (lr 1e-4): the paper's two protocols.", "",
          "| level (weights kept) | method | params | " + " | ".join(f"{s}, 2 SGD | {s}, 100 Adam" for s in sets) + " |",
          "|---|---|---|" + "---|---|" * len(sets)]
    for k in levels:
        for m in METHODS:
            rs = pick(rows, setting="whole", level=k, method=m)
            md.append(f"| {k} ({whole['levels'][k]['density']:.1%}) | {m} | {rs[0]['params']:,} | " + " | ".join(
                f"{cell(final(rows, setting='whole', test_set=s, level=k, method=m, protocol=SGD))} | "
                f"{cell(final(rows, setting='whole', test_set=s, level=k, method=m, protocol=ADAM))}" for s in sets)
                + " |")
    md += ["", "The paper's numbers (178×178, 4×256 parent, 100 Adam steps; not comparable in absolute terms):", "",
           "| data | method | params | PSNR (dB) |", "|---|---|---|---|"]
    md += [f"| {d} | {m} | {p:,} | {v:.2f} |" if p else f"| {d} | {m} | (matched) | {v:.2f} |" for d, m, p, v in PAPER]
    md += ["", "## Where the paper's ordering holds, and where not", "",
           *discussion(rows, sets, levels, a.codec_rates), "",
           "What differs from the paper, and may explain it (facts of this setup, not measurements):",
           f"- **Budget.** {a.dense_steps:,} dense outer steps and {a.round_steps} per pruning round here, against "
           "150,000 and 30,000: a round retrains for a tenth of the dense phase (the paper: a fifth), at the "
           "decayed end of one cosine schedule, while Dense-Narrow spends the same number of steps in a schedule "
           "of its own. Random Pruning branches from the same dense init with exactly Meta-SparseINR's schedule.",
           f"- **Scale.** {a.res} px images and a 4×{a.width} parent; the paper's sparse winners sit at 4.4 % of a "
           "4×256 network, where a dense network of equal size is only about 50 channels wide.",
           "- **Tiles.** The codec's networks are far smaller (32 channels, 36×36 px) and are fitted with the "
           "codec's own loss (MSE plus an ℓ1 rate term), warm start and quantization; section 2 measures that.", "",
           "![PSNR against steps](sparsity-steps.png)", "", "![PSNR against parameters](sparsity-params.png)", "",
           "## 2. The codec's tile networks", "",
           f"The shipped init (`{SPARSE_INIT}`, level {tiles['level']}: {tiles['density']:.1%} of the weights, "
           f"{tiles['params']:,} parameters a tile may change) against Random Pruning (the shipped init's dense "
           f"level pruned at random, retrained with its schedule), Dense-Narrow (a dense {tiles['spec'].depth}×"
           f"{tiles['width']} tile SIREN, {tiles['narrow_params']:,} parameters, meta-trained as long as the "
           "shipped init in all) and Scratch (that shape from SIREN's init). Each is fitted with the codec's "
           f"default preset of the time ({CODEC_STEPS} steps) and coded to the target rate by the codec; "
           f"real file sizes, decoded PSNR on 8-bit pixels, mean over the first {tiles['images']} cbsd68 images.", "",
           "| method | params per tile | " + " | ".join(f"{r} bpp: PSNR (real bpp)" for r in a.codec_rates) + " |",
           "|---|---|" + "---|" * len(a.codec_rates)]
    for m in METHODS:
        rs = pick(rows, setting="codec", method=m)
        if rs:
            md.append(f"| {m} | {rs[0]['params']:,} | " + " | ".join(
                f"{cell(r['psnr'])} ({r['bpp']:.3f})" for r in rs) + " |")
    md += ["", f"MAML+OneShot and MAML+IMP do not fit the codec: their masks differ per tile, and coding a mask "
           f"of {tiles['density']:.1%} density costs at least its entropy, **{tiles['mask_bpp']:.2f} bpp** for "
           "the mask alone, before any weight value. The shipped mask costs nothing: it ships with the decoder."]
    (out / "sparsity.md").write_text("\n".join(md) + "\n")
    plot(rows, sets, levels, out)


def plot(rows: list[dict], sets: list[str], levels: list[int], out: Path) -> None:
    plt = pyplot()
    cycle = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    colours = dict(zip(METHODS, cycle, strict=False))  # the colour cycle outlasts METHODS
    mid = levels[len(levels) // 2]
    fig, axes = plt.subplots(1, len(sets), figsize=(6 * len(sets), 4.2), squeeze=False)
    for ax, s in zip(axes[0], sets, strict=True):
        for m in METHODS:
            rs = sorted(pick(rows, setting="whole", test_set=s, level=mid, method=m, protocol=ADAM),
                        key=lambda r: r["step"])[1:]
            ax.plot([r["step"] for r in rs], [r["psnr"] for r in rs], label=f"{m} ({rs[0]['params']:,})",
                    color=colours[m])
        finish(ax, xscale="log", xlabel="Adam steps (lr 1e-4)", ylabel="PSNR (dB)",
               title=f"{s}{', cross-domain' if 'face' in s else ''}: level {mid}")
    save(fig, out / "sparsity-steps.png")
    fig, axes = plt.subplots(2, len(sets), figsize=(6 * len(sets), 8), squeeze=False)
    for col, s in enumerate(sets):
        for row, proto in enumerate((SGD, ADAM)):
            for m in METHODS:
                pts = [(pick(rows, setting="whole", level=k, method=m)[0]["params"],
                        final(rows, setting="whole", test_set=s, level=k, method=m, protocol=proto)) for k in levels]
                pts = [p for p in pts if not math.isnan(p[1])]
                if pts:
                    axes[row][col].plot(*zip(*pts, strict=True), "o-", label=m, color=colours[m])
            finish(axes[row][col], xscale="log", xlabel="parameters", ylabel="PSNR (dB)",
                   title=f"{s}: {'2 SGD steps' if proto == SGD else '100 Adam steps'}")
    save(fig, out / "sparsity-params.png")


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.sparsity", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--train", type=Path, default=SHARED_DATA / "train")
    ap.add_argument("--natural", type=Path, default=SHARED_DATA / "val/cbsd68")
    ap.add_argument("--faces", type=Path, default=SHARED_DATA / "val/celeba32")
    ap.add_argument("--work", type=Path, default=ROOT / "runs" / "sparsity", help="trained networks, reused")
    ap.add_argument("--res", type=int, default=64)
    ap.add_argument("--width", type=int, default=64)
    ap.add_argument("--depth", type=int, default=4)
    ap.add_argument("--w0", type=float, default=72.0, help="the paper's 200 at 178 px, scaled to --res")
    ap.add_argument("--batch", type=int, default=3, help="images per outer step (the paper: 3)")
    ap.add_argument("--first-order", action="store_true", help="first-order MAML (2.5x cheaper, much weaker here)")
    ap.add_argument("--outer-lr", type=float, default=1e-4)
    ap.add_argument("--views", type=int, default=6000)
    ap.add_argument("--select-every", type=int, default=25, help="hold out every n-th training image")
    ap.add_argument("--dense-steps", type=int, default=2000)
    ap.add_argument("--round-steps", type=int, default=200)
    ap.add_argument("--val-every", type=int, default=200)
    ap.add_argument("--levels", type=int, nargs="+", default=[4, 7, 10], help="pruning rounds to compare at")
    ap.add_argument("--test-images", type=int, default=24)
    ap.add_argument("--adam-steps", type=int, default=100)
    ap.add_argument("--codec-images", type=int, default=3)
    ap.add_argument("--codec-rates", type=float, nargs="+", default=[0.25, 0.5])
    ap.add_argument("--codec-schedule", type=float, default=1.0,
                    help="scale of the shipped init's meta-training schedule for the codec baselines (1: the same)")
    ap.add_argument("--quiet", action="store_true")
    a = ap.parse_args()
    a.command = "python -m benchmarks.sparsity " + " ".join(sys.argv[1:])
    a.work.mkdir(parents=True, exist_ok=True)
    progress = say(a.quiet)
    t0, rows = time.time(), []
    whole = whole_image(a, a.work, rows, progress)
    tiles = codec_setting(a, a.work, rows, progress)
    report(rows, whole, tiles, a, time.time() - t0, machine("cpu"))
    progress(f"wrote benchmarks/results/sparsity.md in {(time.time() - t0) / 60:.0f} min")


if __name__ == "__main__":
    main()
