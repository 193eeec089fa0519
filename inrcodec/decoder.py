"""Decoding: .inr bytes to pixels at any size, with numpy, constriction and Pillow only (no torch).

`parse` validates a header against the init it names and rebuilds the representation the
header's id selects (representation.py), `decode_tensors` entropy-decodes the integers, and
`decode` has the representation render them on the output grid. The encoder (encoder.py)
fits the same networks on torch tensors.
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from .bitstream import StreamHeader, StreamSource, payload_words, read_header, stream_bytes
from .entropy import CodedTensor
from .errors import BitstreamError, UsageError
from .presets import MAX_ENCODE_PIXELS, MAX_OUTPUT_PIXELS, PRESET_CODES
from .representation import Representation, kind


@dataclass(frozen=True)
class StreamInfo:
    """What `inrcodec info` prints: the header, decoded, plus size and rate."""

    version: int
    representation: int
    height: int
    width: int
    init_name: str
    init_checksum: str
    level: int
    steps: int
    preset: str
    bytes: int
    tensors: int
    network_width: int  # hidden channels of every tile network
    preview_min: int  # representation 2: fitted for decodes down to this width (0: not fitted for it)
    macs_per_pixel: int  # decode cost at the native size: multiply-accumulates per pixel
    coded_height: int  # the image its numbers describe: the native size, or less (latents at a low rate)
    coded_width: int

    @property
    def bpp(self) -> float:
        return 8 * self.bytes / (self.height * self.width)


@dataclass(frozen=True)
class ParsedStream:
    """A validated header and what it implies, before any payload is decoded."""

    header: StreamHeader
    init: Any  # the representation's init (sharedinit.SharedInit, latents' LatentInit)
    rep: Representation
    records: list
    offset: int


def parse(data: bytes, init: str | None = None) -> ParsedStream:
    """Parse and validate the header against the init it names (shipped), or against `init`
    (an .npz path, for streams made with a research init).

    Every field must be one the encoder can write (FORMAT.md, "What a decoder must check"):
    a hostile stream with a valid CRC may otherwise name files or sizes that crash or exhaust
    the decoder; the representation checks its own settings (`rebuild`).
    """
    header, records, offset = read_header(data)
    h, w = header.height, header.width
    if h * w > MAX_ENCODE_PIXELS:  # before any allocation: the encoder never makes more
        raise BitstreamError(f"stream claims a {w}x{h} image, larger than inrcodec makes "
                             f"(limit {MAX_ENCODE_PIXELS / 1e6:.0f} megapixels)")
    k = kind(header.representation)
    try:  # a name in a stream only ever selects a shipped init; paths come from the caller alone
        shared = k.load(header.init_name) if init is None else k.open(init)
    except (FileNotFoundError, ValueError):
        raise BitstreamError(f"stream was made with init {header.init_name!r}, which this inrcodec "
                             "does not ship") from None
    if shared.name != header.init_name or shared.checksum != header.init_checksum:
        raise BitstreamError(f"stream was made with a different build of init {header.init_name!r} "
                             f"(checksum {header.init_checksum.hex()} != {shared.checksum.hex()})")
    rep = k.rebuild(header, shared)
    expected = len(rep.symbol_counts())
    if len(records) != expected:
        raise BitstreamError(f"the stream holds {len(records)} tensors, its init expects {expected}")
    return ParsedStream(header, shared, rep, records, offset)


def decode_tensors(data: bytes, init: str | None = None, parsed: ParsedStream | None = None,
                   channels: int | None = None) -> tuple[ParsedStream, list[CodedTensor]]:
    """Everything in a stream before any float is computed: the parsed header and the coded tensors
    (of a preview at `channels`, where the representation needs fewer)."""
    p = parsed or parse(data, init)
    return p, p.rep.decode_words(payload_words(data, p.offset), p.records, channels)


def symbols_sha256(data: bytes) -> str:
    """SHA-256 of the entropy-decoded symbols: bit-exact on every machine, unlike float pixels."""
    tensors = decode_tensors(bytes(data))[1]
    return hashlib.sha256(b"".join(t.symbols.astype("<i4").tobytes() for t in tensors)).hexdigest()


def info(data: StreamSource, init: str | None = None) -> StreamInfo:
    """The header of a stream (bytes-like, path or binary file), decoded, with size and rate."""
    data = stream_bytes(data)
    p = parse(data, init)
    s, h = p.rep.settings, p.header
    names = {v: k for k, v in PRESET_CODES.items()}
    return StreamInfo(data[4], h.representation, h.height, h.width, h.init_name, h.init_checksum.hex(), s.level,
                      s.steps, names.get(s.preset, "?"), len(data), len(p.records), p.rep.channels, s.preview_min,
                      round(p.rep.macs_per_pixel()), *p.rep.coded)


def preview_width(coded: int, fraction: float) -> int:
    """Channels a preview evaluates: the fraction of the coded width, rounded, at least 1."""
    if not 0 < fraction <= 1:
        raise UsageError("width fraction must be in (0, 1]")
    return max(1, round(fraction * coded))


def output_size(height: int, width: int, resolution: int | None = None, out_width: int | None = None,
                out_height: int | None = None, scale: float | None = None) -> tuple[int, int]:
    """Output (height, width): native, long side = resolution, explicit sides, or a scale factor.

    Giving only one of width/height keeps the aspect ratio.
    """
    given = sum(x is not None for x in (resolution, scale)) + (out_width is not None or out_height is not None)
    if given > 1:
        raise UsageError("give only one of resolution, width/height, scale")
    if (out_width is not None and out_width <= 0) or (out_height is not None and out_height <= 0):
        raise UsageError("width and height must be positive")
    if resolution is not None:
        if resolution <= 0:
            raise UsageError("resolution must be positive")
        f = resolution / max(height, width)
        oh, ow = max(1, round(height * f)), max(1, round(width * f))
    elif scale is not None:
        if not scale > 0 or not math.isfinite(scale):
            raise UsageError("scale must be a positive number")
        oh, ow = max(1, round(height * scale)), max(1, round(width * scale))
    elif out_width is not None:
        oh = out_height if out_height is not None else max(1, round(height * out_width / width))
        ow = out_width
    elif out_height is not None:
        oh, ow = out_height, max(1, round(width * out_height / height))
    else:
        oh, ow = height, width
    if oh * ow > MAX_OUTPUT_PIXELS or max(oh, ow) > 65535:
        raise UsageError(f"output of {ow}x{oh} pixels is too large (limit {MAX_OUTPUT_PIXELS // 2**20} "
                         "megapixels, 65535 per side)")
    return oh, ow


def decode(data: StreamSource, resolution: int | None = None, *, width: int | None = None,
           height: int | None = None, scale: float | None = None, init: str | None = None,
           width_fraction: float = 1.0) -> np.ndarray:
    """Reconstruct (H, W, 3) uint8 pixels at the native size or any other; numpy on the CPU, deterministic.

    `width_fraction` < 1 evaluates every tile network at that fraction of its coded channels:
    a faster, softer preview, for streams coded on integral nodes (representation 2).
    `init` is for streams encoded with a non-shipped init (`analyse(init=path)`): its .npz path.
    `data` is the stream as bytes (or any bytes-like object), a path or a binary file.
    """
    data = stream_bytes(data)
    p = parse(data, init)
    oh, ow = output_size(p.header.height, p.header.width, resolution, width, height, scale)  # before any allocation
    channels = preview_width(p.rep.channels, width_fraction)
    if channels != p.rep.channels and not p.rep.previews:  # before any payload is decoded
        raise UsageError(f"this stream was coded at a fixed width (representation {p.header.representation}), "
                         "so it has no previews"
                         + (": re-encode it with inrcodec 0.3 or later" if p.header.representation == 1 else ""))
    _, tensors = decode_tensors(data, parsed=p, channels=channels)
    out = p.rep.render(tensors, oh, ow, channels)
    if not np.isfinite(out).all():  # never a silent black image: NaN would clamp to 0
        raise BitstreamError("stream decodes to non-finite values")
    return np.rint(np.clip(out, 0, 1) * 255).astype(np.uint8).reshape(oh, ow, 3)
