"""The benchmarks run end to end on generated images (as `python -m benchmarks.X`) and write their results."""
from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

import inrcodec
from benchmarks.classic import CLASSICS
from benchmarks.report import point_key, read_rows
from inrcodec.example import synthetic_image
from inrcodec.representations.latents.stream import LATENTS

ROOT = Path(__file__).resolve().parent.parent


def generated(folder: Path, n: int, size: tuple[int, int] = (176, 208)) -> Path:
    folder.mkdir()
    for i in range(n):
        Image.fromarray(synthetic_image(*size, seed=20 + i)).save(folder / f"img{i}.png")
    return folder


def run(module: str, *args: str, quiet: bool = True) -> None:
    r = subprocess.run([sys.executable, "-m", f"benchmarks.{module}", *args, *(["--quiet"] if quiet else [])],
                       capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert r.returncode == 0, r.stderr


def test_quick_benchmark_on_generated_images(tmp_path):
    data = generated(tmp_path / "gen", 2)
    out = tmp_path / "results"
    run("rd", "--data", str(data), "--quick", "--presets", "fast", "--classic", "jpeg", "webp", "--out", str(out),
        "--cli-timing", "0")
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


def test_policy_variants_share_fits_and_compare_with_an_earlier_run(tmp_path):
    data = generated(tmp_path / "gen", 1, (96, 128))
    out = tmp_path / "results"
    run("rd", "--data", str(data), "--rates", "0.5", "1.0", "--presets", "fast", "--classic", "jpeg",
        "--out", str(out), "--name", "first-0.5", "--cli-timing", "0")
    assert (out / "first-0.5.md").exists() and (out / "first-0.5.png").exists()  # a dotted name keeps its dots
    table = {"ladder": [{"max_bpp": 64, "width": 32, "level": 7}],
             "width": [{"max_bpp": 0.7, "width": 16, "level": 7}, {"max_bpp": 64, "width": 24, "level": 7}]}
    (tmp_path / "policy.json").write_text(json.dumps({"policies": table}))
    run("rd", "--data", str(data), "--rates", "0.5", "1.0", "--presets", "--policies", "ladder", "width",
        "--policy-file", str(tmp_path / "policy.json"), "--classic", "jpeg", "--out", str(out),
        "--compare", f"{out / 'first-0.5.csv'}:fast", "--cli-timing", "0")
    rows = [x for x in csv.DictReader(open(out / "gen.csv")) if x["codec"] == "inrcodec"]
    nets = {(x["preset"], x["setting"]): x["network"] for x in rows}
    image = np.asarray(Image.open(data / "img0.png"))
    fits = {rate: inrcodec.analyse(image, bpp=float(rate), preset="fast") for rate in ("0.5", "1")}  # the default:
    shipped = {rate: "latents" if fit.rep.id == LATENTS else  # latents where they reach the rate, else the tiles
               "{}/L{}".format(fit.rep.settings.width, fit.rep.settings.level) for rate, fit in fits.items()}
    assert nets == {("ladder", "0.5"): "32/L7", ("ladder", "1"): "32/L7", ("width", "0.5"): "16/L7",
                    ("width", "1"): "24/L7", ("fast (first-0.5.csv)", "0.5"): shipped["0.5"],
                    ("fast (first-0.5.csv)", "1"): shipped["1"]}
    assert "latents" in shipped.values()
    md = (out / "gen.md").read_text()
    assert "BD-rate between inrcodec variants" in md and "| width | 0.5 |" in md


def test_preview_benchmark_on_a_generated_image(tmp_path):
    data = generated(tmp_path / "gen", 1, (96, 128))
    out = tmp_path / "results"
    run("preview", "--data", str(data), "--limit", "1", "--rates", "0.5", "1.0", "--fractions", "1", "0.5",
        "--repeats", "1", "--out", str(out))
    rows = list(csv.DictReader(open(out / "preview.csv")))
    assert len(rows) == 2 * 2 * 2  # fits x rates x fractions
    full = {(x["fit"], x["target"]): x for x in rows if x["fraction"] == "1"}
    half = [x for x in rows if x["fraction"] == "0.5"]
    assert all(int(x["channels"]) * 2 == int(full[x["fit"], x["target"]]["network"].split("/")[0]) for x in half)
    assert "What a scalable fit costs" in (out / "preview.md").read_text()
    assert Image.open(out / "preview.png").size[0] > 500


def test_rd_writes_rows_as_they_finish_resumes_and_shards(tmp_path):
    """Two shards measure disjoint images whose union is the whole benchmark; a shard killed mid-row
    resumes from its CSV without measuring again what it had written; the report merges the shards.
    The first image is also timed as users run it (fresh CLI processes), in whichever shard has it."""
    data = generated(tmp_path / "gen", 2, (96, 128))
    out = tmp_path / "results"
    common = ("--data", str(data), "--rates", "0.75", "--presets", "fast", "--classic", "jpeg", "--out", str(out),
              "--cli-timing", "1")
    for shard in ("1/2", "2/2"):
        run("rd", *common, "--shard", shard)
    first, second = (read_rows(out / f"gen.shard-{i}-of-2.csv") for i in (1, 2))
    assert {r["image"] for r in first} == {"img0"} and {r["image"] for r in second} == {"img1"}
    expected = {(f"img{i}", "inrcodec", "fast", 0.75) for i in range(2)}
    expected |= {(f"img{i}", "jpeg", "", float(q)) for i in range(2) for q in CLASSICS["jpeg"].settings}
    assert sorted(point_key(r) for r in first + second) == sorted(expected)  # each point once
    timed = [r for r in first + second if r["codec"] == "inrcodec" and r["cli_encode_s"] > 0 and r["cli_decode_s"] > 0]
    assert [r["image"] for r in timed] == ["img0"]

    path = out / "gen.shard-1-of-2.csv"
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines[:6]) + lines[6][:20])  # header and 5 rows, then a row torn mid-write
    run("rd", *common, "--shard", "1/2")
    assert sorted(point_key(r) for r in read_rows(path)) == sorted(point_key(r) for r in first)
    assert path.read_text().splitlines(keepends=True)[:6] == lines[:6]  # kept as they were, not measured again

    run("report", str(out / "gen.shard-1-of-2.csv"), str(out / "gen.shard-2-of-2.csv"), "--name", "gen",
        "--out", str(out), quiet=False)
    assert sorted(point_key(r) for r in read_rows(out / "gen.csv")) == sorted(expected)
    md = (out / "gen.md").read_text()
    assert "(2 images)" in md and "CLI encode s" in md and "img0" in md
    assert Image.open(out / "gen-time.png").size[0] > 500


def test_published_reference_curves_ship_with_the_repository():
    """Kodak plots draw the published curves from benchmarks/reference, not from data beside the project."""
    from benchmarks.report import PUBLISHED, REFERENCE, published_curves
    assert REFERENCE.is_relative_to(ROOT / "benchmarks")
    curves = published_curves()
    assert set(curves) == set(PUBLISHED)
    assert all(len(bpp) >= 4 and np.all(np.diff(bpp) > 0) for bpp, _, _ in curves.values())


def test_the_scratch_start_frees_every_synthesis_weight_and_codes_a_stream(tmp_path):
    """The steps plot's third start: latents-v1's context model, a fresh synthesis all of whose
    weights the fit may move; its streams decode with it to what the encoder fitted."""
    from benchmarks.steps import coded, scratch_init
    from inrcodec.representations.latents.init import load_latent_init, load_latent_init_file

    path = scratch_init(tmp_path / "scratch.npz")
    init, base = load_latent_init_file(path), load_latent_init("latents-v1")
    assert all(m.all() for m in init.masks) and init.predictor is None
    assert [w.tolist() for w in init.arm.weights] == [w.tolist() for w in base.arm.weights]
    assert not all(np.array_equal(a, b) for a, b in zip(init.values, base.values, strict=True))
    img = synthetic_image(64, 96, seed=1)
    point = coded(img, path, 50, 1.0, print)
    assert point is not None and abs(point["bpp"] - 1.0) <= 0.1 and point["psnr"] > 15
