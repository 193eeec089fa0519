"""The encoder's default: predicted latents at the largest size that reaches the rate (format v4
below full size), the integral tiles where none does; and the v4 header's own checks."""
from __future__ import annotations

import math
import struct
import zlib

import numpy as np
import pytest

import inrcodec
from inrcodec.bitstream import read_header
from inrcodec.encoder import BPP_TOLERANCE, LATENT_SCALES, Analysis, choose, reachable_rates
from inrcodec.errors import BitstreamError, UsageError
from inrcodec.example import synthetic_image
from inrcodec.representations.latents import init as init_module
from inrcodec.representations.latents.init import LATENT_INIT, PREDICTED_INIT, open_latent_init, predicted_inits
from inrcodec.representations.latents.stream import LATENTS, Latents
from inrcodec.sharedinit import INTEGRAL_INIT


@pytest.fixture(scope="module")
def image() -> np.ndarray:
    return synthetic_image(96, 128, seed=5)


@pytest.fixture(scope="module")
def halved(image) -> bytes:
    return inrcodec.encode(image, quality=60, steps=2, init=PREDICTED_INIT, latent_scale=0.5)


def ranges(image: np.ndarray, scale: float, name: str = PREDICTED_INIT) -> tuple[float, float]:
    return reachable_rates(image, name, scale, "cpu")


def test_a_stream_coded_at_half_size_is_version_4_and_decodes_to_the_full_size(image, halved):
    i = inrcodec.info(halved)
    assert (i.version, i.representation, i.height, i.width) == (4, 3, 96, 128)
    assert (i.coded_height, i.coded_width) == (48, 64)
    out = inrcodec.decode(halved)
    assert out.shape == image.shape
    assert np.array_equal(out, inrcodec.decode(halved))  # deterministic
    assert inrcodec.decode(halved, width=256).shape == (192, 256, 3)  # any resolution, as ever
    again = inrcodec.encode(image, quality=60, steps=2, init=PREDICTED_INIT, latent_scale=0.5)
    assert again == halved  # same input and settings, same bytes


def test_full_size_streams_stay_version_3_byte_for_byte(image):
    full = inrcodec.encode(image, quality=60, steps=2, init=PREDICTED_INIT, latent_scale=1.0)
    assert inrcodec.info(full).version == 3
    assert full == inrcodec.encode(image, quality=60, steps=2, init=PREDICTED_INIT)


def _with_settings(data: bytes, settings: bytes, version: int | None = None) -> bytes:
    header, _, payload = read_header(data)
    at = 4 + 1 + 1 + 2 + 2 + 1 + len(header.init_name) + 8  # the settings' length byte
    old = data[at]
    out = bytearray(data[:at] + bytes([len(settings)]) + settings + data[at + 1 + old:-4])
    if version is not None:
        out[4] = version
    return bytes(out) + struct.pack(">I", zlib.crc32(out))


@pytest.mark.parametrize("coded, version", [((96, 128), 4), ((0, 64), 4), ((48, 129), 4), ((97, 64), 4),
                                            (None, 4), ((48, 64), 3), ((5, 64), 4), ((48, 7), 4)])
def test_hostile_coded_sizes_are_refused(halved, coded, version):
    """Above the image, zero, the image's own (that is version 3), or so small that a stream of a few
    latents would name a huge decode (below 1/16 of a side)."""
    settings = read_header(halved)[0].settings[:3] + (b"" if coded is None else struct.pack(">HH", *coded))
    with pytest.raises(BitstreamError, match="malformed"):
        inrcodec.decode(_with_settings(halved, settings, version))


def test_the_default_codes_latents_where_the_prediction_reaches_and_tiles_elsewhere(image):
    lo, hi = ranges(image, 1.0)
    assert choose(image, bpp=max((lo * hi) ** 0.5, 1.0)) == (PREDICTED_INIT, 1.0)
    assert choose(image, bpp=4 * hi + 1)[0] == INTEGRAL_INIT  # above every size's rates
    assert choose(image, quality=50) == (PREDICTED_INIT, 1.0)
    assert choose(image, bpp=0.5, scalable=True)[0] == INTEGRAL_INIT  # the tiles' own options
    name, scale = choose(image, bpp=lo / 3)  # below the full size's rates: a smaller size, the largest that reaches
    assert name == predicted_inits(lo / 3)[0] and scale < 1 and scale in LATENT_SCALES
    s_lo, s_hi = ranges(image, scale, name)
    assert s_lo <= lo / 3 <= (1 + BPP_TOLERANCE) * s_hi
    assert not ranges(image, scale * 2 ** 0.25, name)[0] <= lo / 3  # the next size up does not reach it
    data = inrcodec.encode(image, bpp=lo / 3, steps=2)
    assert abs(8 * len(data) / image[..., 0].size / (lo / 3) - 1) <= BPP_TOLERANCE
    assert inrcodec.info(data).version == 4 and inrcodec.decode(data).shape == image.shape


def test_a_latent_scale_is_refused_for_tiles_and_outside_0_1(image):
    with pytest.raises(UsageError, match="latent scale"):
        inrcodec.encode(image, bpp=1.0, steps=1, init=INTEGRAL_INIT, latent_scale=0.5)
    with pytest.raises(UsageError, match="latent scale"):
        inrcodec.encode(image, bpp=1.0, steps=1, init=PREDICTED_INIT, latent_scale=1.5)


def test_a_chosen_latent_fit_that_misses_the_target_is_refitted_as_tiles(image, monkeypatch):
    """Where the latents' fit misses a bpp target its prediction promised, the default codes the tiles
    (which reach any rate) rather than refuse; a latent init the user named still refuses."""
    lo, hi = ranges(image, 1.0)
    target = (lo * hi) ** 0.5
    assert choose(image, bpp=target) == (PREDICTED_INIT, 1.0)
    monkeypatch.setattr(Analysis, "reaches", lambda self, bpp: self.header.representation != LATENTS)
    fit = inrcodec.analyse(image, bpp=target, steps=2)
    assert fit.header.init_name == INTEGRAL_INIT and fit.seconds > 0
    data = fit.compress(bpp=target)
    assert inrcodec.info(data).representation == 2
    assert data == inrcodec.encode(image, bpp=target, steps=2, init=PREDICTED_INIT, latent_scale=1.0, fallback=True)
    monkeypatch.undo()
    named = inrcodec.analyse(image, bpp=1.6 * hi, steps=2, init=PREDICTED_INIT, latent_scale=1.0)
    assert named.header.init_name == PREDICTED_INIT and not named.reaches(1.6 * hi)
    with pytest.raises(UsageError, match="cannot reach"):
        named.compress(bpp=1.6 * hi)


def test_a_latent_fit_that_lands_off_its_target_is_aimed_again_past_its_miss(image, monkeypatch):
    """A refinement whose rate drifts from its aim (here: every fit lands at 60 % of what it aims at) is
    fitted once more, aimed at the target over that share, and coded as latents, not refitted as tiles."""
    lo, hi = ranges(image, 1.0)
    target = (lo * hi) ** 0.5
    fit, aims = Latents.fit, []

    def drifting(self, pixels, steps, lr, rate_weight, device, progress=None, target_bpp=None):
        aims.append(target_bpp)
        return fit(self, pixels, steps, lr, rate_weight, device, progress, target_bpp and 0.6 * target_bpp)

    monkeypatch.setattr(Latents, "fit", drifting)
    coded = inrcodec.analyse(image, bpp=target, steps=2)
    assert coded.header.init_name == PREDICTED_INIT and len(aims) == 2 and aims[1] > 1.4 * aims[0]
    assert abs(8 * len(coded.compress(bpp=target)) / image[..., 0].size - target) <= BPP_TOLERANCE * target


def test_a_pinned_fit_that_misses_is_coded_once_and_refused_with_where_it_landed(image, monkeypatch):
    """A predicted fit codes at its own step only: a target it missed is refused after one coding pass,
    naming the rate it codes at, not after a search over steps that all give the same bytes."""
    named = inrcodec.analyse(image, bpp=ranges(image, 1.0)[0] * 1.2, steps=2, init=PREDICTED_INIT, latent_scale=1.0)
    unpredicted = Latents.plan(open_latent_init(LATENT_INIT), 96, 128, 1.0, steps=0, preset="default")
    assert named.rep.pinned and not unpredicted.pinned
    calls = []
    stream = Analysis.stream
    monkeypatch.setattr(Analysis, "stream", lambda self, *a: calls.append(a) or stream(self, *a))
    landed = 8 * len(named.fitted_stream()) / image[..., 0].size
    for miss in (0.5 * landed, 2.0 * landed):
        with pytest.raises(UsageError, match=f"its fit codes at {landed:.3f} bpp"):
            named.compress(bpp=miss)
    assert len(calls) == 1
    assert named.compress(bpp=landed) == named.fitted_stream() and len(calls) == 1


def test_the_default_init_follows_the_rate_ladder(image, monkeypatch):
    """Each predicted init codes the targets of its share of the rates; a target above where it reaches
    goes to the next one up, not to the tiles."""
    (low, top), (high, _) = init_module.PREDICTED_INITS
    for bpp, expected in ((0.9 * top, low), (1.1 * top, high), (2.0, high)):
        assert predicted_inits(bpp)[0] == expected
    lo, hi = ranges(image, 1.0, low)
    assert lo < 0.9 * top < hi  # so the ladder, not the reach, decides here:
    assert choose(image, bpp=0.9 * top) == (low, 1.0) and choose(image, bpp=1.1 * top) == (high, 1.0)
    beyond = (1 + BPP_TOLERANCE) * hi * 1.02  # above the lower init's reach, within the higher one's
    assert beyond <= (1 + BPP_TOLERANCE) * ranges(image, 1.0, high)[1]
    monkeypatch.setattr(init_module, "PREDICTED_INITS", ((low, 2 * beyond), (high, math.inf)))
    assert predicted_inits(beyond) == [low, high]
    assert choose(image, bpp=beyond) == (high, 1.0)
