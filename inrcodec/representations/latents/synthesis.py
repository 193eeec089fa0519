"""The synthesis: a small per-pixel network from the upsampled latents to RGB, on numpy or torch.

x = gain * latents (one gain per grid), then hidden layers h <- act(h W + b) with a residual
connection between layers of equal width, then RGB = h W + b + 1/2. The activation is the init's
choice: `sine` (a SIREN; its frequency lives in the weights) or `gelu` (tanh form, which numpy
computes without scipy). Parameters are [gain, W0, b0, W1, b1, ...] with W as (in, out); the
same function serves the decoder (numpy arrays) and the fit (torch tensors, differentiable).
"""
from __future__ import annotations

import math

import numpy as np

from ... import xp as x
from ...xp import Array

ACTIVATIONS = ("sine", "gelu")


def activation(name: str, h: Array) -> Array:
    xp = x.namespace(h)
    if name == "sine":
        return xp.sin(h)
    if x.is_torch(h):  # the same formula, fused
        return xp.nn.functional.gelu(h, approximate="tanh")
    return 0.5 * h * (1 + np.tanh(np.float32(math.sqrt(2 / math.pi)) * (h + np.float32(0.044715) * (h * h * h))))


def synthesize(params: list[Array], latents: Array, act: str) -> Array:
    """(..., 3) colours in [0, 1]-ish from (..., levels) upsampled latents."""
    h = latents * params[0]
    layers = params[1:]
    for i in range(0, len(layers) - 2, 2):
        out = activation(act, h @ layers[i] + layers[i + 1])
        h = out + h if out.shape[-1] == h.shape[-1] else out
    return h @ layers[-2] + layers[-1] + 0.5


def macs(shapes: list[tuple[int, ...]]) -> int:
    """Multiply-accumulates per pixel of the synthesis (the gains included)."""
    return sum(math.prod(s) for s in shapes)
