"""The Pillow plugin: open parses the header only, draft decodes at the reduced size, save encodes."""
from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, UnidentifiedImageError

import inrcodec
from inrcodec.example import synthetic_image
from inrcodec.pillow import draft_size  # the import registers the format


@pytest.fixture
def inr_file(tmp_path, stream):
    path = tmp_path / "x.inr"
    path.write_bytes(stream)
    return path


@pytest.fixture
def decodes(monkeypatch) -> list[dict]:
    """The keyword arguments of every inrcodec.decode call, which still runs."""
    calls, real = [], inrcodec.decode

    def counting(data, *args, **kwargs):
        calls.append(kwargs)
        return real(data, *args, **kwargs)

    monkeypatch.setattr(inrcodec, "decode", counting)
    return calls


def test_open_reads_the_header_only(inr_file, image, decodes):
    with Image.open(inr_file) as im:
        assert (im.format, im.mode, im.size) == ("INR", "RGB", (image.shape[1], image.shape[0]))
        assert im.get_format_mimetype() == "image/x-inr"
        assert decodes == []


def test_load_is_the_native_decode(inr_file, stream, decodes):
    with Image.open(inr_file) as im:
        pixels = np.asarray(im)
    assert len(decodes) == 1
    np.testing.assert_array_equal(pixels, inrcodec.decode(stream))


def test_file_objects(stream):
    with Image.open(io.BytesIO(stream)) as im:
        np.testing.assert_array_equal(np.asarray(im), inrcodec.decode(stream))


def test_draft_decodes_at_the_reduced_size(inr_file, stream, decodes):
    with Image.open(inr_file) as im:
        assert im.draft("RGB", (30, 30)) == ("RGB", (0, 0, 45, 30))  # 96x64 covering 30x30
        assert im.size == (45, 30)
        pixels = np.asarray(im)
    assert decodes == [{"width": 45, "height": 30}]
    np.testing.assert_array_equal(pixels, inrcodec.decode(stream, width=45, height=30))
    assert im.draft("RGB", (10, 10)) is None  # loaded: no effect


def test_draft_size_covers_the_request_and_keeps_the_aspect():
    assert draft_size((96, 64), (48, 48)) == (72, 48)
    assert draft_size((96, 64), (48, 10)) == (48, 32)
    assert draft_size((97, 64), (10, 10)) == (16, 10)  # rounded up, never below the request
    assert draft_size((96, 64), (200, 10)) == (96, 64)  # never above the native size


def test_thumbnail_decodes_small_then_resizes(inr_file, decodes):
    with Image.open(inr_file) as im:
        im.thumbnail((24, 24))
        assert im.size == (24, 16)
    assert decodes == [{"width": 72, "height": 48}]  # draft at twice the box (reducing_gap), then resize


def test_save_encodes_with_options(tmp_path):
    small = Image.fromarray(synthetic_image(32, 48))
    small.save(tmp_path / "s.inr", bpp=2.0, steps=2)
    data = (tmp_path / "s.inr").read_bytes()
    assert data == inrcodec.encode(small, bpp=2.0, steps=2)
    stream_info = inrcodec.info(data)
    assert (stream_info.steps, stream_info.width, stream_info.height) == (2, 48, 32)
    with Image.open(tmp_path / "s.inr") as im:
        np.testing.assert_array_equal(np.asarray(im), inrcodec.decode(data))


def test_broken_stream_is_a_clear_error(tmp_path, stream):
    path = tmp_path / "broken.inr"
    path.write_bytes(stream[:-3])
    with pytest.raises(OSError, match="broken .inr stream"):
        Image.open(path)


def test_other_files_are_not_claimed(tmp_path, image):
    Image.fromarray(image).save(tmp_path / "x.png")
    with Image.open(tmp_path / "x.png") as im:
        assert im.format == "PNG"
    (tmp_path / "junk.inr").write_bytes(b"\x89PNX" + bytes(40))
    with pytest.raises(UnidentifiedImageError):
        Image.open(tmp_path / "junk.inr")
