"""Meta-SparseINR for tile networks: MAML/Meta-SGD pre-training, then rounds of global
magnitude pruning (biases never pruned), each followed by MAML re-training.

Every level (density after k rounds) is snapshotted into the shipped init, so the codec
gets nested masks for free. Inner loop: K steps of SGD with learned per-parameter step
sizes (Meta-SGD, log-parametrised, clamped), first-order by default; the outer gradient
is clipped, which keeps meta-training stable where second-order Meta-SGD diverged.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import click
import numpy as np
import torch

from inrcodec.sharedinit import Level, save_init, weight_density
from inrcodec.siren import Params, SirenSpec, siren_forward, siren_init


def tile_coords(size: int) -> torch.Tensor:
    """Local coords of a size x size extended tile, exactly as TileGrid.sampling produces them."""
    c = (torch.arange(size, dtype=torch.float32) + 0.5 - size / 2) / (size / 2)
    yy, xx = torch.meshgrid(c, c, indexing="ij")
    return torch.stack([yy, xx], -1).reshape(1, -1, 2)


def to_targets(batch: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(batch).float().div_(255.0).reshape(len(batch), -1, 3)


def adapt(values: Params, masks: list[torch.Tensor], lrs: Params, target: torch.Tensor,
          coords: torch.Tensor, spec: SirenSpec, steps: int, second_order: bool = False) -> Params:
    """K Meta-SGD steps on every tile of the batch at once; returns per-tile parameters."""
    n = target.shape[0]
    p = [(v * m).unsqueeze(0).expand(n, *v.shape) for v, m in zip(values, masks)]
    for _ in range(steps):
        loss = (siren_forward(p, coords, spec) - target).pow(2).mean(dim=(1, 2)).sum()
        grads = torch.autograd.grad(loss, p, create_graph=second_order)
        p = [pi - lr * m * g for pi, lr, m, g in zip(p, lrs, masks, grads)]
    return p


def psnr_after(values, masks, lrs, data, coords, spec, steps) -> float:
    mse = []
    for i in range(0, len(data), 256):
        t = to_targets(data[i:i + 256])
        leaves = [v.detach().clone().requires_grad_() for v in values]
        p = adapt(leaves, masks, lrs, t, coords, spec, steps)
        with torch.no_grad():
            mse.append((siren_forward(p, coords, spec) - t).pow(2).mean(dim=(1, 2)))
    return float(-10 * torch.log10(torch.cat(mse)).mean())


def global_magnitude_prune(values: Params, masks: list[torch.Tensor], fraction: float) -> list[torch.Tensor]:
    """Remove `fraction` of the surviving weights (never biases) with the smallest |value|."""
    alive = torch.cat([(v.abs()[m]) for v, m in zip(values[0::2], masks[0::2])])
    k = int(round(fraction * alive.numel()))
    if k == 0:
        return masks
    threshold = torch.kthvalue(alive, k).values
    new = list(masks)
    for i in range(0, len(values), 2):
        new[i] = masks[i] & (values[i].abs() > threshold)
    return new


def log(args, line: str) -> None:
    if not args.quiet:
        click.echo(line, err=True)


def train(args) -> None:
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    spec = SirenSpec(hidden=args.hidden, depth=args.depth, w0=args.w0)
    data = np.load(args.train, mmap_mode="r")
    val = np.load(args.val)[: args.val_tiles]
    size = data.shape[1]
    coords = tile_coords(size)
    values = [p.requires_grad_() for p in siren_init(spec, torch.Generator().manual_seed(args.seed))]
    masks = [torch.ones_like(v, dtype=torch.bool) for v in values]
    log_lrs = [torch.full_like(v, math.log(args.inner_lr)).requires_grad_() for v in values]
    opt = torch.optim.Adam([{"params": values, "lr": args.outer_lr},
                            {"params": log_lrs, "lr": args.lr_lr}])
    schedule = [args.dense_steps] + [args.round_steps] * args.rounds
    total = sum(schedule)  # cosine decay of the outer learning rates to 10% over all rounds
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda i: 0.1 + 0.45 * (1 + math.cos(math.pi * min(i, total) / total)))
    max_log_lr = math.log(args.inner_lr * args.max_lr_factor)
    step_sizes = lambda: [lr.clamp(-12, max_log_lr).exp() for lr in log_lrs]  # noqa: E731
    levels, history, t0 = [], [], time.time()
    for rnd, n_steps in enumerate(schedule):
        if rnd > 0:
            with torch.no_grad():
                masks = global_magnitude_prune(values, masks, args.prune_fraction)
                for v, m in zip(values, masks):
                    v.mul_(m)
        best = (-math.inf, None)
        if rnd > 0:  # the freshly pruned state is a candidate too: a round never ends worse than it began
            best = (psnr_after(values, masks, step_sizes(), val, coords, spec, args.inner_steps),
                    [t.detach().clone() for t in values + log_lrs])
        with click.progressbar(range(1, n_steps + 1), label=f"round {rnd} (density {weight_density(masks):.3f})",
                               file=sys.stderr, hidden=args.quiet) as bar:
            for step in bar:
                batch = to_targets(data[np.sort(rng.choice(len(data), args.batch, replace=False))])
                p = adapt(values, masks, step_sizes(), batch, coords, spec, args.inner_steps, args.second_order)
                loss = (siren_forward(p, coords, spec) - batch).pow(2).mean()
                opt.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(values + log_lrs, args.clip)
                opt.step()
                sched.step()
                with torch.no_grad():
                    for v, m in zip(values, masks):
                        v.mul_(m)
                if step % args.val_every == 0 or step == n_steps:
                    score = psnr_after(values, masks, step_sizes(), val, coords, spec, args.inner_steps)
                    if score > best[0]:  # model selection on val: keep the best state of this round
                        best = (score, [t.detach().clone() for t in values + log_lrs])
                    log(args, f"  round {rnd} step {step}/{n_steps} train psnr {-10 * math.log10(loss.item()):.2f} "
                        f"val psnr {score:.2f} (best {best[0]:.2f}) mean step size "
                        f"{float(torch.cat([s.detach().flatten() for s in step_sizes()]).mean()):.4f} "
                        f"{time.time() - t0:.0f}s")
        with torch.no_grad():
            for t, b in zip(values + log_lrs, best[1]):
                t.copy_(b)
        level = Level(values=[v.detach().clone() for v in values], masks=[m.clone() for m in masks],
                      lrs=[s.detach() for s in step_sizes()])
        levels.append(level)
        history.append({"round": rnd, "density": round(level.density, 4), "adapted_params": level.adapted,
                        "val_psnr_after_inner_steps": round(best[0], 2), "seconds": round(time.time() - t0)})
        log(args, json.dumps(history[-1]))
    meta = {"data": args.data_note, "train_tiles": int(len(data)), "tile_px": int(size),
            "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
            "history": history, "train_seconds": round(time.time() - t0),
            "machine": args.machine}
    sha = save_init(args.out, args.name, spec, args.tile, (size - args.tile) // 2, levels, meta)
    log(args, f"wrote {args.out} sha256 {sha}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--train", type=Path, required=True, help="uint8 (N, S, S, 3) tiles from training.patches")
    ap.add_argument("--val", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--name", default="sparse-siren-t32-v1")
    ap.add_argument("--data-note", default="")
    ap.add_argument("--machine", default="2-core CPU")
    ap.add_argument("--tile", type=int, default=32)
    ap.add_argument("--hidden", type=int, default=32)
    ap.add_argument("--depth", type=int, default=3)
    ap.add_argument("--w0", type=float, default=30.0)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--inner-steps", type=int, default=3)
    ap.add_argument("--inner-lr", type=float, default=1e-2)
    ap.add_argument("--second-order", action="store_true")
    ap.add_argument("--outer-lr", type=float, default=1e-4)
    ap.add_argument("--lr-lr", type=float, default=1e-3)
    ap.add_argument("--clip", type=float, default=1.0)
    ap.add_argument("--dense-steps", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--round-steps", type=int, default=300)
    ap.add_argument("--prune-fraction", type=float, default=0.2)
    ap.add_argument("--val-tiles", type=int, default=512)
    ap.add_argument("--val-every", type=int, default=250)
    ap.add_argument("--max-lr-factor", type=float, default=5.0, help="cap on learned step size / initial")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quiet", action="store_true", help="no progress bars or log lines")
    train(ap.parse_args())


if __name__ == "__main__":
    main()
