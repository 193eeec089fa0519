"""The latent pyramid's geometry: grid sizes, and bicubic upsampling to any output grid.

Level l is a one-channel grid of ceil(H / 2^l) x ceil(W / 2^l) latents; its cell k is centred at
native pixel coordinate (k + 1/2) 2^l. An output grid of out_h x out_w samples the same continuous
image at native coordinates (i + 1/2) H / out_h, so every level is read at latent position
(i + 1/2) H / (out_h 2^l) - 1/2 by Keys cubic convolution (border replicated): four taps per axis.
The decoder applies the taps (numpy); the fit multiplies by the same weights as dense matrices
(torch), which is how a stream decodes at any resolution.
"""
from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from ...integral import keys_matrix, keys_taps

TAPS = 4  # per axis


def level_sizes(height: int, width: int, levels: int) -> list[tuple[int, int]]:
    """(rows, cols) of every latent grid, finest (level 0, the image's own size) first."""
    return [(math.ceil(height / 2 ** lv), math.ceil(width / 2 ** lv)) for lv in range(levels)]


def _positions(native: int, level: int, out: int) -> np.ndarray | None:
    if level == 0 and out == native:
        return None  # the identity
    return (np.arange(out, dtype=np.float64) + 0.5) * native / (out * 2 ** level) - 0.5


@lru_cache(maxsize=64)
def axis_taps(native: int, level: int, out: int) -> tuple[np.ndarray, np.ndarray] | None:
    """(out, 4) grid indices and float32 weights along one axis; None where it is the identity."""
    u = _positions(native, level, out)
    if u is None:
        return None
    idx, k = keys_taps(math.ceil(native / 2 ** level), u)
    return idx, k.astype(np.float32)


def axis_matrix(native: int, level: int, out: int) -> np.ndarray | None:
    """axis_taps as a dense (out, ceil(native / 2^level)) float32 matrix (the fit's form)."""
    u = _positions(native, level, out)
    return None if u is None else keys_matrix(math.ceil(native / 2 ** level), u).astype(np.float32)


def upsample(latents: list[np.ndarray], height: int, width: int, out_h: int, out_w: int,
             rows: slice = slice(None)) -> np.ndarray:
    """(rows of out_h, out_w, levels) float32: every grid sampled at the output grid's pixel centres.

    `rows` selects output rows, so that a decoder renders a large output in bands of bounded memory."""
    out = []
    for lv, z in enumerate(latents):
        th, tw = axis_taps(height, lv, out_h), axis_taps(width, lv, out_w)
        z = z.astype(np.float32, copy=False)
        if th is None:
            z = z[rows]
        else:
            idx, k = th[0][rows], th[1][rows]
            z = sum(z[idx[:, t]] * k[:, t, None] for t in range(TAPS))
        if tw is not None:
            z = sum(z[:, tw[0][:, t]] * tw[1][:, t] for t in range(TAPS))
        out.append(z)
    return np.stack(out, -1)


def taps_per_pixel(levels: int) -> int:
    """Multiply-accumulates of the upsampling per output pixel (at most: two passes of TAPS per grid)."""
    return 2 * TAPS * levels
