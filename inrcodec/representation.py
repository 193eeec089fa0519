"""The one interface every representation implements, and the registry the header's id selects from.

A representation turns pixels into the coded tensors of a stream and back. Two constructors,
`plan` (encoder: the networks for an image and a target) and `rebuild` (decoder: the same
networks from a header and its init, validated), make an object with the methods below:
`fit` (gradient steps, torch), `code` (the fit to integers at a step index) and `render`
(decoded integers to pixels on any grid, numpy). The container (bitstream.py) and the decoder
know only this interface, and the encoder only it once it has planned with the representation
it ships (tiles.py today). So a new representation is one new module, one line in
`REPRESENTATIONS` and its first format version in bitstream.FIRST_VERSION.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import numpy as np

from .bitstream import StreamHeader
from .entropy import CodedTensor
from .errors import BitstreamError
from .sharedinit import SharedInit
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
        """Hidden channels of its networks (what a preview may evaluate fewer of)."""

    @property
    def previews(self) -> bool:
        """Whether `render` may evaluate fewer channels than were coded."""

    def settings_bytes(self) -> bytes: ...

    def macs_per_pixel(self, out_h: int | None = None, out_w: int | None = None) -> float:
        """The decoder's multiply-accumulates per output pixel (native size by default)."""

    def symbol_counts(self) -> list[int]:
        """How many integers each coded tensor holds: fixed by the header and init, never by the payload."""

    def fit(self, pixels: np.ndarray, steps: int, lr: float, rate_weight: float, device: str,
            progress: Callable[[int], None] | None = None) -> Any:
        """Gradient steps from the init to this image (torch, imported only here)."""

    def code(self, fitted: Any, index: int, rounding: float) -> list[CodedTensor]:
        """The fit as integers at a global step index (the rate control's one knob)."""

    def render(self, tensors: list[CodedTensor], out_h: int, out_w: int, channels: int | None = None) -> np.ndarray:
        """(out_h * out_w, 3) float pixels from the decoded integers, on any grid; numpy only."""


REPRESENTATIONS: dict[int, Callable[[StreamHeader, SharedInit], Representation]] = {
    1: Tiles.rebuild,  # overlapping tiles of sparse SIRENs, fixed width
    2: Tiles.rebuild,  # the same on integral nodes: any width, previews
}


def rebuild(header: StreamHeader, init: SharedInit) -> Representation:
    """The representation a header names, rebuilt on its init and checked against it."""
    make = REPRESENTATIONS.get(header.representation)
    if make is None:
        raise BitstreamError(f"unknown representation {header.representation} in .inr header")
    return make(header, init)
