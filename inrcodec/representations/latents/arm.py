"""The latents' context model (ARM), in integer arithmetic, and their range coding in wavefronts.

Every latent is coded under a quantized Laplace whose mean and scale a small MLP predicts from
its context: the 12 causal neighbours of a 5x5 window in its own grid (zero outside it) and the
co-located latent of the next coarser grid, which is decoded before it. The MLP's weights are
integers (WFRAC fractional bits), its activations fixed point (FRAC fractional bits) with floor
shifts, so encoder and decoder compute the same means and scale indices on every machine. The
arithmetic runs on float64 arrays holding integers below 2^53: every product and partial sum is
then exact whatever order BLAS adds in. The decoder needs a latent's context before its own
value, so it decodes a grid in wavefronts t = x + 3y (every position whose neighbours are known,
at once); the encoder codes the symbols in that same order.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import constriction
import numpy as np

from ...entropy import SCALE_BIAS, laplace_scale
from ...errors import BitstreamError

NEIGHBOURS = ((-2, -2), (-2, -1), (-2, 0), (-2, 1), (-2, 2), (-1, -2), (-1, -1), (-1, 0), (-1, 1), (-1, 2),
              (0, -2), (0, -1))  # (dy, dx): decoded before (y, x) in every wavefront order t = x + 3y
CONTEXT = len(NEIGHBOURS) + 1  # + the co-located latent one level coarser
PAD = 2  # the window's reach: grids are padded by it above, left and right
WAVE = 3  # t = x + WAVE * y: (dy, dx) = (-1, 2) is the neighbour that needs it
FRAC = 8  # fractional bits of activations, means and log2-scales
WFRAC = 12  # fractional bits of weights
CLIP = 255  # context values are clipped to +-CLIP (activations then stay far below 2^53)
HIDDEN_CLIP = 1 << 24
BLOCK = 1 << 16  # latents the encoder prices at once
MIN_SCALE_INDEX = SCALE_BIAS - 3 * 16  # scales from 2^-3 ...
MAX_SCALE_INDEX = 255  # ... to 2^(95/16)
SCALES = np.array([laplace_scale(j) for j in range(MAX_SCALE_INDEX + 1)])


@dataclass(frozen=True)
class IntegerArm:
    """The shipped ARM as integers: per layer (weight (out, in), bias (out,)); ReLU between layers,
    two outputs (mean, log2 scale) in fixed point."""

    weights: tuple[np.ndarray, ...]
    biases: tuple[np.ndarray, ...]
    _layers: tuple[tuple[np.ndarray, np.ndarray], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        dims = [w.shape for w in self.weights]
        if dims[0][1] != CONTEXT or dims[-1][0] != 2 or any(a[0] != b[1] for a, b in zip(dims, dims[1:], strict=False)):
            raise ValueError(f"ARM layers {dims} do not chain from {CONTEXT} inputs to 2 outputs")
        if any(b.shape != (w.shape[0],) for w, b in zip(self.weights, self.biases, strict=True)):
            raise ValueError("ARM biases do not match their layers")
        peak = CLIP * 2 ** FRAC  # the largest |input|; hidden activations are clipped to HIDDEN_CLIP
        for w, b in zip(self.weights, self.biases, strict=True):
            if peak * int(np.abs(w).sum(1).max()) + (int(np.abs(b).max()) << WFRAC) >= 2 ** 53:
                raise ValueError("ARM weights too large for exact float64 sums (FORMAT.md)")
            peak = HIDDEN_CLIP
        # (in, out) float64 weights scaled by 2^-WFRAC: exact (a power of two), so a @ w is the exact
        # integer sum divided by 2^WFRAC, and its floor is the shift
        object.__setattr__(self, "_layers", tuple((w.T.astype(np.float64) * 2.0 ** -WFRAC, b.astype(np.float64))
                                                 for w, b in zip(self.weights, self.biases, strict=True)))

    @property
    def macs(self) -> int:
        """Multiply-accumulates per coded latent."""
        return sum(w.size for w in self.weights)

    def params(self, context: np.ndarray, radius: int) -> tuple[np.ndarray, np.ndarray]:
        """(means, scales) float64 for (n, CONTEXT) integer contexts: means on the 2^-FRAC grid within
        +-radius, scales from the integer scale index (entropy.laplace_scale)."""
        # np.clip's checks cost more than the arithmetic on one wavefront: clips are maximum then minimum
        a = np.minimum(np.maximum(context, -CLIP), CLIP).astype(np.float64)
        a *= 2 ** FRAC
        last = len(self._layers) - 1
        for k, (w, b) in enumerate(self._layers):
            a = np.floor(a @ w)
            a += b
            if k < last:
                np.minimum(np.maximum(a, 0, out=a), HIDDEN_CLIP, out=a)
        mean = np.minimum(np.maximum(a[:, 0], -radius * 2 ** FRAC), radius * 2 ** FRAC) * 2.0 ** -FRAC
        index = np.floor(a[:, 1] * (16 * 2.0 ** -FRAC) + 0.5).astype(np.int64) + SCALE_BIAS
        return mean, SCALES[np.minimum(np.maximum(index, MIN_SCALE_INDEX), MAX_SCALE_INDEX)]


@dataclass(frozen=True)
class Wavefronts:
    """One grid's coding order, with every index its contexts need: computed once per grid shape."""

    rows: int
    cols: int
    order: np.ndarray  # raster indices in coding order
    padded: np.ndarray  # their positions in the padded grid (_padded)
    offsets: np.ndarray  # (12,) from a position to its causal neighbours in the padded grid
    coarser: np.ndarray  # their co-located positions in the next coarser grid (raster)
    bounds: np.ndarray  # wavefront t holds order[bounds[t]:bounds[t + 1]]


@lru_cache(maxsize=8)
def wavefronts(rows: int, cols: int) -> Wavefronts:
    """Wavefronts t = x + 3y in order, y ascending within one."""
    ys, xs = np.divmod(np.arange(rows * cols), cols)
    t = xs + WAVE * ys
    order = np.lexsort((ys, t))
    ys, xs = ys[order], xs[order]
    padded = (ys + PAD) * (cols + 2 * PAD) + xs + PAD
    offsets = np.array([dy * (cols + 2 * PAD) + dx for dy, dx in NEIGHBOURS], np.int64)
    bounds = np.concatenate([[0], np.cumsum(np.bincount(t, minlength=cols + WAVE * (rows - 1)))])
    return Wavefronts(rows, cols, order, padded, offsets, (ys // 2) * (-(-cols // 2)) + xs // 2, bounds)


def _padded(grid: np.ndarray) -> np.ndarray:
    return np.pad(grid, ((PAD, 0), (PAD, PAD)))


def contexts(w: Wavefronts, padded: np.ndarray, coarser: np.ndarray | None, a: int, b: int) -> np.ndarray:
    """(b - a, CONTEXT) integer contexts of the latents w.order[a:b], from the grid padded by `_padded`
    (raveled) and the next coarser grid (raveled; None for the coarsest): what encoder and decoder share."""
    ctx = np.empty((b - a, CONTEXT), np.int64)
    ctx[:, :-1] = padded[w.padded[a:b, None] + w.offsets]
    ctx[:, -1] = 0 if coarser is None else coarser[w.coarser[a:b]]
    return ctx


def _model(radius: int) -> Any:
    return constriction.stream.model.QuantizedLaplace(-radius, radius)


def encode_latents(arm: IntegerArm, grids: list[np.ndarray], encoder: Any) -> None:
    """Code every grid with a nonzero radius, coarsest first, into `encoder` (a constriction RangeEncoder)."""
    radius = max(int(np.abs(g).max(initial=0)) for g in grids)
    for lv in reversed(range(len(grids))):
        grid = grids[lv]
        if not grid.any():
            continue
        coarser = grids[lv + 1].ravel() if lv + 1 < len(grids) else None
        w = wavefronts(*grid.shape)
        padded = _padded(grid).ravel()
        for a in range(0, len(w.order), BLOCK):  # bounded memory; the queue coder's words do not depend on it
            b = min(a + BLOCK, len(w.order))
            mean, scale = arm.params(contexts(w, padded, coarser, a, b), radius)
            encoder.encode(grid.ravel()[w.order[a:b]].astype(np.int32), _model(radius), mean, scale)


def decode_latents(arm: IntegerArm, shapes: list[tuple[int, int]], radii: list[int], decoder: Any,
                   levels: int | None = None, recode: Any = None) -> list[np.ndarray]:
    """Inverse of encode_latents, from `decoder` (a constriction RangeDecoder) positioned at the latents,
    one batch of the context model and one decoder call per wavefront.

    `levels` < len(shapes) decodes only that many coarsest grids (a preview), the others left zero.
    `recode` (a constriction RangeEncoder) receives every decoded symbol under the model it was decoded
    with, in the encoder's order: the words encode_latents would write for these grids (the queue
    coder's words do not depend on how the symbols are split into calls), for the stream's exactness
    check without a second pass of the context model, which took half of a decode.
    """
    radius = max(radii, default=0)
    model = _model(radius) if radius else None  # a support of one value is no model: then nothing is coded
    grids = [np.zeros(s, np.int64) for s in shapes]
    first = len(shapes) - (len(shapes) if levels is None else levels)
    for lv in reversed(range(first, len(shapes))):
        if radii[lv] == 0:
            continue
        p = wavefronts(*shapes[lv])
        flat = _padded(grids[lv]).ravel()
        coarser = grids[lv + 1].ravel() if lv + 1 < len(shapes) else None
        for a, b in zip(p.bounds[:-1], p.bounds[1:], strict=True):
            mean, scale = arm.params(contexts(p, flat, coarser, a, b), radius)
            try:
                symbols = decoder.decode(model, mean, scale)
            except Exception as e:  # constriction: AssertionError on data invalid for the model
                raise BitstreamError("corrupted .inr payload (the entropy decoder failed)") from e
            flat[p.padded[a:b]] = symbols
            if recode is not None:
                recode.encode(symbols, model, mean, scale)
        grids[lv] = flat.reshape(shapes[lv][0] + PAD, -1)[PAD:, PAD:-PAD].copy()
        if np.abs(grids[lv]).max() != radii[lv]:
            raise BitstreamError("corrupted .inr payload (a latent grid does not reach its radius)")
    return grids
