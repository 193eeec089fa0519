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
"""
from __future__ import annotations

import torch

from .siren import Params


def uniform(n: int) -> torch.Tensor:
    """n equally spaced channel positions on [-1, 1] (the centre for n = 1)."""
    return torch.linspace(-1, 1, n) if n > 1 else torch.zeros(1)


def cubic_matrix(nodes: int, points: torch.Tensor) -> torch.Tensor:
    """(len(points), nodes) weights of cubic convolution through `nodes` equally spaced values on [-1, 1]."""
    u = (points.clamp(-1, 1) + 1) * (nodes - 1) / 2
    base = torch.floor(u).detach()
    t = (u - base).unsqueeze(1)
    offsets = torch.arange(-1, 3, dtype=points.dtype)
    d = (t - offsets).abs()  # distance to the 4 neighbouring nodes
    a = -0.5
    k = torch.where(d <= 1, (a + 2) * d ** 3 - (a + 3) * d ** 2 + 1,
                    torch.where(d < 2, a * d ** 3 - 5 * a * d ** 2 + 8 * a * d - 4 * a, torch.zeros_like(d)))
    idx = (base.long().unsqueeze(1) + offsets.long()).clamp(0, nodes - 1)
    return torch.zeros(len(points), nodes, dtype=points.dtype).scatter_add(1, idx, k)


def trapezoid(points: torch.Tensor) -> torch.Tensor:
    """Trapezoid quadrature weights of sorted points (they sum to the span)."""
    if len(points) == 1:
        return torch.full_like(points, 2.0)
    h = torch.zeros_like(points)
    h[1:-1] = (points[2:] - points[:-2]) / 2
    h[0] = (points[1] - points[0]) / 2
    h[-1] = (points[-1] - points[-2]) / 2
    return h


def hidden_layers(nodes: Params) -> int:
    return len(nodes) // 2 - 1


def sample(nodes: Params, points: list[torch.Tensor]) -> Params:
    """Network weights at the width given by `points` (one sorted tensor per hidden layer).

    Uniform points at the node count itself skip the interpolation (it is the identity there)
    and only apply the quadrature: that is every full-width decode.
    """
    g = nodes[0].shape[-1]
    same = [len(p) == g and torch.equal(p, uniform(g)) for p in points]
    mats = [None if s else cubic_matrix(g, p).to(nodes[0]) for s, p in zip(same, points)]
    quad = [(trapezoid(p) * (g - 1) / 2).to(nodes[0]) for p in points]  # 1 per interior channel at width g
    out = []
    for i in range(0, len(nodes), 2):
        w, b = nodes[i], nodes[i + 1]
        layer = i // 2
        if layer < len(points) and mats[layer] is not None:  # continuous output axis
            w = w @ mats[layer].T
            b = b @ mats[layer].T
        if layer > 0:  # continuous input axis: interpolate, then integrate
            if mats[layer - 1] is not None:
                w = mats[layer - 1] @ w
            w = w * quad[layer - 1].unsqueeze(-1)
        out += [w, b]
    return out


def at_points(n: int, depth: int) -> list[torch.Tensor]:
    return [uniform(n) for _ in range(depth)]


def as_weights(nodes: Params, width: int | None = None) -> Params:
    """The network a node grid stands for, at its own width or at `width` channels (a preview)."""
    return sample(nodes, at_points(nodes[0].shape[-1] if width is None else width, hidden_layers(nodes)))


def node_values(values: Params, power: int = 1) -> Params:
    """Nodes that `sample` maps back to `values` exactly at their own width: divide out the quadrature.

    Power 2 converts per-weight step sizes: a node's gradient and its effect on the weight are
    each scaled by the quadrature weight.
    """
    g = values[0].shape[-1]
    q = (trapezoid(uniform(g)) * (g - 1) / 2).to(values[0]) ** power
    out = list(values)
    for layer in range(1, hidden_layers(values) + 1):
        out[2 * layer] = values[2 * layer] / q.unsqueeze(-1)
    return out


def resample_nodes(nodes: Params, n: int) -> Params:
    """The node grid of the width-n network: the same weight function, sampled at n nodes."""
    return node_values(sample(nodes, at_points(n, hidden_layers(nodes))))


def nearest(nodes: int, n: int) -> torch.Tensor:
    """For each of n uniform points, the nearest of `nodes` uniform nodes, in integer arithmetic
    (ties to the upper node) so every machine agrees."""
    if n == 1:
        return torch.tensor([(nodes - 1) // 2])
    i = torch.arange(n)
    return (2 * i * (nodes - 1) + (n - 1)) // (2 * (n - 1))


def take_nearest(tensors: list[torch.Tensor], n: int) -> list[torch.Tensor]:
    """Masks or step sizes of the width-n network: each entry copied from its nearest node."""
    g = tensors[0].shape[-1]
    idx = nearest(g, n).to(tensors[0].device)
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
