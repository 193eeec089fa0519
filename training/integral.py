"""Integral SIREN, the training side (Solodskikh et al., CVPR 2023); sampling lives in inrcodec.integral.

A discrete network converts exactly (at its own width) after its channels are ordered to make
the weights smooth along the channel axis (2-opt on total variation); a trainable partition
moves the sample points (structured pruning without fine-tuning); L1 channel pruning is the
baseline the width benchmark compares against.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from inrcodec.integral import as_weights, node_values
from inrcodec.sharedinit import Level
from inrcodec.siren import Params, SirenSpec


def partition(deltas: torch.Tensor) -> torch.Tensor:
    """Trainable sorted points spanning [-1, 1]: cumulative normalised squares of n-1 free gaps."""
    gaps = deltas ** 2
    return torch.cat([torch.zeros(1), torch.cumsum(gaps, 0) / gaps.sum()]) * 2 - 1


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


def log_uniform_width(rng: np.random.Generator, low: int, high: int) -> int:
    """Random training width, log-uniform so that narrow networks get their share of steps."""
    return int(round(math.exp(rng.uniform(math.log(low), math.log(high)))))


def integral_level(level: Level, spec: SirenSpec) -> Level:
    """A discrete level as integral nodes: channels 2-opt ordered, quadrature divided out (same function)."""
    values, (lrs, masks) = smooth(level.values, spec, [level.lrs, level.masks])
    return Level(node_values(values), masks, node_values(lrs, power=2))


def width_view(n: int):
    """Meta-training view: the width-n network (its own resampled node grid) is what the inner loop adapts."""
    return lambda level: (level.at_width(n), as_weights)
