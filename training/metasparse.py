"""Meta-SparseINR: MAML/Meta-SGD pre-training, then rounds of global magnitude pruning
(biases never pruned), each followed by MAML re-training. `meta_train` is the one loop; the
CLI below makes the shipped tile init with it, and benchmarks/sparsity.py its baselines.

Every level (density after k rounds) is snapshotted into the shipped init, so the codec
gets nested masks for free. Inner loop: K steps of SGD with learned per-parameter step
sizes (Meta-SGD, log-parametrised, clamped), first-order by default; the outer gradient
is clipped, which keeps meta-training stable where second-order Meta-SGD diverged.
Run with `--nproc N` (or under torchrun), each outer batch is shared among N data-parallel
processes (training/distributed.py): gloo on CPUs, NCCL with `--device cuda`.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import click
import numpy as np
import torch

from inrcodec.alloc import tune_allocator
from inrcodec.sharedinit import Level, load_init_file, save_init, weight_density
from inrcodec.siren import Params, SirenSpec, siren_forward, siren_init
from training.distributed import (
    average_gradients,
    backend_for,
    barrier,
    gather_objects,
    launch,
    rank_and_size,
    rank_device,
    weighted_mean,
)
from training.integral import integral_level, width_view


def tile_coords(size: int) -> torch.Tensor:
    """Local coords of a size x size extended tile, exactly as TileGrid.sampling produces them."""
    c = (torch.arange(size, dtype=torch.float32) + 0.5 - size / 2) / (size / 2)
    yy, xx = torch.meshgrid(c, c, indexing="ij")
    return torch.stack([yy, xx], -1).reshape(1, -1, 2)


def to_targets(batch: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(batch).float().div_(255.0).reshape(len(batch), -1, 3)


NetMap = Callable[[Params], Params]
View = Callable[[Level], tuple[Level, NetMap | None]]  # what is trained -> the network one step adapts


def plain(level: Level) -> tuple[Level, NetMap | None]:
    return level, None


def forward(p: Params, coords: torch.Tensor, spec: SirenSpec, net: NetMap | None = None) -> torch.Tensor:
    """The network's output; `net` maps trained parameters (e.g. integral nodes) to its weights first."""
    return siren_forward(p if net is None else net(p), coords, spec)


def adapt(values: Params, masks: list[torch.Tensor], lrs: Params, target: torch.Tensor,
          coords: torch.Tensor, spec: SirenSpec, steps: int, second_order: bool = False,
          net: NetMap | None = None) -> Params:
    """K Meta-SGD steps on every tile (or image) of the batch at once; returns per-tile parameters."""
    n = target.shape[0]
    p = [(v * m).unsqueeze(0).expand(n, *v.shape) for v, m in zip(values, masks, strict=True)]
    for _ in range(steps):
        loss = (forward(p, coords, spec, net) - target).pow(2).mean(dim=(1, 2)).sum()
        grads = torch.autograd.grad(loss, p, create_graph=second_order)
        p = [pi - lr * m * g for pi, lr, m, g in zip(p, lrs, masks, grads, strict=True)]
    return p


def psnr_after(values, masks, lrs, data, coords, spec, steps, net: NetMap | None = None) -> float:
    """Mean PSNR over `data` after the inner loop, in chunks of about 330k pixels."""
    chunk = max(1, 330_000 // coords.shape[1])
    mse = []
    for i in range(0, len(data), chunk):
        t = to_targets(data[i:i + chunk]).to(coords.device)
        leaves = [v.detach().clone().requires_grad_() for v in values]
        p = adapt(leaves, masks, lrs, t, coords, spec, steps, net=net)
        with torch.no_grad():
            mse.append((forward(p, coords, spec, net) - t).pow(2).mean(dim=(1, 2)))
    return float(-10 * torch.log10(torch.cat(mse)).mean())


def _prune_by_score(scores: list[torch.Tensor], masks: list[torch.Tensor], fraction: float) -> list[torch.Tensor]:
    """Drop `fraction` of the surviving weights (masks[0::2]; biases never) with the lowest score.

    Scores align with the weights; with a leading batch dimension each network gets its own
    threshold, which is how per-signal pruning (MAML+OneShot, MAML+IMP) prunes every image at once.
    """
    batched = scores[0].dim() == 3
    s = [x if batched else x.unsqueeze(0) for x in scores]
    m = [(mk if batched else mk.unsqueeze(0)).expand_as(x) for mk, x in zip(masks[0::2], s, strict=True)]
    k = round(fraction * int(sum(mk[0].sum() for mk in m)))
    if k == 0:
        return masks
    flat = torch.cat([x.masked_fill(~mk, math.inf).flatten(1) for x, mk in zip(s, m, strict=True)], 1)
    threshold = torch.kthvalue(flat, k, dim=1).values.view(-1, 1, 1)
    new = list(masks)
    for i, (x, mk) in enumerate(zip(s, m, strict=True)):
        kept = mk & (x > threshold)
        new[2 * i] = kept if batched else kept[0]
    return new


def global_magnitude_prune(values: Params, masks: list[torch.Tensor], fraction: float,
                           generator: torch.Generator | None = None) -> list[torch.Tensor]:
    """Meta-SparseINR's pruning: remove `fraction` of the surviving weights with the smallest |value|."""
    return _prune_by_score([v.detach().abs() for v in values[0::2]], masks, fraction)


def random_prune(values: Params, masks: list[torch.Tensor], fraction: float,
                 generator: torch.Generator | None = None) -> list[torch.Tensor]:
    """The Random Pruning baseline: the same schedule, surviving weights dropped uniformly at random."""
    return _prune_by_score([torch.rand(v.shape, generator=generator).to(v.device) for v in values[0::2]], masks,
                           fraction)


def log(quiet: bool, line: str) -> None:
    if not quiet:
        click.echo(line, err=True)


@dataclass(frozen=True)
class MetaConfig:
    """Meta-learning schedule and optimiser settings (the CLI flags of this module)."""

    batch: int = 64
    inner_steps: int = 3
    inner_lr: float = 1e-2
    second_order: bool = False
    outer_lr: float = 1e-4
    lr_lr: float = 1e-3  # 0 keeps the step sizes fixed: plain MAML
    clip: float = 1.0
    dense_steps: int = 2000
    rounds: int = 7
    round_steps: int = 300
    prune_fraction: float = 0.2
    val_every: int = 250
    max_lr_factor: float = 5.0
    schedule_offset: int = 0  # outer steps `start` already took in this schedule (a branch sees the same lrs)
    seed: int = 0
    quiet: bool = False
    device: str = "cpu"  # "cuda": each data-parallel rank on its own GPU

    @classmethod
    def of(cls, settings: dict, **overrides) -> MetaConfig:
        """The config recorded in a run's arguments (e.g. an init's card), with overrides."""
        known = {f.name: settings[f.name] for f in fields(cls) if f.name in settings}
        return cls(**{**known, **overrides})


Pruner = Callable[..., list[torch.Tensor]]


def siren_level(spec: SirenSpec, inner_lr: float, seed: int) -> Level:
    """SIREN's random init as a dense level with uniform step sizes: where meta-training (and Scratch) starts."""
    values = siren_init(spec, torch.Generator().manual_seed(seed))
    return Level(values, [torch.ones_like(v, dtype=torch.bool) for v in values],
                 [torch.full_like(v, inner_lr) for v in values])


def meta_train(spec: SirenSpec, data: np.ndarray, val: np.ndarray, cfg: MetaConfig, start: Level | None = None,
               pruner: Pruner = global_magnitude_prune, label: str = "",
               views: Callable[[np.random.Generator], list[View]] | None = None,
               val_views: list[View] = (plain,), checkpoint: Path | None = None) -> tuple[list[Level], list[dict]]:
    """Dense MAML (from SIREN's init, or continue from `start`), then `cfg.rounds` prune-and-retrain rounds.

    Returns one Level per round (the dense one first, on the CPU), each the best state of its
    round on `val`. `pruner` picks the weights to drop: magnitude (Meta-SparseINR) or random.
    In a process group every rank draws `cfg.batch / ranks` of each outer batch from its shard
    of `data`, scores its shard of `val`, and all ranks step with the mean meta-gradient.
    `views` draws, each outer step, the networks that are adapted and how their parameters
    become weights (an integral network at full and at a random width: the loss is their mean);
    selection scores the mean over `val_views`.
    With a `checkpoint` path, the whole state is saved there at every val point (one file, every
    rank's RNG in it), a run that finds it resumes where it stopped, taking the very same steps,
    and a finished run removes it.
    """
    tune_allocator()  # every outer step allocates and frees tens of MB of activations
    rank, ranks = rank_and_size()
    if cfg.batch % ranks:
        raise ValueError(f"batch {cfg.batch} does not split evenly over {ranks} processes")
    if len(val) == 0 or len(data) < cfg.batch:  # every rank holds the same arrays here: all raise together
        raise ValueError(f"meta-training needs val tiles and at least a batch ({cfg.batch}) of training tiles; "
                         f"got {len(val)} and {len(data)}")
    quiet, device = cfg.quiet or rank > 0, rank_device(cfg.device, rank)
    shapes = {"data": list(data.shape), "val": list(val.shape)}  # of the whole sets: the same on every rank
    data, val = data[rank::ranks], val[rank::ranks]  # each rank its own shard, like a DistributedSampler
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed + 1_000_003 * rank)
    gen = torch.Generator().manual_seed(cfg.seed)  # the same on every rank: random pruning agrees
    coords = tile_coords(data.shape[1]).to(device)
    initial = (start or siren_level(spec, cfg.inner_lr, cfg.seed)).to(device)
    values = [v.detach().clone().requires_grad_() for v in initial.values]
    masks = [m.clone() for m in initial.masks]
    log_lrs = [lr.detach().log().requires_grad_() for lr in initial.lrs]
    opt = torch.optim.Adam([{"params": values, "lr": cfg.outer_lr},
                            {"params": log_lrs, "lr": cfg.lr_lr}])
    plan = ([(False, cfg.dense_steps)] if start is None or cfg.dense_steps else []) + [(True, cfg.round_steps)] * cfg.rounds
    off = cfg.schedule_offset
    total = max(1, off + sum(n for _, n in plan))  # cosine decay of the outer learning rates to 10% over all rounds
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda i: 0.1 + 0.45 * (1 + math.cos(math.pi * min(i + off, total) / total)))
    max_log_lr = math.log(cfg.inner_lr * cfg.max_lr_factor)

    def step_sizes() -> list[torch.Tensor]:
        return [lr.clamp(-12, max_log_lr).exp() for lr in log_lrs]

    def score() -> tuple[float, list[float]]:
        """Mean val PSNR over the views (what selection maximises), and each view's."""
        out = []
        for view in val_views:
            lv, net = view(Level(values, masks, step_sizes()))
            mine = psnr_after(lv.values, lv.masks, lv.lrs, val, coords, spec, cfg.inner_steps, net) if len(val) else 0.0
            # a rank whose val shard is empty still joins the all-reduce, with weight 0
            out.append(weighted_mean(mine, len(val), device))
        return float(np.mean(out)), [round(x, 2) for x in out]

    levels, history, t0 = [], [], time.time()
    ckpt = None if checkpoint is None else Path(checkpoint)
    settings = {**{k: v for k, v in asdict(cfg).items() if k != "quiet"}, "spec": asdict(spec), "ranks": ranks, **shapes,
                "start": start is not None,
                "pruner": pruner.__name__, "views": views is not None, "val_views": len(val_views)}
    saved = _resume(ckpt, settings, device) if ckpt is not None and ckpt.exists() else None
    if saved:
        with torch.no_grad():
            for t, v in zip(values + log_lrs, saved["values"] + saved["log_lrs"], strict=True):
                t.copy_(v)
        masks = [m.to(device) for m in saved["masks"]]
        opt.load_state_dict(saved["opt"])
        sched.load_state_dict(saved["sched"])
        rng.bit_generator.state = saved["rngs"][rank]
        gen.set_state(saved["gen"])
        levels, history, best, t0 = saved["levels"], saved["history"], saved["best"], time.time() - saved["seconds"]
        log(quiet, f"resuming from {ckpt}: round {saved['round']} step {saved['step']}")
    for rnd, (prune, n_steps) in enumerate(plan):
        if saved and rnd < saved["round"]:
            continue
        resumed = saved is not None and rnd == saved["round"]
        if prune and not resumed:
            with torch.no_grad():
                masks = pruner(values, masks, cfg.prune_fraction, gen)
                for v, m in zip(values, masks, strict=True):
                    v.mul_(m)
        if not resumed:  # the round's starting state is a candidate too: a round never ends worse than it began
            best = (*score(), [t.detach().clone() for t in values + log_lrs])
        begin = saved["step"] + 1 if resumed else 1
        with click.progressbar(range(begin, n_steps + 1), label=f"{label}round {rnd} (density {weight_density(masks):.3f})",
                               file=sys.stderr, hidden=quiet) as bar:
            for step in bar:
                share = np.sort(rng.choice(len(data), cfg.batch // ranks, replace=False))
                batch = to_targets(data[share]).to(device)
                loss = 0.0
                drawn = views(rng) if views else [plain]
                for view in drawn:
                    lv, net = view(Level(values, masks, step_sizes()))
                    p = adapt(lv.values, lv.masks, lv.lrs, batch, coords, spec, cfg.inner_steps, cfg.second_order, net)
                    loss = loss + (forward(p, coords, spec, net) - batch).pow(2).mean() / len(drawn)
                opt.zero_grad()
                loss.backward()
                average_gradients(values + log_lrs)
                torch.nn.utils.clip_grad_norm_(values + log_lrs, cfg.clip)
                opt.step()
                sched.step()
                with torch.no_grad():
                    for v, m in zip(values, masks, strict=True):
                        v.mul_(m)
                if step % cfg.val_every == 0 or step == n_steps:
                    now, each = score()
                    if now > best[0]:  # model selection on val: keep the best state of this round
                        best = (now, each, [t.detach().clone() for t in values + log_lrs])
                    log(quiet, f"  {label}round {rnd} step {step}/{n_steps} train psnr "
                        f"{-10 * math.log10(loss.item()):.2f} val psnr {now:.2f}{' ' + str(each) if len(each) > 1 else ''} "
                        f"(best {best[0]:.2f}) mean step size "
                        f"{float(torch.cat([s.detach().flatten() for s in step_sizes()]).mean()):.4f} "
                        f"{time.time() - t0:.0f}s")
                    if ckpt is not None:  # every rank is here: the gather and the barrier are collective
                        rngs = gather_objects(rng.bit_generator.state)
                        if rank == 0:
                            def cpu(ts: list[torch.Tensor]) -> list[torch.Tensor]:
                                return [t.detach().cpu() for t in ts]
                            _save(ckpt, {"settings": settings, "round": rnd, "step": step, "values": cpu(values),
                                         "log_lrs": cpu(log_lrs), "masks": cpu(masks), "opt": opt.state_dict(),
                                         "sched": sched.state_dict(), "rngs": rngs, "gen": gen.get_state(),
                                         "levels": levels, "history": history, "best": (*best[:2], cpu(best[2])),
                                         "seconds": time.time() - t0})
                        barrier()  # no rank runs ahead of a checkpoint that might not be written
        with torch.no_grad():
            for t, b in zip(values + log_lrs, best[2], strict=True):
                t.copy_(b)
        level = Level(values=[v.detach().clone() for v in values], masks=[m.clone() for m in masks],
                      lrs=[s.detach() for s in step_sizes()]).to("cpu")
        levels.append(level)
        history.append({"round": rnd, "density": round(level.density, 4), "adapted_params": level.adapted,
                        "val_psnr_after_inner_steps": round(best[0], 2), "seconds": round(time.time() - t0, 1)})
        if len(val_views) > 1:
            history[-1]["val_psnr_by_view"] = best[1]
        log(quiet, json.dumps(history[-1]))
    if ckpt is not None and rank == 0:
        ckpt.unlink(missing_ok=True)  # finished: a rerun starts afresh rather than "resuming" this run
    return levels, history


def _save(path: Path, state: dict) -> None:
    """Write a checkpoint whole or not at all: a run stopped mid-write keeps the previous one."""
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def _resume(path: Path, settings: dict, device: str) -> dict:
    # our own file (it holds Levels and numpy RNG states), onto this rank's device whichever GPU saved it
    saved = torch.load(path, map_location=device, weights_only=False)
    if saved["settings"] != settings:
        changed = sorted(k for k in settings if saved["settings"].get(k) != settings[k])
        raise ValueError(f"checkpoint {path} was made with other settings ({', '.join(changed)}): "
                         "delete it or restore them")
    return saved


def train(args) -> None:
    """One rank's share of the CLI's run; rank 0 writes the init."""
    spec = SirenSpec(hidden=args.hidden, depth=args.depth, w0=args.w0)
    cfg = MetaConfig.of(vars(args))
    data = np.load(args.train, mmap_mode="r")
    val = np.load(args.val)[: args.val_tiles]
    start, views, val_views = None, None, (plain,)
    if args.start:  # continue from another init's dense level, as integral nodes
        start = integral_level(load_init_file(args.start).levels[0].to("cpu"), spec)
    if args.min_width:  # one node grid for every width: each outer step trains a random one
        # the sandwich rule (slimmable networks): full width every step, plus a random narrower one
        views = lambda rng: [width_view(spec.hidden),  # noqa: E731  a value: it stays None without --min-width
                             width_view(int(rng.integers(args.min_width, spec.hidden)))]
        val_widths = sorted({args.min_width, (args.min_width + spec.hidden) // 2, spec.hidden})
        val_views = [width_view(n) for n in val_widths]
    t0 = time.time()
    levels, history = meta_train(spec, data, val, cfg, start=start, views=views, val_views=val_views,
                                 checkpoint=args.checkpoint)
    size = data.shape[1]
    meta = {"data": args.data_note, "train_tiles": int(len(data)), "tile_px": int(size),
            "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
            "history": history, "train_seconds": round(time.time() - t0),
            "machine": args.machine}
    if args.min_width:
        meta["widths"] = [args.min_width, spec.hidden]  # the codec may use any width in this range
        meta["val_widths"] = val_widths  # the widths of each level's val_psnr_by_view
    if rank_and_size()[0] > 0:
        return
    sha = save_init(args.out, args.name, spec, args.tile, (size - args.tile) // 2, levels, meta)
    log(args.quiet, f"wrote {args.out} sha256 {sha}")


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
    ap.add_argument("--start", type=Path, help="start from this init's dense level, converted to integral nodes")
    ap.add_argument("--min-width", type=int, help="integral init: train at random widths min..hidden")
    ap.add_argument("--batch", type=int, default=MetaConfig.batch)
    ap.add_argument("--inner-steps", type=int, default=MetaConfig.inner_steps)
    ap.add_argument("--inner-lr", type=float, default=MetaConfig.inner_lr)
    ap.add_argument("--second-order", action="store_true")
    ap.add_argument("--outer-lr", type=float, default=MetaConfig.outer_lr)
    ap.add_argument("--lr-lr", type=float, default=MetaConfig.lr_lr)
    ap.add_argument("--clip", type=float, default=MetaConfig.clip)
    ap.add_argument("--dense-steps", type=int, default=MetaConfig.dense_steps)
    ap.add_argument("--rounds", type=int, default=MetaConfig.rounds)
    ap.add_argument("--round-steps", type=int, default=MetaConfig.round_steps)
    ap.add_argument("--prune-fraction", type=float, default=MetaConfig.prune_fraction)
    ap.add_argument("--val-tiles", type=int, default=512)
    ap.add_argument("--val-every", type=int, default=MetaConfig.val_every)
    ap.add_argument("--max-lr-factor", type=float, default=MetaConfig.max_lr_factor, help="cap on learned step size / initial")
    ap.add_argument("--schedule-offset", type=int, default=MetaConfig.schedule_offset, help="start the lr schedule this many steps in")
    ap.add_argument("--seed", type=int, default=MetaConfig.seed)
    ap.add_argument("--quiet", action="store_true", help="no progress bars or log lines")
    ap.add_argument("--device", default=MetaConfig.device, choices=("cpu", "cuda"))
    ap.add_argument("--checkpoint", type=Path, help="save the run's state here at every val point; resume from it")
    ap.add_argument("--nproc", type=int, default=1, help="data-parallel processes (each outer batch is shared)")
    args = ap.parse_args()
    launch(train, args.nproc, backend_for(args.device), args)


if __name__ == "__main__":
    main()
