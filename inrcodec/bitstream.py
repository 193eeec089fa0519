"""The .inr container: every byte of the format is written and read here (spec: bitstreams/FORMAT.md).

The container knows images, inits and the framing of coded tensors, not networks: a
representation hands it a StreamHeader, its tensors' records and its payload words and gets
them back (the representation decodes its own symbols from the words), so a new
representation means a new `representation` id, not a new container. A representation's
settings are opaque bytes here; each packs its own.
"""
from __future__ import annotations

import os
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Union

import numpy as np

from .entropy import CodedTensor
from .errors import BitstreamError, UsageError

MAGIC = b"\x89INR"
FIRST_VERSION = {1: 1, 2: 2, 3: 3}  # representation -> the version that introduced it (and that its streams carry)
SUPPORTED_VERSIONS = (1, 2, 3, 4)  # 4: representation 3 coded at a reduced size (its settings say)
FORMAT_VERSION = max(SUPPORTED_VERSIONS)  # the newest version this inrcodec writes
_FIXED = struct.Struct(">4sBBHHB")  # magic, version, representation, height, width, init-name length
_TENSOR = struct.Struct(">HBH")  # step index, scale index, radius
_CRC = struct.Struct(">I")
# Far above the largest stream the encoder writes (6 MP at 64 bpp is 48 MB): a bound on reading input.
MAX_STREAM_BYTES = 64 << 20

# what decode and info take: a path, the bytes themselves (any buffer), or a binary file
StreamSource = Union[str, os.PathLike, bytes, bytearray, memoryview, IO[bytes]]


def stream_bytes(src: StreamSource) -> bytes:
    """The bytes of a stream given as a path, a bytes-like object or a binary file object (read
    from its position to the end), so that the API takes whatever the caller holds. A missing
    or unreadable path is a UsageError naming it; an unsupported type a TypeError. Paths and
    files are read to at most MAX_STREAM_BYTES, so `decode /dev/zero` is refused, not a hang."""
    if isinstance(src, (str, os.PathLike)):
        path = Path(src)
        if path.is_dir():
            raise UsageError(f"{path} is a directory, not an .inr file")
        try:
            with open(path, "rb") as f:
                return _bounded_read(f)
        except FileNotFoundError:
            raise UsageError(f"no such file: {path}") from None
        except OSError as e:
            raise UsageError(f"cannot read {path}: {e.strerror or e}") from None
    if hasattr(src, "read"):
        return _bounded_read(src)
    if type(src) is bytes:  # already the stream (e.g. read by the CLI): no copy
        _check_size(len(src))
        return src
    try:
        view = memoryview(src)  # bytes, bytearray, memoryview, array.array, numpy...
    except TypeError:
        raise TypeError(f"a stream is a path, bytes-like object or binary file, not {type(src).__name__}") from None
    _check_size(view.nbytes)
    return view.tobytes()


def _bounded_read(f: Any) -> bytes:  # any object with read(): what it returns is checked
    data = f.read(MAX_STREAM_BYTES + 1)
    if not isinstance(data, bytes):
        raise UsageError(f"the stream's file object gave {type(data).__name__}, not bytes: open it in binary mode")
    _check_size(len(data))
    return data


def _check_size(n: int) -> None:
    if n > MAX_STREAM_BYTES:
        raise BitstreamError(f"not an .inr stream: larger than {MAX_STREAM_BYTES >> 20} MiB, which no inrcodec "
                             "stream reaches")


@dataclass(frozen=True)
class StreamHeader:
    representation: int
    height: int
    width: int
    init_name: str
    init_checksum: bytes  # 8 bytes
    settings: bytes  # representation-specific, opaque to the container
    version: int | None = None  # None: FIRST_VERSION of the representation; a later one for settings it added


def write_stream(header: StreamHeader, tensors: list[CodedTensor], words: np.ndarray) -> bytes:
    """The stream of a header, its coded tensors' records and the payload `words`, as the representation
    codes them (its `encode_words`)."""
    name = header.init_name.encode("ascii")
    if not (0 < header.height < 65536 and 0 < header.width < 65536):
        raise ValueError("image sides must be 1..65535 pixels")
    version = header.version or FIRST_VERSION[header.representation]  # so representation 1 stays readable by 0.2
    out = bytearray(_FIXED.pack(MAGIC, version, header.representation, header.height, header.width, len(name)))
    out += name + header.init_checksum
    out += bytes([len(header.settings)]) + header.settings
    out += bytes([len(tensors)])
    for t in tensors:
        out += _TENSOR.pack(t.step_index, t.scale_index, t.radius)
    out += struct.pack(">I", len(words)) + words.astype("<u4").tobytes()
    out += _CRC.pack(zlib.crc32(out))
    return bytes(out)


class _Reader:
    def __init__(self, data: bytes):
        self.data, self.pos = data, 0

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise BitstreamError("truncated .inr data")
        chunk = self.data[self.pos:self.pos + n]
        self.pos += n
        return chunk

    def unpack(self, st: struct.Struct) -> tuple:
        return st.unpack(self.take(st.size))


def read_header(data: bytes) -> tuple[StreamHeader, list[tuple[int, int, int]], int]:
    """Parse and validate everything but the payload: (header, per-tensor integers, payload offset).

    The payload's word count must fill the stream exactly, up to the CRC.
    """
    if len(data) < 4 or data[:4] != MAGIC:
        raise BitstreamError("not an .inr file (bad magic bytes)")
    if len(data) < _FIXED.size + _CRC.size:
        raise BitstreamError("truncated .inr data")
    version = data[4]
    if version not in SUPPORTED_VERSIONS:
        raise BitstreamError(f"unsupported .inr format version {version} (this inrcodec reads "
                             f"{', '.join(map(str, SUPPORTED_VERSIONS))})")
    (crc,) = _CRC.unpack(data[-4:])
    if zlib.crc32(data[:-4]) != crc:
        raise BitstreamError("corrupted or truncated .inr data (CRC32 mismatch)")
    r = _Reader(data[:-4])
    _, _, rep, h, w, name_len = r.unpack(_FIXED)
    if rep not in FIRST_VERSION or FIRST_VERSION[rep] > version:
        raise BitstreamError(f"unknown representation {rep} in a version {version} .inr header")
    try:
        name = r.take(name_len).decode("ascii")
    except UnicodeDecodeError as e:
        raise BitstreamError("malformed init name in .inr header") from e
    checksum = r.take(8)
    settings = r.take(r.take(1)[0])
    records = [r.unpack(_TENSOR) for _ in range(r.take(1)[0])]
    payload = r.pos
    (n_words,) = struct.unpack(">I", r.take(4))
    r.take(4 * n_words)
    if r.pos != len(r.data):
        raise BitstreamError("trailing bytes after the .inr payload")
    if h == 0 or w == 0:
        raise BitstreamError("malformed .inr header (zero image size)")
    if any(radius == 0 and scale != 0 for _, scale, radius in records):  # the encoder writes 0 there
        raise BitstreamError("malformed .inr header (a scale index for an all-zero tensor)")
    return StreamHeader(rep, h, w, name, checksum, settings, version), records, payload


def payload_words(data: bytes, offset: int) -> np.ndarray:
    """The payload's range-coder words, at the offset read_header found (their count is checked there)."""
    (n_words,) = struct.unpack_from(">I", data, offset)
    return np.frombuffer(data, dtype="<u4", count=n_words, offset=offset + 4).astype(np.uint32)
