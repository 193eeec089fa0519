"""CLI and API conventions (issue 15, item 3): python -m, --version, `-` for stdin/stdout, exit
status 2 for usage errors and 1 for bad data, info --json, the API's input types, ValueError
errors, and batch mode (--out-dir) end to end."""
from __future__ import annotations

import io
import json
import subprocess
import sys
from dataclasses import asdict
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

import inrcodec
from inrcodec import cli
from inrcodec.bitstream import MAGIC, stream_bytes
from inrcodec.example import synthetic_image
from inrcodec.images import image_pixels
from tests.test_cli_errors import fix_crc

FIT = ["--steps", "2", "--quality", "50"]


def png_bytes(pixels: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG")
    return buf.getvalue()


def invoke(*args, input: bytes | None = None):
    return CliRunner().invoke(cli.main, [str(a) for a in args], input=input)


def python_m(*args: str, input: bytes | None = None, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "inrcodec", *args], input=input, cwd=cwd, capture_output=True,
                          timeout=300)


def test_python_m_and_version(tmp_path):
    r = python_m("--version", cwd=tmp_path)
    assert r.returncode == 0 and version("inrcodec") in r.stdout.decode(), r
    assert invoke("--version").output.strip().endswith(version("inrcodec"))


def test_stdin_to_stdout_round_trip(tmp_path, image):
    """encode - - and decode - - in real processes: the stream, then a PNG, on stdout; the
    bytes of the file-to-file commands; no file named `-`."""
    source = tmp_path / "in.png"
    source.write_bytes(png_bytes(image))
    enc = python_m("encode", "-", "-", *FIT, input=source.read_bytes(), cwd=tmp_path)
    assert enc.returncode == 0 and enc.stdout.startswith(MAGIC), enc.stderr
    assert b"<stdout>" in enc.stderr  # the summary goes to stderr
    assert invoke("encode", source, tmp_path / "file.inr", *FIT, "-q").exit_code == 0
    assert enc.stdout == (tmp_path / "file.inr").read_bytes()

    dec = python_m("decode", "-", "-", "--width", "40", input=enc.stdout, cwd=tmp_path)
    assert dec.returncode == 0, dec.stderr
    with Image.open(io.BytesIO(dec.stdout)) as im:
        assert im.format == "PNG"
        np.testing.assert_array_equal(np.asarray(im), inrcodec.decode(enc.stdout, width=40))
    assert not (tmp_path / "-").exists()


@pytest.mark.parametrize("src, dst", [("-", "out.inr"), ("in.png", "-")])
def test_encode_stdin_or_stdout(tmp_path, monkeypatch, image, src, dst):
    monkeypatch.chdir(tmp_path)
    Path("in.png").write_bytes(png_bytes(image))
    r = invoke("encode", src, dst, *FIT, "-q", input=png_bytes(image) if src == "-" else None)
    assert r.exit_code == 0, r.output
    data = r.stdout_bytes if dst == "-" else Path(dst).read_bytes()
    assert inrcodec.info(data).width == image.shape[1]
    assert not Path("-").exists()


@pytest.mark.parametrize("src, dst", [("-", "out.png"), ("in.inr", "-")])
def test_decode_stdin_or_stdout(tmp_path, monkeypatch, stream, src, dst):
    monkeypatch.chdir(tmp_path)
    Path("in.inr").write_bytes(stream)
    r = invoke("decode", src, dst, "-q", input=stream if src == "-" else None)
    assert r.exit_code == 0, r.output
    with Image.open(io.BytesIO(r.stdout_bytes) if dst == "-" else dst) as im:
        np.testing.assert_array_equal(np.asarray(im), inrcodec.decode(stream))
    assert not Path("-").exists()


def test_an_error_writes_nothing_to_stdout(stream):
    broken = stream[:-1] + bytes([stream[-1] ^ 1])
    r = invoke("decode", "-", "-", input=broken)
    assert r.exit_code == 1 and r.stdout_bytes == b"" and "CRC32" in r.stderr


def test_binary_output_to_a_terminal_is_refused(stream, tmp_path, monkeypatch):
    class Terminal(io.BytesIO):
        def isatty(self) -> bool:
            return True
    monkeypatch.setattr(cli, "_stdout", Terminal)
    (tmp_path / "in.inr").write_bytes(stream)
    r = invoke("decode", tmp_path / "in.inr", "-")
    assert r.exit_code == 2 and "terminal" in r.stderr


@pytest.fixture()
def files(tmp_path, image, stream) -> Path:
    (tmp_path / "in.png").write_bytes(png_bytes(image))
    (tmp_path / "in.inr").write_bytes(stream)
    (tmp_path / "bad.inr").write_bytes(fix_crc(stream[:4] + b"\x63" + stream[5:]))  # version 99
    (tmp_path / "notes.png").write_text("not an image")
    return tmp_path


@pytest.mark.parametrize("args, words", [
    (["encode", "in.png", "o.inr", "--bpp", "0.001", "--steps", "1"], "header alone"),
    (["encode", "in.png", "o.inr", "--bpp", "0.5", "--quality", "50"], "either bpp or quality"),
    (["encode", "nope.png", "o.inr"], "no such file"),
    (["encode", "in.png", "o.inr", "--device", "tpu", "--steps", "1"], "unknown device"),
    (["encode", "in.png", "no/o.inr"], "does not exist"),
    (["encode", "in.png", "a.inr", "b.inr"], "SRC DST"),
    (["encode", "in.png", "o.inr", "--jobs", "2"], "--jobs: only for a batch"),
    (["encode", "in.png", "o.inr", "--steps", "-1"], "-1"),  # click's own
    (["decode", "in.inr", "o.png", "--resolution", "0"], "positive"),
    (["decode", "in.inr", "o.png", "--scale", "5000"], "too large"),
    (["decode", "in.inr", "o.xyz"], "unknown image extension"),
    (["decode", "in.inr", "in.inr"], "is the input"),
    (["decode", "nope.inr", "o.png"], "no such file"),
    (["decode", "in.inr", "o.png", "--preview", "--width-fraction", "0.5"], "either"),
    (["decode", "in.inr", "o.png", "--ext", "jpg"], "only for a batch"),
    (["decode", "in.inr", "--out-dir", "out", "--ext", "xyz"], "unknown image extension"),
    (["encode", "-", "in.png", "--out-dir", "out"], "stdin"),
    (["info", "nope.inr"], "no such file"),
])
def test_usage_errors_exit_2(files, monkeypatch, args, words):
    monkeypatch.chdir(files)
    r = invoke(*args)
    assert r.exit_code == 2 and words in r.output, r.output
    assert not any(Path(name).exists() for name in ("o.inr", "o.png", "out", "-"))


@pytest.mark.parametrize("args, words", [
    (["decode", "bad.inr", "o.png"], "version 99"),
    (["info", "bad.inr"], "version 99"),
    (["decode", "in.png", "o.png"], "not an .inr file"),
    (["encode", "notes.png", "o.inr"], "not an image"),
])
def test_bad_data_exits_1(files, monkeypatch, args, words):
    monkeypatch.chdir(files)
    r = invoke(*args)
    assert r.exit_code == 1 and words in r.output, r.output


def test_help_states_the_exit_codes():
    assert "2 a usage error" in " ".join(invoke("--help").output.split())


def test_info_json_matches_the_api(stream, tmp_path):
    (tmp_path / "in.inr").write_bytes(stream)
    expected = {**asdict(inrcodec.info(stream)), "bpp": inrcodec.info(stream).bpp}
    for args, data in (([tmp_path / "in.inr"], None), (["-"], stream)):
        r = invoke("info", *args, "--json", input=data)
        assert r.exit_code == 0 and json.loads(r.stdout) == expected


def test_errors_are_value_errors():
    for error in (inrcodec.InrCodecError, inrcodec.ImageError, inrcodec.BitstreamError, inrcodec.UsageError):
        assert issubclass(error, ValueError) and issubclass(error, inrcodec.InrCodecError)
    with pytest.raises(ValueError, match="not an .inr file"):
        inrcodec.info(b"certainly not a stream")


def test_stream_bytes_takes_any_source(tmp_path, stream):
    path = tmp_path / "s.inr"
    path.write_bytes(stream)
    view = memoryview(np.frombuffer(stream, np.uint8).repeat(2))[::2]  # not contiguous
    for src in (path, str(path), stream, bytearray(stream), memoryview(stream), view, io.BytesIO(stream)):
        assert stream_bytes(src) == stream
    with pytest.raises(inrcodec.UsageError, match="no such file"):
        stream_bytes(tmp_path / "nope.inr")
    with pytest.raises(inrcodec.UsageError, match="directory"):
        stream_bytes(tmp_path)
    with pytest.raises(inrcodec.UsageError, match="binary mode"):
        stream_bytes(io.StringIO("text"))
    with pytest.raises(TypeError, match="not int"):
        stream_bytes(3)


def test_image_pixels_takes_any_source(tmp_path, image):
    path = tmp_path / "i.png"
    path.write_bytes(png_bytes(image))
    for src in (path, str(path), io.BytesIO(png_bytes(image)), Image.fromarray(image), image):
        np.testing.assert_array_equal(image_pixels(src), image)
    with pytest.raises(inrcodec.ImageError, match="no such file"):
        image_pixels(tmp_path / "nope.png")
    with pytest.raises(TypeError, match="not bytes"):
        image_pixels(png_bytes(image))


def test_api_takes_paths_bytes_views_and_files(tmp_path, image, stream):
    path = tmp_path / "s.inr"
    path.write_bytes(stream)
    expected, described = inrcodec.decode(stream, width=24), inrcodec.info(stream)
    for src in (path, str(path), bytearray(stream), memoryview(stream), io.BytesIO(stream)):
        np.testing.assert_array_equal(inrcodec.decode(src, width=24), expected)
        if hasattr(src, "seek"):
            src.seek(0)
        assert inrcodec.info(src) == described
    with pytest.raises(inrcodec.UsageError, match="no such file"):
        inrcodec.decode(tmp_path / "nope.inr")
    picture = tmp_path / "i.png"
    picture.write_bytes(png_bytes(image))
    with open(picture, "rb") as f:
        assert inrcodec.encode(f, quality=50, steps=2) == inrcodec.encode(picture, quality=50, steps=2)


@pytest.fixture
def images(tmp_path) -> list[Path]:
    paths = []
    for seed in range(3):
        paths.append(tmp_path / "in" / f"im{seed}.png")
        paths[-1].parent.mkdir(exist_ok=True)
        Image.fromarray(synthetic_image(32, 48, seed=seed)).save(paths[-1])
    return paths


def test_batch_cli(images, tmp_path):
    """--out-dir with a pool, then a rerun that skips, --force, a bad file and decode --ext."""
    out = tmp_path / "out"
    r = invoke("encode", *images, "--out-dir", out, "--jobs", "2", *FIT)
    assert r.exit_code == 0, r.output
    assert "encoding" in r.stderr and "3 done, 0 skipped, 0 failed" in r.stderr
    first = {p.name: p.read_bytes() for p in out.iterdir()}
    assert sorted(first) == ["im0.inr", "im1.inr", "im2.inr"]
    assert first["im1.inr"] == inrcodec.encode(images[1], quality=50, steps=2)  # the options reach the workers

    (out / "im1.inr").unlink()
    r = invoke("encode", *images, "--out-dir", out, *FIT)
    assert r.exit_code == 0 and "1 done, 2 skipped, 0 failed" in r.stderr, r.output
    r = invoke("encode", *images, "--out-dir", out, "--force", "-q", *FIT)
    assert r.exit_code == 0 and r.output == ""
    assert {p.name: p.read_bytes() for p in out.iterdir()} == first

    bad = images[0].parent / "bad.png"
    bad.write_text("not an image")
    r = invoke("encode", bad, *images, "--out-dir", out, "-q", *FIT)
    assert r.exit_code == 1 and "bad.png" in r.stderr and not (out / "bad.inr").exists()

    r = invoke("decode", *sorted(out.glob("*.inr")), "--out-dir", tmp_path / "dec", "--ext", "bmp", "--width", "24")
    assert r.exit_code == 0 and "3 done" in r.stderr, r.output
    with Image.open(tmp_path / "dec" / "im2.bmp") as im:
        assert im.format == "BMP" and im.size == (24, 16)


def test_batch_cli_scheduler_reaches_run_batch(images, tmp_path):
    pytest.importorskip("distributed")
    import dask
    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):
        r = invoke("encode", *images, "--out-dir", tmp_path / "out", "--scheduler", "tcp://127.0.0.1:9", *FIT)
    assert r.exit_code == 2 and "cannot reach the Dask scheduler" in r.stderr, r.output
