"""The ceiling study's harness runs end to end on a generated image and counts real bytes."""
from __future__ import annotations

import csv

from PIL import Image

from benchmarks.ceiling import main, siren_model
from inrcodec.example import synthetic_image


def test_ceiling_harness_codes_every_candidate_for_real(tmp_path):
    data = tmp_path / "gen"
    data.mkdir()
    Image.fromarray(synthetic_image(32, 32, seed=3)).save(data / "img0.png")
    out = tmp_path / "results"
    main(["--data", str(data), "--per-folder", "1", "--size", "32", "--steps", "10", "--qat-steps", "4",
          "--widths", "8", "--out", str(out), "--quiet"], standalone_mode=False)
    with open(out / "ceiling.csv", newline="") as f:
        rows = list(csv.DictReader(f))
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
    data = tmp_path / "gen"
    data.mkdir()
    Image.fromarray(synthetic_image(32, 32, seed=3)).save(data / "img0.png")
    out, meta = tmp_path / "results", tmp_path / "meta"
    main(["--data", str(data), "--per-folder", "1", "--size", "32", "--steps", "10", "--widths", "8",
          "--candidates", "d", "--train-data", str(data), "--meta-dir", str(meta), "--meta-steps", "2",
          "--out", str(out), "--quiet"], standalone_mode=False)
    assert (meta / "siren-W8-D3-32.pt").exists()
    with open(out / "ceiling.csv", newline="") as f:
        rows = list(csv.DictReader(f))
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
