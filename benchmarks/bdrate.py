"""Bjøntegaard delta rate: average rate difference at equal PSNR, in percent.

Piecewise-cubic (PCHIP, monotone) interpolation of log-rate as a function of PSNR for each
codec, integrated over the PSNR range both curves cover. Negative: the test codec needs
fewer bits than the anchor for the same quality.
"""
from __future__ import annotations

import numpy as np
from scipy.integrate import quad
from scipy.interpolate import PchipInterpolator


def _curve(rate, psnr) -> tuple[np.ndarray, np.ndarray]:
    r, p = np.asarray(rate, float), np.asarray(psnr, float)
    keep = np.isfinite(r) & np.isfinite(p) & (r > 0)
    r, p = r[keep], p[keep]
    order = np.argsort(p)
    p, r = p[order], r[order]
    p, idx = np.unique(p, return_index=True)
    return np.log(r[idx]), p


def bd_rate(anchor_rate, anchor_psnr, test_rate, test_psnr) -> float:
    la, pa = _curve(anchor_rate, anchor_psnr)
    lt, pt = _curve(test_rate, test_psnr)
    if len(pa) < 2 or len(pt) < 2:
        return float("nan")
    lo, hi = max(pa.min(), pt.min()), min(pa.max(), pt.max())
    if not hi > lo:
        return float("nan")
    fa, ft = PchipInterpolator(pa, la), PchipInterpolator(pt, lt)
    diff = (quad(ft, lo, hi, limit=200)[0] - quad(fa, lo, hi, limit=200)[0]) / (hi - lo)
    return float((np.exp(diff) - 1) * 100)
