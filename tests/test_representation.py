"""The representation interface: the decoder knows only it, so a new representation is one new module."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

import inrcodec
from inrcodec import bitstream, representation
from inrcodec.bitstream import StreamHeader, write_stream
from inrcodec.entropy import CodedTensor, decode_tensors, encode_tensors, make_coded
from inrcodec.errors import BitstreamError, UsageError
from inrcodec.sharedinit import INTEGRAL_INIT, SPARSE_INIT, SharedInit, load_init
from inrcodec.tiles import Tiles, TileSettings

NO_SETTINGS = TileSettings(level=0, steps=0, preset=0)  # only what `info` reads


@dataclass(frozen=True)
class Flat:
    """A toy fourth representation: the image's mean colour, one integer per channel."""

    settings: TileSettings = NO_SETTINGS
    id: int = 9
    channels: int = 3  # one number per colour
    previews: bool = False
    coded: tuple[int, int] = (0, 0)  # the image it describes: the header's

    @classmethod
    def rebuild(cls, header: StreamHeader, init: SharedInit) -> Flat:
        if header.settings:
            raise BitstreamError("flat streams have no settings")
        return cls(coded=(header.height, header.width))

    def settings_bytes(self) -> bytes:
        return b""

    def macs_per_pixel(self, out_h: int | None = None, out_w: int | None = None) -> float:
        return 0.0

    def symbol_counts(self) -> list[int]:
        return [3]

    def fit(self, pixels, steps, lr, rate_weight, device, progress=None) -> np.ndarray:
        return pixels.reshape(-1, 3).mean(0) / 255

    def code(self, fitted: np.ndarray, index: int, rounding: float) -> list[CodedTensor]:
        return [make_coded(np.rint(fitted * 255 - 128).astype(np.int32), index)]

    def encode_words(self, tensors: list[CodedTensor]) -> np.ndarray:
        return encode_tensors(tensors)

    def decode_words(self, words, records, channels=None) -> list[CodedTensor]:
        return decode_tensors(words, [(3, *records[0])])

    def render(self, tensors, out_h, out_w, channels=None) -> np.ndarray:
        return np.broadcast_to((tensors[0].symbols + 128) / 255, (out_h * out_w, 3)).astype(np.float32)


@pytest.mark.parametrize(("init_name", "width", "scalable"),
                         [(INTEGRAL_INIT, 20, False), (INTEGRAL_INIT, 20, True), (SPARSE_INIT, None, False)])
def test_tiles_rebuilt_from_a_header_are_the_tiles_the_encoder_planned(init_name, width, scalable):
    init = load_init(init_name)
    planned = Tiles.plan(init, 70, 100, 0.3, steps=12, preset="custom", network_width=width, scalable=scalable)
    header = StreamHeader(planned.id, 70, 100, init.name, init.checksum, planned.settings_bytes())
    rebuilt = representation.rebuild(header, init)
    assert rebuilt.settings == planned.settings and rebuilt.channels == planned.channels == (width or 32)
    assert rebuilt.grid == planned.grid and rebuilt.symbol_counts() == planned.symbol_counts()


def test_a_new_representation_decodes_through_the_registry_alone(monkeypatch):
    init = load_init(INTEGRAL_INIT)
    rep = Flat()
    pixels = np.zeros((6, 10, 3), np.uint8) + np.array([200, 100, 50], np.uint8)
    header = StreamHeader(rep.id, 6, 10, init.name, init.checksum, rep.settings_bytes())
    monkeypatch.setitem(bitstream.FIRST_VERSION, rep.id, 2)
    tensors = rep.code(rep.fit(pixels, 0, 0, 0, "cpu"), 256, 0.5)
    stream = write_stream(header, tensors, rep.encode_words(tensors))
    with pytest.raises(BitstreamError, match="unknown representation 9"):
        inrcodec.decode(stream)  # the container knows the id now; the decoder does not, yet
    monkeypatch.setitem(representation.REPRESENTATIONS, rep.id, representation.Kind(load_init, load_init, Flat.rebuild))
    assert (inrcodec.decode(stream, resolution=20) == pixels[0, 0]).all()
    assert inrcodec.decode(stream).shape == (6, 10, 3)
    assert inrcodec.info(stream).representation == 9 and inrcodec.info(stream).coded_width == 10
    with pytest.raises(UsageError, match="no previews"):
        inrcodec.decode(stream, width_fraction=0.5)


@pytest.mark.parametrize("size", [(72, 56), (33, 100), (512, 768)])
def test_decode_cost_counts_every_point_the_decoder_evaluates(size):
    init = load_init(INTEGRAL_INIT)
    tiles = Tiles.plan(init, *size, 0.5, steps=1, preset="custom", network_width=20)
    for out in (size, (size[0] * 2 + 1, size[1] // 2 + 3)):
        points = sum(c.shape[0] * c.shape[1] for _, (c, _, _) in tiles.grid.chunks(*out, 1 << 19))
        assert tiles.grid.evaluations(*out) == points
        per_point = 2 * 20 + 20 * 20 * 2 + 20 * 3 + 3  # three sine layers of 20, a linear output, the blend
        assert tiles.macs_per_pixel(*out) == pytest.approx(points * per_point / (out[0] * out[1]))
