"""Bad input: one-line error, non-zero exit, no traceback, no partial or overwritten output."""
from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest
from PIL import Image

import inrcodec
from inrcodec.example import synthetic_image


def assert_clean_error(r, *words):
    assert r.exit_code != 0
    assert r.exception is None or isinstance(r.exception, SystemExit), r.exception
    lines = [ln for ln in r.output.strip().splitlines() if ln]
    assert len(lines) == 1 and "Traceback" not in r.output, r.output
    for w in words:
        assert w in lines[0], lines[0]


def fix_crc(data: bytes) -> bytes:
    return data[:-4] + struct.pack(">I", zlib.crc32(data[:-4]))


def test_encode_decode_info_cli(run, png, inr, tmp_path):
    out = tmp_path / "out.png"
    r = run("decode", inr, out, "--resolution", "128")
    assert r.exit_code == 0, r.output
    assert Image.open(out).size == (128, 96)
    r = run("info", inr)
    assert r.exit_code == 0 and f"format version: {inrcodec.info(inr).version}\n" in r.output and "bpp" in r.output


def test_progress_bar_and_quiet(run, png, tmp_path):
    r = run("encode", png, tmp_path / "a.inr", "--steps", "3")
    assert "fitting" in r.output and "bpp" in r.output
    r = run("encode", png, tmp_path / "b.inr", "--steps", "3", "--quiet")
    assert r.output == ""


def test_a_refit_as_tiles_shows_its_own_bar(run, png, tmp_path, monkeypatch):
    """A chosen latent fit that misses the target is refitted as tiles, under a second bar."""
    from inrcodec.encoder import Analysis, reachable_rates
    from inrcodec.representations.latents.init import PREDICTED_INIT
    from inrcodec.representations.latents.stream import LATENTS

    lo, hi = reachable_rates(np.asarray(Image.open(png)), PREDICTED_INIT)
    monkeypatch.setattr(Analysis, "reaches", lambda self, bpp: self.header.representation != LATENTS)
    r = run("encode", png, tmp_path / "a.inr", "--bpp", f"{(lo * hi) ** 0.5:.3f}", "--steps", "3")
    assert r.exit_code == 0, r.output
    assert "fitting" in r.output and "refitting as tiles" in r.output
    assert inrcodec.info(tmp_path / "a.inr").representation == 2


def test_missing_input(run, tmp_path):
    assert_clean_error(run("encode", tmp_path / "nope.png", tmp_path / "o.inr"), "no such file")
    assert_clean_error(run("decode", tmp_path / "nope.inr", tmp_path / "o.png"), "no such file")
    assert not (tmp_path / "o.inr").exists() and not (tmp_path / "o.png").exists()


def test_not_an_image(run, tmp_path):
    bad = tmp_path / "notes.png"
    bad.write_text("hello, I am text")
    assert_clean_error(run("encode", bad, tmp_path / "o.inr"), "not an image")
    assert not (tmp_path / "o.inr").exists()


def test_output_equal_to_input_is_refused(run, png, inr):
    before = png.read_bytes()
    assert_clean_error(run("encode", png, png), "is the input")
    assert png.read_bytes() == before
    before = inr.read_bytes()
    assert_clean_error(run("decode", inr, inr), "is the input")
    assert inr.read_bytes() == before


def test_truncated_stream(run, inr, tmp_path):
    data = inr.read_bytes()
    for cut in (3, 10, len(data) // 2, len(data) - 1):
        t = tmp_path / "t.inr"
        t.write_bytes(data[:cut])
        assert_clean_error(run("decode", t, tmp_path / "o.png"))
        assert not (tmp_path / "o.png").exists()


def test_bit_flips_are_caught(run, inr, tmp_path):
    data = bytearray(inr.read_bytes())
    rng = np.random.default_rng(0)
    for pos in rng.choice(np.arange(5, len(data)), 8, replace=False):
        flipped = bytearray(data)
        flipped[pos] ^= 1 << int(rng.integers(8))
        t = tmp_path / "f.inr"
        t.write_bytes(bytes(flipped))
        assert_clean_error(run("decode", t, tmp_path / "o.png"), "CRC32")
        assert not (tmp_path / "o.png").exists()


def test_foreign_file(run, png, tmp_path):
    assert_clean_error(run("decode", png, tmp_path / "o.png"), "not an .inr file")
    assert_clean_error(run("info", png), "not an .inr file")


def test_unknown_version(run, inr, tmp_path):
    data = bytearray(inr.read_bytes())
    data[4] = 99
    t = tmp_path / "v.inr"
    t.write_bytes(fix_crc(bytes(data)))
    assert_clean_error(run("decode", t, tmp_path / "o.png"), "version 99")


def test_other_init_is_refused_by_name(run, inr, tmp_path):
    data = bytearray(inr.read_bytes())
    n = data[10]
    checksum_at = 11 + n
    data[checksum_at:checksum_at + 8] = b"\x00" * 8
    t = tmp_path / "c.inr"
    t.write_bytes(fix_crc(bytes(data)))
    assert_clean_error(run("decode", t, tmp_path / "o.png"), "different build of init")
    data[11:11 + n] = b"x" * n
    t.write_bytes(fix_crc(bytes(data)))
    assert_clean_error(run("decode", t, tmp_path / "o.png"), "does not ship")


def test_absurd_resolution(run, inr, tmp_path):
    assert_clean_error(run("decode", inr, tmp_path / "o.png", "--resolution", "1000000"), "too large")
    assert_clean_error(run("decode", inr, tmp_path / "o.png", "--scale", "5000"), "too large")
    assert_clean_error(run("decode", inr, tmp_path / "o.png", "--resolution", "0"), "positive")
    assert_clean_error(run("decode", inr, tmp_path / "o.png", "--resolution", "64", "--scale", "2"), "only one")
    assert not (tmp_path / "o.png").exists()


def test_unreachable_bpp(run, png, tmp_path):
    assert_clean_error(run("encode", png, tmp_path / "o.inr", "--bpp", "0.001", "--steps", "1"), "header alone")
    assert not (tmp_path / "o.inr").exists()


def test_missing_output_folder(run, png, tmp_path):
    assert_clean_error(run("encode", png, tmp_path / "no" / "o.inr", "--steps", "1"), "does not exist")


def test_no_cuda_is_a_clear_error(run, png, tmp_path):
    import torch
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    assert_clean_error(run("encode", png, tmp_path / "o.inr", "--device", "cuda"), "no CUDA")


def test_unknown_device_and_huge_input(run, png, tmp_path):
    assert_clean_error(run("encode", png, tmp_path / "o.inr", "--device", "tpu"), "unknown device")
    big = tmp_path / "big.png"
    Image.new("RGB", (4000, 2000)).save(big)
    assert_clean_error(run("encode", big, tmp_path / "o.inr"), "too large to encode")
    assert not (tmp_path / "o.inr").exists()


@pytest.mark.parametrize("mode", ["L", "P", "RGBA-opaque", "I;16", "LA-opaque", "CMYK"])
def test_image_modes_are_handled(run, tmp_path, mode):
    rgb = Image.fromarray(synthetic_image(40, 40, seed=2))
    if mode == "RGBA-opaque":
        img = rgb.convert("RGBA")
    elif mode == "LA-opaque":
        img = rgb.convert("LA")
    elif mode == "I;16":
        img = Image.fromarray(np.asarray(rgb.convert("L")).astype(np.uint16) * 257)
        assert img.mode == "I;16"
    elif mode == "P":
        img = rgb.convert("P", palette=Image.ADAPTIVE)
    else:
        img = rgb.convert(mode)
    src = tmp_path / ("in.tif" if mode in ("CMYK",) else "in.png")
    img.save(src)
    r = run("encode", src, tmp_path / "o.inr", "--steps", "2", "--quality", "40", "--quiet")
    assert r.exit_code == 0, r.output
    r = run("decode", tmp_path / "o.inr", tmp_path / "o.png", "--quiet")
    assert r.exit_code == 0 and Image.open(tmp_path / "o.png").size == (40, 40)


def test_transparency_is_refused_with_reason(run, tmp_path):
    a = np.dstack([synthetic_image(32, 32), np.full((32, 32), 128, np.uint8)])
    src = tmp_path / "alpha.png"
    Image.fromarray(a, "RGBA").save(src)
    assert_clean_error(run("encode", src, tmp_path / "o.inr"), "transparency")
