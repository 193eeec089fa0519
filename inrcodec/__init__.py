"""inrcodec: an image codec built on implicit neural representations (latent grids, sparse SIRENs).

    data = inrcodec.encode("photo.png", bpp=0.5)      # -> bytes (.inr)
    pixels = inrcodec.decode(data, resolution=1024)   # -> (H, W, 3) uint8
    preview = inrcodec.decode(data, width_fraction=0.5)  # the coarsest latent grids: a fast preview
    fit = inrcodec.analyse("photo.png", bpp=0.5, init="integral-siren-t32-v1")  # a tile fit codes
    smaller, larger = fit.compress(bpp=0.4), fit.compress(bpp=0.6)               # at any rate
"""
from __future__ import annotations

from typing import Any

from .decoder import StreamInfo, decode, info
from .errors import BitstreamError, ImageError, InrCodecError, UsageError
from .presets import PRESETS

_ENCODER = ("encode", "analyse", "Analysis", "rate_weight")  # from encoder.py, which imports torch


def __getattr__(name: str) -> Any:
    """The encoder's names, imported on first use: decoding and `import inrcodec` stay free of torch."""
    if name in _ENCODER:
        from . import encoder
        return getattr(encoder, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__version__ = "0.5.8"
__all__ = ["encode", "decode", "analyse", "Analysis", "rate_weight", "info", "StreamInfo", "PRESETS", "InrCodecError", "BitstreamError",
           "ImageError", "UsageError", "__version__"]
