"""Integral SIREN (Solodskikh et al., CVPR 2023): hidden channels as samples of a continuous axis.

Each hidden layer's channel axis is [-1, 1]. A weight tensor is a grid of node values
(G nodes per continuous axis); the network at width n samples it at n points by cubic
convolution (Keys, a = -0.5, border-replicated, exact at the nodes) and multiplies along the
input axis by trapezoid quadrature weights, so a layer approximates an integral over its
input channels and keeps its scale at any width. A discrete network converts exactly (at
width G) after its channels are ordered to make the weights smooth along the axis (2-opt
on total variation); a trainable partition moves the sample points (structured pruning
without fine-tuning).
"""
from __future__ import annotations

import math

import numpy as np
import torch

from inrcodec.siren import Params, SirenSpec


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


def uniform(n: int) -> torch.Tensor:
    return torch.linspace(-1, 1, n) if n > 1 else torch.zeros(1)


def partition(deltas: torch.Tensor) -> torch.Tensor:
    """Trainable sorted points spanning [-1, 1]: cumulative normalised squares of n-1 free gaps."""
    gaps = deltas ** 2
    return torch.cat([torch.zeros(1), torch.cumsum(gaps, 0) / gaps.sum()]) * 2 - 1


def sample(nodes: Params, points: list[torch.Tensor]) -> Params:
    """The network at the width given by `points` (one tensor per hidden layer) from node values.

    nodes: [W0, b0, W1, b1, ...] shaped as the discrete network with G hidden channels,
    optionally with a leading batch dimension (one network per tile). W is (in, out).
    """
    g = nodes[0].shape[-1]
    mats = [cubic_matrix(g, p) for p in points]
    quad = [trapezoid(p) * (g - 1) / 2 for p in points]  # = 1 per interior channel at width G
    out = []
    for i in range(0, len(nodes), 2):
        w, b = nodes[i], nodes[i + 1]
        layer = i // 2
        if layer < len(points):  # continuous output axis
            w = w @ mats[layer].T
            b = b @ mats[layer].T
        if layer > 0:  # continuous input axis: interpolate, then integrate
            w = (mats[layer - 1] @ w) * quad[layer - 1].unsqueeze(-1)
        out += [w, b]
    return out


def node_values(values: Params, hidden_layers: int, power: int = 1) -> Params:
    """Nodes that sample back to `values` exactly at full width: divide out the quadrature.

    Power 2 converts per-weight step sizes: a node's gradient and its effect on the weight
    are each scaled by the quadrature weight.
    """
    g = values[0].shape[-1]
    q = (trapezoid(uniform(g)) * (g - 1) / 2) ** power
    out = list(values)
    for layer in range(1, hidden_layers + 1):
        out[2 * layer] = values[2 * layer] / q.unsqueeze(-1)
    return out


def total_variation(values: Params, order: np.ndarray, layer: int) -> float:
    """Mean |difference| between neighbouring channels of hidden layer `layer` in `order`."""
    f = channel_features(values, layer)[order]
    return float(np.abs(np.diff(f, axis=0)).mean())


def channel_features(values: Params, layer: int) -> np.ndarray:
    """Everything that moves with hidden channel c of `layer`: its incoming column, bias, outgoing row."""
    w_in, b, w_out = values[2 * layer], values[2 * layer + 1], values[2 * layer + 2]
    return torch.cat([w_in.T, b.unsqueeze(1), w_out], 1).detach().numpy().astype(np.float64)


def two_opt_order(features: np.ndarray, sweeps: int = 50) -> np.ndarray:
    """Open path through the rows minimising the sum of L1 distances between neighbours.

    Nearest-neighbour start, then 2-opt segment reversals until none helps (TorchIntegral's
    TSP step, for our 32-channel layers small enough to do exactly in NumPy).
    """
    d = np.abs(features[:, None, :] - features[None, :, :]).sum(-1)
    n = len(d)
    order = [int(np.argmin(d.sum(1)))]
    while len(order) < n:
        rest = [j for j in range(n) if j not in order]
        order.append(min(rest, key=lambda j: d[order[-1], j]))
    path = np.array(order)
    for _ in range(sweeps):
        improved = False
        for i in range(n - 1):
            for j in range(i + 1, n):  # reverse path[i..j]; the ends of an open path are free
                before = (d[path[i - 1], path[i]] if i > 0 else 0) + (d[path[j], path[j + 1]] if j < n - 1 else 0)
                after = (d[path[i - 1], path[j]] if i > 0 else 0) + (d[path[i], path[j + 1]] if j < n - 1 else 0)
                if after < before - 1e-12:
                    path[i:j + 1] = path[i:j + 1][::-1].copy()
                    improved = True
        if not improved:
            break
    return path


def permute_channels(values: Params, layer: int, order: np.ndarray) -> Params:
    """Reorder hidden channel `layer` everywhere it appears: the network computes the same function."""
    idx = torch.as_tensor(order)
    out = list(values)
    out[2 * layer] = values[2 * layer][..., idx]
    out[2 * layer + 1] = values[2 * layer + 1][..., idx]
    out[2 * layer + 2] = values[2 * layer + 2][..., idx, :]
    return out


def smooth(values: Params, spec: SirenSpec, extra: list[Params] = ()) -> tuple[Params, list[Params]]:
    """2-opt order every hidden layer of `values`; `extra` (e.g. step sizes) is permuted alike."""
    extra = list(extra)
    for layer in range(spec.depth):
        order = two_opt_order(channel_features(values, layer))
        values = permute_channels(values, layer, order)
        extra = [permute_channels(e, layer, order) for e in extra]
    return values, extra


def l1_channels(values: Params, spec: SirenSpec, n: int) -> list[torch.Tensor]:
    """The baseline: per hidden layer, the n channels whose incoming weights have the largest L1 norm."""
    return [torch.sort(torch.topk(values[2 * layer].abs().sum(0), n).indices).values for layer in range(spec.depth)]


def select_channels(values: Params, keep: list[torch.Tensor]) -> Params:
    """The sub-network on the kept channels of each hidden layer."""
    out = list(values)
    for layer, idx in enumerate(keep):
        out[2 * layer] = out[2 * layer][..., idx]
        out[2 * layer + 1] = out[2 * layer + 1][..., idx]
        out[2 * layer + 2] = out[2 * layer + 2][..., idx, :]
    return out


def width_points(n: int, depth: int) -> list[torch.Tensor]:
    return [uniform(n) for _ in range(depth)]


def log_uniform_width(rng: np.random.Generator, low: int, high: int) -> int:
    """Random training width, log-uniform so that narrow networks get their share of steps."""
    return int(round(math.exp(rng.uniform(math.log(low), math.log(high)))))
