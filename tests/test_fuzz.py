"""Hostile streams (issue 13): mutants with and without a rewritten CRC, and crafted attacks.

Every mutant is refused with InrCodecError or decodes to an (H, W, 3) uint8 image, fast and
in bounded memory. The mutations are benchmarks/fuzz.py's, whose campaign runs far more.
"""
from __future__ import annotations

import resource
import struct
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import inrcodec
from benchmarks.fuzz import KINDS, conformance_streams, header_fields, mutate, reseal, special_values
from inrcodec import entropy, tiles, tilesiren
from inrcodec.errors import BitstreamError, InrCodecError
from inrcodec.sharedinit import INTEGRAL_INIT

STREAMS = conformance_streams()
SECONDS = 10.0  # per mutant: the largest image a header may claim still decodes in well under this
PEAK_RSS_MB = 3000  # the whole test process, every mutant decoded (ru_maxrss is a high-water mark)


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny decodes are fastest on one thread, and CI shares its cores."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _field(data: bytes, name: str):
    return next(f for f in header_fields(data) if f.name == name)


def _set(data: bytes, name: str, value: int) -> bytes:
    return mutate(data, "field", [f.name for f in header_fields(data)].index(name), value, rewrite_crc=True)


def _check(data: bytes) -> None:
    """The property: refused with the package's error, or an image; in bounded time."""
    t0 = time.perf_counter()
    try:
        out = inrcodec.decode(data)
    except InrCodecError:
        pass
    else:
        assert out.dtype == np.uint8 and out.ndim == 3 and out.shape[2] == 3
    assert time.perf_counter() - t0 < SECONDS


@st.composite
def mutants(draw) -> bytes:
    data = STREAMS[draw(st.sampled_from(sorted(STREAMS)))]
    kind = draw(st.sampled_from(KINDS))
    if kind == "field":
        fields = header_fields(data)
        where = draw(st.integers(0, len(fields) - 1))
        value = draw(st.sampled_from(special_values(data, fields[where])) | st.integers(0, fields[where].max))
    else:
        where, value = draw(st.integers(0, len(data))), draw(st.integers(0, 255))
    return mutate(data, kind, where, value, rewrite_crc=draw(st.booleans()))


@settings(max_examples=2000, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(mutants())
def test_every_mutant_is_refused_or_decodes(data):
    _check(data)


@pytest.mark.parametrize("name", sorted(STREAMS))
def test_every_header_field_at_its_special_values(name):
    data = STREAMS[name]
    for i, f in enumerate(header_fields(data)):
        for v in special_values(data, f):
            _check(mutate(data, "field", i, v, rewrite_crc=True))
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 < PEAK_RSS_MB


def test_conformance_streams_pass_every_check():
    for data in STREAMS.values():
        assert inrcodec.decode(data).shape[2] == 3


def test_decompression_bomb_is_refused_fast():
    data = _set(_set(STREAMS["small-q60"], "height", 8192), "width", 8192)
    t0 = time.perf_counter()
    with pytest.raises(BitstreamError, match="claims a 8192x8192 image"):
        inrcodec.decode(data)
    assert time.perf_counter() - t0 < 1


@pytest.mark.parametrize("name", ["../../x", "/tmp/evil", "sparse-siren-t32-v1.npz", "Integral-siren-t32-v1", ""])
def test_init_named_by_a_path_is_refused_like_a_missing_one(name, tmp_path):
    data = STREAMS["integral-table-q50"]
    n = data[10]
    real = tmp_path / "evil.npz"  # a real .npz, there to be found were the name used as a path
    real.write_bytes((Path(inrcodec.__file__).parent / "weights" / f"{INTEGRAL_INIT}.npz").read_bytes())
    for claimed in (name, str(real), str(real.with_suffix(""))):
        raw = claimed.encode()
        hostile = reseal(data[:10] + bytes([len(raw)]) + raw + data[11 + n:-4])
        with pytest.raises(BitstreamError) as e:
            inrcodec.decode(hostile)
        assert str(e.value) == (f"stream was made with init {claimed!r}, which this inrcodec does not ship")


def test_research_init_by_explicit_path_still_works(tmp_path):
    data = STREAMS["integral-table-q50"]
    path = tmp_path / "copy.npz"
    path.write_bytes((Path(inrcodec.__file__).parent / "weights" / f"{INTEGRAL_INIT}.npz").read_bytes())
    assert np.array_equal(inrcodec.decode(data, init=str(path)), inrcodec.decode(data))


@pytest.mark.parametrize("width", [0, 1, 11, 33, 255])
def test_network_widths_the_init_does_not_serve_are_refused(width):
    with pytest.raises(BitstreamError, match="zero width" if width == 0 else "channels"):
        inrcodec.decode(_set(STREAMS["integral-w20-scalable"], "network_width", width))


def test_other_header_values_the_encoder_never_writes_are_refused():
    data = STREAMS["integral-w20-scalable"]
    for name, value, match in (("preset", 4, "preset"), ("preview_min", 21, "previews"), ("level", 200, "level")):
        with pytest.raises(BitstreamError, match=match):
            inrcodec.decode(_set(data, name, value))
    k = _field(data, "tensors")
    fewer = data[:k.offset] + bytes([data[k.offset] - 1]) + data[k.offset + 1:k.offset + 1 + 5 * (data[k.offset] - 1)]
    with pytest.raises(BitstreamError, match=r"holds \d+ tensors, its init expects \d+"):
        inrcodec.decode(reseal(fewer + data[k.offset + 1 + 5 * data[k.offset]:-4]))
    zero = next(f for f in header_fields(data) if f.name.startswith("radius") and f.get(data) == 0)
    scale = zero.name.replace("radius", "scale_index")
    with pytest.raises(BitstreamError, match="all-zero tensor"):
        inrcodec.decode(_set(data, scale, 7))


def test_entropy_decoder_failure_is_a_bitstream_error():
    words = np.full(3, 0xFFFFFFFF, np.uint32)  # invalid for the model: constriction raises AssertionError
    with pytest.raises(BitstreamError, match="entropy decoder failed"):
        entropy.decode_tensors(words, [(1000, 256, 100, 3)])


def test_payload_words_must_be_exactly_the_encoders():
    data = STREAMS["bpp2"]
    words = _field(data, "payload_words")
    n = words.get(data)
    body = data[:-4]
    extra = body[:words.offset] + struct.pack(">I", n + 1) + body[words.offset + 4:] + b"\0\0\0\0"
    with pytest.raises(BitstreamError, match="not exactly"):
        inrcodec.decode(reseal(extra))
    short = body[:words.offset] + struct.pack(">I", n - 1) + body[words.offset + 4:-4]
    with pytest.raises(BitstreamError, match="payload"):
        inrcodec.decode(reseal(short))
    with pytest.raises(BitstreamError, match="trailing bytes"):
        inrcodec.decode(reseal(body + b"\0\0\0\0"))


def test_freshly_encoded_streams_pass_the_exact_payload_check(stream):
    assert inrcodec.decode(stream).shape == (64, 96, 3)


def test_non_finite_decodes_are_refused_not_black(monkeypatch):
    monkeypatch.setattr(tiles, "render", lambda net, params, grid, h, w, **_: np.full((h * w, 3), np.nan, np.float32))
    with pytest.raises(BitstreamError, match="non-finite"):
        inrcodec.decode(STREAMS["small-q60"])


def test_render_memory_is_bounded_at_large_output_sizes():
    """A one-tile stream upscaled: every chunk stays within the point budget."""
    grid = tilesiren.TileGrid(32, 32, 32, 4)
    sizes = [coords.shape[0] * coords.shape[1] for _, (coords, _, _) in grid.chunks(4096, 4096, 1 << 19)]
    assert max(sizes) <= 1 << 19 and sum(sizes) >= 4096 * 4096


def test_chunked_sampling_covers_every_output_pixel_with_unit_weight():
    grid = tilesiren.TileGrid(70, 100, 32, 4)
    total = np.zeros(90 * 130)
    for _, (_, weights, index) in grid.chunks(90, 130, 500):
        np.add.at(total, index.reshape(-1), weights.reshape(-1))
    assert np.allclose(total, 1)


@pytest.mark.parametrize("as_", ["path", "file", "bytes"])
def test_oversized_input_is_refused_without_reading_it_all(tmp_path, as_):
    """A stream source larger than any stream inrcodec writes is refused (decode /dev/zero must not hang)."""
    from inrcodec.bitstream import MAX_STREAM_BYTES
    big = b"\x89INR" + bytes(MAX_STREAM_BYTES)
    src = tmp_path / "big.inr"
    src.write_bytes(big)
    with open(src, "rb") as f, pytest.raises(BitstreamError, match="larger than"):
        inrcodec.decode({"path": src, "file": f, "bytes": big}[as_])
