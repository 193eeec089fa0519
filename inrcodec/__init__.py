"""inrcodec: an image codec built on meta-learned sparse SIRENs.

    data = inrcodec.encode("photo.png", bpp=0.5)      # -> bytes (.inr)
    pixels = inrcodec.decode(data, resolution=1024)   # -> (H, W, 3) uint8
"""
from .codec import PRESETS, StreamInfo, decode, encode, info
from .errors import BitstreamError, ImageError, InrCodecError, UsageError

__version__ = "0.1.0"
__all__ = ["encode", "decode", "info", "StreamInfo", "PRESETS", "InrCodecError", "BitstreamError",
           "ImageError", "UsageError", "__version__"]
