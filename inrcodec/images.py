"""Reading images into 8-bit sRGB pixels (or refusing them with a reason) and writing outputs
without ever leaving a partial file or replacing a special one."""
from __future__ import annotations

import functools
import io
import os
import secrets
import stat
import warnings
from pathlib import Path
from typing import IO, Union

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import ImageError, ImageWarning, UsageError

try:
    from PIL import ImageCms
except ImportError:  # Pillow built without LittleCMS: ICC profiles are then ignored, with a warning
    ImageCms = None  # type: ignore[assignment]  # mypy types the name as the module it imports

MAX_SIDE = 65535  # the stream stores each side in 16 bits


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


# what encode and analyse take: a path, a binary file object, a PIL image or an (H, W, 3) uint8 array
ImageSource = Union[str, os.PathLike, IO[bytes], Image.Image, np.ndarray]


def image_pixels(image: ImageSource, max_pixels: int | None = None) -> np.ndarray:
    """(H, W, 3) uint8 pixels of any image the API takes: an array (greyscale replicated, opaque
    RGBA dropped to RGB), a PIL image, or a file by path or file object (see load_image)."""
    if isinstance(image, np.ndarray):
        a = image[..., None].repeat(3, axis=2) if image.ndim == 2 else image
        if a.ndim != 3 or a.shape[2] not in (3, 4) or a.dtype != np.uint8:
            raise ImageError("expected an (H, W, 3) uint8 array")
        return to_rgb8(Image.fromarray(a, "RGBA")) if a.shape[2] == 4 else np.ascontiguousarray(a)
    if isinstance(image, Image.Image):
        return to_rgb8(image)
    return load_image(image, max_pixels)  # refused from its header, before decoding


def load_image(source: str | os.PathLike | IO[bytes], max_pixels: int | None = None) -> np.ndarray:
    """8-bit sRGB pixels of an image file (a path, or a binary file object such as stdin) as a
    viewer shows it: EXIF orientation applied, an ICC profile converted to sRGB, the first frame
    of an animation (with an ImageWarning).

    With `max_pixels`, an image above it (or above 65535 on a side) is refused from its header,
    before its pixels are decoded. Pillow's own decompression-bomb guard stays as it is and
    refuses, as an ImageError, what it would only warn about."""
    if isinstance(source, (str, os.PathLike)):
        p, is_path = Path(source), True
    elif hasattr(source, "read"):
        p, is_path = Path(str(getattr(source, "name", "<file object>"))), False  # a name for messages
    else:
        raise TypeError("an image is a path, binary file object, PIL image or uint8 array, "
                        f"not {type(source).__name__}")
    if is_path and not p.exists():
        raise ImageError(f"no such file: {p}")
    if is_path and p.is_dir():
        raise ImageError(f"{p} is a directory, not an image")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(p if is_path else source) as img:
                w, h = img.size
                if max_pixels is not None and (w * h > max_pixels or max(w, h) > MAX_SIDE):
                    raise ImageError(f"{p} is {w}x{h} pixels, too large to encode (limit {max_pixels / 1e6:g} "
                                     f"megapixels, {MAX_SIDE} per side)")
                frames = getattr(img, "n_frames", 1)
                img.load()
                icc = img.info.get("icc_profile")
                img = ImageOps.exif_transpose(img)
    except UnidentifiedImageError:
        raise ImageError(f"{p} is not an image Pillow can read") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise ImageError(f"{p}: {e}") from None
    except (OSError, SyntaxError) as e:  # Pillow reports a corrupted file as either
        raise ImageError(f"cannot read {p}: {e}") from None
    if frames > 1:
        warnings.warn(ImageWarning(f"{p} has {frames} frames: only the first is encoded"), stacklevel=2)
    return to_rgb8(_to_srgb(img, icc, p) if icc else img)


def _to_srgb(img: Image.Image, icc: bytes, name: Path) -> Image.Image:
    """The image converted from its embedded ICC profile to sRGB, which the codec's pixels mean
    (alpha is kept aside: LittleCMS would not carry it); the image unchanged, with an
    ImageWarning, when the profile cannot be applied."""
    if img.mode in ("P", "PA"):  # the palette's colours are in the profile's space too
        img = img.convert("RGBA" if img.mode == "PA" or "transparency" in img.info else "RGB")
    colour_mode = {"RGBA": "RGB", "LA": "L"}.get(img.mode)
    reason = "Pillow was built without LittleCMS"
    if ImageCms is not None:
        try:
            out = ImageCms.profileToProfile(img.convert(colour_mode) if colour_mode else img,
                                            ImageCms.ImageCmsProfile(io.BytesIO(icc)),
                                            ImageCms.createProfile("sRGB"), outputMode="RGB")
            assert out is not None  # profileToProfile returns None only when converting in place
            if colour_mode:
                out.putalpha(img.getchannel("A"))
            return out
        except (ImageCms.PyCMSError, OSError, ValueError) as e:  # a broken profile, or one for another mode
            reason = str(e)
    warnings.warn(ImageWarning(f"{name}: its ICC colour profile was ignored ({reason}); colours may be off"),
                  stacklevel=3)
    return img


def image_format(path: str | os.PathLike) -> str:
    """The Pillow format an output name asks for, PNG when it has no extension. An extension
    Pillow does not know, or cannot write 8-bit RGB as, is refused (try it on one pixel)."""
    suffix = Path(path).suffix.lower()
    if not suffix:
        return "PNG"
    Image.preinit()  # the common formats' plugins; all of them (Image.init) cost a decode 0.1-0.2 s
    fmt = Image.EXTENSION.get(suffix) or Image.registered_extensions().get(suffix)
    if fmt is None:
        raise UsageError(f"unknown image extension {suffix} of {path}: use .png, .jpg, .webp, .tif, ...")
    if not _writes_rgb(fmt):
        raise UsageError(f"Pillow cannot write RGB images as {fmt} ({suffix} of {path})")
    return fmt


@functools.lru_cache(maxsize=None)
def _writes_rgb(fmt: str) -> bool:
    """Whether Pillow can save 8-bit RGB as `fmt`: tried once per format and process, since
    every decode's output name asks (twice in the CLI, once per file in a batch)."""
    try:
        Image.new("RGB", (1, 1)).save(io.BytesIO(), format=fmt)
    except (KeyError, ValueError, OSError):  # no save handler, or none for RGB
        return False
    return True


def encode_image_file(pixels: np.ndarray, path: str | os.PathLike) -> bytes:
    """Encode pixels in the format the output name asks for (see image_format)."""
    buf = io.BytesIO()
    Image.fromarray(pixels, "RGB").save(buf, format=image_format(path))
    return buf.getvalue()


def _target(path: Path) -> tuple[Path, os.stat_result | None]:
    """The file a write to `path` lands in and its status (None: it does not exist yet).
    A named pipe or character device is opened by `path` itself, so that the kernel follows
    /proc's links (/dev/stdout as a pipe has no real path); a regular file or new name behind
    a symlink is the link's target, so that the link is kept. Other kinds are refused:
    writing an image onto a socket, block device or directory is never what was meant."""
    try:
        st = path.stat()
    except FileNotFoundError:
        st = None
    except OSError as e:  # a name too long, a symlink loop
        raise UsageError(f"cannot use output {path}: {e.strerror or e}") from None
    if st is not None and (stat.S_ISFIFO(st.st_mode) or stat.S_ISCHR(st.st_mode)):
        return path, st
    if st is None or stat.S_ISREG(st.st_mode):
        return (Path(os.path.realpath(path)) if path.is_symlink() else path), st
    kind = "a directory" if stat.S_ISDIR(st.st_mode) else "a block device" if stat.S_ISBLK(st.st_mode) \
        else "a socket" if stat.S_ISSOCK(st.st_mode) else "not a regular file"
    raise UsageError(f"output {path} is {kind}: refusing to write to it")


def _temp_file(target: Path) -> tuple[int, Path]:
    """A new file beside `target` with a short name (the output's may be close to the 255-byte
    limit), created 0o666 so that the umask decides its mode, as for any other new file."""
    tmp = target.with_name(f".{target.name[:32]}.{secrets.token_hex(6)}.tmp")
    return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), tmp


def check_output(path: str | os.PathLike) -> None:
    """Refuse, before any work, an output that write_output could not write."""
    p = Path(path)
    target, st = _target(p)
    if st is not None and not stat.S_ISREG(st.st_mode):
        if not os.access(target, os.W_OK):
            raise UsageError(f"cannot write {p}: permission denied")
        return
    try:  # create the temporary file: os.access says yes to root in read-only places such as /proc
        fd, tmp = _temp_file(target)
        os.close(fd)
        tmp.unlink()
    except OSError as e:
        raise UsageError(f"cannot write {p}: {e.strerror or e}") from None


def write_output(path: str | os.PathLike, data: bytes) -> None:
    """Write `data` to `path`. A regular file is written via a temporary file renamed over it
    (never a partial output; an existing file keeps its mode); a named pipe or character device
    (/dev/null, /dev/stdout) is written directly, never replaced; a symlink's target is written."""
    p = Path(path)
    target, st = _target(p)
    try:
        if st is not None and not stat.S_ISREG(st.st_mode):
            with open(target, "wb") as f:
                f.write(data)
            return
        fd, tmp = _temp_file(target)
        try:
            with os.fdopen(fd, "wb") as f:
                if st is not None:
                    os.fchmod(f.fileno(), stat.S_IMODE(st.st_mode))
                f.write(data)
            os.replace(tmp, target)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
    except OSError as e:
        raise UsageError(f"cannot write {p}: {e.strerror or e}") from None
