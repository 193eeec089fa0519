"""Functional, batched SIREN: one network per tile, all tiles evaluated in one pass.

Parameters are plain tensors with a leading tile dimension so that the encoder (which
fits every tile at once) and the meta-trainer (which fits a batch of training tiles at
once) share a single forward pass, and so that per-tile weights never need nn.Module
copies. Arrays are numpy (decoding) or torch (fitting): see xp.py.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from . import xp as x
from .xp import Array

if TYPE_CHECKING:
    import torch

Params = list[Array]


@dataclass(frozen=True)
class SirenSpec:
    """Architecture of the per-tile network: 2 -> hidden x depth (sine) -> 3 (linear)."""

    hidden: int = 32
    depth: int = 3
    w0: float = 30.0
    in_features: int = 2
    out_features: int = 3

    def shapes(self) -> list[tuple[int, ...]]:
        """Shapes of [W0, b0, W1, b1, ...]; W is (in, out) so that h @ W works."""
        dims = [self.in_features] + [self.hidden] * self.depth + [self.out_features]
        out: list[tuple[int, ...]] = []
        for fan_in, fan_out in zip(dims[:-1], dims[1:], strict=True):
            out += [(fan_in, fan_out), (fan_out,)]
        return out

    def names(self) -> list[str]:
        return [f"{'W' if i % 2 == 0 else 'b'}{i // 2}" for i in range(2 * (self.depth + 1))]


def siren_init(spec: SirenSpec, generator: torch.Generator | None = None) -> Params:
    """SIREN's uniform init (Sitzmann et al. 2020): first layer U(-1/n, 1/n), others scaled by 1/w0.

    Torch tensors, imported here: only training draws a fresh network, never a decoder.
    """
    import torch

    params: Params = []
    shapes = spec.shapes()
    for i in range(0, len(shapes), 2):
        fan_in, fan_out = shapes[i]
        bound = 1.0 / fan_in if i == 0 else math.sqrt(6.0 / fan_in) / spec.w0
        w = (torch.rand(fan_in, fan_out, generator=generator) * 2 - 1) * bound
        b = (torch.rand(fan_out, generator=generator) * 2 - 1) / math.sqrt(fan_in)
        if i > 0:
            b = b / spec.w0
        params += [w, b]
    return params


def siren_forward(params: Params, coords: Array, spec: SirenSpec) -> Array:
    """Evaluate per-tile networks. coords (T or 1, P, 2) in [-1, 1]; params with leading dim T.

    w0 is folded into each sine layer's weights so every layer is one fused affine map (torch's
    baddbmm: half the time of matmul + add + scale on a 2-core CPU).
    """
    xp = x.namespace(coords, params[0])
    n = params[0].shape[0]
    h = xp.broadcast_to(coords, (n, *coords.shape[1:])) if coords.shape[0] != n else coords
    for i in range(0, len(params) - 2, 2):
        w, b = params[i], params[i + 1]
        h = xp.sin(x.affine((spec.w0 * b)[..., None, :], h, spec.w0 * w))
    w, b = params[-2], params[-1]
    return x.affine((b + 0.5)[..., None, :], h, w)  # targets are RGB in [0, 1]: centred
