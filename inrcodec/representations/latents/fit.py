"""Fitting an image's latents and synthesis update on the codec's real rate (torch, autograd).

The loss is MSE + lambda * bits / pixels, the bits taken from the shipped context model itself
(its integer weights read as fixed-point floats: the ARM the stream is coded with, up to the
rounding of its activations). Quantization is relaxed by uniform noise for the first share of
the steps, then straight-through rounding, as in Cool-chic. Only the synthesis entries that
survive the init's mask move. Training (training/latents.py) reuses the same differentiable
pieces on batches of crops. The decoder never imports this module.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ...adam import Adam
from ...presets import BPP_TOLERANCE
from ...xp import affine_planar
from .arm import CONTEXT, FRAC, MAX_SCALE_INDEX, MIN_SCALE_INDEX, NEIGHBOURS, PAD, WFRAC, IntegerArm
from .grid import axis_matrix, level_sizes
from .init import LatentInit
from .synthesis import synthesize

NOISE_SHARE = 0.8  # share of the steps with uniform noise; the rest rounds straight-through
LATENT_LR, SYNTH_LR = 5e-2, 2e-3
# From a predicted start: the latents' learning rate, at most REFINE_TRAVEL / steps (Adam steps adding up to 2:
# 1.3e-2 over default's 150, 1.4e-3 over slow's 1,400; a larger travel lifts the rate more than the quality),
# and the synthesis update's. The bits are priced on noisy latents, the synthesis reads them rounded
# (the predictor's training loss): straight-through bits blow the rate up within 300 steps (val,
# docs/design.md §11).
REFINE_LR, REFINE_TRAVEL, REFINE_SYNTH_LR = 2e-2, 2.0, 2e-3
# The refinement's relaxation: soft rounding (C3) with noise, its temperature falling from 0.3 to 0.05 over
# the first SOFT_SHARE of the steps, then straight-through; +0.5-0.8 dB at equal rate over straight-through
# alone in 100 steps at a fixed lambda (val, docs/design.md §11).
SOFT_TEMPERATURE, SOFT_SHARE = (0.3, 0.05), 0.9
# Its lambda, aimed at a bpp target: the rounded rate does not move until Adam's steps add up to half a
# latent (steps 25-40 of 0.5.6's 100), when many latents flip to cheaper integers at once and the rate
# falls 5-12 % (Kodak-sized val images), too late in the cosine schedule for the re-aims to recover.
# So the refinement starts at REFINE_LEAD times the prediction's lambda and re-aims at the target
# every 5 % from 30 % of the steps on, once the rate has moved (0.5.6; the rate lands at 0.97-1.01 of
# the target on those images, where it was 0.93-0.98; docs/design.md §11).
REFINE_LEAD = 0.8
REFINE_ADAPT_AT = tuple(k / 20 for k in range(6, 20))
# Above the prediction's top rate (by more than the rate control's 10 %): a refinement whose Adam steps
# add up to UP_TRAVEL (1e-2 over 100 steps), the bits straight-through, lambda re-aimed every 5 % of the
# steps, reaches about UP_REACH times
# that rate (val; a larger travel only adds rate, not quality; docs/design.md §11).
UP_TRAVEL, UP_REACH = 1.0, 1.2
UP_ADAPT_AT = tuple(k / 20 for k in range(2, 20))
AIM_ROUNDS, AIM_TOLERANCE = 8, 0.03  # lambda aimed at a bpp target on the prediction alone before refining
STE_LR = 0.1  # the straight-through tail's learning rate, relative
ADAPT_AT: tuple[float, ...] = (0.3, 0.6)  # shares of the steps where lambda is re-aimed at a bpp target
RATE_SLOPE = 1.25  # d log(lambda) / d log(bpp) to move a rate by, measured on val (docs/design.md)
LOG2_SCALE = ((MIN_SCALE_INDEX - 160) / 16, (MAX_SCALE_INDEX - 160) / 16)  # the coder's scale range


def float_arm(arm: IntegerArm, device: str = "cpu") -> list[tuple[torch.Tensor, torch.Tensor]]:
    """The integer ARM as float layers (weight, bias): what the fit differentiates through."""
    return [(torch.tensor(w / 2 ** WFRAC, dtype=torch.float32, device=device),
             torch.tensor(b / 2 ** FRAC, dtype=torch.float32, device=device))
            for w, b in zip(arm.weights, arm.biases, strict=True)]


def arm_contexts(z: torch.Tensor, coarser: torch.Tensor | None) -> torch.Tensor:
    """(CONTEXT, N, h, w) contexts of (N, h, w) grids, in arm.NEIGHBOURS order, then the coarser latent
    (channels first, as the fit's products take them: see level_bits)."""
    n, h, w = z.shape
    p = F.pad(z, (PAD, PAD, PAD, 0))
    cols = [p[:, PAD + dy:PAD + dy + h, PAD + dx:PAD + dx + w] for dy, dx in NEIGHBOURS]
    if coarser is None:
        cols.append(torch.zeros_like(z))
    else:
        cols.append(coarser.repeat_interleave(2, 1).repeat_interleave(2, 2)[:, :h, :w])
    out = torch.stack(cols)
    assert out.shape[0] == CONTEXT
    return out


def laplace_bits(y: torch.Tensor, mean: torch.Tensor, log2_scale: torch.Tensor) -> torch.Tensor:
    """Bits of each y under a Laplace(mean, scale) integrated over [y - 1/2, y + 1/2].

    A bin that holds the mean in closed form; one beside it in the log domain, which stays exact
    (and its gradient alive) however far in the tail. Each branch sees |y - mean| clipped to its
    own side, so the unused one passes no NaN gradient."""
    b = torch.exp2(log2_scale.clamp(*LOG2_SCALE))
    d = (y - mean).abs()
    c = d.clamp(max=0.5)
    centre = 1 - 0.5 * (torch.exp(-(0.5 - c) / b) + torch.exp(-(0.5 + c) / b))
    tail = (d.clamp(min=0.5) - 0.5) / (b * math.log(2)) + 1 - torch.log2(-torch.expm1(-1 / b))
    return torch.where(d < 0.5, -torch.log2(centre.clamp_min(2 ** -20)), tail)


def level_bits(arm: list[tuple[torch.Tensor, torch.Tensor]], grids: list[torch.Tensor]) -> list[torch.Tensor]:
    """(N,) bits of each of the (N, h_l, w_l) grids under the context model.

    Channels first: each layer one (out, in) x (in, latents) product with its bias fused, faster
    forward and back on a CPU than (latents, in) x (in, out) (docs/design.md §11)."""
    out = []
    for lv, z in enumerate(grids):
        h = arm_contexts(z, grids[lv + 1] if lv + 1 < len(grids) else None).reshape(CONTEXT, -1)
        for k, (w, b) in enumerate(arm):
            h = affine_planar(b, w.T, h)  # the ARM's weights are (out, in)
            if k < len(arm) - 1:
                h = torch.relu(h)
        out.append(laplace_bits(z, h[0].reshape(z.shape), h[1].reshape(z.shape)).flatten(1).sum(1))
    return out


def grid_bits(arm: list[tuple[torch.Tensor, torch.Tensor]], grids: list[torch.Tensor]) -> torch.Tensor:
    """(N,) bits of all the grids (an all-zero grid is priced too, though the stream codes it free)."""
    return torch.stack(level_bits(arm, grids)).sum(0)


def upsampler(height: int, width: int, levels: int, device: str) -> list[tuple[torch.Tensor | None, ...]]:
    """Per level, the (rows, cols) bicubic matrices to the native grid (grid.axis_matrix) as tensors."""
    def t(a: np.ndarray | None) -> torch.Tensor | None:
        return None if a is None else torch.from_numpy(a).to(device)
    return [(t(axis_matrix(height, lv, height)), t(axis_matrix(width, lv, width))) for lv in range(levels)]


def upsample(grids: list[torch.Tensor], mats: list[tuple[torch.Tensor | None, ...]]) -> torch.Tensor:
    """(levels, N, H, W) from (N, h_l, w_l) grids: channels first, as synthesize(planar=True) reads them."""
    out = []
    for z, (ah, aw) in zip(grids, mats, strict=True):
        z = z if ah is None else ah @ z
        out.append(z if aw is None else z @ aw.T)
    return torch.stack(out)


def quantized(z: torch.Tensor, noise: bool) -> torch.Tensor:
    """Uniform noise of one step (the smooth relaxation), or straight-through rounding (what is coded)."""
    return z + torch.rand_like(z) - 0.5 if noise else z + (torch.round(z) - z).detach()


def soft_round(z: torch.Tensor, temperature: float) -> torch.Tensor:
    """C3's soft rounding: the identity at high temperature, rounding as it falls to 0 (smooth in z)."""
    m = torch.floor(z) + 0.5
    return m + torch.tanh((z - m) / temperature) / (2 * math.tanh(0.5 / temperature))


def with_update(values: list[torch.Tensor], masks: list[torch.Tensor], deltas: list[torch.Tensor]) -> list[torch.Tensor]:
    """Synthesis parameters: the init's values plus each surviving entry's delta."""
    out = []
    for v, m, d in zip(values, masks, deltas, strict=True):
        full = torch.zeros(v.numel(), dtype=v.dtype, device=v.device).masked_scatter(m.reshape(-1), d)
        out.append(v + full.reshape(v.shape))
    return out


@dataclass
class LatentFit:
    """What `code` reads: float latents (in steps of 1), synthesis deltas of the surviving entries,
    and the rate weight the fit ended at."""

    latents: list[np.ndarray]
    deltas: list[np.ndarray]
    rate_weight: float


def _prediction(init: LatentInit, target: torch.Tensor, arm: list[tuple[torch.Tensor, torch.Tensor]]
                ) -> Callable[[float], tuple[list[torch.Tensor], float]]:
    """lambda -> the predictor's latents for a (1, H, W, 3) image and their rounded bits per pixel."""
    from .predictor import as_tensors, predict

    assert init.predictor is not None
    params = as_tensors(init.predictor, str(target.device))
    pixels = target.shape[1] * target.shape[2]

    def at(lam: float) -> tuple[list[torch.Tensor], float]:
        z = predict(params, target, torch.tensor([lam], device=target.device), init.levels)
        return z, float(grid_bits(arm, [torch.round(t) for t in z]).sum()) / pixels
    return at


def prediction_range(init: LatentInit, image: np.ndarray, device: str = "cpu") -> tuple[float, float]:
    """The bits per pixel a predicted fit can code at (its step is pinned): the latents' at the top of
    the predictor's trained lambdas (beyond, it predicts junk), to UP_REACH times their rate at the
    bottom, where a refinement upwards takes them."""
    target = torch.from_numpy(np.asarray(image, np.float32) / 255).to(device)[None]
    at = _prediction(init, target, float_arm(init.arm, device))
    with torch.no_grad():
        return at(max(init.meta["predictor"]["lambda"]))[1], UP_REACH * at(min(init.meta["predictor"]["lambda"]))[1]


def predicted(init: LatentInit, target: torch.Tensor, arm: list[tuple[torch.Tensor, torch.Tensor]], lam: float,
              target_bpp: float | None) -> tuple[list[torch.Tensor], float, float]:
    """The predictor's latents for a (1, H, W, 3) image, lambda and their rate: with a bpp target, the lambda
    whose rounded prediction's rate is nearest it, by secant steps on log rate against log lambda
    (AIM_ROUNDS predictions at most; the first step takes RATE_SLOPE), within the lambdas the
    predictor was trained on (beyond, it predicts junk). The latents come back rounded: the
    predictor puts many at the rounding boundaries, where a refinement step would flip them and the
    context model, sure of their integers, would charge several bits for each."""
    at = _prediction(init, target, arm)
    lo, hi = (math.log(v) for v in init.meta["predictor"]["lambda"])
    lam = float(np.clip(lam, math.exp(lo), math.exp(hi)))
    with torch.no_grad():
        z, bpp = at(lam)
        if not target_bpp:
            return [torch.round(t) for t in z], lam, bpp
        best, tried = (abs(math.log(bpp / target_bpp)), lam, z, bpp), [(math.log(lam), math.log(max(bpp, 1e-4)))]
        slope = -1 / RATE_SLOPE  # d log(bpp) / d log(lambda)
        for _ in range(AIM_ROUNDS):
            if best[0] < AIM_TOLERANCE:
                break
            (x0, y0) = tried[-1]
            if len(tried) > 1 and tried[-2][0] != x0:
                slope = min(-0.05, (y0 - tried[-2][1]) / (x0 - tried[-2][0]))  # the rate falls as lambda grows
            x = float(np.clip(x0 + np.clip((math.log(target_bpp) - y0) / slope, -3, 3), lo, hi))
            if x == x0:
                break  # the target lies beyond the trained range: the nearest end is the best there is
            z, bpp = at(math.exp(x))
            tried.append((x, math.log(max(bpp, 1e-4))))
            best = min(best, (abs(math.log(bpp / target_bpp)), math.exp(x), z, bpp), key=lambda b: b[0])
    return [torch.round(t) for t in best[2]], best[1], best[3]


def fit(init: LatentInit, image: np.ndarray, steps: int, rate_weight: float, device: str = "cpu",
        progress: Callable[[int], None] | None = None, target_bpp: float | None = None,
        lr: float | None = None) -> LatentFit:
    """Latents and the synthesis' surviving entries by Adam on MSE + lambda * bpp.

    The latents start from the init's predictor where it has one, rounded, then refined with the
    synthesis reading them soft-rounded and the bits priced on noisy soft-rounded ones (SOFT_SHARE of
    the steps; straight-through after); with a bpp target, lambda starts at REFINE_LEAD times the
    prediction's and is re-aimed at the target on the rounded rate every 5 % of the steps from 30 %
    on. Above the prediction's rates: straight-through throughout, lambda re-aimed often, with steps
    large enough to flip latents, which lifts the rate to UP_REACH times the prediction's. Else from
    zero (uniform noise for most of the steps, straight-through after), lambda re-aimed at a bpp
    target at ADAPT_AT. Each image needs its own lambda for a given rate, so it is re-aimed from the
    fit's own rate; the rate control then only fine-tunes the latents' step (Latents.code).
    Seeded: the same image and settings give the same bytes.
    """
    torch.manual_seed(0)
    h, w, _ = image.shape
    target = torch.from_numpy(np.asarray(image, np.float32) / 255).to(device)[None]
    arm = float_arm(init.arm, device)
    lam, noise_share, adapt_at, noisy_bits = rate_weight, NOISE_SHARE, ADAPT_AT, False
    synth_lr: float | None = None  # None: the latents' rate scaled as the from-zero fit's
    if init.predictor is not None:
        start, lam, start_bpp = predicted(init, target, arm, lam, target_bpp)
        short = start_bpp / target_bpp if target_bpp else 1.0
        noise_share = 0.0
        if short * (1 + BPP_TOLERANCE) < 1:  # the target lies above the prediction's reach
            lam *= short ** RATE_SLOPE  # below the trained lambdas: the refinement's alone
            lr, adapt_at = lr or UP_TRAVEL / max(1, steps), UP_ADAPT_AT
        else:
            lr, adapt_at = lr or min(REFINE_LR, REFINE_TRAVEL / max(1, steps)), REFINE_ADAPT_AT
            synth_lr, noisy_bits = REFINE_SYNTH_LR, True
            lam *= REFINE_LEAD if target_bpp else 1.0  # a quality target keeps its lambda, as it was trained
    else:
        start = [torch.zeros(1, a, b, device=device) for a, b in level_sizes(h, w, init.levels)]
        lr = lr or LATENT_LR
    latents = [z.clone().requires_grad_() for z in start]  # a prediction starts rounded (see predicted)
    values = [torch.from_numpy(v).to(device) for v in init.values]
    masks = [torch.from_numpy(m).to(device) for m in init.masks]
    deltas = [torch.zeros(int(m.sum()), device=device, requires_grad=True) for m in init.masks]
    mats = upsampler(h, w, init.levels, device)
    target_cf = target.permute(3, 0, 1, 2).contiguous()  # (3, 1, H, W), as the synthesis writes colours
    opt = Adam([{"params": latents, "lr": lr},
                {"params": deltas, "lr": synth_lr or SYNTH_LR * lr / LATENT_LR}])
    base = [g["lr"] for g in opt.param_groups]
    noisy = math.ceil(noise_share * steps)
    soft = int(SOFT_SHARE * steps)
    adapt = {max(1, int(a * steps)) for a in adapt_at} if target_bpp else set()
    for k in range(steps):
        noise = k < noisy
        frac = k / max(1, noisy) if noise else (k - noisy) / max(1, steps - noisy)
        for g, lr0 in zip(opt.param_groups, base, strict=True):
            g["lr"] = lr0 * (1 if noise or not noisy else STE_LR) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * frac)))
        if noisy_bits and k < soft:  # soft-rounded, noisy latents priced; the synthesis reads them soft-rounded again
            t = SOFT_TEMPERATURE[0] * (SOFT_TEMPERATURE[1] / SOFT_TEMPERATURE[0]) ** (k / soft)
            priced = [soft_round(z, t) + torch.rand_like(z) - 0.5 for z in latents]
            q = [soft_round(y, t) for y in priced]
        else:
            q = [quantized(z, noise) for z in latents]
            priced = [quantized(z, True) for z in latents] if noisy_bits else q
        out = synthesize(with_update(values, masks, deltas), upsample(q, mats), init.activation, planar=True)
        mse = (out - target_cf).pow(2).mean()
        bpp = grid_bits(arm, priced).sum() / (h * w)
        if target_bpp and k in adapt:
            with torch.no_grad():  # aimed at the rate of what is coded: the rounded latents
                coded = grid_bits(arm, [torch.round(z) for z in latents]).sum() / (h * w) if noisy_bits else bpp.detach()
            lam *= (float(coded) / target_bpp) ** RATE_SLOPE
        opt.zero_grad()
        (mse + lam * bpp).backward()
        opt.step()
        if progress:
            progress(1)
    return LatentFit([z.detach()[0].cpu().numpy().astype(np.float64) for z in latents],
                     [d.detach().cpu().numpy().astype(np.float64) for d in deltas], lam)
