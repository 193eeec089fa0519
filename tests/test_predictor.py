"""Representation 3's latent predictor: its trainer (resumable), its place in the init, and the fit it starts."""
from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import inrcodec
from inrcodec.errors import UsageError
from inrcodec.example import synthetic_image
from inrcodec.metrics import psnr
from inrcodec.representations.latents import fit as fit_module
from inrcodec.representations.latents.fit import (
    UP_REACH,
    fit,
    float_arm,
    grid_bits,
    predicted,
    prediction_range,
    soft_round,
)
from inrcodec.representations.latents.grid import level_sizes
from inrcodec.representations.latents.init import (
    PREDICTED_INIT,
    PREDICTED_INITS,
    load_latent_init,
    load_latent_init_file,
)
from inrcodec.representations.latents.predictor import predict, predictor_init

ROOT = Path(__file__).resolve().parents[1]
BASE = ROOT / "inrcodec" / "weights" / "latents-v1.npz"
SHIPPED = ROOT / "inrcodec" / "weights" / f"{PREDICTED_INIT}.npz"


def train(tmp: Path, out: str, steps: int = 4, checkpoint: Path | None = None, stop_at: int | None = None,
          device: str = "cpu", minutes: float | None = None) -> Path:
    pool = tmp / "pool.npy"
    if not pool.exists():
        rng = np.random.default_rng(0)
        np.save(pool, np.stack([synthetic_image(32, 32, seed=int(s)) for s in rng.integers(0, 99, 6)]))
    cmd = [sys.executable, "-m", "training.predictor", "--crops", str(pool), "--base", str(BASE), "--out",
           str(tmp / out), "--steps", str(steps), "--batch", "2", "--channels", "4", "--log-every", "1",
           "--save-every", "2", "--threads", "1", "--device", device]
    if checkpoint:
        cmd += ["--checkpoint", str(checkpoint)]
    if stop_at:
        cmd += ["--stop-at", str(stop_at)]
    if minutes is not None:
        cmd += ["--minutes", str(minutes)]
    subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True, timeout=300)
    return tmp / out


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    return train(tmp_path_factory.mktemp("pred"), "latents-pred.npz")


def test_the_predictor_gives_every_grid_its_size_and_follows_the_rate():
    params = predictor_init(7, 4, seed=0)
    x = torch.rand(2, 37, 50, 3)
    z = predict(params, x, torch.tensor([0.001, 0.03]), 7)
    assert [t.shape[1:] for t in z] == [torch.Size(s) for s in level_sizes(37, 50, 7)]
    assert not torch.equal(z[0][0], predict(params, x[:1], torch.tensor([0.03]), 7)[0][0])


def test_a_predictor_training_stops_on_its_clock_and_says_so(tmp_path):
    """--minutes ends a run where a lent device's time does: the init written as it stands, checkpointed."""
    out = load_latent_init_file(train(tmp_path, "timed.npz", steps=100000, checkpoint=tmp_path / "t.ckpt", minutes=1e-4))
    assert 1 <= out.meta["predictor"]["steps"] < 100000
    assert torch.load(tmp_path / "t.ckpt", weights_only=False)["step"] == out.meta["predictor"]["steps"]


def test_an_interrupted_predictor_training_resumes_to_the_same_init(tmp_path, trained):
    ckpt = tmp_path / "run.ckpt"
    half = load_latent_init_file(train(tmp_path, "half.npz", checkpoint=ckpt, stop_at=2))  # 2 of 4, checkpointed
    assert half.meta["predictor"]["steps"] == 2
    resumed = train(tmp_path, "resumed.npz", checkpoint=ckpt, device="cpu:0")  # where it runs is not a setting
    assert load_latent_init_file(resumed).meta["predictor"]["device"] == "cpu:0"
    a, b = load_latent_init_file(trained), load_latent_init_file(resumed)
    assert a.predictor is not None and b.predictor is not None
    for x, y in zip(a.predictor + a.values + list(a.arm.weights), b.predictor + b.values + list(b.arm.weights),
                    strict=True):
        np.testing.assert_array_equal(x, y)
    card = trained.with_suffix(".md").read_text()
    assert "Latent predictor" in card and hashlib.sha256(trained.read_bytes()).hexdigest() in card


def test_the_trained_init_keeps_its_base_mask_and_loads_its_predictor(trained):
    init, base = load_latent_init_file(trained), load_latent_init_file(BASE)
    for m, b, v in zip(init.masks, base.masks, init.values, strict=True):
        np.testing.assert_array_equal(m, b)
        assert not v[~m].any()  # pruned weights stay zero
    assert init.predictor is not None and len(init.predictor) == len(predictor_init(7, 4, 0))
    assert init.meta["base"]["sha256"] == base.sha256


def test_the_prediction_is_aimed_at_the_target_rate():
    init = load_latent_init_file(SHIPPED)
    image = torch.from_numpy(synthetic_image(48, 64, seed=5).astype(np.float32) / 255)[None]
    arm = float_arm(init.arm)

    def rate(target: float) -> float:
        z, _, _ = predicted(init, image, arm, 0.01, target)
        return float(grid_bits(arm, [torch.round(t) for t in z]).sum()) / (48 * 64)

    assert rate(0.3) < rate(2.0)


def test_a_predicted_start_codes_and_decodes_and_refining_it_pays(trained):
    image = synthetic_image(48, 64, seed=5)
    quality = {}
    for steps in (0, 30):
        data = inrcodec.analyse(image, quality=70, steps=steps, init=str(trained)).compress(quality=70)
        assert data == inrcodec.encode(image, quality=70, steps=steps, init=str(trained))  # deterministic
        out = inrcodec.decode(data, init=str(trained))
        assert out.shape == image.shape
        quality[steps] = psnr(out, image)
    assert quality[30] > quality[0]


def test_the_aim_stays_within_the_lambdas_the_predictor_was_trained_on():
    init = load_latent_init_file(SHIPPED)
    image = torch.from_numpy(synthetic_image(48, 64, seed=5).astype(np.float32) / 255)[None]
    lo, hi = init.meta["predictor"]["lambda"]
    for target, end in ((1e-4, hi), (60.0, lo)):  # out of reach both ways: the nearest end of the range
        _, lam, _ = predicted(init, image, float_arm(init.arm), 0.01, target)
        assert lam == pytest.approx(end)


@pytest.mark.parametrize("name", [name for name, _ in PREDICTED_INITS])
def test_the_shipped_predictor_inits_match_their_cards(name):
    path = ROOT / "inrcodec" / "weights" / f"{name}.npz"
    init = load_latent_init_file(path)
    assert init.predictor is not None and init.name == name
    assert init.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert init.sha256 in path.with_suffix(".md").read_text()
    base = load_latent_init_file(BASE)
    for m, b in zip(init.masks, base.masks, strict=True):
        np.testing.assert_array_equal(m, b)  # the base's pruning mask, unchanged by predictor training


def test_a_target_the_predicted_fit_misses_is_refused_not_met_at_another_step():
    image = synthetic_image(128, 192, seed=2)
    fit = inrcodec.analyse(image, bpp=0.08, steps=0, init=PREDICTED_INIT, latent_scale=1.0)  # full size: beyond reach
    assert len({fit.stream(i) for i in (200, 256, 280)}) == 1  # one step only: the fitted one
    with pytest.raises(UsageError, match="within 10%"):
        fit.compress(bpp=0.08)


def _coded_bpp(init, fitted) -> float:
    """Bits per pixel of a fit's rounded latents under the context model (a 48 x 64 image)."""
    grids = [torch.from_numpy(np.round(z)).float()[None] for z in fitted.latents]
    return float(grid_bits(float_arm(init.arm), grids).sum()) / (48 * 64)


def test_a_target_above_the_prediction_refines_upwards_below_the_trained_lambdas():
    """The prediction's rate stops at the lowest trained lambda; a refinement aimed above it lifts the
    rate (a step large enough for latents to cross a rounding boundary within the fit, lambda re-aimed
    below the range), where one aimed at that top keeps the predicted integers."""
    init = load_latent_init_file(SHIPPED)
    image = synthetic_image(48, 64, seed=5)
    top = prediction_range(init, image)[1] / UP_REACH

    def coded(target: float) -> tuple[float, float]:
        f = fit(init, image, 100, 0.01, target_bpp=target)
        return _coded_bpp(init, f), f.rate_weight

    at_top, lam_top = coded(top)
    above, lam_above = coded(1.5 * top)
    assert above > 1.05 * at_top
    assert lam_above < min(init.meta["predictor"]["lambda"]) <= lam_top


def test_a_long_refinement_stays_at_its_target():
    """Many steps (as `slow`) take Adam steps that add up to no more than `default`'s 100: 2e-2 over
    them would flip latents en masse and miss the target."""
    init = load_latent_init_file(SHIPPED)
    image = synthetic_image(48, 64, seed=5)
    lo, hi = prediction_range(init, image)
    target = (lo * hi / UP_REACH) ** 0.5
    assert abs(_coded_bpp(init, fit(init, image, 600, 0.01, target_bpp=target)) / target - 1) < 0.1


def test_a_refinement_aimed_at_a_rate_leads_its_lambda_and_lands_at_the_target(monkeypatch):
    """The rounded rate holds until the latents have travelled half a step, then falls as many flip at
    once: a refinement that starts at the prediction's lambda and re-aims from the first step lands
    under its target; one that leads lambda down and re-aims once the rate moves lands at it (the
    low-rate init, where the fall is largest)."""
    init = load_latent_init_file(ROOT / "inrcodec" / "weights" / f"{PREDICTED_INITS[0][0]}.npz")

    def landed(h: int, w: int, seed: int) -> float:
        image = synthetic_image(h, w, seed=seed)
        lo, hi = prediction_range(init, image)
        target = (lo * hi / UP_REACH) ** 0.5
        grids = [torch.from_numpy(np.round(z)).float()[None] for z in fit(init, image, 100, 0.01, target_bpp=target).latents]
        return float(grid_bits(float_arm(init.arm), grids).sum()) / (h * w) / target

    images = ((128, 192, 2), (96, 128, 7))
    led = [landed(*i) for i in images]
    assert all(abs(r - 1) < 0.03 for r in led), led
    monkeypatch.setattr(fit_module, "REFINE_LEAD", 1.0)
    monkeypatch.setattr(fit_module, "REFINE_ADAPT_AT", tuple(k / 10 for k in range(1, 10)))
    unled = [landed(*i) for i in images]
    assert all(u < r - 0.02 for u, r in zip(unled, led, strict=True)), (unled, led)


def test_a_refinement_prices_noisy_bits_so_its_rate_holds():
    """At a fixed lambda, 300 refinement steps keep the prediction's rate: the bits are priced on noisy
    latents (straight-through bits, which the synthesis reads, triple it on this image)."""
    init = load_latent_init_file(SHIPPED)
    image = synthetic_image(48, 64, seed=5)
    start, refined = (_coded_bpp(init, fit(init, image, steps, 0.01)) for steps in (0, 300))
    assert refined < 1.2 * start


def test_the_training_curve_counts_every_stage_and_compares_like_with_like(trained, tmp_path, monkeypatch):
    """A continued init's minutes include its base's and each earlier predictor stage; the curve
    averages each rate over the images every init reached, so a miss does not bias one init."""
    import argparse

    from benchmarks import trainingcurve

    base, pred = load_latent_init_file(BASE).meta, load_latent_init_file(trained).meta
    assert trainingcurve.training_minutes(str(trained)) == pytest.approx((base["seconds"] + pred["predictor"]["seconds"]) / 60)
    monkeypatch.setattr(trainingcurve, "RESULTS", tmp_path)
    rows = [{"init": i, "image": im, "target_bpp": r, "bpp": r * k, "psnr": 20 + 10 * r + (i == "b")}
            for i, k in (("a", 1.0), ("b", 1.0)) for im in ("x", "y") for r in (0.5, 1.0)]
    rows.append({"init": "a", "image": "z", "target_bpp": 1.0, "bpp": 1.0, "psnr": 10.0})  # b missed z: left out
    trainingcurve.report(rows, {"a": 10.0, "b": 20.0}, argparse.Namespace(
        data="d", limit=3, inits=["a", "b"], steps=0, rates=[0.5, 1.0], name="curve"))
    table = (tmp_path / "curve.md").read_text()
    assert "| a | 10 | 25.00 (2) | 30.00 (2) | +0.0 % |" in table
    line = next(t for t in table.splitlines() if t.startswith("| b |"))
    assert "26.00 (2)" in line and float(line.split("|")[-2].strip(" %")) < 0  # 1 dB better: fewer bits
    assert (tmp_path / "curve.png").stat().st_size > 0


def test_soft_rounding_runs_from_the_identity_to_rounding():
    """The refinement's relaxation: smooth and increasing at every temperature (gradients reach every
    latent), the identity when hot and rounding when cold."""
    z = (torch.arange(-2, 3)[:, None] + torch.tensor([-0.4, -0.2, 0.0, 0.2, 0.4])).ravel().float()  # off the boundaries
    assert torch.allclose(soft_round(z, 0.01), torch.round(z), atol=1e-3)
    assert torch.allclose(soft_round(z, 10.0), z, atol=1e-2)
    for t in (0.05, 0.3):
        assert (soft_round(z, t).diff() > 0).all()


def test_a_per_image_context_model_never_prices_more_and_learns_what_the_shared_one_misses():
    """benchmarks.armfit's bound: the fitted copy starts at the shared ARM and keeps its best, so it can only
    save; on latents with a constant offset the shared ARM never saw, it must save a lot."""
    from benchmarks.armfit import per_image_bits

    arm = float_arm(load_latent_init(PREDICTED_INIT).arm)
    g = torch.Generator().manual_seed(0)
    grids = [torch.round(torch.randn(1, 32 // 2 ** k, 48 // 2 ** k, generator=g)) + 6 for k in range(3)]
    shared, fitted = per_image_bits(arm, grids, steps=60, lr=1e-2)
    assert 0 < fitted < 0.9 * shared
    assert per_image_bits(arm, grids, steps=0, lr=1e-2) == (shared, shared)
