"""Entropy model and range coding of quantized integer tensors (constriction).

Each coded tensor uses a zero-mean QuantizedLaplace on [-radius, radius]. Its scale is
named by an integer (1/16-octave table), chosen by the encoder to minimise the code
length, so the decoder rebuilds exactly the same model from the header on any machine.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import constriction
import numpy as np

from .errors import BitstreamError
from .quant import pow2_sixteenths

SCALE_BIAS = 160  # scale index j means a Laplace scale of 2 ** ((j - 160) / 16): 2**-10 .. 2**6
MAX_RADIUS = 65535


def laplace_scale(index: int) -> float:
    return pow2_sixteenths(index - SCALE_BIAS)


@dataclass(frozen=True)
class CodedTensor:
    """A tensor of quantized integers plus the integers that describe how it is coded."""

    symbols: np.ndarray  # int32, flat
    step_index: int
    scale_index: int
    radius: int


def _laplace_log2_pmf(values: np.ndarray, scale: np.ndarray, radius: int) -> np.ndarray:
    """log2 P(v) for a Laplace(0, scale) quantized to integers and truncated to [-radius, radius]."""
    def cdf(x: np.ndarray | float) -> np.ndarray:
        return np.where(x < 0, 0.5 * np.exp(np.minimum(x, 0) / scale), 1 - 0.5 * np.exp(-np.maximum(x, 0) / scale))
    v = np.abs(values).astype(np.float64)
    mass = cdf(v + 0.5) - cdf(v - 0.5)
    total = cdf(radius + 0.5) - cdf(-radius - 0.5)
    return np.log2(np.maximum(mass / total, 2.0 ** -24))


_SCALES = np.array([laplace_scale(j) for j in range(256)])


def choose_scale(symbols: np.ndarray, radius: int) -> tuple[int, float]:
    """Scale index with the smallest ideal code length, and that length in bits."""
    counts = np.bincount(np.abs(symbols).ravel())
    vals = np.nonzero(counts)[0]
    bits = -(counts[vals][None, :] * _laplace_log2_pmf(vals[None, :], _SCALES[:, None], radius)).sum(axis=1)
    best = int(np.argmin(bits))
    return best, float(bits[best])


def make_coded(symbols: np.ndarray, step_index: int) -> CodedTensor:
    symbols = np.ascontiguousarray(symbols, dtype=np.int32).ravel()
    radius = int(np.abs(symbols).max(initial=0))
    if radius > MAX_RADIUS:
        raise ValueError(f"quantized value {radius} exceeds the coder's range; use a coarser step")
    scale_index = choose_scale(symbols, radius)[0] if radius else 0
    return CodedTensor(symbols, step_index, scale_index, radius)


def _model(radius: int) -> constriction.stream.model.QuantizedLaplace:
    return constriction.stream.model.QuantizedLaplace(-radius, radius)


def encode_into(encoder: Any, tensors: list[CodedTensor]) -> None:
    """Range-code the tensors into `encoder` (a constriction RangeEncoder); all-zero tensors cost nothing."""
    for t in tensors:
        if t.radius:
            n = t.symbols.size
            encoder.encode(t.symbols, _model(t.radius), np.zeros(n), np.full(n, laplace_scale(t.scale_index)))


def encode_tensors(tensors: list[CodedTensor]) -> np.ndarray:
    """All tensors as one stream of uint32 words (representations 1 and 2: the whole payload)."""
    enc = constriction.stream.queue.RangeEncoder()
    encode_into(enc, tensors)
    return enc.get_compressed()


def decode_from(decoder: Any, layout: list[tuple[int, int, int, int]]) -> list[CodedTensor]:
    """Inverse of encode_into from `decoder` (a constriction RangeDecoder); layout gives (count,
    step_index, scale_index, radius) per tensor. Each coded tensor must reach its radius."""
    out = []
    for count, step_index, scale_index, radius in layout:
        if radius:
            try:
                sym = decoder.decode(_model(radius), np.zeros(count), np.full(count, laplace_scale(scale_index)))
            except Exception as e:  # constriction: AssertionError on data invalid for the model
                raise BitstreamError("corrupted .inr payload (the entropy decoder failed)") from e
            sym = np.asarray(sym, np.int32)
            if np.abs(sym).max(initial=0) != radius:
                raise BitstreamError("corrupted .inr payload (a tensor does not reach its radius)")
        else:
            sym = np.zeros(count, np.int32)
        out.append(CodedTensor(sym, step_index, scale_index, radius))
    return out


def check_exact(reencoded: np.ndarray, words: np.ndarray) -> None:
    """A range decoder yields symbols from any words, so a stream must also be exactly what the
    encoder writes: re-encoding the decoded symbols gives back every payload word (no trailing,
    missing or altered words)."""
    if not np.array_equal(reencoded, words):
        raise BitstreamError("corrupted .inr payload (its words are not exactly those of the decoded symbols)")


def decode_tensors(words: np.ndarray, layout: list[tuple[int, int, int, int]]) -> list[CodedTensor]:
    """Inverse of encode_tensors (see decode_from and check_exact)."""
    words = np.ascontiguousarray(words, dtype=np.uint32)
    out = decode_from(constriction.stream.queue.RangeDecoder(words), layout)
    check_exact(encode_tensors(out), words)
    return out
