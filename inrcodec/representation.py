"""The one interface every representation implements, and the registry the header's id selects from.

A representation turns pixels into the coded tensors of a stream and back. Two constructors,
`plan` (encoder: the networks for an image and a target) and `rebuild` (decoder: the same
networks from a header and its init, validated), make an object with the methods below:
`fit` (gradient steps, torch), `code` (the fit to integers at a step index) and `render`
(decoded integers to pixels on any grid, numpy). The container (bitstream.py) and the decoder
know only this interface, and the encoder only it once it has planned with the representation
it ships. So a new representation is one new folder (representations/), one line in
`REPRESENTATIONS` and its first format version in bitstream.FIRST_VERSION.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from .bitstream import StreamHeader
from .entropy import CodedTensor
from .errors import BitstreamError
from .presets import LATENT_PRESETS, PRESETS
from .representations.latents.init import LatentInit, load_latent_init, open_latent_init
from .representations.latents.stream import LATENTS, Latents
from .sharedinit import SharedInit, load_init, open_init
from .tiles import Tiles


class Representation(Protocol):
    """A stream's networks, rebuilt (decoder) or planned (encoder): everything but the coded numbers."""

    @property
    def id(self) -> int:
        """The header's representation id."""

    @property
    def settings(self) -> Any:
        """Its integer settings, as the header stores them (`settings_bytes`); `inrcodec info` reads
        their `level`, `steps`, `preset` and `preview_min` (0 where a representation has none)."""

    @property
    def channels(self) -> int:
        """What a preview may evaluate fewer of: hidden channels (tiles) or latent grids (latents)."""

    @property
    def previews(self) -> bool:
        """Whether a decode may use fewer `channels` than were coded."""

    def settings_bytes(self) -> bytes: ...

    @property
    def version(self) -> int:
        """The format version its header carries: the lowest that has these settings."""

    @property
    def coded(self) -> tuple[int, int]:
        """(rows, cols) of the image its numbers describe: the header's size, or less (latents at a
        low rate), which the decode stretches to any output grid."""

    def macs_per_pixel(self, out_h: int | None = None, out_w: int | None = None) -> float:
        """The decoder's multiply-accumulates per output pixel (native size by default)."""

    def symbol_counts(self) -> list[int]:
        """How many integers each coded tensor holds: fixed by the header and init, never by the payload."""

    def rate_weight(self, bpp: float) -> float:
        """The fit's rate weight (lambda) for a nominal rate in bits per pixel."""

    def quality_index(self, quality: float) -> int:
        """The global step index a quality target 0..100 codes at."""

    @property
    def fitted_index(self) -> int | None:
        """The step index a fit aims its rate at, which a bpp target tries first (None: no such index)."""

    @property
    def pinned(self) -> bool:
        """Whether a fit codes only at `fitted_index`: a bpp target it misses there is missed, unsearched."""

    def rate_range(self, pixels: np.ndarray, device: str) -> tuple[float, float]:
        """Bits per pixel, header aside, that a fit of this image can be coded at (torch; a short pass)."""

    def fit(self, pixels: np.ndarray, steps: int, lr: float | None, rate_weight: float, device: str,
            progress: Callable[[int], None] | None = None, target_bpp: float | None = None) -> Any:
        """Gradient steps from the init to this image (torch, imported only here); `lr` None is the
        representation's own; `target_bpp` lets a fit aim its rate."""

    def code(self, fitted: Any, index: int, rounding: float) -> list[CodedTensor]:
        """The fit as integers at a global step index (the rate control's one knob)."""

    def encode_words(self, tensors: list[CodedTensor]) -> np.ndarray:
        """The payload: the tensors range-coded under the representation's entropy model."""

    def decode_words(self, words: np.ndarray, records: list[tuple[int, int, int]],
                     channels: int | None = None) -> list[CodedTensor]:
        """The tensors from the payload and the header's records, refusing words the encoder would not
        write; `channels` fewer than coded may decode only what a preview needs."""

    def render(self, tensors: list[CodedTensor], out_h: int, out_w: int, channels: int | None = None) -> np.ndarray:
        """(out_h * out_w, 3) float pixels from the decoded integers, on any grid; numpy only."""


@dataclass(frozen=True)
class Kind:
    """What the header's representation id selects: how its inits load and how its networks rebuild."""

    load: Callable[[str], Any]  # a shipped init by name (streams name theirs)
    open: Callable[[str], Any]  # a shipped name or a research .npz path (the caller's choice)
    rebuild: Callable[[StreamHeader, Any], Representation]


TILES = Kind(load_init, open_init, Tiles.rebuild)
REPRESENTATIONS: dict[int, Kind] = {
    1: TILES,  # overlapping tiles of sparse SIRENs, fixed width
    2: TILES,  # the same on integral nodes: any width, previews
    LATENTS: Kind(load_latent_init, open_latent_init, Latents.rebuild),  # latent grids, a sparse synthesis, an ARM
}


def kind(representation: int) -> Kind:
    found = REPRESENTATIONS.get(representation)
    if found is None:
        raise BitstreamError(f"unknown representation {representation} in .inr header")
    return found


def open_any_init(name_or_path: str) -> SharedInit | LatentInit:
    """The init an encoder was asked for, of whichever representation it belongs to (its file says)."""
    try:
        return open_init(name_or_path)
    except ValueError:
        return open_latent_init(name_or_path)


def plan(init: SharedInit | LatentInit, height: int, width: int, rate: float, **options: Any) -> Representation:
    """The encoder's representation for an image and a nominal rate: the one its init belongs to."""
    if isinstance(init, LatentInit):
        return Latents.plan(init, height, width, rate, **options)
    return Tiles.plan(init.to("cpu"), height, width, rate, **options)  # torch tensors: at_width is fitted math


def preset_steps(init: SharedInit | LatentInit) -> dict[str, int]:
    """Fitting steps of each preset for the representation the init belongs to."""
    return LATENT_PRESETS if isinstance(init, LatentInit) else PRESETS


def rebuild(header: StreamHeader, init: Any) -> Representation:
    """The representation a header names, rebuilt on its init and checked against it."""
    return kind(header.representation).rebuild(header, init)
