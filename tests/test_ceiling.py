"""The ceiling study's harness runs end to end on a generated image and counts real bytes."""
from __future__ import annotations

import csv

import numpy as np
from PIL import Image

from benchmarks.ceiling import main, siren_model
from inrcodec.example import synthetic_image
from inrcodec.presets import LATENT_PRESETS


def run_study(tmp_path, *args: str, shape: tuple[int, int] = (32, 32), name: str = "ceiling") -> list[dict]:
    """The study on one generated image (also its train data), 32x32 crops; its CSV rows."""
    data = tmp_path / "gen"
    data.mkdir()
    Image.fromarray(synthetic_image(*shape, seed=3)).save(data / "img0.png")
    main(["--data", str(data), "--per-folder", "1", "--size", "32", "--train-data", str(data),
          "--meta-dir", str(tmp_path / "meta"), "--out", str(tmp_path / "results"), "--name", name, "--quiet", *args],
         standalone_mode=False)
    with open(tmp_path / "results" / f"{name}.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_ceiling_harness_codes_every_candidate_for_real(tmp_path):
    rows = run_study(tmp_path, "--steps", "10", "--qat-steps", "4", "--widths", "8")
    out = tmp_path / "results"
    assert {r["candidate"] for r in rows} == {"a0", "a", "c0", "c", "jpeg", "webp"}
    for r in rows:
        if r["bytes"]:  # every coded point's rate is its real file size
            assert float(r["bpp"]) == float(f"{8 * int(r['bytes']) / (32 * 32):.6g}")
            assert float(r["psnr"]) > 5
    assert all(0 < int(r["header_bytes"]) <= int(r["bytes"]) for r in rows if r["candidate"] in ("a0", "a", "c0", "c"))
    md = (out / "ceiling.md").read_text()
    assert "BD-rate vs JPEG" in md and "| c: one SIREN per crop + QAT, 10 + 4 steps |" in md
    assert Image.open(out / "ceiling.png").size[0] > 300


def test_ceiling_meta_init_candidate_codes_only_the_update(tmp_path):
    rows = run_study(tmp_path, "--steps", "10", "--widths", "8", "--candidates", "d", "--meta-steps", "2")
    out = tmp_path / "results"
    assert (tmp_path / "meta" / "siren-W8-D3-32.pt").exists()
    assert {r["candidate"] for r in rows} == {"d"} and len(rows) == 6
    assert all(float(r["bpp"]) == float(f"{8 * int(r['bytes']) / (32 * 32):.6g}") and float(r["psnr"]) > 5
               for r in rows)
    assert "| d: one SIREN per crop from a meta-learned init, update coded, 10 + 0 steps |" in (out / "ceiling.md").read_text()


def test_meta_init_model_decodes_init_plus_update():
    image = synthetic_image(16, 16, seed=1)
    init = siren_model(image, 8, 3, seed=5).params
    model = siren_model(image, 8, 3, init=init)
    c = model.code(model.indices(40, [0] * len(init)))
    assert c.zero_frac == 1.0  # nothing moved: the stream carries only zeros, the init comes from the decoder
    assert (c.pixels == model.image(init)).all()


def test_ceiling_latent_candidates_code_latents_and_synthesis_update(tmp_path):
    rows = run_study(tmp_path, "--steps", "6", "--candidates", "b", "--candidates", "b1", "--meta-minutes", "0.01",
                     shape=(48, 40), name="latent")
    out = tmp_path / "results"
    assert (tmp_path / "meta" / "latent-synth-L7-W32-32.pt").exists()
    assert sum(r["candidate"] == "b" for r in rows) == 4 * 3 and sum(r["candidate"] == "b1" for r in rows) == 4 * 3 * 3
    for r in rows:
        assert float(r["bpp"]) == float(f"{8 * int(r['bytes']) / (32 * 32):.6g}") and float(r["psnr"]) > 5
        tensors = r["bits_by_tensor"].split()
        assert [t.split(":")[0] for t in tensors][:7] == [f"z{k}" for k in range(7)]
        assert ("W1" in r["bits_by_tensor"]) == (r["candidate"] == "b1")  # b codes latents only
    md = (out / "latent.md").read_text()
    assert "| b: latent pyramid + shared SIREN synthesis, latents coded, 6 + 0 steps |" in md


def keys_cubic(row: np.ndarray, out: int) -> np.ndarray:
    """Keys' cubic (a = -0.75) at pixel centres, x = (i + 1/2) * in / out - 1/2, edges clamped: the upsampling a
    decoder of the latent pyramid must reproduce."""
    def kernel(t: np.ndarray) -> np.ndarray:
        t, a = np.abs(t), -0.75
        return np.where(t <= 1, (a + 2) * t ** 3 - (a + 3) * t ** 2 + 1,
                        np.where(t < 2, a * t ** 3 - 5 * a * t ** 2 + 8 * a * t - 4 * a, 0.0))
    x = (np.arange(out) + 0.5) * len(row) / out - 0.5
    base = np.floor(x).astype(int)
    taps = [base + k for k in (-1, 0, 1, 2)]
    return sum(kernel(x - t) * row[np.clip(t, 0, len(row) - 1)] for t in taps)


def test_latent_pyramid_upsamples_at_pixel_centres_to_any_grid():
    import torch

    from benchmarks import latentgrid

    sizes = latentgrid.level_sizes(37, 20)
    assert sizes[0] == (37, 20) and sizes[1] == (19, 10) and sizes[-1] == (1, 1)
    row = np.random.default_rng(0).normal(size=10)
    for h, w in ((37, 20), (74, 40), (9, 5), (37, 23)):
        latents = [torch.from_numpy(np.tile(row[:b], (a, 1))[None]).float() for a, b in sizes]
        up = latentgrid.upsample(latents, h, w)
        assert up.shape == (1, 7, h, w)
        for level, (_, b) in enumerate(sizes):  # rows are constant, so each output row is the 1-D interpolation
            assert np.allclose(up[0, level, h // 2].numpy(), keys_cubic(row[:b], w), atol=1e-5)


def test_latent_model_decodes_shared_synthesis_plus_update():
    import torch

    from benchmarks import latentgrid
    from benchmarks.ceiling import latent_model

    image = synthetic_image(16, 24, seed=2)
    synth = latentgrid.synth_init(seed=1)
    latents = [torch.randn(1, a, b, generator=torch.Generator().manual_seed(a)).mul(3).round()
               for a, b in latentgrid.level_sizes(16, 24)]
    shared, tuned = latent_model(image, synth, latents), latent_model(image, synth, latents, synth)
    indices = [256] * 7 + [380] * len(synth)
    c = tuned.code(indices)
    assert (c.pixels == shared.code(indices[:7]).pixels).all()  # a zero update decodes to the shared synthesis
    assert (c.pixels == shared.image(latents)).all() and c.zero_frac < 1  # integer latents code exactly
    moved = latent_model(image, synth, latents, [p + 0.05 for p in synth]).code(indices)
    assert not (moved.pixels == c.pixels).all() and len(moved.data) > len(c.data)  # the update is coded


def test_context_buckets_come_from_decoded_integers_only():
    import numpy as np

    from benchmarks.latentcontext import contexts, level_bits

    q = np.array([[0, 1], [2, 0]])
    assert contexts(q, None).tolist() == [[0, 0], [1, 3]]  # N + W + NW + NE, causal only
    assert contexts(q, np.array([[3]])).tolist() == [[4, 4], [4, 5]]  # + 2 x the coarser latent
    rng = np.random.default_rng(0)  # i.i.d. latents: contexts barely help
    levels = [np.round(rng.laplace(0, 1.5, (64, 64))).astype(int), np.round(rng.laplace(0, 3, (32, 32))).astype(int)]
    plain, ctx = level_bits(levels)
    assert 0.99 * plain < ctx < 1.01 * plain
    levels[0][:, 32:], levels[1][:, 16:] = 0, 0  # half the image flat, as in a sky: its contexts say so
    plain, ctx = level_bits(levels)
    assert ctx < 0.9 * plain


def test_positional_encoding_feeds_the_siren_and_is_named_in_the_header():
    from benchmarks.ceiling import positional

    image = synthetic_image(12, 20, seed=5)
    plain, encoded = siren_model(image, 8, 3), siren_model(image, 8, 3, pe_levels=3)
    assert encoded.params[0].shape == (1, 2 + 4 * 3, 8) and plain.params[0].shape == (1, 2, 8)
    assert encoded.header.settings == plain.header.settings + bytes([3])
    c = encoded.code(encoded.indices(400, [0] * 8))  # fine enough that every weight is coded
    assert c.pixels.shape == (12, 20, 3) and len(c.data) > len(plain.code(plain.indices(400, [0] * 8)).data)
    import torch

    x = torch.tensor([[[0.25, -0.5]]])
    expected = [0.25, -0.5, 0.7071, -1.0, 0.7071, 0.0, 1.0, 0.0, 0.0, -1.0]  # x, sin pi x, cos pi x, sin 2pi x...
    assert torch.allclose(positional(x, 2), torch.tensor([[expected]]), atol=1e-4)


def test_ceiling_r3_codes_the_shipped_latents_and_prices_them_without_the_context_model(tmp_path):
    rows = run_study(tmp_path, "--candidates", "r3", "--r3-preset", "fast", "--size", "96", shape=(96, 96), name="r3")
    r3 = {r["config"]: r for r in rows if r["candidate"] == "r3"}
    flat = {r["config"]: r for r in rows if r["candidate"] == "r3-laplace"}
    assert len(r3) >= 2 and r3.keys() == flat.keys()
    for config, r in r3.items():
        assert float(r["bpp"]) == float(f"{8 * int(r['bytes']) / (96 * 96):.6g}") and float(r["psnr"]) > 15
        same = flat[config]
        assert (same["psnr"], same["header_bytes"]) == (r["psnr"], r["header_bytes"])  # the same latents, re-priced
        assert int(same["bytes"]) > int(r["bytes"])  # what the context model saves
    steps = LATENT_PRESETS["fast"]
    assert f"| r3: representation 3 as shipped (predicted latents, integer context model), {steps} + 0 steps |" in (
        tmp_path / "results" / "r3.md").read_text()
