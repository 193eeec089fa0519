"""The synthesis: a small per-pixel network from the upsampled latents to RGB, on numpy or torch.

x = gain * latents (one gain per grid), then hidden layers h <- act(h W + b) with a residual
connection between layers of equal width, then RGB = h W + b + 1/2. The activation is the init's
choice: `sine` (a SIREN; its frequency lives in the weights) or `gelu` (tanh form, which numpy
computes without scipy). Parameters are [gain, W0, b0, W1, b1, ...] with W as (in, out); the
same function serves the decoder (numpy arrays, channels last) and the fit (torch tensors,
differentiable, channels first).
"""
from __future__ import annotations

import math

import numpy as np

from ... import xp as x
from ...xp import Array

ACTIVATIONS = ("sine", "gelu")
_GELU_C, _GELU_K = np.float32(math.sqrt(2 / math.pi)), np.float32(0.044715)


def activation(name: str, h: Array) -> Array:
    xp = x.namespace(h)
    if name == "sine":
        return xp.sin(h)
    if x.is_torch(h):  # the same formula, fused
        return xp.nn.functional.gelu(h, approximate="tanh")
    # 0.5 h (1 + tanh(c (h + k h^3))), each operation in place on one buffer: the same floats in half the time
    t = h * h
    t *= h
    t *= _GELU_K
    t += h
    t *= _GELU_C
    np.tanh(t, out=t)
    t += np.float32(1)
    out = np.float32(0.5) * h
    out *= t
    return out


def synthesize(params: list[Array], latents: Array, act: str, planar: bool = False) -> Array:
    """(..., 3) colours in [0, 1]-ish from (..., levels) upsampled latents (the decoder's layout); planar:
    (3, ...) from (levels, ...), the fit's, where each layer is one (out, in) x (in, pixels) product
    with its bias fused, which runs a fit step's synthesis faster on a CPU (docs/design.md §11)."""
    if planar:
        h, channels = latents.reshape(latents.shape[0], -1) * params[0][:, None], 0
    else:
        h, channels = latents * params[0], -1
    layers = params[1:]
    for i in range(0, len(layers) - 2, 2):
        z = x.affine_planar(layers[i + 1], layers[i], h) if planar else h @ layers[i] + layers[i + 1]
        out = activation(act, z)
        h = out + h if out.shape[channels] == h.shape[channels] else out
    if planar:
        return (x.affine_planar(layers[-1], layers[-2], h) + 0.5).reshape(-1, *latents.shape[1:])
    return h @ layers[-2] + layers[-1] + 0.5


def macs(shapes: list[tuple[int, ...]]) -> int:
    """Multiply-accumulates per pixel of the synthesis (the gains included)."""
    return sum(math.prod(s) for s in shapes)
