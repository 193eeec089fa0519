"""Candidate b of the ceiling study: a latent pyramid, interpolated to any pixel grid, read by a shared SIREN.

Cool-chic's representation (Ladune et al. 2023) with COIN++'s sharing (Dupont et al. 2022): level l is a
one-channel grid of ceil(H / 2**l) x ceil(W / 2**l) latents; every level is upsampled bicubically to the
output grid (pixel-centre aligned, so any resolution decodes), and a small SIREN maps the LEVELS values at
each pixel to RGB. Only the latents are per image (b), or the latents plus an update of the synthesis from
the shared init (b1). Latents are integers after quantization (step 1 in the fit); the rate proxy is the
bits of a zero-mean Laplace per level integrated over each quantization bin, the model the codec's own
coder (inrcodec.entropy, one scale per tensor) applies to the real symbols.

The shared synthesis is trained as an auto-decoder (Park et al. 2019): per-crop latents and the synthesis
together on random train crops, at rate weights spread over the study's range, with the fit's noise proxy.
"""
from __future__ import annotations

import math
import time
from collections.abc import Iterator

import numpy as np
import torch
import torch.nn.functional as F

LEVELS, WIDTH = 7, 32
LATENT_LR, SYNTH_LR, TRAIN_SYNTH_LR = 0.05, 1e-3, 3e-3
STE_SHARE = 0.2  # last share of the fit's steps: straight-through rounding instead of noise


def level_sizes(h: int, w: int, levels: int = LEVELS) -> list[tuple[int, int]]:
    return [(math.ceil(h / 2 ** level), math.ceil(w / 2 ** level)) for level in range(levels)]


def synth_init(levels: int = LEVELS, width: int = WIDTH, seed: int = 0) -> list[torch.Tensor]:
    """Per-level input gains, then (weight, bias) of LEVELS -> width -> width -> 3 (torch's Linear init)."""
    g = torch.Generator().manual_seed(seed)
    params = [torch.full((levels,), 0.3)]
    for fan_in, fan_out in ((levels, width), (width, width), (width, 3)):
        bound = 1 / math.sqrt(fan_in)
        params += [(torch.rand(fan_out, fan_in, generator=g) * 2 - 1) * bound,
                   (torch.rand(fan_out, generator=g) * 2 - 1) * bound]
    return params


SYNTH_NAMES = ["gain", "W0", "b0", "W1", "b1", "W2", "b2"]


def upsample(latents: list[torch.Tensor], h: int, w: int) -> torch.Tensor:
    """(N, h_l, w_l) per level -> (N, LEVELS, h, w), bicubic and pixel-centre aligned."""
    return torch.cat([z[:, None] if z.shape[-2:] == (h, w) else
                      F.interpolate(z[:, None], size=(h, w), mode="bicubic", align_corners=False)
                      for z in latents], 1)


def synthesize(synth: list[torch.Tensor], latents: list[torch.Tensor], h: int, w: int) -> torch.Tensor:
    """(N, h, w, 3) colours in [0, 1]-ish."""
    gain, w0, b0, w1, b1, w2, b2 = synth
    x = (upsample(latents, h, w) * gain[None, :, None, None]).permute(0, 2, 3, 1)
    x = torch.sin(F.linear(x, w0, b0))
    x = torch.sin(F.linear(x, w1, b1))
    return F.linear(x, w2, b2) + 0.5


def laplace_bits(y: torch.Tensor, log_scale: torch.Tensor) -> torch.Tensor:
    """Bits of each value under a zero-mean Laplace integrated over [y - 1/2, y + 1/2].

    In closed form on |y|, the tail in the log domain: a difference of two CDFs near 1 would lose
    the bin's mass in float32 beyond |y| = 15 scales. Each branch sees |y| clipped to its own side,
    so the unused one stays finite and passes no NaN gradient."""
    b, a = log_scale.exp(), y.abs()
    centre = 1 - 0.5 * torch.exp(-(0.5 + a.clamp(max=0.5)) / b) - 0.5 * torch.exp(-(0.5 - a.clamp(max=0.5)) / b)
    tail = (a.clamp(min=0.5) - 0.5) / (b * math.log(2)) + 1 - torch.log2(-torch.expm1(-1 / b))
    return torch.where(a < 0.5, -torch.log2(centre.clamp_min(1e-9)), tail)


def quantize_proxy(y: torch.Tensor, noise: bool) -> torch.Tensor:
    """Uniform noise of one step (a smooth proxy), or straight-through rounding (what is coded)."""
    return y + torch.rand_like(y) - 0.5 if noise else y + (torch.round(y) - y).detach()


def rd_terms(synth: list[torch.Tensor], latents: list[torch.Tensor], log_scales: list[torch.Tensor],
             target: torch.Tensor, noise: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-image MSE and latent bits per pixel; target is (N, h, w, 3)."""
    _, h, w, _ = target.shape
    q = [quantize_proxy(z, noise) for z in latents]
    mse = (synthesize(synth, q, h, w) - target).pow(2).mean((1, 2, 3))
    bits = sum(laplace_bits(z, s).flatten(1).sum(1) for z, s in zip(q, log_scales, strict=True))
    return mse, bits / (h * w)


def fresh_latents(n: int, h: int, w: int) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Zero latents for n images of h x w, and a zero log Laplace scale per level: where every fit starts."""
    latents = [torch.zeros(n, a, b, requires_grad=True) for a, b in level_sizes(h, w)]
    return latents, [torch.zeros((), requires_grad=True) for _ in latents]


def fit(synth: list[torch.Tensor], target: torch.Tensor, lam: float, steps: int,
        synth_lr: float = 0.0) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Latents from zero (and the synthesis from its init when synth_lr > 0) on MSE + lam * bpp by Adam,
    the latents' rate cosine-decayed to SYNTH_LR; noise first, straight-through for the last STE_SHARE."""
    n, h, w, _ = target.shape
    latents, log_scales = fresh_latents(n, h, w)
    synth = [p.detach().clone().requires_grad_(synth_lr > 0) for p in synth]
    groups = [{"params": latents + log_scales, "lr": LATENT_LR}]
    if synth_lr:
        groups.append({"params": synth, "lr": synth_lr})
    opt = torch.optim.Adam(groups)
    floor = SYNTH_LR / LATENT_LR  # the latents' rate decays to the synthesis' rate, which stays constant

    def cosine(k: int) -> float:
        return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * k / max(steps, 1)))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, [cosine, lambda k: 1.0][:len(groups)])
    for k in range(steps):
        mse, bpp = rd_terms(synth, latents, log_scales, target, noise=k < steps * (1 - STE_SHARE))
        opt.zero_grad()
        (mse + lam * bpp).sum().backward()
        opt.step()
        sched.step()
    return [z.detach() for z in latents], [p.detach() for p in synth]


def train_synth(crops: Iterator[np.ndarray], n: int, lams: tuple[float, float], minutes: float,
                seed: int = 0) -> tuple[list[torch.Tensor], dict]:
    """Auto-decoder training: n train crops, each with its own latents and rate weight (log-spaced over
    lams), and the shared synthesis, all by full-batch Adam on the fit's noisy RD loss, cosine-annealed
    over the time budget."""
    torch.manual_seed(seed)
    target = torch.from_numpy(np.stack([next(crops) for _ in range(n)]).astype(np.float32) / 255)
    _, h, w, _ = target.shape
    synth = [p.requires_grad_() for p in synth_init(seed=seed)]
    latents, log_scales = fresh_latents(n, h, w)
    lam = torch.from_numpy(np.geomspace(*lams, n).astype(np.float32))
    opt = torch.optim.Adam([{"params": latents + log_scales, "lr": LATENT_LR}, {"params": synth, "lr": TRAIN_SYNTH_LR}])
    t0, k, mse = time.perf_counter(), 0, torch.ones(1)
    while (elapsed := time.perf_counter() - t0) < 60 * minutes:
        for group, lr in zip(opt.param_groups, (LATENT_LR, TRAIN_SYNTH_LR), strict=True):
            group["lr"] = lr * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * elapsed / (60 * minutes))))
        mse, bpp = rd_terms(synth, latents, log_scales, target, noise=True)
        opt.zero_grad()
        (mse + lam * bpp).mean().backward()
        opt.step()
        k += 1
    return [p.detach() for p in synth], {"steps": k, "seconds": time.perf_counter() - t0, "crops": n,
                                         "size": h, "lams": lams, "train_psnr": float(-10 * mse.detach().mean().log10())}
