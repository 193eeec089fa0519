"""A Pillow plugin for .inr files, as pillow-avif-plugin and pillow-heif provide for theirs.

    import inrcodec.pillow  # registers the format
    from PIL import Image
    im = Image.open("photo.inr")           # RGB at the native size; nothing decoded yet
    im.thumbnail((256, 256))               # decodes straight at a reduced size (draft), then resizes
    im.save("copy.inr", bpp=0.5)           # encodes; also quality=, preset=, steps=, scalable=, device=

Opening parses the header only. `draft` picks the output size and `load` renders the networks
at it: the decoder evaluates the image on any pixel grid, so a reduced decode costs less and
is not a resize of the full one.
"""
from __future__ import annotations

from typing import IO

from PIL import Image, ImageFile

import inrcodec

FORMAT = "INR"
MAGIC = b"\x89INR"
SAVE_OPTIONS = ("bpp", "quality", "preset", "steps", "scalable", "device")  # passed through to inrcodec.encode


def _accept(prefix: bytes) -> bool:
    return prefix[:4] == MAGIC


def draft_size(native: tuple[int, int], request: tuple[int, int]) -> tuple[int, int]:
    """The smallest (width, height) with the native aspect that covers `request` in both sides,
    never above the native size: JPEG's draft contract, so that `thumbnail` only resizes down."""
    (w, h), (rw, rh) = native, (max(1, request[0]), max(1, request[1]))
    if rw * h >= rh * w:  # the width binds
        size = rw, -(-h * rw // w)
    else:
        size = -(-w * rh // h), rh
    return native if size[0] >= w or size[1] >= h else size


class InrImageFile(ImageFile.ImageFile):
    """An .inr stream: RGB, its size read from the header, pixels rendered by `InrDecoder` on load."""

    format = FORMAT
    format_description = "inrcodec neural image"

    def _open(self) -> None:
        assert self.fp is not None
        data = self.fp.read()  # streams are small, and info and decode both want the whole of it
        if not _accept(data):
            raise SyntaxError("not an .inr stream")
        try:
            stream = inrcodec.info(data)
        except inrcodec.InrCodecError as e:  # ours, but unreadable: say why rather than "cannot identify"
            raise OSError(f"broken .inr stream: {e}") from e
        self._mode = "RGB"
        self._native = self._size = (stream.width, stream.height)
        self.decodermaxblock = len(data)  # one read hands the decoder the whole stream
        self._set_tile()

    def _set_tile(self) -> None:
        self.tile = [ImageFile._Tile("inr", (0, 0) + self.size, 0, (self.decodermaxblock,))]

    def draft(self, mode: str | None, size: tuple[int, int] | None) -> tuple[str, tuple[int, int, int, int]] | None:
        """Decode at a reduced size that covers `size` (mode stays RGB); returns (mode, box of the
        native image in the drafted one) as JPEG does, or None once loaded or without a size."""
        if size is None or not self.tile:
            return None
        self._size = draft_size(self._native, size)
        self._set_tile()
        return self.mode, (0, 0) + self.size


class InrDecoder(ImageFile.PyDecoder):
    """Renders the whole stream at the tile's size in one call (args: the stream's length in bytes)."""

    def decode(self, buffer: bytes) -> tuple[int, int]:  # type: ignore[override]  # load() passes bytes
        (length,) = self.args
        data = bytes(buffer)
        if len(data) < length:
            return 0, 0  # ask ImageFile.load for more
        try:
            pixels = inrcodec.decode(data[:length], width=self.state.xsize, height=self.state.ysize)
        except inrcodec.InrCodecError as e:
            raise OSError(f"broken .inr stream: {e}") from e
        self.set_as_raw(pixels.tobytes(), "RGB")
        return -1, 0


def _save(im: Image.Image, fp: IO[bytes], filename: str | bytes) -> None:
    options = {k: im.encoderinfo[k] for k in SAVE_OPTIONS if k in im.encoderinfo}
    fp.write(inrcodec.encode(im, **options))


Image.register_open(FORMAT, InrImageFile, _accept)
Image.register_decoder("inr", InrDecoder)
Image.register_save(FORMAT, _save)
Image.register_extension(FORMAT, ".inr")
Image.register_mime(FORMAT, "image/x-inr")
