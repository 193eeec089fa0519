"""Encoding: fit an image's networks (torch), then code them at a target rate.

`analyse` plans the representation for the image and target and fits it once;
`Analysis.compress` has it code the fit at a step found by rate control. Decoding
(decoder.py) never imports this module, so it runs without torch.
"""
from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch

from . import alloc
from .bitstream import StreamHeader, write_stream
from .entropy import make_coded
from .errors import UsageError
from .images import ImageSource, image_pixels
from .presets import BPP_TOLERANCE, MAX_ENCODE_PIXELS, PRESETS
from .representation import Representation, open_any_init, plan, preset_steps
from .representations.latents.init import PREDICTED_INIT, LatentInit, predicted_inits
from .sharedinit import INTEGRAL_INIT
from .tiles import tile_rate_weight

MAX_INDEX = 1024  # global step index range: 2**16 (all zeros) .. 2**-48
DEFAULT_ROUNDING = 0.5  # plain rounding
MIN_ROUNDING = 0.05
# Without --init: predicted latents wherever they reach the target (they beat the tiles at every
# rate they reach on val, docs/design.md §11; the init by the rate, predicted_inits), the integral
# tiles elsewhere (choose).
LATENT_SCALES = tuple(2 ** (-k / 4) for k in range(13))  # sizes a predicted fit may code at: 1 .. 1/8, in
# quarter octaves, so that the rates of one size (a factor of about 2.7 on val) overlap the next's


def rate_weight(bpp: float | None = None, quality: float | None = None) -> float:
    """The tile representations' rate weight for a target (tiles.tile_rate_weight of its nominal rate)."""
    return tile_rate_weight(nominal_bpp(bpp, quality))


def nominal_bpp(bpp: float | None = None, quality: float | None = None) -> float:
    """The rate a target stands for: bpp itself, or a quality read as 1 bpp at 50, doubling every +10
    (a rough calibration: on val, quality 30 / 50 / 70 give 0.02 / 0.24 / 1.3 bpp with the tiles)."""
    _check_target(bpp, quality)
    return bpp if bpp is not None else 2.0 ** (((50 if quality is None else quality) - 50) / 10)


def pick_device(device: str) -> str:
    """'auto' (CUDA when present), 'cpu', 'cuda' or 'cuda:N'."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device != "cpu" and not re.fullmatch(r"cuda(:\d+)?", device):
        raise UsageError(f"unknown device {device!r}: use auto, cpu, cuda or cuda:N")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise UsageError(f"device {device} asked for, but no CUDA GPU is available")
    return device


@dataclass
class Analysis:
    """A fitted image, ready to be coded at any rate: fitting once serves every target."""

    header: StreamHeader
    rep: Representation
    fitted: Any  # what the representation's fit returns and its code reads
    seconds: float  # time spent choosing the init and size, and fitting
    _coded: dict[tuple[float | None, float | None], bytes] = field(default_factory=dict, repr=False)
    _at_fit: bytes | None = field(default=None, repr=False)

    def stream(self, index: int, rounding: float = DEFAULT_ROUNDING) -> bytes:
        tensors = self.rep.code(self.fitted, index, rounding)
        return write_stream(self.header, tensors, self.rep.encode_words(tensors))

    def reaches(self, bpp: float) -> bool:
        """Whether the fit codes at `bpp` within the tolerance (a pinned fit only near its target); the
        stream it codes is kept for `compress`."""
        try:
            self.compress(bpp)
        except UsageError:
            return False
        return True

    def compress(self, bpp: float | None = None, quality: float | None = None) -> bytes:
        """.inr bytes at a target rate (bits per pixel of the whole file, within 10%) or a quality 0..100."""
        _check_target(bpp, quality)
        if (bpp, quality) not in self._coded:
            h, w = self.header.height, self.header.width
            if bpp is None:
                data = self.stream(self.rep.quality_index(50 if quality is None else quality))
            elif self.rep.pinned:
                data = self.fitted_stream()
                if not _meets(len(data), bpp * h * w / 8):
                    raise UsageError(f"cannot reach {bpp:.3f} bpp within 10% for this image: its fit codes "
                                     f"at {8 * len(data) / (h * w):.3f} bpp")
            else:
                data = _search_rate(self.stream, bpp * h * w / 8, h * w, self.rep.fitted_index)
            self._coded[bpp, quality] = data
        return self._coded[bpp, quality]

    def fitted_stream(self) -> bytes:
        """The fit coded at its fitted index, once: a pinned fit's only stream, and where a missed fit landed."""
        if self._at_fit is None:
            assert self.rep.fitted_index is not None
            self._at_fit = self.stream(self.rep.fitted_index)
        return self._at_fit


def _check_target(bpp: float | None, quality: float | None) -> None:
    if bpp is not None and quality is not None:
        raise UsageError("give either bpp or quality, not both")
    if bpp is not None and not (0 < bpp <= 64):
        raise UsageError("bpp must be a positive number of bits per pixel (at most 64)")
    if quality is not None and not 0 <= quality <= 100:
        raise UsageError("quality must be between 0 and 100")


def planned_steps(preset: str = "default", steps: int | None = None, init: str = PREDICTED_INIT) -> int:
    """The fitting steps an encode with `init` takes: `steps`, else the preset's for its representation."""
    _check_steps(preset, steps)
    return preset_steps(open_any_init(init))[preset] if steps is None else int(steps)


def _check_steps(preset: str, steps: int | None) -> None:
    if preset not in PRESETS:
        raise UsageError(f"unknown preset {preset!r}: choose from {', '.join(PRESETS)}")
    if steps is not None and not 0 <= int(steps) <= 65535:
        raise UsageError("steps must be between 0 and 65535")


def choose(image: np.ndarray, bpp: float | None = None, quality: float | None = None, device: str = "auto",
           init: str | None = None, latent_scale: float | None = None, network_width: int | None = None,
           level: int | None = None, scalable: bool = False) -> tuple[str, float]:
    """The init and the latent scale an encode of an (H, W, 3) image uses where they are not given.

    A predicted latent init codes at the largest size (LATENT_SCALES) whose prediction's rates,
    plus the header, span the bpp target: a low target codes a smaller image, stretched back by the
    any-resolution decode, rather than a starved full-size one. Without `init`, the first of the
    predicted inits for the target's rate (predicted_inits) that some size reaches the target with,
    else the tiles (which also take their own options)."""
    if init is None and (network_width is not None or level is not None or scalable):
        return INTEGRAL_INIT, latent_scale or 1.0
    for name in [init] if init else predicted_inits(nominal_bpp(bpp, quality)):
        shared = open_any_init(name)
        if not isinstance(shared, LatentInit) or shared.predictor is None or latent_scale is not None or bpp is None:
            return name, latent_scale or 1.0  # a quality target stays within the trained lambdas: full size
        for scale in LATENT_SCALES:
            lo, hi = reachable_rates(image, name, scale, device)
            if lo <= bpp:
                if bpp <= (1 + BPP_TOLERANCE) * hi:
                    return name, scale
                break  # above the range: a smaller size only lowers it
    return (INTEGRAL_INIT, 1.0) if init is None else (init, 1.0)


def reachable_rates(image: np.ndarray, init: str, latent_scale: float = 1.0, device: str = "auto") -> tuple[float, float]:
    """The bpp range, header included, that a fit of an (H, W, 3) image with `init` can code at."""
    h, w, _ = image.shape
    shared = open_any_init(init)
    rep = plan(shared, h, w, 1.0, steps=0, preset="default", scale=latent_scale)
    floor = _header_bpp(StreamHeader(rep.id, h, w, shared.name, shared.checksum, rep.settings_bytes(), rep.version), rep)
    lo, hi = rep.rate_range(image, pick_device(device))
    return lo + floor, hi + floor


def _header_bpp(header: StreamHeader, rep: Representation) -> float:
    """The rate of a stream of all zeros: what no fit can code under."""
    empty = [make_coded(np.zeros(n, np.int32), 0) for n in rep.symbol_counts()]
    return 8 * len(write_stream(header, empty, rep.encode_words(empty))) / (header.height * header.width)


def analyse(image: ImageSource, *, bpp: float | None = None, quality: float | None = None, preset: str = "default",
            steps: int | None = None, device: str = "auto", init: str | None = None, level: int | None = None,
            network_width: int | None = None, scalable: bool = False, latent_scale: float | None = None,
            lr: float | None = None, weight: float | None = None, fallback: bool = False,
            progress: Callable[[int], None] | None = None) -> Analysis:
    """Fit an image (path, binary file, PIL image or (H, W, 3) uint8 array) for coding at a target;
    see Analysis.compress.

    The target (bpp or quality, as for encode) sets how hard the fit is pushed towards
    few, small numbers (`rate_weight`; `weight` overrides it) and, with an integral init, the
    width and level of the tile networks (`tiles.choose_network`; `network_width` and `level` fix
    them). `scalable` fits for fast reduced-width previews (`decode(width_fraction=...)`) at
    some cost in quality; it needs an integral init. A tile fit codes at any rate, best near the
    target; a predicted latent fit only near the target (`Representation.fitted_index`). A bpp
    target is checked against the header-only rate before any fitting; `lr` overrides the
    representation's step size. `init` names a shipped init or an .npz: its representation is the
    stream's (tiles, or latents); None lets `choose` pick it (and `latent_scale`, the size a latent
    fit codes the image at) by the image and target. A chosen predicted latent fit (or any, with `fallback`)
    that misses a bpp target is fitted once more, aimed past the target by its miss (the refinement's
    rate drifts from its aim by about the same share at a nearby lambda), and if that misses too,
    refitted as the integral tiles, which reach any rate.
    """
    alloc.tune_allocator()  # the fit allocates tens of MB per step: keep them on the heap
    _check_target(bpp, quality)
    _check_steps(preset, steps)
    if init is not None:
        shared = open_any_init(init)  # a bad name is refused before the image is read
    pixels = image_pixels(image, MAX_ENCODE_PIXELS)  # a file too large is refused from its header
    h, w, _ = pixels.shape
    if h * w > MAX_ENCODE_PIXELS or max(h, w) > 65535:
        raise UsageError(f"image of {w}x{h} is too large to encode: fitting holds every tile in memory, "
                         f"limit {MAX_ENCODE_PIXELS / 1e6:.0f} megapixels")
    device = pick_device(device)
    t0 = time.perf_counter()  # the choice's predictions are encode time too
    if init is None or latent_scale is None:
        name, latent_scale = choose(pixels, bpp, quality, device, init, latent_scale, network_width, level, scalable)
        shared = open_any_init(init or name)
    n_steps = planned_steps(preset, steps, init or shared.name)
    rate = nominal_bpp(bpp, quality)
    rep = plan(shared, h, w, rate, steps=n_steps, preset=preset if steps is None else "custom",
               network_width=network_width, level=level, scalable=scalable, scale=latent_scale)
    header = StreamHeader(rep.id, h, w, shared.name, shared.checksum, rep.settings_bytes(), rep.version)
    floor = 0.0
    if bpp is not None:  # the header alone is a floor on the rate: say so before spending time
        floor = _header_bpp(header, rep)
        if floor > (1 + BPP_TOLERANCE) * bpp:
            raise UsageError(f"cannot reach {bpp} bpp for a {w}x{h} image: its header alone is {floor:.3f} bpp")
    lam = rep.rate_weight(rate) if weight is None else weight
    aim = None if bpp is None else max(bpp - floor, bpp / 4)  # what a fit aims at is the rate past the header
    fitted = rep.fit(pixels, n_steps, lr, lam, device, progress, target_bpp=aim)
    analysis = Analysis(header, rep, fitted, time.perf_counter() - t0)
    if (fallback or init is None) and bpp is not None and isinstance(shared, LatentInit) and not analysis.reaches(bpp):
        if aim is not None and rep.fitted_index is not None:  # the step its rate was aimed at
            landed = 8 * len(analysis.fitted_stream()) / (h * w)
            fitted = rep.fit(pixels, n_steps, lr, lam, device, progress,
                             target_bpp=aim * min(2.0, max(0.5, bpp / landed)))
            analysis = Analysis(header, rep, fitted, time.perf_counter() - t0)
            if analysis.reaches(bpp):
                return analysis
        tiles = analyse(pixels, bpp=bpp, preset=preset, steps=steps, device=device, init=INTEGRAL_INIT, lr=lr,
                        weight=weight, progress=progress)
        tiles.seconds += analysis.seconds
        return tiles
    return analysis


def encode(image: ImageSource, *, bpp: float | None = None, quality: float | None = None, preset: str = "default",
           steps: int | None = None, device: str = "auto", init: str | None = None, level: int | None = None,
           network_width: int | None = None, scalable: bool = False, latent_scale: float | None = None,
           fallback: bool = False, progress: Callable[[int], None] | None = None) -> bytes:
    """Compress an image (path, binary file, PIL image or (H, W, 3) uint8 array) to .inr bytes.

    Give `bpp` (target bits per pixel, file size included, met within 10%) or `quality`
    (0..100); neither means quality 50. `steps` overrides the preset's fitting steps;
    `scalable` makes streams whose reduced-width previews look their best (see analyse); `init`
    and `latent_scale` (latents for the image at that share of its size) are chosen by `choose`
    where not given, and `fallback` (what a chosen init implies) refits a missed latent fit as tiles.
    """
    return analyse(image, bpp=bpp, quality=quality, preset=preset, steps=steps, device=device, init=init,
                   level=level, network_width=network_width, scalable=scalable, latent_scale=latent_scale,
                   fallback=fallback, progress=progress).compress(bpp=bpp, quality=quality)


def _meets(size: int, target_bytes: float) -> bool:
    """Whether a stream of `size` bytes meets a target within the rate control's tolerance."""
    return abs(size - target_bytes) <= BPP_TOLERANCE * target_bytes


def _search_rate(stream: Callable[..., bytes], target_bytes: float, pixels: int, first: int | None = None) -> bytes:
    """The `first` index if it meets the target; else bisection on the global step index (size grows
    with it), then on the dead-zone rounding (size shrinks as it falls) where one 1/16-octave step
    jumps over the target."""
    cache: dict[tuple[int, float], bytes] = {}
    if first is not None:
        cache[first, DEFAULT_ROUNDING] = stream(first, DEFAULT_ROUNDING)
        if _meets(len(cache[first, DEFAULT_ROUNDING]), target_bytes):
            return cache[first, DEFAULT_ROUNDING]

    def size(i: int, rounding: float = DEFAULT_ROUNDING) -> int:
        if (i, rounding) not in cache:
            cache[i, rounding] = stream(i, rounding)
        return len(cache[i, rounding])

    lo, hi = 0, MAX_INDEX
    while lo < hi:
        mid = (lo + hi) // 2
        if size(mid) < target_bytes:
            lo = mid + 1
        else:
            hi = mid
    best = min((i for i in (lo - 1, lo) if 0 <= i <= MAX_INDEX), key=lambda i: abs(size(i) - target_bytes))
    key = (best, DEFAULT_ROUNDING)
    if not _meets(size(best), target_bytes) and size(lo) > target_bytes:
        r_lo, r_hi = MIN_ROUNDING, DEFAULT_ROUNDING  # size(lo, r_lo) <= target < size(lo, r_hi), hopefully
        for _ in range(14):
            r_mid = (r_lo + r_hi) / 2
            if size(lo, r_mid) > target_bytes:
                r_hi = r_mid
            else:
                r_lo = r_mid
        key = min([(lo, r_lo), (lo, r_hi), key], key=lambda k: abs(size(*k) - target_bytes))
    if not _meets(size(*key), target_bytes):
        lo_bpp, hi_bpp = 8 * size(0) / pixels, 8 * size(MAX_INDEX) / pixels
        raise UsageError(f"cannot reach {8 * target_bytes / pixels:.3f} bpp within 10% for this image: "
                         f"nearest is {8 * size(*key) / pixels:.3f} bpp (reachable {lo_bpp:.3f}..{hi_bpp:.3f})")
    return cache[key]
