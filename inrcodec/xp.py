"""One definition of the network math for two array libraries: numpy when decoding, torch when fitting.

The decoder must not pay torch's start-up (seconds) to evaluate a few small networks, and the
encoder needs torch's autograd. numpy 2.x and torch share most names (sin, matmul, linspace,
zeros, floor, abs, where, arange, clip, broadcast_to), so integral.py, siren.py and tilesiren.py
take arrays and use the namespace of their arguments (the array-API style). This module finds
that namespace without importing torch, and names the few operations spelled differently. Each
torch branch is exactly the call the code made before it ran on numpy too, so encoded bytes
do not depend on this module.
"""
from __future__ import annotations

import sys
from types import ModuleType
from typing import Any

import numpy as np

Array = Any  # a numpy array or a torch tensor


def is_torch(x: Array) -> bool:
    """Whether x is a torch tensor; torch is never imported here (a decoder has not loaded it)."""
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(x, torch.Tensor)


def namespace(*xs: Array) -> ModuleType:
    """torch if any argument is a torch tensor, else numpy."""
    return sys.modules["torch"] if any(is_torch(x) for x in xs) else np


def like(x: Array, ref: Array) -> Array:
    """x (an array of ref's library, or a numpy array) with ref's dtype and device."""
    return x.to(ref) if is_torch(ref) else np.asarray(x, dtype=ref.dtype)


def on(x: Array, ref: Array) -> Array:
    """x in ref's library and on ref's device, its dtype kept (numpy arrays become tensors for torch)."""
    return namespace(ref).as_tensor(x, device=ref.device) if is_torch(ref) else np.asarray(x)


def zeros(shape: tuple[int, ...], ref: Array) -> Array:
    """Zeros of ref's library, dtype and device."""
    if is_torch(ref):
        return namespace(ref).zeros(shape, dtype=ref.dtype, device=ref.device)
    return np.zeros(shape, ref.dtype)


def astype(x: Array, dtype: Any) -> Array:
    return x.to(dtype) if is_torch(x) else x.astype(dtype)


def affine(bias: Array, x: Array, w: Array) -> Array:
    """bias + x @ w over a batch of matrices: torch's fused baddbmm (half the time of matmul + add)."""
    return namespace(x).baddbmm(bias, x, w) if is_torch(x) else np.matmul(x, w) + bias


def affine_planar(bias: Array, w: Array, x: Array) -> Array:
    """bias[:, None] + w.T @ x for (in, pixels) x and (in, out) w: channels first, torch's fused addmm."""
    return namespace(x).addmm(bias[:, None], w.T, x) if is_torch(x) else w.T @ x + bias[:, None]


def scatter_add(out: Array, index: Array, values: Array) -> Array:
    """out with values added at out[i, index[i, j]] (repeated indices accumulate)."""
    if is_torch(out):
        return out.scatter_add(1, index, values)
    out = out.copy()
    np.add.at(out, (np.arange(len(out))[:, None], index), values)
    return out


def index_add_(out: Array, index: Array, values: Array) -> None:
    """out[index[k]] += values[k] in place, for rows of a 2-D out (repeated indices accumulate)."""
    if is_torch(out):
        out.index_add_(0, index, values)
        return
    for c in range(out.shape[1]):  # bincount: far faster than np.add.at for many repeated rows
        out[:, c] += np.bincount(index, values[:, c], minlength=len(out))
