"""Representation 2: tile networks of any width from the integral init, coded on nodes, previews."""
from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest
import torch
from click.testing import CliRunner

import inrcodec
from inrcodec import bitstream, decoder, tilecoding, tiles
from inrcodec.cli import main
from inrcodec.example import synthetic_image
from inrcodec.integral import as_weights, nearest, resample_nodes, sample, take_nearest, uniform
from inrcodec.metrics import psnr
from inrcodec.sharedinit import INTEGRAL_INIT, SPARSE_INIT, load_init
from inrcodec.tilesiren import TileNetwork

INIT = load_init(INTEGRAL_INIT).to("cpu")  # torch tensors, as the encoder and training use them
G = INIT.spec.hidden


@pytest.fixture(scope="module")
def picture() -> np.ndarray:
    return synthetic_image(64, 80, seed=5)


@pytest.fixture(scope="module")
def fixed(picture) -> bytes:
    """A representation 1 stream: the fixed-width init of inrcodec 0.2."""
    return inrcodec.encode(picture, quality=60, steps=4, init=SPARSE_INIT)


@pytest.fixture(scope="module")
def narrow(picture) -> bytes:
    return inrcodec.encode(picture, bpp=1.5, steps=6, network_width=20, level=3, scalable=True)


def test_nearest_node_map_is_exact_integer_and_spans_the_axis():
    assert nearest(G, G, torch).tolist() == list(range(G))
    for n in (1, 2, 7, 12, 20, 31):
        idx = nearest(G, n, torch)
        assert idx.dtype == torch.int64 and len(idx) == n
        assert bool((idx.diff() >= 0).all()) and 0 <= int(idx.min()) and int(idx.max()) <= G - 1
        exact = torch.arange(n, dtype=torch.float64) * (G - 1) / max(n - 1, 1) if n > 1 else torch.tensor([15.5])
        assert bool(((idx.double() - exact).abs() <= 0.5 + 1e-9).all())


def test_a_level_at_its_own_width_is_itself_and_narrower_widths_keep_shapes_and_density():
    level = INIT.levels[5]
    assert level.at_width(G) is level
    for n in (12, 20, 27):
        lv = level.at_width(n)
        assert [tuple(v.shape) for v in lv.values] == [tuple(s) for s in INIT.spec.__class__(hidden=n).shapes()]
        assert all(not bool((v[~m] != 0).any())  # pruned entries are 0
                   for v, m in zip(lv.values, lv.masks, strict=True))
        assert all(m.all() for m in lv.masks[1::2])  # biases always adapt
        for a, b in zip(lv.masks[0::2], level.masks[0::2], strict=True):  # each weight tensor keeps about its density
            assert abs(a.float().mean() - b.float().mean()) < 0.15
        assert all(bool((r > 0).all()) for r in lv.lrs)


def test_nodes_resampled_to_their_own_width_give_the_same_network():
    nodes = INIT.levels[0].values
    again = resample_nodes(nodes, G)
    assert all(torch.allclose(a, b, atol=1e-5) for a, b in zip(again, nodes, strict=True))
    uniform_weights = sample(nodes, [uniform(G, torch)] * 3)
    assert all(torch.equal(a, b) for a, b in zip(as_weights(nodes), uniform_weights, strict=True))
    assert [t.shape[-1] for t in take_nearest(INIT.levels[0].masks, 9)[:-2]] == [9] * 6


def test_narrow_stream_is_version_2_with_its_width_and_fewer_symbols(picture, narrow):
    i = inrcodec.info(narrow)
    assert (i.version, i.representation, i.network_width, i.level, i.init_name) == (2, 2, 20, 3, INTEGRAL_INIT)
    assert i.preview_min == round(tiles.PREVIEW_FRACTION * 20)
    full = TileNetwork.of(INIT, 3)
    parsed, tensors = decoder.decode_tensors(narrow)
    assert sum(t.symbols.size for t in tensors) < 0.5 * sum(tilecoding.symbol_counts(full, parsed.rep.grid))


def test_narrow_stream_round_trips_exactly_and_deterministically(picture, narrow):
    again = inrcodec.encode(picture, bpp=1.5, steps=6, network_width=20, level=3, scalable=True)
    assert again == narrow  # the scalable fit's random widths are seeded
    parsed, tensors = decoder.decode_tensors(narrow)
    assert bitstream.write_stream(parsed.header, tensors, parsed.rep.encode_words(tensors)) == narrow
    out = inrcodec.decode(narrow)
    assert out.shape == picture.shape and np.array_equal(out, inrcodec.decode(narrow))
    assert psnr(out, picture) > 15


def test_previews_decode_at_fewer_channels_any_size(picture, narrow):
    full = inrcodec.decode(narrow)
    half = inrcodec.decode(narrow, width_fraction=0.5)
    assert half.shape == full.shape and not np.array_equal(half, full)
    assert psnr(half, picture) > 10
    assert inrcodec.decode(narrow, width_fraction=1.0).tobytes() == full.tobytes()
    assert inrcodec.decode(narrow, scale=2, width_fraction=0.3).shape == (128, 160, 3)
    assert decoder.preview_width(20, 0.5) == 10 and decoder.preview_width(20, 0.01) == 1


def test_rate_table_and_explicit_choices(picture):
    assert tiles.choose_network(INIT, 0.3, 16, 2) == (16, 2)
    for rate in (0.05, 0.3, 0.8, 4.0):
        width, level = tiles.choose_network(INIT, rate, None, None)
        low, high = INIT.meta["widths"]
        assert low <= width <= high and 0 <= level < len(INIT.levels)
    with pytest.raises(inrcodec.UsageError, match="network width"):
        tiles.choose_network(INIT, 0.5, high + 1, None)
    with pytest.raises(inrcodec.UsageError, match="fixed width"):
        inrcodec.encode(picture, bpp=1.0, steps=1, init=SPARSE_INIT, network_width=20)
    with pytest.raises(inrcodec.UsageError, match="scalable"):
        inrcodec.encode(picture, bpp=1.0, steps=1, init=SPARSE_INIT, scalable=True)


def test_preview_errors(fixed, narrow):
    assert inrcodec.info(fixed).representation == 1
    with pytest.raises(inrcodec.UsageError, match="fixed width"):
        inrcodec.decode(fixed, width_fraction=0.5)
    for bad in (0, -0.5, 1.5):
        with pytest.raises(inrcodec.UsageError, match="fraction"):
            inrcodec.decode(narrow, width_fraction=bad)


def _resealed(data: bytes) -> bytes:
    return data[:-4] + struct.pack(">I", zlib.crc32(data[:-4]))


def _settings_offset(data: bytes) -> int:
    return 11 + data[10] + 8 + 1  # fixed part, init name, checksum, settings length byte


def test_malformed_representation_2_headers_are_refused(narrow):
    as_v1 = bytearray(narrow)
    as_v1[4] = 1
    with pytest.raises(inrcodec.BitstreamError, match="unknown representation 2"):
        inrcodec.decode(_resealed(bytes(as_v1)))
    at = _settings_offset(narrow)
    for width, match in ((0, "zero width"), (G + 1, "channels")):
        bad = bytearray(narrow)
        bad[at + 4] = width
        with pytest.raises(inrcodec.BitstreamError, match=match):
            inrcodec.decode(_resealed(bytes(bad)))
    with pytest.raises(inrcodec.BitstreamError, match="malformed"):
        inrcodec.decode(_resealed(narrow[:at - 1] + bytes([4]) + narrow[at:at + 4] + narrow[at + 6:]))
    huge = bytearray(narrow)
    huge[6:10] = struct.pack(">HH", 65535, 65535)  # a native size no encoder makes: refused before any allocation
    with pytest.raises(inrcodec.BitstreamError, match="claims"):
        inrcodec.decode(_resealed(bytes(huge)))


def test_cli_preview_and_scalable_encode(tmp_path, picture, fixed):
    from PIL import Image
    src = tmp_path / "in.png"
    Image.fromarray(picture).save(src)
    runner = CliRunner()
    r = runner.invoke(main, ["encode", str(src), str(tmp_path / "a.inr"), "--bpp", "1.5", "--steps", "4",
                             "--scalable", "--network-width", "16", "-q"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(main, ["info", str(tmp_path / "a.inr")])
    assert "16 channels" in r.output and "fitted for 4..16" in r.output
    r = runner.invoke(main, ["decode", str(tmp_path / "a.inr"), str(tmp_path / "p.png"), "--preview", "-q"])
    assert r.exit_code == 0 and Image.open(tmp_path / "p.png").size == (80, 64)
    r = runner.invoke(main, ["decode", str(tmp_path / "a.inr"), str(tmp_path / "q.png"), "--width-fraction", "0.25"])
    assert r.exit_code == 0 and "4 of 16 channels" in r.output
    (tmp_path / "old.inr").write_bytes(fixed)
    for args, message in ((["--preview"], "fixed width"), (["--preview", "--width-fraction", "0.5"], "not both"),
                          (["--width-fraction", "2"], "fraction")):
        r = runner.invoke(main, ["decode", str(tmp_path / ("old.inr" if "fixed" in message else "a.inr")),
                                 str(tmp_path / "x.png")] + args)
        assert r.exit_code == 2 and message in r.output and "Traceback" not in r.output  # usage errors
        assert len(r.output.strip().splitlines()) == 1
    assert not (tmp_path / "x.png").exists()
