"""Overlapping tiles, each a sparse SIREN = shared init + per-tile delta (representations 1 and 2).

Only entries that survive the init's pruning mask (and biases) may move, so a tile's delta
is a short vector; the encoder fits all tiles at once as one batched model and the decoder
evaluates the same model on any pixel grid. Representation 2 reads an integral init's values
as nodes of a continuous channel axis (inrcodec.integral): the encoder picks the width of the
tile networks, the deltas are coded on that width's node grid, and a decoder may evaluate the
nodes at fewer channels for a fast preview. This module knows networks and pixels only, on
numpy arrays (decoding) or torch tensors (fitting.py); coding the deltas is tilecoding.py's.
"""
from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

from . import xp as x
from .integral import as_weights
from .sharedinit import Level, SharedInit
from .siren import Params, SirenSpec, siren_forward
from .tiling import Sampling, TileGrid
from .xp import Array

DISCRETE, INTEGRAL = 1, 2  # representation ids: the init's values are weights, or integral nodes
POINTS_PER_CHUNK = 1 << 19  # bounds decoder memory at any output size (~64 MB per activation)


@dataclass(frozen=True)
class TileNetwork:
    """What every tile of a stream starts from: one level of the shared init, at the stream's width."""

    spec: SirenSpec
    level: Level
    integral: bool  # the level's values are integral nodes: weights come from sampling them
    meta_steps: int  # Meta-SGD steps the init was meta-trained with: the fit's first steps use them

    @classmethod
    def of(cls, init: SharedInit, level_index: int, width: int | None = None) -> TileNetwork:
        """Level `level_index` of `init`; an integral init's at `width` channels (default: all of them)."""
        level = init.levels[level_index]
        if width is not None and width != level.width:
            if not init.integral:
                raise ValueError(f"init {init.name} has no continuous width")
            level = level.at_width(width)
        return cls(init.spec, level, init.integral, int(init.meta.get("args", {}).get("inner_steps", 0)))

    @property
    def representation(self) -> int:
        return INTEGRAL if self.integral else DISCRETE

    @property
    def width(self) -> int:
        return self.level.width

    def weights(self, params: Params, width: int | None = None) -> Params:
        """Per-tile weights from per-tile parameters: at the coded width, or (integral) at `width` channels."""
        return as_weights(params, width) if self.integral else params

    def to(self, device: str) -> TileNetwork:
        return TileNetwork(self.spec, self.level.to(device), self.integral, self.meta_steps)


def grid_for(init: SharedInit, height: int, width: int) -> TileGrid:
    return TileGrid(height, width, init.tile, init.overlap)


def tile_params(level: Level, deltas: list[Array]) -> Params:
    """Scatter per-tile deltas (tiles, surviving) into full per-tile tensors around the init."""
    out = []
    for v, m, d in zip(level.values, level.masks, deltas, strict=True):
        full = x.zeros((d.shape[0], math.prod(m.shape)), d)
        full[:, x.on(m.reshape(-1), d)] = d
        out.append(x.on(v, d) + full.reshape(d.shape[0], *v.shape))
    return out


def render(net: TileNetwork, params: Params, grid: TileGrid, out_h: int, out_w: int,
           sampling: Sampling | None = None, width: int | None = None) -> Array:
    """Blend every tile's network on an out_h x out_w grid; returns (out_h * out_w, 3) in [0,1]-ish.

    `sampling` (the encoder's, precomputed once for every fitting step) is evaluated in runs of
    whole tiles; without it the grid's chunks keep memory bounded at any output size. Either
    way the output accumulates in place, so time stays linear in the pixels.
    `width` evaluates integral tiles at fewer channels than were coded (a preview).
    """
    params = net.weights(params, width)
    ref = params[0]
    out = x.zeros((out_h * out_w, 3), ref)
    for tiles, (coords, weights, index) in (grid.chunks(out_h, out_w, POINTS_PER_CHUNK) if sampling is None
                                            else _tile_runs(sampling)):
        f = siren_forward([p[tiles] for p in params], x.on(coords, ref), net.spec)
        x.index_add_(out, x.on(index.reshape(-1), ref), (f * x.on(weights[..., None], ref)).reshape(-1, 3))
    return out


def _tile_runs(sampling: Sampling) -> Iterator[tuple[slice, Sampling]]:
    """A precomputed sampling in runs of whole tiles of at most POINTS_PER_CHUNK points (at least one tile)."""
    coords, weights, index = sampling
    step = max(1, POINTS_PER_CHUNK // max(coords.shape[1], 1))
    for s in range(0, coords.shape[0], step):
        sl = slice(s, s + step)
        yield sl, (coords[sl], weights[sl], index[sl])
