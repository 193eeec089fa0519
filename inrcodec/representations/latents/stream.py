"""Representation 3 behind the representation interface: latent grids read by a sparse synthesis.

What a stream holds: the synthesis update (one tensor per synthesis parameter, the surviving
entries only, each under its own zero-mean Laplace as the tiles' deltas are), then the latent
grids, coarsest first, under the shipped context model (arm.py). The latents' step index is the
rate control's fine knob; lambda (the fit) is its coarse one. numpy only, but for `fit`.
"""
from __future__ import annotations

import math
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import constriction
import numpy as np
from PIL import Image

from ...bitstream import StreamHeader
from ...entropy import MAX_RADIUS, CodedTensor, check_exact, choose_scale, decode_from, encode_into, make_coded
from ...errors import BitstreamError, UsageError
from ...presets import PRESET_CODES
from ...quant import STEP_BIAS, dequantize, quantize
from .arm import decode_latents, encode_latents
from .grid import level_sizes, taps_per_pixel, upsample
from .init import LatentInit
from .synthesis import macs, synthesize

LATENTS = 3  # the representation id
# The latents' step index stays within 1/4 .. 16 of the fitted step (index 256): beyond, a refit
# at another lambda codes better than a coarser or finer step.
LATENT_INDEX = (STEP_BIAS - 64, STEP_BIAS + 32)
SYNTH_INDICES = tuple(range(STEP_BIAS + 64, STEP_BIAS + 193, 16))  # update steps 2^-4 .. 2^-12, chosen by RD
RATE_WEIGHT = (0.002, 1.25)  # lambda = a * bpp^-slope where an init's card does not say (latent probe, val)
BAND_PIXELS = 1 << 17  # output pixels rendered at once: bounds decoder memory at any size
_SETTINGS = struct.Struct(">HB")  # version 3: steps, preset
_CODED = struct.Struct(">HH")  # version 4 adds the coded size: rows, cols
MAX_STRETCH = 16  # a decoder refuses a coded size below 1/16 of the image's (the encoder goes to 1/8):
# otherwise a stream of a few latents could name a huge image, decoded at a cost its size does not bound


@dataclass(frozen=True)
class LatentSettings:
    """Settings of representation 3 (FORMAT.md): informational only, the rest is in the init."""

    steps: int
    preset: int
    rows: int = 0  # the size of the image the latents describe (0: the header's); a low rate's
    cols: int = 0  # choice, stretched back to the header's size (or any) by the decode
    level: int = 0  # what `info` reads of every representation: no density ladder here
    preview_min: int = 0


@dataclass(frozen=True)
class LatentFitResult:
    """A fit and the synthesis step its update is coded at (None: no update)."""

    latents: list[np.ndarray]
    deltas: list[np.ndarray]
    synth_index: int | None


@dataclass(frozen=True)
class Latents:
    settings: LatentSettings
    init: LatentInit
    height: int
    width: int

    @classmethod
    def plan(cls, init: LatentInit, height: int, width: int, rate: float, *, steps: int, preset: str,
             network_width: int | None = None, level: int | None = None, scalable: bool = False,
             scale: float = 1.0) -> Latents:
        """The encoder's choice: the steps, and the size the latents are coded at (`scale` of the
        image's, 0 < scale <= 1); the rest is the init's (the tiles' options are refused)."""
        if network_width is not None or level is not None or scalable:
            raise UsageError(f"network width, level and scalable are options of the tile representations; "
                             f"init {init.name} codes latents")
        if not 0 < scale <= 1:
            raise UsageError(f"latent scale must be in (0, 1], not {scale}")
        rows, cols = max(1, round(height * scale)), max(1, round(width * scale))
        coded = (0, 0) if (rows, cols) == (height, width) else (rows, cols)
        return cls(LatentSettings(steps, PRESET_CODES[preset], *coded), init, height, width)

    @classmethod
    def rebuild(cls, header: StreamHeader, init: LatentInit) -> Latents:
        """The decoder's: settings checked against what the encoder writes (FORMAT.md)."""
        if not isinstance(init, LatentInit):
            raise BitstreamError(f"representation {LATENTS} does not match init {init.name}")
        extended = header.version == 4
        if len(header.settings) != _SETTINGS.size + extended * _CODED.size:
            raise BitstreamError("malformed representation settings in .inr header")
        coded = _CODED.unpack(header.settings[_SETTINGS.size:]) if extended else (0, 0)
        settings = LatentSettings(*_SETTINGS.unpack(header.settings[:_SETTINGS.size]), *coded)
        if extended and not (0 < coded[0] <= header.height <= MAX_STRETCH * coded[0]
                             and 0 < coded[1] <= header.width <= MAX_STRETCH * coded[1]
                             and coded != (header.height, header.width)):
            raise BitstreamError(f"malformed .inr header (latents coded at {coded[1]}x{coded[0]} "
                                 f"for a {header.width}x{header.height} image)")
        if settings.preset not in PRESET_CODES.values():
            raise BitstreamError(f"unknown preset code {settings.preset} in .inr header")
        return cls(settings, init, header.height, header.width)

    @property
    def id(self) -> int:
        return LATENTS

    @property
    def channels(self) -> int:
        """Latent grids: a preview decodes only the coarsest few."""
        return self.init.levels

    @property
    def previews(self) -> bool:
        return True

    @property
    def version(self) -> int:
        """3; 4 for latents coded at a reduced size (their settings hold it)."""
        return 4 if self.settings.rows else 3

    @property
    def coded(self) -> tuple[int, int]:
        """(rows, cols) of the image the latents describe, stretched to any output grid."""
        return (self.settings.rows, self.settings.cols) if self.settings.rows else (self.height, self.width)

    def _coded_pixels(self, pixels: np.ndarray) -> np.ndarray:
        """The image at the coded size, each pixel the mean of the area it covers (what the latents fit)."""
        if not self.settings.rows:
            return pixels
        h, w = self.coded
        return np.asarray(Image.fromarray(pixels).resize((w, h), Image.Resampling.BOX))

    @property
    def sizes(self) -> list[tuple[int, int]]:
        return level_sizes(*self.coded, self.init.levels)

    def settings_bytes(self) -> bytes:
        tail = _CODED.pack(*self.coded) if self.settings.rows else b""
        return _SETTINGS.pack(self.settings.steps, self.settings.preset) + tail

    def symbol_counts(self) -> list[int]:
        return [int(m.sum()) for m in self.init.masks] + [a * b for a, b in self.sizes]

    def macs_per_pixel(self, out_h: int | None = None, out_w: int | None = None) -> float:
        """Synthesis and upsampling per output pixel, plus the context model per coded latent."""
        out = (out_h or self.height) * (out_w or self.width)
        latents = sum(a * b for a, b in self.sizes)
        return (macs([v.shape for v in self.init.values]) + taps_per_pixel(self.init.levels)
                + self.init.arm.macs * latents / out)

    def rate_weight(self, bpp: float) -> float:
        """lambda = a * bpp^-slope, a and slope fitted to the init's rates on val (its card)."""
        a, slope = self.init.meta.get("rate_weight", RATE_WEIGHT)
        return float(a) * bpp ** -float(slope)

    @property
    def fitted_index(self) -> int | None:
        """The fit aims lambda at a bpp target with the latents at step 1 (index 256). Other steps are
        the fallback, but not for an init with a predictor: its context model is sure of the
        predicted integers at step 1, so at another step the size is not even monotone and the
        image falls apart (12 dB on val 101085 at 0.5 bpp), and `code` keeps step 1."""
        return STEP_BIAS

    @property
    def pinned(self) -> bool:
        """A predicted fit codes at step 1 only (see fitted_index)."""
        return self.init.predictor is not None

    def quality_index(self, quality: float) -> int:
        """A quality target is met by lambda alone (the fit), so its latents keep their fitted step."""
        return STEP_BIAS

    def rate_range(self, pixels: np.ndarray, device: str) -> tuple[float, float]:
        """A predicted fit's: near its prediction's rates (fit.prediction_range); without a
        predictor, lambda and the step reach any."""
        if self.init.predictor is None:
            return 0.0, math.inf
        from .fit import prediction_range  # torch

        lo, hi = prediction_range(self.init, self._coded_pixels(pixels), device)
        share = math.prod(self.coded) / (self.height * self.width)
        return lo * share, hi * share

    def fit(self, pixels: np.ndarray, steps: int, lr: float | None, rate_weight: float, device: str,
            progress: Callable[[int], None] | None = None, target_bpp: float | None = None) -> LatentFitResult:
        from .fit import fit  # torch: only an encoder pays for it

        share = math.prod(self.coded) / (self.height * self.width)  # the fit's bits are per coded pixel
        fitted = fit(self.init, self._coded_pixels(pixels), steps, rate_weight, device, progress,
                     target_bpp and target_bpp / share, lr)
        latents = [np.round(z) for z in fitted.latents]
        return LatentFitResult(fitted.latents, fitted.deltas,
                               self._synth_index(pixels, latents, fitted.deltas, fitted.rate_weight))

    def _synth_index(self, pixels: np.ndarray, latents: list[np.ndarray], deltas: list[np.ndarray],
                     lam: float) -> int | None:
        """The update's step with the least MSE + lambda * its bits per pixel (None: no update),
        rendered with the rounded latents as the decoder will, at the image's size (bits per coded
        pixel, as the fit priced them)."""
        target = pixels.reshape(-1, 3).astype(np.float32) / 255
        lat = [CodedTensor(z.astype(np.int32).ravel(), STEP_BIAS, 0, 0) for z in latents]
        bands = list(self._bands(lat, self.height, self.width))  # every candidate reads the same latents
        best, best_cost = None, math.inf
        for index in (None, *SYNTH_INDICES):
            synth = self._synth_tensors(deltas, index)
            rendered = self.render(synth + lat, self.height, self.width, bands=bands)
            mse = float(np.mean((np.clip(rendered, 0, 1) - target) ** 2))
            bits = sum(_tensor_bits(t) for t in synth)
            cost = mse + lam * bits / math.prod(self.coded)
            if cost < best_cost:
                best, best_cost = index, cost
        return best

    def _synth_tensors(self, deltas: list[np.ndarray], index: int | None) -> list[CodedTensor]:
        if index is None:
            return [make_coded(np.zeros(d.size, np.int32), 0) for d in deltas]
        return [make_coded(quantize(d, index), index) for d in deltas]

    def code(self, fitted: LatentFitResult, index: int, rounding: float) -> list[CodedTensor]:
        """The fit at a step index; a predicted fit only at its own (see fitted_index), so that a
        target its fit missed is refused rather than met with junk."""
        if self.pinned:
            index, rounding = STEP_BIAS, 0.5
        index = int(np.clip(index, *LATENT_INDEX))
        grids = []
        for z in fitted.latents:
            q = quantize(z, index, rounding).ravel()
            radius = int(np.abs(q).max(initial=0))
            if radius > MAX_RADIUS:
                raise ValueError(f"latent {radius} exceeds the coder's range")
            grids.append(CodedTensor(q, index, 0, radius))
        return self._synth_tensors(fitted.deltas, fitted.synth_index) + grids

    def encode_words(self, tensors: list[CodedTensor]) -> np.ndarray:
        n = len(self.init.masks)
        enc = constriction.stream.queue.RangeEncoder()
        encode_into(enc, tensors[:n])
        encode_latents(self.init.arm, [t.symbols.reshape(s) for t, s in zip(tensors[n:], self.sizes, strict=True)],
                       enc)
        return enc.get_compressed()

    def decode_words(self, words: np.ndarray, records: list[tuple[int, int, int]],
                     channels: int | None = None) -> list[CodedTensor]:
        """The tensors from the payload; `channels` < the grid count decodes only that many coarsest
        grids (a preview: the finer ones stay zero, and the words after them are not read)."""
        n = len(self.init.masks)
        latent = records[n:]
        if len({s for s, _, _ in latent}) != 1 or not LATENT_INDEX[0] <= latent[0][0] <= LATENT_INDEX[1]:
            raise BitstreamError("malformed .inr header (latent step indices)")
        if any(j != 0 for _, j, _ in latent):
            raise BitstreamError("malformed .inr header (a scale index for a latent grid)")
        counts = self.symbol_counts()
        dec = constriction.stream.queue.RangeDecoder(words)
        synth = decode_from(dec, [(c, *r) for c, r in zip(counts[:n], records[:n], strict=True)])
        levels = None if channels is None or channels >= self.init.levels else channels
        recode = None if levels is not None else constriction.stream.queue.RangeEncoder()  # a preview: a prefix
        if recode is not None:
            encode_into(recode, synth)
        grids = decode_latents(self.init.arm, self.sizes, [r for _, _, r in latent], dec, levels, recode)
        if recode is not None:
            check_exact(recode.get_compressed(), words)
        return synth + [CodedTensor(g.ravel().astype(np.int32), s, j, r) for g, (s, j, r) in zip(grids, latent, strict=True)]

    def render(self, tensors: list[CodedTensor], out_h: int, out_w: int, channels: int | None = None,
               bands: list[np.ndarray] | None = None) -> np.ndarray:
        """(out_h * out_w, 3) float pixels; `channels` < the grid count leaves the finest grids out (a preview).
        `bands`: the latents' upsampled bands (_bands), where several syntheses read the same latents."""
        n = len(self.init.masks)
        params = []
        for v, m, t in zip(self.init.values, self.init.masks, tensors[:n], strict=True):
            p = v.copy()
            p[m] += dequantize(t.symbols, t.step_index)
            params.append(p)
        out = np.empty((out_h * out_w, 3), np.float32)
        r0 = 0
        for up in self._bands(tensors[n:], out_h, out_w, channels) if bands is None else bands:
            out[r0 * out_w:(r0 + up.shape[0]) * out_w] = synthesize(params, up, self.init.activation).reshape(-1, 3)
            r0 += up.shape[0]
        return out

    def _bands(self, latents: list[CodedTensor], out_h: int, out_w: int,
               channels: int | None = None) -> Iterator[np.ndarray]:
        """The grids upsampled to the output, (rows, out_w, levels) in bands of BAND_PIXELS: bounded memory."""
        levels = self.init.levels
        keep = levels if channels is None else min(channels, levels)
        grids = [dequantize(t.symbols, t.step_index).reshape(s) if lv >= levels - keep else np.zeros(s, np.float32)
                 for lv, (t, s) in enumerate(zip(latents, self.sizes, strict=True))]
        band = max(1, BAND_PIXELS // out_w)
        for r0 in range(0, out_h, band):
            yield upsample(grids, *self.coded, out_h, out_w, slice(r0, r0 + band))


def _tensor_bits(t: CodedTensor) -> float:
    """The ideal code length of a tensor under its own Laplace (what encode_into spends on it)."""
    return choose_scale(t.symbols, t.radius)[1] if t.radius else 0.0
