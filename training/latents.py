"""Train representation 3's first init as an auto-decoder: per-crop latents, a shared synthesis and ARM.

Every train crop has its own latent grids and its own rate weight (log-spaced over the codec's
range); the synthesis and the context model are shared. All are fitted together, full batch, on
the encoder's loss (MSE + lambda * bits under the ARM, uniform-noise relaxation), the learning rates
cosine-annealed over the run. The synthesis is then pruned by global weight magnitude in rounds,
each retrained with its mask (Meta-SparseINR's pruning; the next issue meta-trains the few-step
loop). The ARM is rounded to the integers the decoder runs and the init written with its card data.
Resumable: `--checkpoint` holds the whole state (optimiser and RNG included) and is rewritten every
`--save-every` steps; a run started again with the same arguments continues where it stopped.

    python -m training.patches ../shared/data/train/bsds432 ../shared/data/train/imagenet \\
        --out runs/crops128.npy --size 128 --count 48 --seed 0
    python -m training.latents --crops runs/crops128.npy --out inrcodec/weights/latents-v1.npz \\
        --steps 3000 --checkpoint runs/latents-v1.ckpt
"""
from __future__ import annotations

import argparse
import math
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

from inrcodec.representations.latents.arm import CONTEXT, FRAC, WFRAC, IntegerArm
from inrcodec.representations.latents.fit import grid_bits, quantized, upsample, upsampler
from inrcodec.representations.latents.grid import level_sizes
from inrcodec.representations.latents.init import LatentInit, load_latent_init_file, save_latent_init
from inrcodec.representations.latents.synthesis import ACTIVATIONS, synthesize


def synthesis_init(levels: int, width: int, layers: int, seed: int) -> list[torch.Tensor]:
    """[gain, W0, b0, ...] with torch.nn.Linear's uniform init; gains start at 1/4 (latents are integers)."""
    g = torch.Generator().manual_seed(seed)
    dims = [levels] + [width] * layers + [3]
    params = [torch.full((levels,), 0.25)]
    for fan_in, fan_out in zip(dims[:-1], dims[1:], strict=True):
        bound = 1 / math.sqrt(fan_in)
        params += [(torch.rand(fan_in, fan_out, generator=g) * 2 - 1) * bound,
                   (torch.rand(fan_out, generator=g) * 2 - 1) * bound]
    return params


def arm_init(hidden: int, layers: int, seed: int) -> list[torch.Tensor]:
    """[W, b, ...] of CONTEXT -> hidden x layers -> 2 (mean, log2 scale); the output starts at zero."""
    g = torch.Generator().manual_seed(seed + 1)
    dims = [CONTEXT] + [hidden] * layers + [2]
    params = []
    for k, (fan_in, fan_out) in enumerate(zip(dims[:-1], dims[1:], strict=True)):
        bound = 1 / math.sqrt(fan_in) if k < layers else 0.0
        params += [(torch.rand(fan_out, fan_in, generator=g) * 2 - 1) * bound, torch.zeros(fan_out)]
    return params


def integer_arm(params: list[torch.Tensor]) -> IntegerArm:
    """The float ARM rounded to the decoder's fixed point (weights WFRAC, biases FRAC fractional bits)."""
    ws = tuple(np.rint(p.detach().cpu().numpy().astype(np.float64) * 2 ** WFRAC).astype(np.int64) for p in params[0::2])
    bs = tuple(np.rint(p.detach().cpu().numpy().astype(np.float64) * 2 ** FRAC).astype(np.int64) for p in params[1::2])
    return IntegerArm(ws, bs)


def prune(values: list[torch.Tensor], masks: list[torch.Tensor], share: float) -> list[torch.Tensor]:
    """Masks after removing `share` of the surviving synthesis weights by global magnitude (gains and biases stay)."""
    alive = torch.cat([v[m].abs() for v, m in zip(values[1::2], masks[1::2], strict=True)])
    cut = torch.quantile(alive, share)
    return [m & (v.abs() > cut) if i % 2 == 1 else m for i, (v, m) in enumerate(zip(values, masks, strict=True))]


def schedule(steps: int, rounds: int, dense_share: float) -> list[tuple[int, int]]:
    """(first step, round) of the dense phase and each pruning round."""
    dense = int(dense_share * steps)
    per = (steps - dense) // max(rounds, 1)
    return [(0, 0)] + [(dense + r * per, r + 1) for r in range(rounds)]


def train(a: argparse.Namespace) -> None:
    torch.manual_seed(a.seed)
    torch.set_num_threads(a.threads)
    device = a.device
    crops = torch.from_numpy(np.load(a.crops)[: a.count].astype(np.float32) / 255).to(device)
    n, h, w, _ = crops.shape
    crops_cf = crops.permute(3, 0, 1, 2).contiguous()  # (3, N, H, W), as the synthesis writes colours
    lam = torch.from_numpy(np.geomspace(a.lam_min, a.lam_max, n).astype(np.float32)).to(device)
    latents = [torch.zeros(n, p, q, device=device, requires_grad=True) for p, q in level_sizes(h, w, a.levels)]
    synth = [p.to(device).requires_grad_() for p in synthesis_init(a.levels, a.width, a.layers, a.seed)]
    masks = [torch.ones_like(p, dtype=torch.bool) for p in synth]
    arm = [p.to(device).requires_grad_() for p in arm_init(a.arm_hidden, a.arm_layers, a.seed)]
    opt = torch.optim.Adam([{"params": latents, "lr": a.latent_lr}, {"params": synth, "lr": a.lr},
                            {"params": arm, "lr": a.lr}])
    base = [g["lr"] for g in opt.param_groups]
    mats = upsampler(h, w, a.levels, device)
    rounds = schedule(a.steps, a.rounds, a.dense_share)
    step, t_spent, history = 0, 0.0, []
    if ck := resume(a, latents + synth + arm, opt):
        masks = [m.to(device) for m in ck["masks"]]
        step, t_spent, history = ck["step"], ck["seconds"], ck["history"]
    t0 = time.perf_counter() - t_spent
    starts = {s: r for s, r in rounds}
    while step < a.steps:
        if step in starts and starts[step] > 0:
            with torch.no_grad():
                masks = prune(synth, masks, a.prune)
                for p, m in zip(synth, masks, strict=True):
                    p.mul_(m)
        frac = step / a.steps
        for g, lr0 in zip(opt.param_groups, base, strict=True):
            g["lr"] = lr0 * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * frac)))
        q = [quantized(z, True) for z in latents]
        params = [p * m for p, m in zip(synth, masks, strict=True)]
        out = synthesize(params, upsample(q, mats), a.activation, planar=True)
        mse = (out - crops_cf).pow(2).mean((0, 2, 3))
        bpp = grid_bits(list(zip(arm[0::2], arm[1::2], strict=True)), q) / (h * w)
        loss = (mse + lam * bpp).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        step += 1
        if step % a.log_every == 0 or step == a.steps:
            psnr = float((-10 * mse.detach().log10()).mean())
            history.append({"step": step, "seconds": round(time.perf_counter() - t0, 1), "psnr": round(psnr, 3),
                            "bpp": round(float(bpp.detach().mean()), 4)})
            print(f"step {step}: train PSNR {psnr:.2f} dB, {float(bpp.detach().mean()):.3f} bpp "
                  f"({(time.perf_counter() - t0) / 60:.1f} min)", flush=True)
        if a.checkpoint and (step % a.save_every == 0 or step == a.steps):
            save_checkpoint(a, latents + synth + arm, opt, step, time.perf_counter() - t0, history, masks=masks)
    values = [(p * m).detach().cpu().numpy() for p, m in zip(synth, masks, strict=True)]
    meta = {"data": {"crops": str(a.crops), "count": n, "size": h}, "steps": a.steps,
            "seconds": round(time.perf_counter() - t0), "device": device, "width": a.width, "layers": a.layers,
            "arm_hidden": a.arm_hidden, "arm_layers": a.arm_layers, "lambda": [a.lam_min, a.lam_max],
            "pruning": {"rounds": a.rounds, "share": a.prune, "dense_share": a.dense_share},
            "history": history}
    sha = save_latent_init(a.out, a.name, a.activation, values, [m.cpu().numpy() for m in masks],
                           integer_arm(arm), meta)
    Path(a.out).with_suffix(".md").write_text(card(Path(a.out), "python -m training.latents " + " ".join(sys.argv[1:])))
    print(f"wrote {a.out} ({Path(a.out).stat().st_size} bytes, sha256 {sha}) and its card")


def card(path: Path, reproduce: str) -> str:
    """The init's card (weights/<name>.md): data, architecture, training, time and checksum, from its metadata."""
    init = load_latent_init_file(path)
    m = init.meta
    shapes = [v.shape for v in init.values]
    last = m["history"][-1] if m["history"] else {}
    crops = m["predictor"]["data"] if init.predictor is not None else dict(m["data"], count=96, seed=0)
    seed = crops.get("seed", 1)  # the pool's training.patches seed (inits before latents-v3 did not record it: 1)
    return "\n".join([
        f"# Init card: `{init.name}` (representation 3)", "",
        f"- **File**: `{path.name}`, {path.stat().st_size:,} bytes, sha256 `{init.sha256}`",
        f"- **Latents**: {init.levels} one-channel grids, 1:1 to 1:{2 ** (init.levels - 1)}, bicubic to any output grid.",
        f"- **Synthesis**: {init.levels} → " + " → ".join(str(s[1]) for s in shapes[1::2]) + f" ({init.activation}, "
        f"residual between equal widths), {sum(v.size for v in init.values):,} parameters; "
        f"{init.density:.0%} of its weights survive the mask and may move per image.",
        "- **Context model**: 13 causal inputs → " + " → ".join(str(w.shape[0]) for w in init.arm.weights)
        + f" (ReLU), integers (weights 2^-{WFRAC}, activations 2^-{FRAC}); {init.arm.macs} MACs per latent.",
        f"- **Data**: {m['data']['count']} random {m['data']['size']}² crops of ../shared/data/train (bsds432 + "
        f"imagenet, flips, 60-100 % rescale; `{m['data']['crops']}`), each with its own latents and rate weight "
        f"(log-spaced {m['lambda'][0]:g}..{m['lambda'][1]:g}).",
        f"- **Training**: auto-decoder, full batch, {m['steps']} Adam steps on MSE + λ · bits (uniform-noise "
        f"relaxation), cosine-annealed; after {m['pruning']['dense_share']:.0%} of them, {m['pruning']['rounds']} "
        f"rounds of global magnitude pruning of {m['pruning']['share']:.0%} of the surviving synthesis weights, "
        f"each retrained with its mask. Last train point: {last.get('psnr', float('nan')):.2f} dB at "
        f"{last.get('bpp', float('nan')):.3f} bpp (noisy latents, mean over crops and rates).",
        f"- **Training time**: {m['seconds'] / 60:.0f} min on {m['device']} ({platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cores).",
        *predictor_lines(init),
        f"- **Reproduce**: {'the base as its card says, then ' if init.predictor is not None else ''}"
        f"`python -m training.patches ../shared/data/train/bsds432 ../shared/data/train/imagenet "
        f"--out {crops['crops']} --size {crops['size']} --count {crops['count']} --seed {seed} && {reproduce}`", ""])


def predictor_stages(meta: dict) -> list[dict]:
    """Every predictor stage an init's metadata records, oldest first: earlier ones, then its own."""
    return [*meta.get("stages", []), *([meta["predictor"]] if "predictor" in meta else [])]


def predictor_lines(init: LatentInit) -> list[str]:
    """The card's account of the latent predictor (training/predictor.py), where the init has one."""
    p = init.meta.get("predictor")
    if p is None or init.predictor is None:
        return []
    last = p["history"][-1] if p["history"] else {}
    return [
        f"- **Latent predictor** (encoder only: where a fit starts): a stride-2 pyramid of 3×3 convolutions, "
        f"{p['channels']} channels, a 1×1 head and a rate-dependent gain per grid, "
        f"{sum(v.size for v in init.predictor):,} parameters. Trained from `{init.meta['base']['name']}` "
        f"(sha256 {init.meta['base']['sha256'][:16]}…) with the synthesis' surviving weights and the ARM, "
        f"{p['steps']} Adam steps of batch {p['batch']} on {p['data']['count']} random {p['data']['size']}² "
        f"train crops (`{p['data']['crops']}`), each crop at its own λ (log-uniform {p['lambda'][0]:g}..{p['lambda'][1]:g}), "
        f"bits on noisy latents, synthesis on rounded ones; {p['seconds'] / 60:.0f} min"
        f"{'' if p.get('device', 'cpu') == 'cpu' else ' on ' + p['device']}. Last train point: "
        f"{last.get('psnr', float('nan')):.2f} dB at {last.get('bpp', float('nan')):.3f} bpp (mean of the last "
        f"log window over all rates; rounded latents synthesized, noisy ones priced).",
        *[f"  - continuing an earlier stage of {st['steps']} steps ({st['seconds'] / 60:.0f} min, batch {st['batch']}, "
          f"λ {st['lambda'][0]:g}..{st['lambda'][1]:g}; last {st['history'][-1]['psnr']:.2f} dB at "
          f"{st['history'][-1]['bpp']:.3f} bpp)" for st in init.meta.get("stages", [])]]


def checkpoint_identity(a: argparse.Namespace) -> dict:
    """The settings a checkpoint must match to be resumed (not where it runs, logs or stops)."""
    return {k: str(v) for k, v in vars(a).items()
            if k not in ("checkpoint", "threads", "log_every", "save_every", "out", "stop_at", "minutes", "device")}


def resume(a: argparse.Namespace, tensors: list[torch.Tensor], opt: torch.optim.Optimizer) -> dict | None:
    """Load `a.checkpoint`, if there is one, into the tensors, the optimiser and the RNG; its record.
    One written with other settings is refused."""
    if not (a.checkpoint and Path(a.checkpoint).exists()):
        return None
    ck = torch.load(a.checkpoint, weights_only=False, map_location="cpu")  # copied below to where the run is
    if ck["args"] != checkpoint_identity(a):
        raise SystemExit(f"{a.checkpoint} was written with other settings: {ck['args']}")
    with torch.no_grad():
        for dst, src in zip(tensors, ck["tensors"], strict=True):
            dst.copy_(src)
    opt.load_state_dict(ck["opt"])
    torch.set_rng_state(ck["rng"])
    print(f"resumed at step {ck['step']} ({ck['seconds'] / 60:.1f} min)")
    return ck


def init_options(ap: argparse.ArgumentParser, name: str) -> None:
    """What every trainer here reads and writes: packed crops in, an init (and its card) out."""
    ap.add_argument("--crops", type=Path, required=True, help="uint8 (N, S, S, 3) .npy from training.patches")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--name", default=name)


def save_checkpoint(a: argparse.Namespace, tensors: list[torch.Tensor], opt: torch.optim.Optimizer, step: int,
                    seconds: float, history: list, **extra: object) -> None:
    """Write what `resume` reads (settings, tensors, optimiser, RNG, progress), atomically."""
    tmp = Path(f"{a.checkpoint}.tmp")
    torch.save({"args": checkpoint_identity(a), "tensors": [t.detach() for t in tensors], "opt": opt.state_dict(),
                "rng": torch.get_rng_state(), "step": step, "seconds": seconds, "history": history, **extra}, tmp)
    os.replace(tmp, a.checkpoint)


def run_options(ap: argparse.ArgumentParser, save_every: int, log_every: int) -> None:
    """The options every trainer here shares: seed, threads, checkpoint and how often to save and log."""
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--checkpoint", type=Path)
    ap.add_argument("--save-every", type=int, default=save_every)
    ap.add_argument("--log-every", type=int, default=log_every)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    init_options(ap, "latents-v1")
    ap.add_argument("--count", type=int, default=48, help="crops used (full batch)")
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--levels", type=int, default=7)
    ap.add_argument("--width", type=int, default=24)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--activation", choices=ACTIVATIONS, default="gelu")
    ap.add_argument("--arm-hidden", type=int, default=16)
    ap.add_argument("--arm-layers", type=int, default=2)
    ap.add_argument("--lam-min", type=float, default=0.0008)
    ap.add_argument("--lam-max", type=float, default=0.04)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--latent-lr", type=float, default=1e-2)
    ap.add_argument("--rounds", type=int, default=2, help="pruning rounds after the dense phase")
    ap.add_argument("--prune", type=float, default=0.25, help="share of surviving weights each round removes")
    ap.add_argument("--dense-share", type=float, default=0.6)
    ap.add_argument("--device", default="cpu")
    run_options(ap, save_every=100, log_every=50)
    train(ap.parse_args())


if __name__ == "__main__":
    main()
