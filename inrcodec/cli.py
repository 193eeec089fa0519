"""`inrcodec` command line: encode, decode, info. A thin layer over inrcodec.decoder and inrcodec.encoder."""
from __future__ import annotations

import functools
import os
import re
import sys
import time
import warnings
from pathlib import Path
from typing import Callable

import click

from . import decoder, presets
from .errors import ImageWarning, InrCodecError, UsageError
from .images import check_output, encode_image_file, image_format, load_image, write_output

REPRESENTATIONS = {1: "overlapping tiles of sparse SIRENs, fixed width",
                   2: "overlapping tiles of sparse integral SIRENs, coded on width nodes"}
# how torch words an allocation failure (CPU, CUDA, MPS); other RuntimeErrors are bugs
OUT_OF_MEMORY = re.compile(r"out of memory|can't allocate memory|not enough memory", re.IGNORECASE)


def _same_file(a: Path, b: Path) -> bool:
    try:
        return b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def _check_paths(src: Path, dst: Path) -> None:
    """Refuse an output that is the input or cannot be written, before any fitting or decoding."""
    real = Path(os.path.realpath(dst))  # unlike Path.resolve, no exception for a symlink loop
    if _same_file(src, dst) or os.path.realpath(src) == real:
        raise UsageError(f"output {dst} is the input file: refusing to overwrite it")
    if not real.parent.is_dir():
        raise UsageError(f"output folder {dst.parent} does not exist")
    check_output(dst)


def _read_stream(path: Path) -> bytes:
    if not path.exists():
        raise UsageError(f"no such file: {path}")
    if path.is_dir():
        raise UsageError(f"{path} is a directory, not an .inr file")
    try:
        return path.read_bytes()
    except OSError as e:
        raise UsageError(f"cannot read {path}: {e.strerror or e}") from None


class _LazyBar:
    """A click progress bar that appears on the first update, so early errors print alone."""

    def __init__(self, total: int, label: str, quiet: bool):
        self.total, self.label, self.quiet, self.bar = total, label, quiet, None

    def update(self, n: int) -> None:
        if self.bar is None:
            self.bar = click.progressbar(length=self.total, label=self.label, file=sys.stderr,
                                         show_eta=True, hidden=self.quiet).__enter__()
        self.bar.update(n)

    def __enter__(self) -> "_LazyBar":
        return self

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.__exit__(*exc)


def _show_warning(fallback: Callable[..., None], message, category, *where, **kw) -> None:
    """ImageWarnings as one line, like the errors; any other warning as `fallback` shows it."""
    if issubclass(category, ImageWarning):
        click.echo(f"inrcodec: warning: {message}", err=True)
    else:
        fallback(message, category, *where, **kw)


class _Command(click.Command):
    """Turn inrcodec's input errors, allocation failures (and Ctrl-C) into one line and a
    non-zero exit; its warnings into one line each."""

    def invoke(self, ctx):
        try:
            with warnings.catch_warnings():
                warnings.showwarning = functools.partial(_show_warning, warnings.showwarning)
                return super().invoke(ctx)
        except InrCodecError as e:
            click.echo(f"inrcodec: error: {e}", err=True)
            ctx.exit(1)
        except (MemoryError, RuntimeError) as e:  # torch reports a failed allocation as a RuntimeError
            if isinstance(e, RuntimeError) and not OUT_OF_MEMORY.search(str(e)):
                raise
            click.echo("inrcodec: error: out of memory (try a smaller image or output size)", err=True)
            ctx.exit(1)
        except KeyboardInterrupt:
            click.echo("inrcodec: interrupted", err=True)
            ctx.exit(130)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="inrcodec")
def main() -> None:
    """Neural image codec: each image becomes small changes to a shipped, meta-learned sparse
    SIREN, and decodes at any resolution.

    \b
      inrcodec encode photo.png photo.inr --bpp 0.5
      inrcodec decode photo.inr big.png --resolution 2048
      inrcodec info photo.inr
    """


@main.command(cls=_Command)
@click.argument("src", type=click.Path(path_type=Path))
@click.argument("dst", type=click.Path(path_type=Path))
@click.option("--bpp", type=float, help="Target bits per pixel of the whole file (met within 10%).")
@click.option("--quality", type=click.FloatRange(0, 100),
              help="0..100 instead of --bpp; +10 halves the quantization step (default 50).")
@click.option("--preset", type=click.Choice(list(presets.PRESETS)), default="default", show_default=True,
              help="Fitting effort: " + ", ".join(f"{k} = {v} steps" for k, v in presets.PRESETS.items()) + ".")
@click.option("--steps", type=click.IntRange(0, 65535), help="Fitting steps, overriding the preset.")
@click.option("--device", default="auto", show_default=True, help="auto, cpu or cuda[:N] for fitting.")
@click.option("--scalable", is_flag=True,
              help="Fit for fast reduced-width previews (decode --preview); costs some quality.")
@click.option("--network-width", type=click.IntRange(1, 255),
              help="Hidden channels of the tile networks (integral init only; default: chosen by the rate).")
@click.option("--level", type=click.IntRange(0, 255), help="Density level of the init (default: chosen by the rate).")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar or summary.")
def encode(src: Path, dst: Path, bpp, quality, preset, steps, device, scalable, network_width, level, quiet) -> None:
    """Compress image SRC (PNG, JPEG, ...) into the .inr file DST."""
    _check_paths(src, dst)
    pixels = load_image(src, presets.MAX_ENCODE_PIXELS)
    t0 = time.perf_counter()
    from . import encoder  # torch: only an encode pays for it

    with _LazyBar(presets.PRESETS[preset] if steps is None else steps, "fitting", quiet) as bar:
        data = encoder.encode(pixels, bpp=bpp, quality=quality, preset=preset, steps=steps, device=device,
                              scalable=scalable, network_width=network_width, level=level, progress=bar.update)
    write_output(dst, data)
    if not quiet:
        h, w, _ = pixels.shape
        click.echo(f"{dst}: {len(data)} bytes, {8 * len(data) / (h * w):.4f} bpp, {w}x{h}, "
                   f"{time.perf_counter() - t0:.1f} s", err=True)


@main.command(cls=_Command)
@click.argument("src", type=click.Path(path_type=Path))
@click.argument("dst", type=click.Path(path_type=Path))
@click.option("--resolution", type=int, help="Long side of the output in pixels (aspect kept).")
@click.option("--width", type=int, help="Output width (alone: aspect kept).")
@click.option("--height", type=int, help="Output height (alone: aspect kept).")
@click.option("--scale", type=float, help="Output size as a multiple of the native size.")
@click.option("--width-fraction", type=float,
              help="Evaluate the tile networks at this fraction (0..1] of their channels: faster, softer.")
@click.option("--preview", is_flag=True, help=f"Fast preview: --width-fraction {presets.PREVIEW_DEFAULT}.")
@click.option("--quiet", "-q", is_flag=True, help="No summary line.")
def decode(src: Path, dst: Path, resolution, width, height, scale, width_fraction, preview, quiet) -> None:
    """Reconstruct the .inr file SRC into image DST (format from its extension, PNG without one),
    at the native size unless a size option is given. --preview and --width-fraction need a
    stream coded on integral nodes (`inrcodec info` says whether it is)."""
    _check_paths(src, dst)
    image_format(dst)
    if preview and width_fraction is not None:
        raise UsageError("give either --preview or --width-fraction, not both")
    data = _read_stream(src)
    t0 = time.perf_counter()
    fraction = presets.PREVIEW_DEFAULT if preview else 1.0 if width_fraction is None else width_fraction
    pixels = decoder.decode(data, resolution, width=width, height=height, scale=scale, width_fraction=fraction)
    write_output(dst, encode_image_file(pixels, dst))
    if not quiet:
        seconds = time.perf_counter() - t0
        coded = decoder.info(data).network_width
        used = decoder.preview_width(coded, fraction)
        click.echo(f"{dst}: {pixels.shape[1]}x{pixels.shape[0]}, {seconds:.2f} s"
                   + (f", preview at {used} of {coded} channels" if used != coded else ""), err=True)


@main.command(cls=_Command)
@click.argument("src", type=click.Path(path_type=Path))
def info(src: Path) -> None:
    """Describe the .inr file SRC: size, rate, format version, settings and init."""
    i = decoder.info(_read_stream(src))
    click.echo(f"file:           {src}\n"
               f"size:           {i.bytes} bytes, {i.bpp:.4f} bpp\n"
               f"image:          {i.width}x{i.height}\n"
               f"format version: {i.version}\n"
               f"representation: {i.representation} ({REPRESENTATIONS[i.representation]})\n"
               f"init:           {i.init_name} (sha256 {i.init_checksum}...)\n"
               f"networks:       {i.network_width} channels, level {i.level}; "
               + (f"previews: any width, fitted for {i.preview_min}..{i.network_width}\n" if i.preview_min else
                  "previews: any width, not fitted for them\n" if i.representation == 2 else "no previews\n")
               + f"settings:       {i.steps} fitting steps, preset {i.preset}, {i.tensors} coded tensors")


if __name__ == "__main__":
    main()
