"""inrcodec: an image codec built on meta-learned sparse SIRENs.

    data = inrcodec.encode("photo.png", bpp=0.5)      # -> bytes (.inr)
    pixels = inrcodec.decode(data, resolution=1024)   # -> (H, W, 3) uint8
    fit = inrcodec.analyse("photo.png")                # fit once, then code at several rates:
    small, large = fit.compress(bpp=0.25), fit.compress(bpp=1.0)
"""
from .codec import PRESETS, Analysis, StreamInfo, analyse, decode, encode, info
from .errors import BitstreamError, ImageError, InrCodecError, UsageError

__version__ = "0.1.0"
__all__ = ["encode", "decode", "analyse", "Analysis", "info", "StreamInfo", "PRESETS", "InrCodecError", "BitstreamError",
           "ImageError", "UsageError", "__version__"]
