"""The latent predictor: a small analysis network that gives the fit its start (torch, encoder only).

A fit from zero latents needs thousands of steps (docs/design.md §11); the predictor maps the image
and its rate weight to starting latents for every grid, so the encoder refines instead of searching.
It is a stride-2 pyramid: a 3x3 stem, then per level a stride-2 3x3 convolution (levels past the
first), a residual 3x3 and a 1x1 head, scaled by a per-level gain that depends on log lambda. The
rate enters as a constant input plane too. Its parameters ship in the init; the decoder never reads
them (the stream holds the latents), so the format does not change with it.
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from .grid import level_sizes

LOG_LAMBDA = (math.log(0.006), 1.5)  # centre and spread of log lambda over the codec's rates: the rate input


def rate_input(lam: torch.Tensor) -> torch.Tensor:
    """(N,) rate weights as the network's rate input, about -1..1 over 0.1..1 bpp."""
    return (lam.log() - LOG_LAMBDA[0]) / LOG_LAMBDA[1]


def predictor_init(levels: int, channels: int, seed: int) -> list[torch.Tensor]:
    """[stem W, b, down W, b (levels-1 times), mix W, b (levels times), head W, b (levels times), gain a, gain b]."""
    g = torch.Generator().manual_seed(seed + 2)

    def conv(cin: int, cout: int, k: int) -> list[torch.Tensor]:
        bound = 1 / math.sqrt(cin * k * k)
        return [(torch.rand(cout, cin, k, k, generator=g) * 2 - 1) * bound, torch.zeros(cout)]

    params = conv(4, channels, 3)
    for _ in range(levels - 1):
        params += conv(channels, channels, 3)
    for _ in range(levels):
        params += conv(channels, channels, 3)
    for _ in range(levels):
        params += conv(channels, 1, 1)
    return params + [torch.full((levels,), math.log(2.0)), torch.zeros(levels)]


def predict(params: list[torch.Tensor], images: torch.Tensor, lam: torch.Tensor, levels: int) -> list[torch.Tensor]:
    """(N, h_l, w_l) latents per level, finest first, from (N, H, W, 3) images in [0, 1] and (N,) lambdas."""
    n, height, width, _ = images.shape
    r = rate_input(lam)
    x = torch.cat([images.permute(0, 3, 1, 2) - 0.5, r.view(n, 1, 1, 1).expand(n, 1, height, width)], 1)
    down, mix, head = 2, 2 * levels, 4 * levels  # where each kind of layer starts in params

    def conv(h: torch.Tensor, i: int, stride: int = 1) -> torch.Tensor:
        return F.conv2d(h, params[i], params[i + 1], stride=stride, padding=params[i].shape[-1] // 2)

    gain_a, gain_b = params[-2:]
    h = F.gelu(conv(x, 0))
    out = []
    for lv, (rows, cols) in enumerate(level_sizes(height, width, levels)):
        if lv:
            h = F.gelu(conv(h, down + 2 * (lv - 1), stride=2))
        h = h + F.gelu(conv(h, mix + 2 * lv))
        z = conv(h, head + 2 * lv)[:, 0, :rows, :cols]
        out.append(z * torch.exp(gain_a[lv] + gain_b[lv] * r).view(n, 1, 1))
    return out


def as_tensors(values: list[np.ndarray], device: str) -> list[torch.Tensor]:
    return [torch.from_numpy(np.asarray(v, np.float32)).to(device) for v in values]
