"""The codec end to end: round trip, determinism, rate control, resolutions."""
from __future__ import annotations

import numpy as np
import pytest

import inrcodec
from inrcodec import bitstream, decoder
from inrcodec.example import synthetic_image
from inrcodec.metrics import psnr
from inrcodec.presets import LATENT_PRESETS
from inrcodec.sharedinit import INTEGRAL_INIT


def test_round_trip_shape_and_quality(image, stream):
    out = inrcodec.decode(stream)
    assert out.shape == image.shape and out.dtype == np.uint8
    flat = np.full_like(image, int(image.mean()))
    assert psnr(out, image) > psnr(flat, image) + 5  # it really represents the image


def test_more_steps_and_finer_quality_fit_better(image):
    coarse = inrcodec.decode(inrcodec.encode(image, quality=20, steps=8))
    fine = inrcodec.decode(inrcodec.encode(image, quality=90, steps=40))
    assert psnr(fine, image) > psnr(coarse, image) + 1


def test_same_input_same_bytes(image, stream):
    assert inrcodec.encode(image, quality=60, steps=8) == stream


def test_decode_is_deterministic(stream):
    assert np.array_equal(inrcodec.decode(stream), inrcodec.decode(stream))


def test_container_rewrites_identically(stream):
    parsed, tensors = decoder.decode_tensors(stream)
    assert bitstream.write_stream(parsed.header, tensors, parsed.rep.encode_words(tensors)) == stream


def test_reported_bpp_is_file_size(image, stream):
    i = inrcodec.info(stream)
    assert i.bytes == len(stream)
    assert i.bpp == pytest.approx(8 * len(stream) / (image.shape[0] * image.shape[1]))
    assert (i.width, i.height) == (image.shape[1], image.shape[0])


@pytest.mark.parametrize("target", [0.1, 0.25, 0.5, 1.0, 1.5])
def test_bpp_target_within_ten_percent(target):
    img = synthetic_image(256, 256, seed=3)
    data = inrcodec.encode(img, bpp=target, steps=4)
    real = 8 * len(data) / (256 * 256)
    assert abs(real - target) <= 0.1 * target


def test_analyse_then_compress_equals_encode(image):
    fit = inrcodec.analyse(image, bpp=1.0, steps=5, init=INTEGRAL_INIT)  # a tile fit codes at any rate
    assert fit.compress(bpp=1.0) == inrcodec.encode(image, bpp=1.0, steps=5, init=INTEGRAL_INIT)
    assert fit.compress(bpp=0.75) == inrcodec.encode(image, bpp=0.75, steps=5, init=INTEGRAL_INIT)  # same weight
    assert fit.compress(quality=50) == inrcodec.encode(image, quality=50, steps=5, init=INTEGRAL_INIT)
    assert len(fit.compress(bpp=0.5)) < len(fit.compress(bpp=1.5))
    for bpp in (0.6, 1.5):  # the default, whichever init it chooses for the target
        assert inrcodec.analyse(image, bpp=bpp, steps=5).compress(bpp=bpp) == inrcodec.encode(image, bpp=bpp, steps=5)


def test_rate_weight_falls_with_the_target():
    weights = [inrcodec.rate_weight(bpp=b) for b in (0.1, 0.25, 0.5, 0.75, 1.0, 2.0)]
    assert weights == [8.0, 4.0, 2.0, 1.0, 1.0, 0.5]
    assert inrcodec.rate_weight(quality=50) == 1.0 > inrcodec.rate_weight(quality=70) == 0.25


def test_the_target_steers_the_fit(image):
    """A low target fits fewer, smaller deltas than a high one (the rate proxy at work)."""
    low, high = (inrcodec.analyse(image, weight=w, steps=5, init=INTEGRAL_INIT).fitted.deltas for w in (8.0, 0.5))
    assert sum(np.abs(d).sum() for d in low) < sum(np.abs(d).sum() for d in high)


def test_higher_bpp_gives_higher_psnr():
    img = synthetic_image(128, 128, seed=4)
    coded = [psnr(inrcodec.decode(inrcodec.encode(img, bpp=b, steps=10)), img) for b in (0.1, 0.3, 0.6)]
    assert coded == sorted(coded)  # the default: latents, at a smaller size for the lower two
    low, high = (inrcodec.decode(inrcodec.encode(img, bpp=b, steps=10, init=INTEGRAL_INIT)) for b in (0.3, 1.5))
    assert psnr(high, img) > psnr(low, img)


@pytest.mark.parametrize("kwargs,shape", [
    ({"resolution": 192}, (128, 192)),
    ({"resolution": 30}, (20, 30)),
    ({"width": 48}, (32, 48)),
    ({"height": 100}, (100, 150)),
    ({"width": 50, "height": 70}, (70, 50)),
    ({"scale": 2.5}, (160, 240)),
])
def test_other_resolutions(stream, kwargs, shape):
    res = kwargs.pop("resolution", None)
    out = inrcodec.decode(stream, res, **kwargs)
    assert out.shape == (*shape, 3)


def test_upsampled_decode_agrees_with_native(image, stream):
    native = inrcodec.decode(stream).astype(np.float64)
    big = inrcodec.decode(stream, scale=2).astype(np.float64)
    down = big.reshape(64, 2, 96, 2, 3).mean(axis=(1, 3))
    assert psnr(down, native) > 28


def test_odd_sizes_round_trip():
    img = synthetic_image(37, 53, seed=5)
    out = inrcodec.decode(inrcodec.encode(img, quality=70, steps=5))
    assert out.shape == img.shape


def test_accepts_greyscale_array():
    grey = synthetic_image(40, 40, seed=6)[..., 0]
    out = inrcodec.decode(inrcodec.encode(grey, quality=50, steps=3))
    assert out.shape == (40, 40, 3)


def test_presets_and_steps_recorded(image):
    data = inrcodec.encode(image, quality=50, preset="fast")
    i = inrcodec.info(data)
    assert (i.preset, i.steps) == ("fast", (LATENT_PRESETS if i.representation == 3 else inrcodec.PRESETS)["fast"])
    i = inrcodec.info(inrcodec.encode(image, quality=50, steps=2))
    assert (i.preset, i.steps) == ("custom", 2)
