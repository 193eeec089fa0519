"""Integral SIREN: resampling, quadrature, conversion of a discrete network, channel order."""
from __future__ import annotations

import numpy as np
import torch

from inrcodec.integral import cubic_matrix, node_values, sample, trapezoid, uniform
from inrcodec.siren import SirenSpec, siren_forward, siren_init
from training.integral import (
    channel_features,
    l1_channels,
    partition,
    permute_channels,
    select_channels,
    smooth,
    total_variation,
    two_opt_order,
)
from training.metasparse import tile_coords

SPEC = SirenSpec(hidden=12, depth=3, w0=30.0)
COORDS = tile_coords(8)


def net() -> list[torch.Tensor]:
    return siren_init(SPEC, torch.Generator().manual_seed(0))


def out(params, coords=COORDS) -> torch.Tensor:
    return siren_forward([p.unsqueeze(0) for p in params], coords, SPEC)


def test_cubic_resampling_is_exact_at_the_nodes_and_reproduces_quadratics():
    assert torch.allclose(cubic_matrix(7, uniform(7, torch)), torch.eye(7), atol=1e-6)
    points = torch.linspace(-0.75, 0.5, 23)  # all four neighbours inside, away from the replicated border
    a = cubic_matrix(9, points)
    assert torch.allclose(a.sum(1), torch.ones(23), atol=1e-6)
    x = uniform(9, torch)
    assert torch.allclose(a @ (x ** 2 - 3 * x), points ** 2 - 3 * points, atol=1e-5)


def test_quadrature_and_partition_span_the_axis():
    for pts in (uniform(2, torch), uniform(13, torch), partition(torch.tensor([0.3, -2.0, 1.0, 0.1]))):
        assert abs(float(trapezoid(pts).sum()) - 2.0) < 1e-6
    p = partition(torch.tensor([0.3, -2.0, 1.0, 0.1]))
    assert p[0] == -1 and abs(float(p[-1]) - 1) < 1e-6 and bool((p.diff() > 0).all())


def test_a_converted_network_samples_back_exactly_at_full_width_and_scales_to_any_width():
    values = net()
    nodes = node_values(values)
    full = sample(nodes, [uniform(SPEC.hidden, torch)] * SPEC.depth)
    assert all(torch.allclose(a, b, atol=1e-5) for a, b in zip(full, values, strict=True))
    narrow = sample(nodes, [uniform(5, torch)] * SPEC.depth)
    assert [tuple(t.shape) for t in narrow] == [tuple(s) for s in SirenSpec(hidden=5, depth=3).shapes()]
    batched = sample([torch.stack([v, 2 * v]) for v in nodes], [uniform(5, torch)] * SPEC.depth)
    assert all(torch.allclose(b[0], t, atol=1e-6) for b, t in zip(batched, narrow, strict=True))


def test_channel_order_leaves_the_function_unchanged_and_smooths_the_weights():
    values = net()
    order = two_opt_order(channel_features(values, 1))
    assert sorted(order.tolist()) == list(range(SPEC.hidden))
    assert total_variation(values, order, 1) < total_variation(values, np.arange(SPEC.hidden), 1)
    assert torch.allclose(out(permute_channels(values, 1, order)), out(values), atol=1e-5)
    smoothed, (twin,) = smooth(values, SPEC, [values])
    assert torch.allclose(out(smoothed), out(values), atol=1e-5)
    assert all(torch.equal(a, b) for a, b in zip(smoothed, twin, strict=True))


def test_l1_channel_pruning_keeps_the_heaviest_channels():
    values = net()
    keep = l1_channels(values, SPEC, 4)
    sub = select_channels(values, keep)
    assert [tuple(t.shape) for t in sub] == [tuple(s) for s in SirenSpec(hidden=4, depth=3).shapes()]
    norms = values[2].abs().sum(0)
    assert norms[keep[1]].min() >= norms[[i for i in range(SPEC.hidden) if i not in keep[1]]].max()
