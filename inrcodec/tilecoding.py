"""Coding the tile representations' parameters: fitted deltas to quantized integers and back.

The network module (tilesiren.py) knows networks and pixels; this module knows how their
per-tile deltas become integers for the container (bitstream.py), CompressAI-style: a step per
tensor from its sensitivity, quantization to the entropy coder's range, and on decoding the
dequantized deltas as the network's parameters. numpy only: the decoder uses it without torch.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .entropy import MAX_RADIUS, CodedTensor, make_coded
from .quant import STEP_BIAS, dequantize, quantize
from .siren import Params
from .tilesiren import TileNetwork, tile_params
from .tiling import TileGrid


@dataclass
class Fitted:
    """Per-tile deltas of the surviving entries, one (tiles, surviving) array per tensor."""

    grid: TileGrid
    deltas: list[np.ndarray]
    sensitivity: list[float]  # mean d(MSE)/d(theta)^2 per tensor: sets relative step sizes


def step_offsets(sens: list[float]) -> list[int]:
    """Per-tensor step-index offsets (1/16 octave) from sensitivities: step ~ 1/sqrt(s)."""
    logs = [math.log2(max(s, 1e-20)) for s in sens]
    ref = sum(logs) / len(logs)
    return [int(round(8 * (x - ref))) for x in logs]


def quantize_fit(fitted: Fitted, global_index: int, rounding: float = 0.5) -> list[CodedTensor]:
    """Quantize every tensor's deltas with its own step: global index plus its sensitivity offset."""
    out = []
    for d, off in zip(fitted.deltas, step_offsets(fitted.sensitivity), strict=True):
        idx = int(np.clip(global_index + off, 0, finest_index(d)))
        out.append(make_coded(quantize(d, idx, rounding), idx))
    return out


def finest_index(values: np.ndarray) -> int:
    """Largest step index whose quantized values still fit the entropy coder's range."""
    peak = float(np.abs(values).max(initial=0.0))
    if peak == 0.0:
        return 65535
    idx = int(min(65535, max(0, STEP_BIAS + math.floor(-16 * math.log2(peak / MAX_RADIUS)))))
    while idx > 0 and np.abs(quantize(values, idx)).max() > MAX_RADIUS:
        idx -= 1
    return idx


def symbol_counts(net: TileNetwork, grid: TileGrid) -> list[int]:
    """Symbols per coded tensor: the surviving entries of every tile (integers from the masks)."""
    return [grid.count * int(m.sum()) for m in net.level.masks]


def dequantized_params(net: TileNetwork, grid: TileGrid, tensors: list[CodedTensor]) -> Params:
    """Per-tile network parameters (numpy) from the decoded integers: init plus dequantized deltas."""
    return tile_params(net.level, [dequantize(t.symbols, t.step_index).reshape(grid.count, -1) for t in tensors])
