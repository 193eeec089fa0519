"""Representations 1 and 2, overlapping tiles of sparse SIRENs, behind the representation interface.

This module is what the encoder and decoder see of the tiles: their header settings, the
choice of width and level for a target, validation against the init, and the interface of
representation.py. Its parts do one job each: tilesiren.py the networks and pixels,
fitting.py the gradient steps (torch, imported only by `fit`), tilecoding.py the deltas as
integers and back.
"""
from __future__ import annotations

import math
import struct
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from .bitstream import FIRST_VERSION, StreamHeader
from .entropy import CodedTensor, decode_tensors, encode_tensors
from .errors import BitstreamError, UsageError
from .presets import PRESET_CODES
from .sharedinit import INTEGRAL_INIT, SharedInit
from .tilecoding import Fitted, dequantized_params, quantize_fit, symbol_counts
from .tilesiren import DISCRETE, INTEGRAL, TileNetwork, grid_for, render
from .tiling import TileGrid

FIT_LR = 2e-3  # Adam's step size after the meta-learned steps
PREVIEW_FRACTION = 0.25  # scalable streams are fitted for previews down to this fraction of the coded width


@dataclass(frozen=True)
class TileSettings:
    """Settings of the tile representations: integers only (FORMAT.md)."""

    level: int
    steps: int  # informational
    preset: int  # informational: 0 custom, 1 fast, 2 default, 3 slow
    width: int = 0  # representation 2: hidden width of every tile network (its node count)
    preview_min: int = 0  # representation 2, informational: fitted for decodes down to this width


_SETTINGS = {DISCRETE: struct.Struct(">BHB"), INTEGRAL: struct.Struct(">BHBBB")}


def pack_settings(representation: int, s: TileSettings) -> bytes:
    if representation == DISCRETE:
        return _SETTINGS[DISCRETE].pack(s.level, s.steps, s.preset)
    return _SETTINGS[INTEGRAL].pack(s.level, s.steps, s.preset, s.width, s.preview_min)


def unpack_settings(representation: int, data: bytes) -> TileSettings:
    st = _SETTINGS[representation]  # the registry only sends the ids of this module
    if len(data) != st.size:
        raise BitstreamError("malformed representation settings in .inr header")
    s = TileSettings(*st.unpack(data))
    if representation == INTEGRAL and s.width == 0:
        raise BitstreamError("malformed representation settings in .inr header (zero width)")
    return s


def tile_rate_weight(bpp: float) -> float:
    """The fit's rate weight: 1/bpp rounded to a power of two, measured best on 3 val images at 0.1 /
    0.25 / 0.5 / 1.0 bpp (docs/design.md). The rounding makes nearby targets share one fit, which the
    benchmark relies on."""
    return 2.0 ** -math.floor(math.log2(bpp) + 0.5)


def serves_width(init: SharedInit, width: int) -> bool:
    """Whether the init's networks can have `width` channels: its own, or any in an integral init's range."""
    low, high = init.widths
    return width == init.spec.hidden or low <= width <= high


def default_level(init: SharedInit) -> int:
    return int(init.meta.get("codec_level", len(init.levels) - 1))


def table_choice(table: list[dict], rate: float) -> tuple[int, int] | None:
    """(width, level) of a rate table's first row whose `max_bpp` covers the rate."""
    return next(((row["width"], row["level"]) for row in table if rate <= row["max_bpp"]), None)


def choose_network(init: SharedInit, rate: float, network_width: int | None, level: int | None) -> tuple[int, int]:
    """(width, level) of the tile networks for a nominal rate: what the caller fixed, the rest from
    the init's rate table (chosen on val images and stored in the init), else its full width and
    default level."""
    width, lvl = table_choice(init.meta.get("codec_table", []), rate) or (init.spec.hidden, default_level(init))
    width = width if network_width is None else network_width
    lvl = lvl if level is None else level
    if not 0 <= lvl < len(init.levels):
        raise UsageError(f"level must be 0..{len(init.levels) - 1}")
    if not serves_width(init, width):
        low, high = init.widths
        raise UsageError(f"network width must be {low}..{high} with init {init.name}" if low < high else
                         f"init {init.name} has a fixed width of {high} channels (the integral init "
                         f"{INTEGRAL_INIT} has any width)")
    return width, lvl


@dataclass(frozen=True)
class Tiles:
    """One stream's tile networks: the init's level at the stream's width, on the image's tile grid."""

    settings: TileSettings
    net: TileNetwork
    grid: TileGrid

    @classmethod
    def plan(cls, init: SharedInit, height: int, width: int, rate: float, *, steps: int, preset: str,
             network_width: int | None = None, level: int | None = None, scalable: bool = False,
             scale: float = 1.0) -> Tiles:
        """The encoder's choice for an image and a nominal rate (see `choose_network`)."""
        if scale != 1:
            raise UsageError(f"a latent scale is an option of the latent representation; init {init.name} codes tiles")
        if scalable and not init.integral:
            raise UsageError(f"scalable needs an integral init such as {INTEGRAL_INIT}; {init.name} has a fixed width")
        channels, lvl = choose_network(init, rate, network_width, level)
        preview_min = max(1, round(PREVIEW_FRACTION * channels)) if scalable else 0
        # a fixed-width stream (representation 1) stores neither: settings equal what `rebuild` reads back
        settings = TileSettings(lvl, steps, PRESET_CODES[preset], *((channels, preview_min) if init.integral else ()))
        return cls(settings, TileNetwork.of(init, lvl, channels), grid_for(init, height, width))

    @classmethod
    def rebuild(cls, header: StreamHeader, init: SharedInit) -> Tiles:
        """The decoder's: the networks a header names, each field checked against what the encoder can
        write (FORMAT.md, "What a decoder must check"), since a hostile stream with a valid CRC may
        otherwise name widths that crash, exhaust or silently blacken the decoder."""
        settings = unpack_settings(header.representation, header.settings)
        if settings.preset not in PRESET_CODES.values():
            raise BitstreamError(f"unknown preset code {settings.preset} in .inr header")
        if settings.level >= len(init.levels):
            raise BitstreamError(f"stream uses level {settings.level}, init has {len(init.levels)}")
        integral = header.representation == INTEGRAL
        if integral != init.integral:
            raise BitstreamError(f"representation {header.representation} does not match init {init.name}")
        if integral:
            if not serves_width(init, settings.width):
                raise BitstreamError(f"stream uses {settings.width} channels, init {init.name} serves "
                                     f"{init.widths[0]}..{init.widths[1]}")
            if settings.preview_min > settings.width:
                raise BitstreamError(f"stream was fitted for previews of {settings.preview_min} channels, "
                                     f"more than its {settings.width}")
        net = TileNetwork.of(init, settings.level, settings.width if integral else None)
        return cls(settings, net, grid_for(init, header.height, header.width))

    @property
    def id(self) -> int:
        return self.net.representation

    @property
    def channels(self) -> int:
        return self.net.width

    @property
    def previews(self) -> bool:
        return self.net.integral

    def macs_per_pixel(self, out_h: int | None = None, out_w: int | None = None) -> float:
        """Multiply-accumulates per output pixel of a decode (native size by default): every point of
        every overlapping tile through its dense network (pruned weights still multiply), plus the blend."""
        out_h, out_w = out_h or self.grid.height, out_w or self.grid.width
        spec = replace(self.net.spec, hidden=self.channels)
        per_point = sum(math.prod(shape) for shape in spec.shapes()[0::2]) + spec.out_features
        return self.grid.evaluations(out_h, out_w) * per_point / (out_h * out_w)

    def settings_bytes(self) -> bytes:
        return pack_settings(self.id, self.settings)

    def symbol_counts(self) -> list[int]:
        return symbol_counts(self.net, self.grid)

    def rate_weight(self, bpp: float) -> float:
        return tile_rate_weight(bpp)

    @property
    def fitted_index(self) -> int | None:
        """Tiles are fitted at a rate weight, not at a step: the rate control searches every step."""
        return None

    @property
    def pinned(self) -> bool:
        return False

    def quality_index(self, quality: float) -> int:
        """+10 quality halves every quantization step; quality 50 is about 0.24 bpp on val images."""
        return int(round(1.6 * quality)) + 272

    @property
    def version(self) -> int:
        return FIRST_VERSION[self.id]

    @property
    def coded(self) -> tuple[int, int]:
        return self.grid.height, self.grid.width

    def rate_range(self, pixels: np.ndarray, device: str) -> tuple[float, float]:
        """Any: the step index moves a tile fit's rate from all zeros to lossless."""
        return 0.0, math.inf

    def fit(self, pixels: np.ndarray, steps: int, lr: float | None, rate_weight: float, device: str,
            progress: Callable[[int], None] | None = None, target_bpp: float | None = None) -> Fitted:
        """The tiles' fit; its rate is set by the step index alone (`target_bpp` is not needed)."""
        from .fitting import fit  # torch: only an encoder pays for it

        return fit(self.net, self.grid, pixels, steps, FIT_LR if lr is None else lr, rate_weight, device, progress,
                   self.settings.preview_min)

    def code(self, fitted: Fitted, index: int, rounding: float) -> list[CodedTensor]:
        return quantize_fit(fitted, index, rounding)

    def encode_words(self, tensors: list[CodedTensor]) -> np.ndarray:
        return encode_tensors(tensors)

    def decode_words(self, words: np.ndarray, records: list[tuple[int, int, int]],
                     channels: int | None = None) -> list[CodedTensor]:
        """Every tensor under its own Laplace; a preview needs them all (it evaluates fewer channels)."""
        return decode_tensors(words, [(c, *r) for c, r in zip(self.symbol_counts(), records, strict=True)])

    def render(self, tensors: list[CodedTensor], out_h: int, out_w: int, channels: int | None = None) -> np.ndarray:
        """Pixels from the decoded deltas; `channels` < the coded width is a preview (integral tiles only)."""
        return render(self.net, dequantized_params(self.net, self.grid, tensors), self.grid, out_h, out_w,
                      width=channels)
