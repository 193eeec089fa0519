"""Tile geometry: where each tile's network lives and how overlapping tiles blend.

Tiles live in continuous native-pixel coordinates, so the same description renders the
image at the native grid (encoding) or at any other grid (decoding at another size).
Each tile's network sees local coordinates in [-1, 1] over its extended box (its core
plus `overlap` pixels on every side); smoothstep ramps across each boundary form an exact
partition of unity, so neighbouring tiles cross-fade and no seam is drawn.
"""
from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from .xp import Array

Sampling = tuple[Array, Array, Array]  # coords (T, P, 2), weights (T, P), indices (T, P): numpy, or torch to fit


def _smoothstep(t: np.ndarray) -> np.ndarray:
    t = np.clip(t, 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


@dataclass(frozen=True)
class TileGrid:
    """A rows x cols grid of equal tiles covering an H x W image (tile sides may be fractional)."""

    height: int
    width: int
    tile: int
    overlap: int

    @property
    def rows(self) -> int:
        return max(1, math.ceil(self.height / self.tile))

    @property
    def cols(self) -> int:
        return max(1, math.ceil(self.width / self.tile))

    @property
    def count(self) -> int:
        return self.rows * self.cols

    def _axis(self, native: int, n_tiles: int, out: int) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Per tile along one axis: output indices inside its box, local coords, blend weights."""
        side = native / n_tiles
        centres = (np.arange(out) + 0.5) * native / out  # output pixel centres, native units
        half = side / 2 + self.overlap
        ramp = 2.0 * self.overlap
        members = []
        for k in range(n_tiles):
            lo, hi = k * side - self.overlap, (k + 1) * side + self.overlap
            idx = np.arange(*np.searchsorted(centres, [lo, hi]))  # centres in [lo, hi): they are sorted
            y = centres[idx]
            w = np.ones_like(y)
            if ramp > 0:
                if k > 0:
                    w = w * _smoothstep((y - lo) / ramp)
                if k < n_tiles - 1:
                    w = w * _smoothstep((hi - y) / ramp)
            members.append((idx, (y - (k + 0.5) * side) / half, w))
        return members

    def edges(self) -> tuple[np.ndarray, np.ndarray]:
        """Native positions of the boundaries between tile cores: (rows - 1,) and (cols - 1,)."""
        return (np.arange(1, self.rows) * self.height / self.rows,
                np.arange(1, self.cols) * self.width / self.cols)

    def seam_mask(self) -> np.ndarray:
        """(H, W) bool at native size: True on pixels inside a cross-fade band between tiles.

        Benchmarks compare PSNR there with PSNR on the rest: a seam shows up as a gap.
        """
        def band(native: int, cuts: np.ndarray) -> np.ndarray:
            if not len(cuts):
                return np.zeros(native, bool)
            return np.abs(np.arange(native)[:, None] + 0.5 - cuts[None, :]).min(1) < self.overlap

        ys, xs = self.edges()
        return band(self.height, ys)[:, None] | band(self.width, xs)[None, :]

    def sampling(self, out_h: int, out_w: int) -> Sampling:
        """Coordinates (T, P, 2), blend weights (T, P) and flat output indices (T, P) for a grid.

        P is padded to the largest tile; padded entries have weight 0.
        """
        return _pack(self._axis(self.height, self.rows, out_h), self._axis(self.width, self.cols, out_w), out_w)

    def evaluations(self, out_h: int, out_w: int) -> int:
        """Network evaluations a decode makes on an out_h x out_w grid: `chunks`' points, padding included."""
        xs = self._axis(self.width, self.cols, out_w)
        row = self.cols * max(len(ix) for ix, _, _ in xs)
        return row * sum(len(iy) for iy, _, _ in self._axis(self.height, self.rows, out_h))

    def chunks(self, out_h: int, out_w: int, max_points: int) -> Iterator[tuple[slice, Sampling]]:
        """`sampling` piece by piece: (tiles, their sampling) for a band of output rows of one tile row.

        A band holds at most max_points (at least one output row), so decoding at any size
        needs bounded memory and time linear in the pixels; tiles a band does not reach are skipped.
        """
        xs = self._axis(self.width, self.cols, out_w)
        row = self.cols * max(len(ix) for ix, _, _ in xs)  # points per output row, as padded
        band = max(1, max_points // row)
        for r, (iy, ly, wy) in enumerate(self._axis(self.height, self.rows, out_h)):
            for a in range(0, len(iy), band):
                yield (slice(r * self.cols, (r + 1) * self.cols),
                       _pack([(iy[a:a + band], ly[a:a + band], wy[a:a + band])], xs, out_w))


def _pack(ys: list, xs: list, out_w: int) -> Sampling:
    """The tiles of every (row, column) pair of per-axis members, raster order, padded to the largest."""
    py = max(len(a[0]) for a in ys)
    px = max(len(a[0]) for a in xs)
    n = len(ys) * len(xs)
    coords = np.zeros((n, py, px, 2), np.float32)
    weights = np.zeros((n, py, px), np.float32)
    index = np.zeros((n, py, px), np.int64)
    for r, (iy, ly, wy) in enumerate(ys):
        for c, (ix, lx, wx) in enumerate(xs):
            t = r * len(xs) + c
            ny, nx = len(iy), len(ix)
            coords[t, :ny, :nx, 0] = ly[:, None]
            coords[t, :ny, :nx, 1] = lx[None, :]
            weights[t, :ny, :nx] = wy[:, None] * wx[None, :]
            index[t, :ny, :nx] = iy[:, None] * out_w + ix[None, :]
    return coords.reshape(n, -1, 2), weights.reshape(n, -1), index.reshape(n, -1)
