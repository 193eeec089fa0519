"""Train representation 3's latent predictor with the shared synthesis and ARM: the init that starts a fit.

Starts from an auto-decoder init (training/latents.py: synthesis, mask, ARM), or from an init with a
predictor to continue it (at other rates, say), and trains the predictor
(inrcodec/representations/latents/predictor.py) together with the synthesis' surviving weights and
the ARM on random train crops, each batch element at its own rate weight (log-uniform over the
codec's range), on the encoder's loss MSE + lambda * bits. The bits are priced on uniformly noisy
latents, the synthesis reads them rounded straight-through (what the decoder sees), so the
prediction is good as it stands and the encoder's refinement starts close. The mask never changes.
Resumable: `--checkpoint` holds the whole state and is rewritten every `--save-every` steps.

    python -m training.patches ../shared/data/train/bsds432 ../shared/data/train/imagenet \\
        --out runs/pool128.npy --size 128 --count 2400 --seed 1
    python -m training.predictor --crops runs/pool128.npy --base inrcodec/weights/latents-v1.npz \\
        --out inrcodec/weights/latents-v2.npz --name latents-v2 --steps 16000 --checkpoint runs/latents-v2.ckpt
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch

from inrcodec.representations.latents.fit import float_arm, grid_bits, quantized, upsample, upsampler
from inrcodec.representations.latents.init import load_latent_init_file, save_latent_init
from inrcodec.representations.latents.predictor import as_tensors, predict, predictor_init
from inrcodec.representations.latents.synthesis import synthesize

from .latents import card, init_options, integer_arm, predictor_stages, resume, run_options, save_checkpoint


def train(a: argparse.Namespace) -> None:
    torch.manual_seed(a.seed)
    torch.set_num_threads(a.threads)
    base, device = load_latent_init_file(a.base), a.device
    pool = torch.from_numpy(np.load(a.crops))  # stays on the CPU, uint8; each batch moves
    size = pool.shape[1]
    start = (predictor_init(base.levels, a.channels, a.seed) if base.predictor is None
             else as_tensors(base.predictor, "cpu"))  # a base with a predictor is continued
    pred = [p.to(device).requires_grad_() for p in start]
    synth = [p.requires_grad_() for p in as_tensors(base.values, device)]
    masks = [torch.from_numpy(m).to(device) for m in base.masks]
    arm = [t.clone().requires_grad_() for layer in float_arm(base.arm, device) for t in layer]
    opt = torch.optim.Adam([{"params": pred, "lr": a.lr}, {"params": synth + arm, "lr": a.shared_lr}])
    lrs = [g["lr"] for g in opt.param_groups]
    mats = upsampler(size, size, base.levels, device)
    log_lam = (math.log(a.lam_min), math.log(a.lam_max))
    step, spent, history = 0, 0.0, []
    if ck := resume(a, pred + synth + arm, opt):
        step, spent, history = ck["step"], ck["seconds"], ck["history"]
    t0 = time.perf_counter() - spent
    window: list[tuple[float, float]] = []
    stop, first = min(a.steps, a.steps if a.stop_at is None else a.stop_at), step
    until = spent + 60 * (math.inf if a.minutes is None else a.minutes)  # on the run's clock, resumed from the checkpoint
    while step < stop and time.perf_counter() - t0 < until:
        for g, lr0 in zip(opt.param_groups, lrs, strict=True):
            g["lr"] = lr0 * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * step / a.steps)))
        x = pool[torch.randint(len(pool), (a.batch,))].to(device).float() / 255  # the CPU's RNG draws, on any device
        if torch.rand(()) < 0.5:
            x = x.flip(2)
        lam = torch.exp(torch.empty(a.batch).uniform_(*log_lam)).to(device)
        z = predict(pred, x, lam, base.levels)
        bits = grid_bits(list(zip(arm[0::2], arm[1::2], strict=True)), [quantized(t, a.rate_noise) for t in z])
        params = [p * m for p, m in zip(synth, masks, strict=True)]
        out = synthesize(params, upsample([quantized(t, a.synthesis_noise) for t in z], mats), base.activation,
                         planar=True)
        mse = (out - x.permute(3, 0, 1, 2)).pow(2).mean((0, 2, 3))
        bpp = bits / (size * size)
        loss = (mse + lam * bpp).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        step += 1
        window.append((float((-10 * mse.detach().log10()).mean()), float(bpp.detach().mean())))
        if step % a.log_every == 0:
            psnr, rate = (float(np.mean(v)) for v in zip(*window, strict=True))
            window.clear()
            history.append({"step": step, "seconds": round(time.perf_counter() - t0, 1), "psnr": round(psnr, 3),
                            "bpp": round(rate, 4)})
            print(f"step {step}: train PSNR {psnr:.2f} dB, {rate:.3f} bpp ({(time.perf_counter() - t0) / 60:.1f} min)",
                  flush=True)
        if a.checkpoint and step % a.save_every == 0:
            save_checkpoint(a, pred + synth + arm, opt, step, time.perf_counter() - t0, history)
    seconds = time.perf_counter() - t0
    if a.checkpoint and step > first:
        save_checkpoint(a, pred + synth + arm, opt, step, seconds, history)
    meta = dict(base.meta)
    meta.update({"base": meta.get("base", {"name": base.name, "sha256": base.sha256}),
                 "stages": predictor_stages(meta),
                 "predictor": {"data": {"crops": str(a.crops), "count": len(pool), "size": size, "seed": a.pool_seed}, "steps": step,
                               "seconds": round(seconds), "device": device, "batch": a.batch, "channels": a.channels,
                               "lambda": [a.lam_min, a.lam_max], "history": history}})
    sha = save_latent_init(a.out, a.name, base.activation,
                           [(p * m).detach().cpu().numpy() for p, m in zip(synth, masks, strict=True)],
                           base.masks, integer_arm(arm), meta, [p.detach().cpu().numpy() for p in pred])
    Path(a.out).with_suffix(".md").write_text(card(Path(a.out), "python -m training.predictor " + " ".join(sys.argv[1:])))
    print(f"wrote {a.out} ({Path(a.out).stat().st_size} bytes, sha256 {sha}) and its card after {step} steps")
    if step < a.steps:
        print(f"stopped at step {step} of {a.steps}: the same command (without --stop-at) resumes")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    init_options(ap, "latents-v2")
    ap.add_argument("--base", type=Path, required=True, help="the init to start from (a predictor in it is continued)")
    ap.add_argument("--steps", type=int, default=16000, help="0.16 s a step at batch 8 on 2 CPU cores")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--channels", type=int, default=24)
    ap.add_argument("--lam-min", type=float, default=0.0008)
    ap.add_argument("--lam-max", type=float, default=0.04)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--shared-lr", type=float, default=5e-4, help="the synthesis' and ARM's learning rate")
    ap.add_argument("--pool-seed", type=int, default=1, help="the seed --crops was made with (training.patches), for the card")
    ap.add_argument("--stop-at", type=int, help="stop at this step (checkpointed, the init written as it stands) to fit a session")
    ap.add_argument("--minutes", type=float, help="stop after this long in this run, as --stop-at does (a lent device's time)")
    ap.add_argument("--rate-noise", action=argparse.BooleanOptionalAction, default=True,
                    help="price noisy latents (else rounded straight-through, as the synthesis reads them)")
    ap.add_argument("--synthesis-noise", action="store_true",
                    help="the synthesis reads the noisy latents too (else rounded straight-through)")
    ap.add_argument("--device", default="cpu", help="cuda where there is one; a checkpoint resumes on either")
    run_options(ap, save_every=200, log_every=100)
    train(ap.parse_args())


if __name__ == "__main__":
    main()
