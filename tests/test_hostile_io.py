"""Hostile or odd inputs and outputs (issue 13): special output files, umask, unwritable or odd
output names refused before any work, corrupted and huge inputs, orientation, colour profiles,
animations, and allocation failures: all one line, never a traceback, never a replaced file."""
from __future__ import annotations

import io
import os
import socket
import stat
import struct
import subprocess
import sys
import threading
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageCms, ImageFile

import inrcodec
from inrcodec import cli, decoder, encoder
from inrcodec.errors import ImageError, ImageWarning
from inrcodec.example import synthetic_image
from inrcodec.images import load_image
from tests.test_cli_errors import assert_clean_error

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture()
def no_work(monkeypatch):
    """Fail the test if the CLI loads an image, fits or decodes."""
    def boom(*args, **kwargs):
        raise AssertionError("work started before the up-front checks")
    for module, name in ((cli, "load_image"), (encoder, "encode"), (decoder, "decode")):
        monkeypatch.setattr(module, name, boom)


def test_import_keeps_pillows_bomb_guard():
    code = ("import PIL.Image as I; default = I.MAX_IMAGE_PIXELS; import inrcodec, inrcodec.cli; "
            "assert I.MAX_IMAGE_PIXELS == default, I.MAX_IMAGE_PIXELS")
    subprocess.run([sys.executable, "-c", code], check=True)


# --- special outputs -------------------------------------------------------------------------

def test_named_pipe_output_is_written_through(run, inr, tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()), daemon=True)
    reader.start()
    r = run("decode", inr, fifo, "--quiet")
    reader.join(60)
    if reader.is_alive():  # the pipe was never opened for writing: release the reader
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
    assert r.exit_code == 0, r.output
    assert stat.S_ISFIFO(fifo.lstat().st_mode)
    assert got and got[0].startswith(PNG_MAGIC)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["in.png", "in.inr", "pipe"])


def test_pipe_named_by_a_proc_link_is_written_through(run, inr):
    """/dev/stdout piped to another program is /proc/self/fd/1: a link to no real path."""
    read_end, write_end = os.pipe()
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(os.fdopen(read_end, "rb").read()), daemon=True)
    reader.start()
    try:
        r = run("decode", inr, f"/proc/self/fd/{write_end}", "--quiet")
    finally:
        os.close(write_end)
    reader.join(60)
    assert r.exit_code == 0, r.output
    assert got and got[0].startswith(PNG_MAGIC)


@pytest.mark.parametrize("existing", [True, False])
def test_symlink_output_writes_its_target_and_keeps_the_link(run, inr, tmp_path, existing):
    (tmp_path / "sub").mkdir()
    target = tmp_path / "sub" / "real.png"
    if existing:
        target.write_bytes(b"old")
    link = tmp_path / "link.png"
    link.symlink_to(target)
    r = run("decode", inr, link, "--quiet")
    assert r.exit_code == 0, r.output
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert target.read_bytes().startswith(PNG_MAGIC) and Image.open(target).size == (64, 48)
    assert [p.name for p in target.parent.iterdir()] == ["real.png"]  # no temporary file left


def test_character_device_is_written_not_replaced(run, inr):
    if os.geteuid() != 0:
        pytest.skip("only root could replace /dev/null")
    before = os.stat("/dev/null")
    r = run("decode", inr, "/dev/null", "--quiet")
    assert r.exit_code == 0, r.output
    after = os.stat("/dev/null")
    assert stat.S_ISCHR(after.st_mode) and (after.st_ino, after.st_rdev) == (before.st_ino, before.st_rdev)


def test_socket_and_directory_outputs_are_refused(run, inr, tmp_path, no_work):
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(tmp_path / "s.png"))
    try:
        assert_clean_error(run("decode", inr, tmp_path / "s.png"), "is a socket")
    finally:
        sock.close()
    assert stat.S_ISSOCK((tmp_path / "s.png").lstat().st_mode)
    (tmp_path / "d.png").mkdir()
    assert_clean_error(run("decode", inr, tmp_path / "d.png"), "is a directory")


def test_symlink_loop_is_refused(run, inr, tmp_path, no_work):
    (tmp_path / "a.png").symlink_to(tmp_path / "b.png")
    (tmp_path / "b.png").symlink_to(tmp_path / "a.png")
    assert_clean_error(run("decode", inr, tmp_path / "a.png"), "cannot use output")


# --- modes, names, folders -------------------------------------------------------------------

@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_new_outputs_respect_the_umask(run, inr, png, tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        assert run("decode", inr, tmp_path / "o.png", "--quiet").exit_code == 0
        assert run("encode", png, tmp_path / "o.inr", "--steps", "1", "--quiet").exit_code == 0
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "o.png").stat().st_mode) == mode
    assert stat.S_IMODE((tmp_path / "o.inr").stat().st_mode) == mode


def test_replaced_output_keeps_its_mode(run, inr, tmp_path):
    out = tmp_path / "o.png"
    out.write_bytes(b"old")
    out.chmod(0o640)
    assert run("decode", inr, out, "--quiet").exit_code == 0
    assert out.read_bytes().startswith(PNG_MAGIC) and stat.S_IMODE(out.stat().st_mode) == 0o640


def test_unwritable_output_folder_is_refused_before_any_work(run, png, inr, tmp_path, no_work):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    if os.access(folder, os.W_OK):  # root ignores the mode bits; nobody can create files in /proc
        folder = Path("/proc")
    try:
        assert_clean_error(run("encode", png, folder / "o.inr", "--steps", "1"), "cannot write")
        assert_clean_error(run("decode", inr, folder / "o.png"), "cannot write")
    finally:
        (tmp_path / "ro").chmod(0o755)
    assert not (folder / "o.inr").exists() and not (folder / "o.png").exists()


def test_long_output_names(run, png, inr, tmp_path):
    longest = "n" * 251  # 255 bytes with the extension: the most a folder entry may hold
    r = run("decode", inr, tmp_path / f"{longest}.png", "--quiet")
    assert r.exit_code == 0, r.output
    assert Image.open(tmp_path / f"{longest}.png").size == (64, 48)
    r = run("encode", png, tmp_path / f"{longest}.inr", "--steps", "1", "--quiet")
    assert r.exit_code == 0, r.output
    assert not list(tmp_path.glob(".*"))  # no temporary file left


def test_too_long_output_name_is_refused_before_any_work(run, png, tmp_path, no_work):
    assert_clean_error(run("encode", png, tmp_path / ("n" * 300 + ".inr")), "name too long")


@pytest.mark.parametrize("name, words", [("o.xyz", "unknown image extension"), ("o.xbm", "cannot write RGB"),
                                         ("o.h5", "cannot write RGB"), ("o.psd", "cannot write RGB")])
def test_unwritable_extensions_are_refused_before_any_work(run, inr, tmp_path, no_work, name, words):
    assert_clean_error(run("decode", inr, tmp_path / name), words)
    assert not (tmp_path / name).exists()


@pytest.mark.parametrize("name, fmt", [("o", "PNG"), ("o.JPG", "JPEG"), ("o.gif", "GIF"), ("o.tif", "TIFF"),
                                       ("o.webp", "WEBP"), ("o.bmp", "BMP")])
def test_writable_extensions(run, inr, tmp_path, name, fmt):
    r = run("decode", inr, tmp_path / name, "--quiet")
    assert r.exit_code == 0, r.output
    with Image.open(tmp_path / name) as img:
        assert img.format == fmt and img.size == (64, 48)


# --- inputs ----------------------------------------------------------------------------------

def test_corrupted_png_input(run, tmp_path):
    noise = np.random.default_rng(0).integers(0, 256, (160, 160, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(noise).save(buf, format="PNG")
    data = buf.getvalue()
    second = data.index(b"IDAT", data.index(b"IDAT") + 4)  # break the second chunk's type
    bad = tmp_path / "bad.png"
    bad.write_bytes(data[:second] + b"\0IDA" + data[second + 4:])
    with pytest.raises(SyntaxError), Image.open(bad) as img:  # what Pillow does with it
        img.load()
    assert_clean_error(run("encode", bad, tmp_path / "o.inr"), "cannot read", "broken PNG")
    assert not (tmp_path / "o.inr").exists()


def test_unreadable_input(run, png, tmp_path):
    png.chmod(0)
    if os.access(png, os.R_OK):
        pytest.skip("root reads anything")
    assert_clean_error(run("encode", png, tmp_path / "o.inr"), "cannot read", "ermission denied")


def _png_header_only(width: int, height: int) -> bytes:
    """A 16-bit greyscale PNG claiming width x height, with the pixels of its first row only."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    return (PNG_MAGIC + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 16, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(bytes(1 + 2 * width))) + chunk(b"IEND", b""))


@pytest.mark.parametrize("width, height, words", [(10000, 10000, "exceeds limit"), (3000, 2500, "too large to encode"),
                                                  (70000, 10, "too large to encode")])
def test_huge_input_is_refused_from_its_header(run, tmp_path, monkeypatch, width, height, words):
    def boom(self):
        raise AssertionError("pixels decoded before the size check")
    monkeypatch.setattr(ImageFile.ImageFile, "load", boom)
    big = tmp_path / "big.png"
    big.write_bytes(_png_header_only(width, height))
    assert_clean_error(run("encode", big, tmp_path / "o.inr"), words)
    with pytest.raises(ImageError, match=words):
        inrcodec.encode(big, steps=1)
    assert not (tmp_path / "o.inr").exists()


def test_exif_orientation_is_applied(run, tmp_path):
    stored = np.zeros((24, 32, 3), np.uint8)  # as stored: red left half, blue right half
    stored[:, :16, 0] = stored[:, 16:, 2] = 255
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to view": the stored left goes to the top
    src = tmp_path / "phone.jpg"
    Image.fromarray(stored).save(src, exif=exif, quality=95)
    seen = load_image(src)
    assert seen.shape == (32, 24, 3)
    assert (seen[:12, :, 0] > 200).all() and (seen[:12, :, 2] < 60).all()
    assert (seen[20:, :, 2] > 200).all() and (seen[20:, :, 0] < 60).all()
    assert run("encode", src, tmp_path / "o.inr", "--steps", "1", "--quiet").exit_code == 0
    assert inrcodec.info((tmp_path / "o.inr").read_bytes()).width == 24


def _linear_srgb_profile() -> bytes:
    """sRGB's primaries with linear tone curves: not sRGB, so 128 means a brighter 188."""
    raw = bytearray(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())
    (count,) = struct.unpack(">I", raw[128:132])
    for i in range(count):
        sig, offset, _ = struct.unpack(">4sII", raw[132 + 12 * i:144 + 12 * i])
        if sig in (b"rTRC", b"gTRC", b"bTRC"):
            assert raw[offset:offset + 4] == b"para"
            raw[offset + 8:offset + 16] = struct.pack(">HHi", 0, 0, 1 << 16)  # y = x ** 1.0
    return bytes(raw)


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "P"])
def test_icc_profile_is_converted_to_srgb(tmp_path, mode):
    src = tmp_path / "tagged.png"
    img = Image.new("RGB", (8, 6), (128, 64, 200)).convert(mode, dither=Image.Dither.NONE,
                                                           palette=Image.Palette.ADAPTIVE)
    assert img.convert("RGB").getpixel((0, 0)) == (128, 64, 200)
    img.save(src, icc_profile=_linear_srgb_profile())
    px = load_image(src)
    assert px.shape == (6, 8, 3) and np.abs(px.astype(int) - (188, 137, 229)).max() <= 1, px[0, 0]


def test_srgb_profile_changes_nothing(tmp_path):
    pixels = synthetic_image(40, 40, seed=3)
    src = tmp_path / "srgb.png"
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    Image.fromarray(pixels).save(src, icc_profile=srgb)
    assert np.array_equal(load_image(src), pixels)


def test_broken_icc_profile_is_a_warning(run, tmp_path):
    pixels = synthetic_image(32, 32, seed=4)
    src = tmp_path / "broken.png"
    Image.fromarray(pixels).save(src, icc_profile=b"not a profile")
    with pytest.warns(ImageWarning, match="ICC colour profile was ignored"):
        assert np.array_equal(load_image(src), pixels)
    r = run("encode", src, tmp_path / "o.inr", "--steps", "1", "--quiet")
    assert r.exit_code == 0 and len(r.output.strip().splitlines()) == 1, r.output
    assert r.output.startswith("inrcodec: warning:") and "ICC" in r.output


@pytest.mark.parametrize("fmt", ["GIF", "TIFF"])
def test_multi_frame_input_warns_that_only_the_first_frame_is_encoded(run, tmp_path, fmt):
    frames = [Image.fromarray(synthetic_image(32, 40, seed=s)) for s in (1, 2, 3)]
    src = tmp_path / f"anim.{fmt.lower()}"
    frames[0].save(src, format=fmt, save_all=True, append_images=frames[1:])
    with pytest.warns(ImageWarning, match="3 frames: only the first"):
        assert load_image(src).shape == (32, 40, 3)
    r = run("encode", src, tmp_path / "o.inr", "--steps", "1", "--quiet")
    assert r.exit_code == 0, r.output
    assert r.output.strip() == f"inrcodec: warning: {src} has 3 frames: only the first is encoded"


# --- allocation failures ---------------------------------------------------------------------

@pytest.mark.parametrize("message", [
    "[enforce fail at alloc_cpu.cpp:117] data. DefaultCPUAllocator: can't allocate memory: you tried to "
    "allocate 9663676416 bytes. Error code 12 (Cannot allocate memory)",
    "CUDA out of memory. Tried to allocate 20.00 GiB",
    "[enforce fail at CPUAllocator.cpp:68] . DefaultCPUAllocator: not enough memory: you tried to allocate 1 bytes"])
def test_torch_allocation_failure_is_one_line(run, png, inr, tmp_path, monkeypatch, message):
    def oom(*args, **kwargs):
        raise RuntimeError(message)
    monkeypatch.setattr(encoder, "encode", oom)
    monkeypatch.setattr(decoder, "decode", oom)
    assert_clean_error(run("encode", png, tmp_path / "o.inr"), "out of memory")
    assert_clean_error(run("decode", inr, tmp_path / "o.png"), "out of memory")
    assert not (tmp_path / "o.inr").exists() and not (tmp_path / "o.png").exists()


def test_other_runtime_errors_stay_bugs(run, inr, tmp_path, monkeypatch):
    def bug(*args, **kwargs):
        raise RuntimeError("mat1 and mat2 shapes cannot be multiplied")
    monkeypatch.setattr(decoder, "decode", bug)
    r = run("decode", inr, tmp_path / "o.png")
    assert isinstance(r.exception, RuntimeError) and "shapes" in str(r.exception)
