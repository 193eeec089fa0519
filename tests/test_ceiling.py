"""The ceiling study's harness runs end to end on a generated image and counts real bytes."""
from __future__ import annotations

import csv

from PIL import Image

from benchmarks.ceiling import main
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
