"""Continuous hidden width (Integral Neural Networks, Solodskikh et al. CVPR 2023): what decoding needs.

Each hidden layer's channels are samples of a continuous axis [-1, 1]. A weight tensor is a grid
of node values; the network at width n samples it at n points by cubic convolution (Keys,
a = -0.5, border-replicated, exact at the nodes) and multiplies along the input axis by
trapezoid quadrature weights, so a layer approximates an integral over its input channels and
keeps its scale at any width. The codec uses this twice: a width-n tile network is the shipped
node grid resampled to n nodes (rate control by width), and a decoder may evaluate a tile's
nodes at fewer channels than were coded (a fast preview).

Node tensors follow siren.py's layout ([W0, b0, W1, b1, ...], W as (in, out)), optionally with
a leading tile dimension. Masks and step sizes move between widths by an integer
nearest-node map, so which entries a stream codes is exact on every machine.

Arrays are numpy (decoding) or torch (fitting and meta-training, differentiable): the functions
use the namespace of their arguments (xp.py); those that make arrays from nothing take it as `xp`.
"""
from __future__ import annotations

from types import ModuleType

import numpy as np

from . import xp as x
from .siren import Params
from .xp import Array


def uniform(n: int, xp: ModuleType = np) -> Array:
    """n equally spaced float32 channel positions on [-1, 1] (the centre for n = 1)."""
    return xp.linspace(-1, 1, n, dtype=xp.float32) if n > 1 else xp.zeros(1, dtype=xp.float32)


def cubic_matrix(nodes: int, points: Array) -> Array:
    """(len(points), nodes) weights of cubic convolution through `nodes` equally spaced values on [-1, 1]."""
    xp = x.namespace(points)
    return keys_matrix(nodes, (xp.clip(points, -1, 1) + 1) * (nodes - 1) / 2)


def keys_matrix(nodes: int, u: Array) -> Array:
    """(len(u), nodes) weights of Keys cubic convolution (a = -0.5) at positions u in node units,
    border-replicated: row i interpolates the nodes at u[i] (exactly a node's value at an integer u).
    The integral widths and the latent grids (representation 3) both sample through it."""
    xp = x.namespace(u)
    idx, k = keys_taps(nodes, u)
    return x.scatter_add(xp.zeros((len(u), nodes), dtype=u.dtype), idx, k)


def keys_taps(nodes: int, u: Array) -> tuple[Array, Array]:
    """keys_matrix as its four nonzero taps per row: (len(u), 4) node indices and weights."""
    xp = x.namespace(u)
    base = xp.floor(u)  # piecewise constant: no gradient flows through it
    t = (u - base)[:, None]
    offsets = xp.arange(-1, 3, dtype=u.dtype)
    d = xp.abs(t - offsets)  # distance to the 4 neighbouring nodes
    a = -0.5
    k = xp.where(d <= 1, (a + 2) * d ** 3 - (a + 3) * d ** 2 + 1,
                 xp.where(d < 2, a * d ** 3 - 5 * a * d ** 2 + 8 * a * d - 4 * a, xp.zeros_like(d)))
    return xp.clip(x.astype(base, xp.int64)[:, None] + x.astype(offsets, xp.int64), 0, nodes - 1), k


def trapezoid(points: Array) -> Array:
    """Trapezoid quadrature weights of sorted points (they sum to the span)."""
    xp = x.namespace(points)
    if len(points) == 1:
        return xp.full_like(points, 2.0)
    h = xp.zeros_like(points)
    h[1:-1] = (points[2:] - points[:-2]) / 2
    h[0] = (points[1] - points[0]) / 2
    h[-1] = (points[-1] - points[-2]) / 2
    return h


def hidden_layers(nodes: Params) -> int:
    return len(nodes) // 2 - 1


def sample(nodes: Params, points: list[Array]) -> Params:
    """Network weights at the width given by `points` (one sorted tensor per hidden layer).

    Uniform points at the node count itself skip the interpolation (it is the identity there)
    and only apply the quadrature: that is every full-width decode.
    """
    g = nodes[0].shape[-1]
    xp = x.namespace(nodes[0])
    same = [len(p) == g and bool((p == uniform(g, xp)).all()) for p in points]
    mats = [None if s else x.like(cubic_matrix(g, p), nodes[0]) for s, p in zip(same, points, strict=True)]
    quad = [x.like(trapezoid(p) * (g - 1) / 2, nodes[0]) for p in points]  # 1 per interior channel at width g
    out = []
    for i in range(0, len(nodes), 2):
        w, b = nodes[i], nodes[i + 1]
        layer = i // 2
        if layer < len(points) and (m := mats[layer]) is not None:  # continuous output axis
            w = w @ m.T
            b = b @ m.T
        if layer > 0:  # continuous input axis: interpolate, then integrate
            if (m := mats[layer - 1]) is not None:
                w = m @ w
            w = w * quad[layer - 1][:, None]
        out += [w, b]
    return out


def at_points(n: int, depth: int, xp: ModuleType = np) -> list[Array]:
    return [uniform(n, xp) for _ in range(depth)]


def as_weights(nodes: Params, width: int | None = None) -> Params:
    """The network a node grid stands for, at its own width or at `width` channels (a preview)."""
    return sample(nodes, at_points(nodes[0].shape[-1] if width is None else width, hidden_layers(nodes),
                                   x.namespace(nodes[0])))


def node_values(values: Params, power: int = 1) -> Params:
    """Nodes that `sample` maps back to `values` exactly at their own width: divide out the quadrature.

    Power 2 converts per-weight step sizes: a node's gradient and its effect on the weight are
    each scaled by the quadrature weight.
    """
    g = values[0].shape[-1]
    q = x.like(trapezoid(uniform(g, x.namespace(values[0]))) * (g - 1) / 2, values[0]) ** power
    out = list(values)
    for layer in range(1, hidden_layers(values) + 1):
        out[2 * layer] = values[2 * layer] / q[:, None]
    return out


def resample_nodes(nodes: Params, n: int) -> Params:
    """The node grid of the width-n network: the same weight function, sampled at n nodes."""
    return node_values(sample(nodes, at_points(n, hidden_layers(nodes), x.namespace(nodes[0]))))


def nearest(nodes: int, n: int, xp: ModuleType = np) -> Array:
    """For each of n uniform points, the nearest of `nodes` uniform nodes (int64), in integer
    arithmetic (ties to the upper node) so every machine agrees."""
    if n == 1:
        return xp.asarray([(nodes - 1) // 2], dtype=xp.int64)
    i = xp.arange(n, dtype=xp.int64)
    return (2 * i * (nodes - 1) + (n - 1)) // (2 * (n - 1))


def take_nearest(tensors: list[Array], n: int) -> list[Array]:
    """Masks or step sizes of the width-n network: each entry copied from its nearest node."""
    g = tensors[0].shape[-1]
    idx = x.on(nearest(g, n), tensors[0])
    depth = hidden_layers(tensors)
    out = []
    for i in range(0, len(tensors), 2):
        w, b = tensors[i], tensors[i + 1]
        layer = i // 2
        if layer < depth:
            w, b = w[..., idx], b[..., idx]
        if layer > 0:
            w = w[..., idx, :]
        out += [w, b]
    return out
