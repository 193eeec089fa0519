"""Uniform scalar quantization with step sizes named by integers.

Steps are 2**((256 - index)/16) (index 256 is a step of 1), computed from a table of float literals and an exact power-of-two
scaling (math.ldexp), so every machine derives bit-identical steps from the header.
"""
from __future__ import annotations

import math

import numpy as np

# 2 ** (i / 16) for i = 0..15, as literals: parsing is correctly rounded everywhere.
POW2_SIXTEENTHS = (
    1.0, 1.0442737824274138, 1.0905077326652577, 1.1387886347566916,
    1.189207115002721, 1.2418578120734840, 1.2968395546510096, 1.3542555469368927,
    1.4142135623730951, 1.4768261459394993, 1.5422108254079407, 1.6104903319492543,
    1.681792830507429, 1.7562521603732995, 1.8340080864093424, 1.9152065613971474,
)


def pow2_sixteenths(n: int) -> float:
    """2 ** (n / 16) exactly as every decoder computes it."""
    return math.ldexp(POW2_SIXTEENTHS[n % 16], n // 16)


STEP_BIAS = 256


def step_size(index: int) -> float:
    """Quantization step for a step index: larger index, finer step (1/16 octave apart)."""
    return pow2_sixteenths(STEP_BIAS - index)


def quantize(x: np.ndarray, index: int, rounding: float = 0.5) -> np.ndarray:
    """Dead-zone quantizer: |q| = floor(|x| / step + rounding). 0.5 is plain rounding; smaller
    values zero more coefficients, an encoder-only knob (the decoder just multiplies by the step)."""
    x = np.asarray(x, np.float64)
    return (np.sign(x) * np.floor(np.abs(x) / step_size(index) + rounding)).astype(np.int32)


def dequantize(q: np.ndarray, index: int) -> np.ndarray:
    return q.astype(np.float32) * np.float32(step_size(index))
