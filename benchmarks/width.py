"""Continuous width (Integral Neural Networks) against L1 channel pruning on the codec's tile networks.

    python -m benchmarks.width --train ../shared/data/train --natural ../shared/data/val/cbsd68

The discrete network is the shipped init's dense level (its hidden width is the node count G).
At each width n, every method is scored the same way: PSNR on held-out cbsd68 tiles after the
init's own few test-time steps (its meta-learned Meta-SGD steps), with no fine-tuning unless
named:
- L1 pruning: keep the n channels per hidden layer with the largest incoming L1 norm;
- L1 pruning + MAML: the same, then meta-retrained at width n (the upper reference);
- INN, converted: 2-opt channel order, nodes = the discrete weights, resampled to n;
- INN, converted + partition: the same with the sample points tuned at width n (nodes frozen);
- INN, random-width MAML: the converted INN meta-trained at random widths (TorchIntegral's
  pipeline B), resampled to n, with and without partition tuning;
- INN, shipped: the codec's integral init (its dense level), whose width-n network adapts its own
  resampled node grid and which was trained with the sandwich rule (full + one random width).
Writes benchmarks/results/width.{csv,md,png}; trained networks are kept in --work.
"""
from __future__ import annotations

import argparse
import csv
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from benchmarks.common import RESULTS, ROOT, SHARED_DATA, count_params, finish, machine, pyplot, save, say
from inrcodec.integral import as_weights, at_points, sample
from inrcodec.sharedinit import INTEGRAL_INIT, SPARSE_INIT, Level, load_init, load_init_file, save_init
from training.integral import integral_level, l1_channels, log_uniform_width, partition, select_channels
from training.metasparse import MetaConfig, adapt, forward, meta_train, psnr_after, tile_coords, to_targets
from training.patches import init_tiles

SHIPPED = "INN, shipped (sandwich, nodes per width)"
METHODS = ["L1 pruning", "L1 pruning + MAML", "INN, converted", "INN, converted + partition",
           "INN, random-width MAML", "INN, random-width MAML + partition", SHIPPED]


def dense(values) -> list[torch.Tensor]:
    return [torch.ones_like(v, dtype=torch.bool) for v in values]


def nodes_at(n: int, depth: int):
    """TorchIntegral's pipeline: adapt the node grid itself, evaluate it sampled at width n."""
    points = at_points(n, depth)
    return lambda level: (level, lambda p: sample(p, points))


def tune_partition(nodes: Level, spec, n: int, data: np.ndarray, cfg: MetaConfig, steps: int,
                   rng: np.random.Generator) -> list[torch.Tensor]:
    """Where to sample n channels of each hidden layer, learned on training tiles with the nodes frozen:
    the loss after the init's test-time steps, first order (as meta-training is)."""
    gaps = [torch.ones(n - 1, requires_grad=True) for _ in range(spec.depth)]
    opt = torch.optim.Adam(gaps, lr=1e-2)
    coords = tile_coords(data.shape[1])
    leaves = [v.detach().clone().requires_grad_() for v in nodes.values]
    for _ in range(steps):
        points = [partition(g) for g in gaps]

        def net(p, points=points):
            return sample(p, points)
        batch = to_targets(data[np.sort(rng.choice(len(data), cfg.batch, replace=False))])
        p = adapt(leaves, nodes.masks, nodes.lrs, batch, coords, spec, cfg.inner_steps, net=net)
        loss = (forward([t.detach() for t in p], coords, spec, net) - batch).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return [partition(g).detach() for g in gaps]


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.width", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--train", type=Path, default=SHARED_DATA / "train")
    ap.add_argument("--natural", type=Path, default=SHARED_DATA / "val/cbsd68")
    ap.add_argument("--work", type=Path, default=ROOT / "runs" / "sparsity", help="tiles and trained networks, reused")
    ap.add_argument("--widths", type=int, nargs="+", default=[32, 28, 24, 20, 16, 12, 8])
    ap.add_argument("--inn-steps", type=int, default=1500, help="random-width MAML steps")
    ap.add_argument("--retrain-steps", type=int, default=300, help="MAML steps after L1 pruning, per width")
    ap.add_argument("--partition-steps", type=int, default=100)
    ap.add_argument("--quiet", action="store_true")
    a = ap.parse_args()
    progress = say(a.quiet)
    t0 = time.time()
    shipped = load_init(SPARSE_INIT).to("cpu")  # torch tensors: meta-training differentiates through them
    integral = load_init(INTEGRAL_INIT).to("cpu")
    spec, base = shipped.spec, shipped.levels[0]
    g = spec.hidden
    ms = shipped.meta["args"]
    cfg = MetaConfig.of(ms, quiet=a.quiet)
    train, val = init_tiles(shipped.meta, a.train, a.natural, a.work)
    coords = tile_coords(val.shape[1])
    rng = np.random.default_rng(0)

    converted = integral_level(base, spec)
    path = a.work / "width-inn.npz"
    if not path.exists():
        levels, history = meta_train(
            spec, train, val, replace(cfg, dense_steps=a.inn_steps, rounds=0), start=converted, label="INN ",
            views=lambda r: [nodes_at(log_uniform_width(r, min(a.widths), g), spec.depth)],
            val_views=[nodes_at(n, spec.depth) for n in a.widths])
        save_init(path, path.stem, spec, shipped.tile, shipped.overlap, levels, {"history": history})
    trained = load_init_file(path).levels[0].to("cpu")

    rows = []
    for n in a.widths:
        keep = l1_channels(base.values, spec, n)
        kept = select_channels(base.values, keep)
        sub = Level(kept, dense(kept), select_channels(base.lrs, keep))
        sub_path = a.work / f"width-l1-{n}.npz"
        if not sub_path.exists():
            levels, history = meta_train(replace(spec, hidden=n), train, val,
                                         replace(cfg, dense_steps=a.retrain_steps, rounds=0), start=sub,
                                         label=f"L1 {n} ")
            save_init(sub_path, sub_path.stem, replace(spec, hidden=n), shipped.tile, shipped.overlap, levels,
                      {"history": history})
        retrained = load_init_file(sub_path).levels[0].to("cpu")
        scores = {"L1 pruning": psnr_after(sub.values, sub.masks, sub.lrs, val, coords, spec, cfg.inner_steps),
                  "L1 pruning + MAML": psnr_after(retrained.values, retrained.masks, retrained.lrs, val, coords,
                                                  spec, cfg.inner_steps)}
        for name, lv in (("INN, converted", converted), ("INN, random-width MAML", trained)):
            uniform_pts = at_points(n, spec.depth)
            scores[name] = psnr_after(lv.values, lv.masks, lv.lrs, val, coords, spec, cfg.inner_steps,
                                      lambda p, u=uniform_pts: sample(p, u))
            tuned = tune_partition(lv, spec, n, train, cfg, a.partition_steps, rng) if n < g else uniform_pts
            scores[name + " + partition"] = psnr_after(lv.values, lv.masks, lv.lrs, val, coords, spec,
                                                       cfg.inner_steps, lambda p, t=tuned: sample(p, t))
        lv = integral.levels[0].at_width(n)
        scores[SHIPPED] = psnr_after(lv.values, lv.masks, lv.lrs, val, coords, spec, cfg.inner_steps, as_weights)
        params = count_params(replace(spec, hidden=n))
        for m in METHODS:
            rows.append({"width": n, "params": params, "method": m, "psnr": round(scores[m], 3)})
        progress(f"width {n} ({params} params): " + ", ".join(f"{m} {scores[m]:.2f}" for m in METHODS)
            + f" ({time.time() - t0:.0f}s)")
    write(rows, a, spec, cfg, time.time() - t0)


def write(rows: list[dict], a, spec, cfg: MetaConfig, seconds: float) -> None:
    out = RESULTS
    with open(out / "width.csv", "w", newline="") as f:
        w = csv.DictWriter(f, ["width", "params", "method", "psnr"])
        w.writeheader()
        w.writerows(rows)
    widths = list(dict.fromkeys(r["width"] for r in rows))
    get = {(r["width"], r["method"]): r["psnr"] for r in rows}
    md = ["# Continuous width against channel pruning", "",
          f"`python -m benchmarks.width {' '.join(sys.argv[1:])}` took **{seconds / 60:.0f} min** on "
          f"{machine('cpu')} (no GPU).", "",
          f"The shipped init's dense level (`{SPARSE_INIT}`, tile SIREN 2 → {spec.hidden} × {spec.depth} → 3) "
          f"cut to fewer hidden channels. PSNR on the held-out cbsd68 tiles (36×36, float "
          f"pixels) after the init's {cfg.inner_steps} meta-learned test-time steps. Random-width MAML: "
          f"{a.inn_steps} outer steps at widths drawn log-uniformly in [{min(a.widths)}, {spec.hidden}]; "
          f"L1 + MAML: {a.retrain_steps} outer steps per width; partition: {a.partition_steps} Adam steps on "
          "the sample points per width, on training tiles. Those INN columns adapt the one node grid and "
          "sample it (TorchIntegral's way). The last column is the codec's integral init "
          f"(`{INTEGRAL_INIT}`, dense level): at width n it adapts its own grid of n nodes (the codec's "
          "representation 2), trained with the sandwich rule (its card says how).", "",
          "In the codec itself (quantized, entropy-coded, rate-controlled) the width is chosen per rate: "
          "see `network-val.json` (val selection) and `kodak.md` (the ladder, width and both policies).", "",
          "| width | params | " + " | ".join(METHODS) + " |", "|---|---|" + "---|" * len(METHODS)]
    for n in widths:
        best = max(get[n, m] for m in METHODS if m != "L1 pruning + MAML")
        md.append(f"| {n} | {next(r['params'] for r in rows if r['width'] == n):,} | " + " | ".join(
            (f"**{get[n, m]:.2f}**" if get[n, m] == best and m != "L1 pruning + MAML" else f"{get[n, m]:.2f}")
            for m in METHODS) + " |")
    md += ["", "Bold: the best method without fine-tuning at that width.", "", "![PSNR against width](width.png)"]
    (out / "width.md").write_text("\n".join(md) + "\n")
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for m in METHODS:
        ax.plot(widths, [get[n, m] for n in widths], "o--" if "MAML" in m and "L1" in m else "o-", label=m)
    finish(ax, xlabel="hidden width (channels per layer)", ylabel="PSNR after test-time steps (dB)",
           title="Tile SIREN cut to fewer channels, no fine-tuning")
    save(fig, out / "width.png")


if __name__ == "__main__":
    main()
