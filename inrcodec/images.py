"""Reading images into 8-bit RGB (or refusing them with a reason) and writing files atomically."""
from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from .errors import ImageError

Image.MAX_IMAGE_PIXELS = 1 << 28  # Pillow's decompression-bomb guard, raised to 268 MP


def to_rgb8(img: Image.Image) -> np.ndarray:
    """8-bit RGB pixels from any common mode; greyscale is replicated, 16-bit is rescaled,
    palettes are expanded, opaque alpha is dropped, and real transparency is refused."""
    mode = img.mode
    if mode in ("I;16", "I;16B", "I;16L", "I"):
        a = np.asarray(img, dtype=np.float64)
        if a.min() < 0 or a.max() > 65535:
            raise ImageError(f"unsupported {mode} image: values outside 0..65535")
        a = np.rint(a / 257.0).astype(np.uint8)
        return np.repeat(a[..., None], 3, axis=2)
    if mode == "F":
        raise ImageError("floating-point images are not supported: convert to 8- or 16-bit first")
    if mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    elif mode in ("PA", "LA", "La"):
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "RGBa"):
        alpha = np.asarray(img.getchannel("A"))
        if alpha.min() < 255:
            raise ImageError("image has transparency (alpha < 255): inrcodec codes RGB only; "
                             "flatten it onto a background first")
    return np.ascontiguousarray(np.asarray(img.convert("RGB"), dtype=np.uint8))


def load_image(path: str | os.PathLike) -> np.ndarray:
    p = Path(path)
    if not p.exists():
        raise ImageError(f"no such file: {p}")
    if p.is_dir():
        raise ImageError(f"{p} is a directory, not an image")
    try:
        with Image.open(p) as img:
            img.load()
            return to_rgb8(img)
    except UnidentifiedImageError:
        raise ImageError(f"{p} is not an image Pillow can read") from None
    except Image.DecompressionBombError as e:
        raise ImageError(f"{p}: {e}") from None
    except OSError as e:
        raise ImageError(f"cannot read {p}: {e}") from None


def atomic_write(path: str | os.PathLike, data: bytes) -> None:
    """Write via a temporary file in the same folder and rename: never a partial output."""
    p = Path(path)
    fd, tmp = tempfile.mkstemp(dir=p.parent if str(p.parent) else ".", prefix=f".{p.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, p)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def encode_image_file(pixels: np.ndarray, path: str | os.PathLike) -> bytes:
    """Encode pixels in the format the output name asks for (PNG when in doubt)."""
    fmt = Image.registered_extensions().get(Path(path).suffix.lower(), "PNG")
    buf = io.BytesIO()
    Image.fromarray(pixels, "RGB").save(buf, format=fmt)
    return buf.getvalue()
