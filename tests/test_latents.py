"""Representation 3: latent grids, their integer context model, the stream, and what a decoder refuses."""
from __future__ import annotations

import math
import struct
import zlib

import numpy as np
import pytest
import torch

import inrcodec
from inrcodec import bitstream, decoder
from inrcodec.entropy import encode_tensors
from inrcodec.errors import BitstreamError, UsageError
from inrcodec.example import synthetic_image
from inrcodec.metrics import psnr
from inrcodec.representations.latents import arm as armlib
from inrcodec.representations.latents.fit import arm_contexts, float_arm, level_bits, upsample, upsampler
from inrcodec.representations.latents.grid import axis_matrix, level_sizes
from inrcodec.representations.latents.grid import upsample as np_upsample
from inrcodec.representations.latents.init import load_latent_init_file, save_latent_init
from inrcodec.representations.latents.stream import LATENTS
from inrcodec.representations.latents.synthesis import ACTIVATIONS, activation, synthesize
from training.latents import arm_init, integer_arm, synthesis_init


@pytest.fixture(scope="module")
def init_path(tmp_path_factory) -> str:
    """A small untrained init whose ARM predicts real means and scales (its output layer is not zero)."""
    g = torch.Generator().manual_seed(3)
    synth = synthesis_init(7, 12, 2, seed=0)
    arm = arm_init(8, 2, seed=0)
    arm[-2] = (torch.rand(arm[-2].shape, generator=g) - 0.5) * 0.2
    arm[-1] = torch.tensor([0.0, 1.0])
    masks = [np.ones(p.shape, bool) for p in synth]
    masks[3] = np.abs(synth[3].numpy()) > 0.05  # W1 pruned
    path = tmp_path_factory.mktemp("init") / "latents-test.npz"
    save_latent_init(path, "latents-test", "gelu", [p.numpy() for p in synth], masks, integer_arm(arm), {})
    return str(path)


@pytest.fixture(scope="module")
def image() -> np.ndarray:
    return synthetic_image(40, 56)


@pytest.fixture(scope="module")
def fitted(init_path, image):
    return inrcodec.analyse(image, quality=90, steps=60, init=init_path)


def test_level_sizes_halve_with_ceiling():
    assert level_sizes(33, 100, 4) == [(33, 100), (17, 50), (9, 25), (5, 13)]


def test_upsampling_is_exact_at_native_size_and_keeps_constants_at_any_size():
    rng = np.random.default_rng(0)
    grids = [rng.normal(size=s).astype(np.float32) for s in level_sizes(20, 30, 3)]
    native = np_upsample(grids, 20, 30, 20, 30)
    assert np.array_equal(native[..., 0], grids[0])  # level 0 at its own size is the identity
    flat = [np.full(s, 2.5, np.float32) for s in level_sizes(20, 30, 3)]
    for out in ((7, 11), (20, 30), (61, 17)):
        assert np.allclose(np_upsample(flat, 20, 30, *out), 2.5, atol=1e-5)
    rows = np_upsample(grids, 20, 30, 41, 59, slice(10, 20))  # a band equals those rows of the whole
    assert np.allclose(rows, np_upsample(grids, 20, 30, 41, 59)[10:20], atol=1e-6)


def test_the_fits_dense_upsampling_equals_the_decoders_taps():
    rng = np.random.default_rng(1)
    grids = [rng.normal(size=s).astype(np.float32) for s in level_sizes(24, 36, 4)]
    dense = upsample([torch.from_numpy(g)[None] for g in grids], upsampler(24, 36, 4, "cpu"))[:, 0].numpy()
    assert np.allclose(np.moveaxis(dense, 0, -1), np_upsample(grids, 24, 36, 24, 36), atol=1e-5)
    assert axis_matrix(24, 0, 24) is None and axis_matrix(24, 1, 24).shape == (24, 12)


def test_the_fits_planar_synthesis_is_the_decoders():
    """The fit's channels-first layout computes the decoder's colours (up to float summation order)."""
    rng = np.random.default_rng(5)
    for act in ACTIVATIONS:
        params = [rng.normal(size=s).astype(np.float32) for s in ((7,), (7, 24), (24,), (24, 24), (24,), (24, 3), (3,))]
        up = rng.normal(size=(2, 5, 6, 7)).astype(np.float32)
        last = synthesize(params, up, act)
        first = synthesize([torch.from_numpy(p) for p in params], torch.from_numpy(np.moveaxis(up, -1, 0)), act,
                           planar=True)
        assert first.shape == (3, 2, 5, 6)
        assert np.allclose(np.moveaxis(first.numpy(), 0, -1), last, atol=1e-4)
        assert np.allclose(synthesize(params, np.moveaxis(up, -1, 0), act, planar=True), first.numpy(), atol=1e-4)


def test_the_decoders_gelu_is_the_tanh_formula_to_the_bit():
    """Computed in place for speed, it must give the floats of the formula it replaced (decoded pixels
    must not move) and agree with torch's, which the fit uses."""
    h = (np.random.default_rng(6).normal(size=(500, 24)) * 4).astype(np.float32)
    formula = 0.5 * h * (1 + np.tanh(np.float32(math.sqrt(2 / math.pi)) * (h + np.float32(0.044715) * (h * h * h))))
    assert np.array_equal(activation("gelu", h), formula) and activation("gelu", h).dtype == np.float32
    assert np.allclose(activation("gelu", torch.from_numpy(h)).numpy(), formula, atol=1e-5)


def test_wavefronts_visit_every_latent_once_after_its_context():
    rows, cols = 7, 11
    order = armlib.wavefronts(rows, cols).order
    assert sorted(order.tolist()) == list(range(rows * cols))
    when = np.empty(rows * cols, int)
    when[order] = np.arange(rows * cols)
    for y in range(rows):
        for x in range(cols):
            for dy, dx in armlib.NEIGHBOURS:
                if 0 <= y + dy < rows and 0 <= x + dx < cols:
                    assert when[(y + dy) * cols + x + dx] < when[y * cols + x]


def test_the_integer_arm_agrees_with_the_float_one_the_fit_prices_with(init_path):
    init = load_latent_init_file(init_path)
    rng = np.random.default_rng(2)
    z = rng.integers(-6, 7, (1, 9, 13))
    coarser = rng.integers(-6, 7, (1, 5, 7))
    ctx = arm_contexts(torch.from_numpy(z).float(), torch.from_numpy(coarser).float()).reshape(armlib.CONTEXT, -1).T
    w = armlib.wavefronts(9, 13)
    exact = np.empty((9 * 13, armlib.CONTEXT), np.int64)
    exact[w.order] = armlib.contexts(w, np.pad(z[0], ((2, 0), (2, 2))).ravel(), coarser[0].ravel(), 0, 9 * 13)
    assert np.array_equal(ctx.numpy().astype(np.int64), exact)  # the same contexts, in the same order
    mean, scale = init.arm.params(exact, radius=50)
    h = ctx
    layers = float_arm(init.arm)
    for k, (w, b) in enumerate(layers):
        h = h @ w.T + b
        h = torch.relu(h) if k < len(layers) - 1 else h
    assert np.allclose(mean, h[:, 0].numpy(), atol=0.05)
    assert np.allclose(np.log2(scale), np.clip(h[:, 1].numpy(), -3, 95 / 16), atol=1 / 32 + 0.02)
    again = init.arm.params(exact, radius=50)
    assert np.array_equal(mean, again[0]) and np.array_equal(scale, again[1])


def test_latents_round_trip_through_the_range_coder(init_path):
    import constriction

    init = load_latent_init_file(init_path)
    rng = np.random.default_rng(4)
    shapes = level_sizes(19, 23, 4)
    grids = [rng.integers(-9, 10, s) for s in shapes]
    grids[1][:] = 0  # an all-zero grid takes no payload
    enc = constriction.stream.queue.RangeEncoder()
    armlib.encode_latents(init.arm, grids, enc)
    words = enc.get_compressed()
    radii = [int(np.abs(g).max()) for g in grids]
    recode = constriction.stream.queue.RangeEncoder()
    back = armlib.decode_latents(init.arm, shapes, radii, constriction.stream.queue.RangeDecoder(words),
                                 recode=recode)
    assert all(np.array_equal(a, b) for a, b in zip(grids, back, strict=True))
    assert np.array_equal(recode.get_compressed(), words)  # the exactness check's words, from the decode itself
    empty = armlib.decode_latents(init.arm, shapes, [0] * 4, constriction.stream.queue.RangeDecoder(words[:0]))
    assert not any(g.any() for g in empty)  # all grids zero: no payload, and no model of an empty support
    coarse = armlib.decode_latents(init.arm, shapes, radii, constriction.stream.queue.RangeDecoder(words), levels=2)
    assert np.array_equal(coarse[3], grids[3]) and np.array_equal(coarse[2], grids[2]) and not coarse[0].any()


def test_a_stream_round_trips_and_re_encodes_to_the_same_bytes(init_path, image, fitted):
    data = fitted.compress(quality=90)
    assert data[4] == 3 and data[5] == LATENTS
    parsed, tensors = decoder.decode_tensors(data, init=init_path)
    assert bitstream.write_stream(parsed.header, tensors, parsed.rep.encode_words(tensors)) == data
    out = inrcodec.decode(data, init=init_path)
    assert out.shape == image.shape and psnr(out, image) > 14
    assert inrcodec.decode(data, init=init_path, resolution=112).shape == (80, 112, 3)
    i = inrcodec.info(data, init=init_path)
    assert (i.version, i.representation, i.network_width, i.tensors) == (3, 3, 7, 14)
    assert 0 < i.macs_per_pixel < 2000


def test_a_latent_payload_must_be_exactly_the_encoders_words(init_path, fitted):
    data = fitted.compress(quality=90)
    parsed = decoder.parse(data, init_path)
    words = bitstream.payload_words(data, parsed.offset)
    assert len(parsed.rep.decode_words(words, parsed.records)) == 14
    for altered in (np.append(words, np.uint32(0)), np.append(words[:-1], words[-1] ^ np.uint32(1 << 31))):
        with pytest.raises(BitstreamError, match="not exactly"):
            parsed.rep.decode_words(altered, parsed.records)


def test_the_fits_rate_is_what_the_stream_spends(init_path, image, fitted):
    data = fitted.compress(quality=90)
    _, tensors = decoder.decode_tensors(data, init=init_path)
    latents = [torch.from_numpy(t.symbols.reshape(s).astype(np.float32))[None]
               for t, s in zip(tensors[7:], level_sizes(*image.shape[:2], 7), strict=True)]
    bits = level_bits(float_arm(load_latent_init_file(init_path).arm), latents)
    priced = float(sum(b for b, t in zip(bits, tensors[7:], strict=True) if t.radius))  # zero grids are free
    spent = 8 * len(data) - 32 * len(encode_tensors(tensors[:7]))  # all but the synthesis update's words
    # the coder truncates each Laplace to the stream's radius, which only makes it cheaper; it adds the
    # header, the CRC and its last words
    assert 0.5 * priced < spent < 1.05 * priced + 8 * 120


def test_encoding_is_deterministic(init_path, image):
    a = inrcodec.encode(image, quality=50, steps=12, init=init_path)
    assert inrcodec.encode(image, quality=50, steps=12, init=init_path) == a


def test_a_preview_decodes_only_the_coarse_grids(init_path, image, fitted):
    data = fitted.compress(quality=90)
    full = inrcodec.decode(data, init=init_path)
    preview = inrcodec.decode(data, init=init_path, width_fraction=0.5)  # 4 of 7 grids
    assert preview.shape == full.shape and not np.array_equal(preview, full)
    p = decoder.parse(data, init=init_path)
    tensors = p.rep.decode_words(bitstream.payload_words(data, p.offset), p.records, 4)
    assert all(not t.symbols.any() for t in tensors[7:10])


def test_tile_options_are_refused_for_latents(init_path, image):
    with pytest.raises(UsageError, match="tile representations"):
        inrcodec.analyse(image, quality=50, steps=1, init=init_path, network_width=16)


def _recrc(data: bytes) -> bytes:
    return data[:-4] + struct.pack(">I", zlib.crc32(data[:-4]))


def test_hostile_latent_streams_are_refused(init_path, fitted):
    data = bytearray(fitted.compress(quality=90))
    p = decoder.parse(bytes(data), init=init_path)
    records_at = p.offset - 5 * len(p.records)
    bad = bytearray(data)
    bad[records_at + 5 * 7:records_at + 5 * 7 + 2] = struct.pack(">H", 999)  # a latent step index
    with pytest.raises(BitstreamError, match="latent step"):
        inrcodec.decode(_recrc(bytes(bad)), init=init_path)
    bad = bytearray(data)
    bad[p.offset + 4] ^= 0x55  # a payload word
    with pytest.raises(BitstreamError, match="payload"):
        inrcodec.decode(_recrc(bytes(bad)), init=init_path)
    with pytest.raises(BitstreamError):  # a latent stream on a tile init
        inrcodec.decode(bytes(data), init=inrcodec.sharedinit.INTEGRAL_INIT)


def test_the_cli_encodes_with_a_latent_init_and_reports_what_it_coded(init_path, image, tmp_path):
    from click.testing import CliRunner
    from PIL import Image

    from inrcodec.cli import main

    src, dst = tmp_path / "in.png", tmp_path / "out.inr"
    Image.fromarray(image).save(src)
    result = CliRunner().invoke(main, ["encode", str(src), str(dst), "--init", init_path, "--steps", "5",
                                       "--quality", "90"])
    assert result.exit_code == 0, result.output
    coded = psnr(inrcodec.decode(dst.read_bytes(), init=init_path), image)
    assert f"{coded:.2f} dB PSNR" in result.output
    assert dst.read_bytes()[5] == LATENTS


def test_an_arm_whose_sums_could_leave_exact_float64_is_refused(init_path):
    arm = load_latent_init_file(init_path).arm
    huge = (arm.weights[0] * 0 + (1 << 40), *arm.weights[1:])
    with pytest.raises(ValueError, match="exact"):
        armlib.IntegerArm(huge, arm.biases)
    with pytest.raises(ValueError, match="biases"):
        armlib.IntegerArm(arm.weights, (arm.biases[0][:-1], *arm.biases[1:]))
