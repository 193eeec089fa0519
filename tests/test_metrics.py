"""Metrics and BD-rate, checked against direct computations and known pairs."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import correlate1d

from benchmarks.bdrate import bd_rate
from inrcodec.example import synthetic_image
from inrcodec.metrics import ms_ssim, psnr, ssim


def test_psnr_known_value():
    a = np.zeros((4, 4, 3), np.uint8)
    b = a + 1
    assert psnr(a, b) == pytest.approx(20 * np.log10(255))
    assert psnr(a, a) == float("inf")


def _naive_ssim(a, b):
    """Textbook SSIM with an 11-tap Gaussian (sigma 1.5), valid region, per channel, averaged."""
    x = np.arange(11) - 5
    g = np.exp(-x ** 2 / 4.5)
    g /= g.sum()

    def blur(z):
        z = correlate1d(correlate1d(z, g, axis=0, mode="constant"), g, axis=1, mode="constant")
        return z[5:-5, 5:-5]
    vals = []
    for c in range(3):
        p, q = a[..., c] / 255.0, b[..., c] / 255.0
        mp, mq = blur(p), blur(q)
        spp, sqq, spq = blur(p * p) - mp ** 2, blur(q * q) - mq ** 2, blur(p * q) - mp * mq
        c1, c2 = 1e-4, 9e-4
        vals.append((((2 * mp * mq + c1) * (2 * spq + c2)) / ((mp ** 2 + mq ** 2 + c1) * (spp + sqq + c2))).mean())
    return float(np.mean(vals))


def test_psnr_on_a_mask_uses_only_those_pixels():
    a = np.zeros((4, 4, 3), np.uint8)
    b = a.copy()
    b[0] = 10  # error only in the first row
    mask = np.zeros((4, 4), bool)
    mask[0] = True
    assert psnr(a, b, mask) == pytest.approx(10 * np.log10(255 ** 2 / 100))
    assert psnr(a, b, ~mask) == float("inf")
    assert psnr(a, b) == pytest.approx(10 * np.log10(255 ** 2 / 25))


def test_ssim_matches_textbook_formula():
    a = synthetic_image(40, 50, seed=1)
    b = np.clip(a + np.random.default_rng(0).normal(0, 8, a.shape), 0, 255).astype(np.uint8)
    assert ssim(a, b) == pytest.approx(_naive_ssim(a, b), abs=1e-5)  # float32 against float64


def test_ms_ssim_behaviour():
    a = synthetic_image(200, 240, seed=2)
    rng = np.random.default_rng(1)
    noisy = [np.clip(a + rng.normal(0, s, a.shape), 0, 255).astype(np.uint8) for s in (2, 8, 24)]
    scores = [ms_ssim(a, n) for n in noisy]
    assert ms_ssim(a, a) == pytest.approx(1.0)
    assert scores[0] > scores[1] > scores[2] > 0
    assert ms_ssim(a, noisy[1]) == pytest.approx(ms_ssim(noisy[1], a))
    with pytest.raises(ValueError):
        ms_ssim(a[:100], a[:100])


def test_bd_rate_known_pair():
    rate = np.array([0.1, 0.2, 0.4, 0.8, 1.6])
    quality = 25 + 4 * np.log2(rate / 0.1)
    assert bd_rate(rate, quality, 0.8 * rate, quality) == pytest.approx(-20.0, abs=1e-6)
    assert bd_rate(rate, quality, 1.5 * rate, quality) == pytest.approx(50.0, abs=1e-6)
    assert bd_rate(rate, quality, rate, quality + 1) < 0  # better quality at equal rate


def test_bd_rate_on_published_kodak_points():
    """WebP against JPEG from CompressAI's published Kodak points: about -37% (peers.md)."""
    jpeg = ([0.22115, 0.32661, 0.42313, 0.50839, 0.58787, 0.66013, 0.72895, 0.78603, 0.84972, 0.906,
             0.96438, 1.03721, 1.1274, 1.23985, 1.36883, 1.57181],
            [23.7799, 26.5772, 28.0422, 29.0418, 29.7847, 30.3783, 30.9032, 31.3078, 31.7048, 32.0587,
             32.3993, 32.7899, 33.2347, 33.7926, 34.3943, 35.239])
    webp = ([0.23442, 0.29634, 0.35286, 0.40705, 0.4608, 0.51271, 0.56741, 0.62074, 0.67468, 0.72182,
             0.77088, 0.82367, 0.87403, 0.93429, 0.99839, 1.21631, 1.52008],
            [28.3284, 29.1512, 29.8209, 30.407, 30.9392, 31.4426, 31.936, 32.4248, 32.8835, 33.2376,
             33.6067, 33.9717, 34.3282, 34.6934, 35.1042, 36.369, 37.7783])
    assert bd_rate(*jpeg, *webp) == pytest.approx(-37, abs=4)
    assert np.isnan(bd_rate([1, 2], [10, 11], [1, 2], [30, 31]))  # no common PSNR range


def test_ms_ssim_agrees_with_pytorch_msssim():
    """The reference behind CompressAI's published numbers. Sides divisible by 16 (as Kodak's 768x512):
    at odd sides pytorch_msssim pools over zero padding and we over replicated edges."""
    import torch
    from pytorch_msssim import ms_ssim as reference  # the test extra has it
    a = synthetic_image(192, 256, seed=3)
    rng = np.random.default_rng(0)
    for sigma in (3, 12, 30):
        b = np.clip(a + rng.normal(0, sigma, a.shape), 0, 255).astype(np.uint8)
        x, y = (torch.from_numpy(im.astype(np.float32)).permute(2, 0, 1)[None] for im in (a, b))
        assert ms_ssim(a, b) == pytest.approx(float(reference(x, y, data_range=255)), abs=2e-6)


def test_bd_rate_agrees_with_the_bjontegaard_package():
    """Its PCHIP method is ours (log-rate against PSNR, integrated over the common range)."""
    from bjontegaard import bd_rate as reference  # the test extra has it
    rate = np.array([0.1, 0.2, 0.4, 0.8, 1.6])
    quality = 25 + 4 * np.log2(rate / 0.1) + np.array([0, 0.3, 0.1, -0.2, 0])
    test_rate, test_quality = rate * np.array([0.9, 0.85, 0.8, 0.82, 0.9]), quality + np.array([0.1, 0.2, -0.1, 0.3, 0.2])
    assert bd_rate(rate, quality, test_rate, test_quality) == pytest.approx(
        reference(rate, quality, test_rate, test_quality, method="pchip"), abs=1e-6)
