"""Building blocks: step table, entropy coder, tiling, init file."""
from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from inrcodec import entropy, quant
from inrcodec.sharedinit import SPARSE_INIT, load_init
from inrcodec.tiling import TileGrid


def test_step_table_is_exact_powers_of_two():
    assert quant.step_size(quant.STEP_BIAS) == 1.0
    assert quant.step_size(quant.STEP_BIAS - 16) == 2.0
    assert quant.step_size(quant.STEP_BIAS + 48) == 0.125
    for i in range(16):
        assert quant.POW2_SIXTEENTHS[i] == pytest.approx(2 ** (i / 16), rel=1e-15)
    assert all(quant.step_size(i) > quant.step_size(i + 1) for i in range(0, 600))


def test_quantize_round_trip():
    x = np.random.default_rng(0).normal(0, 0.01, 1000)
    idx = quant.STEP_BIAS + 120
    err = np.abs(quant.dequantize(quant.quantize(x, idx), idx) - x)
    assert err.max() <= quant.step_size(idx) / 2 + 1e-9


@pytest.mark.parametrize("scale", [0.05, 0.7, 3.0, 40.0])
def test_entropy_round_trip_and_near_ideal_length(scale):
    rng = np.random.default_rng(1)
    sym = np.rint(rng.laplace(0, scale, 5000)).astype(np.int32)
    t = entropy.make_coded(sym, 300)
    words = entropy.encode_tensors([t, entropy.make_coded(np.zeros(10, np.int32), 1)])
    back = entropy.decode_tensors(words, [(5000, 300, t.scale_index, t.radius), (10, 1, 0, 0)])
    assert np.array_equal(back[0].symbols, sym) and not back[1].symbols.any()
    ideal = entropy.choose_scale(sym, t.radius)[1]
    assert 32 * len(words) <= ideal * 1.02 + 64


def test_all_zero_tensors_cost_nothing():
    assert len(entropy.encode_tensors([entropy.make_coded(np.zeros(100, np.int32), 5)])) == 0


@pytest.mark.parametrize("out", [(64, 96), (17, 23), (200, 301)])
def test_blend_weights_are_a_partition_of_unity(out):
    grid = TileGrid(64, 96, 32, 2)
    coords, weights, index = grid.sampling(*out)
    total = np.zeros(out[0] * out[1])
    np.add.at(total, index.ravel(), weights.ravel())
    assert np.allclose(total, 1.0, atol=1e-6)
    assert np.abs(coords).max() <= 1.0


def test_seam_mask_marks_exactly_the_cross_fade_bands():
    grid = TileGrid(64, 96, 32, 2)
    mask = grid.seam_mask()
    _, weights, index = grid.sampling(64, 96)
    blended = np.zeros(64 * 96, bool)  # pixels that more than one tile paints
    np.logical_or.at(blended, index.ravel(), (weights < 1 - 1e-6).ravel() & (weights > 0).ravel())
    assert mask.shape == (64, 96)
    assert (mask.ravel() == blended).all()
    assert not TileGrid(20, 20, 32, 2).seam_mask().any()  # one tile, no seams


def test_tiles_cover_fractional_sizes():
    g = TileGrid(100, 70, 32, 2)
    assert (g.rows, g.cols) == (4, 3)


def test_shipped_init_is_small_sparse_and_identified():
    init = load_init(SPARSE_INIT)
    assert init.name == SPARSE_INIT and len(init.checksum) == 8
    densities = [lv.density for lv in init.levels]
    assert densities[0] == 1.0 and all(a > b for a, b in itertools.pairwise(densities))
    for a, b in itertools.pairwise(init.levels):  # masks are nested
        for ma, mb in zip(a.masks, b.masks, strict=True):
            assert not (mb & ~ma).any()
    for lv in init.levels:
        for v, m in zip(lv.values, lv.masks, strict=True):
            assert not v[~m].any()
        assert all(m.all() for m in lv.masks[1::2])  # biases are never pruned
    assert math.isfinite(sum(float(r.sum()) for r in init.levels[-1].lrs))
