"""The RD benchmark runs end to end on generated images and writes its three kinds of result."""
from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

from PIL import Image

from inrcodec.example import synthetic_image

ROOT = Path(__file__).resolve().parent.parent


def test_quick_benchmark_on_generated_images(tmp_path):
    data = tmp_path / "gen"
    data.mkdir()
    for i in range(2):
        Image.fromarray(synthetic_image(176, 208, seed=20 + i)).save(data / f"img{i}.png")
    out = tmp_path / "results"
    r = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "rd.py"), "--data", str(data), "--quick",
                        "--presets", "fast", "--classic", "jpeg", "webp", "--out", str(out), "--quiet"],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    rows = list(csv.DictReader(open(out / "gen.csv")))
    inr = [x for x in rows if x["codec"] == "inrcodec"]
    assert len(inr) == 2 * 3  # 2 images x 3 quick rates
    for x in inr:
        assert abs(float(x["bpp"]) - float(x["setting"])) <= 0.1 * float(x["setting"])
        assert 0 < float(x["ms_ssim"]) <= 1 and float(x["psnr"]) > 10
    assert {x["codec"] for x in rows} == {"inrcodec", "jpeg", "webp"}
    md = (out / "gen.md").read_text()
    assert "BD-rate" in md and "| fast | 0.5 |" in md
    for png in ("gen.png", "gen-time.png"):
        assert Image.open(out / png).size[0] > 500
