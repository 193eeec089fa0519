"""`inrcodec` command line: encode, decode, info. A thin layer over inrcodec.decoder and inrcodec.encoder."""
from __future__ import annotations

import functools
import json
import os
import re
import sys
import time
import warnings
from dataclasses import asdict
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Callable

import click

from . import decoder, presets
from .batch import Kind, run_batch
from .bitstream import stream_bytes
from .errors import ImageWarning, InrCodecError, UsageError
from .images import check_output, encode_image_file, image_format, load_image, write_output
from .representations.latents.init import PREDICTED_INITS
from .sharedinit import INTEGRAL_INIT

if TYPE_CHECKING:
    from click._termui_impl import ProgressBar  # what click.progressbar returns; click exports it nowhere else

REPRESENTATIONS = {1: "overlapping tiles of sparse SIRENs, fixed width",
                   2: "overlapping tiles of sparse integral SIRENs, coded on width nodes",
                   3: "latent grids read by a sparse synthesis, coded under a context model"}
# how torch words an allocation failure (CPU, CUDA, MPS); other RuntimeErrors are bugs
OUT_OF_MEMORY = re.compile(r"out of memory|can't allocate memory|not enough memory", re.IGNORECASE)
STDIO = Path("-")  # stdin as SRC, stdout as DST
EXIT_CODES = ("Exit status: 0 done; 1 an image or stream that cannot be read or coded, out of memory, or a "
              "batch in which a file failed; 2 a usage error (bad option, missing input, unwritable output, "
              "a setting that cannot be honoured); 130 interrupted.")


def _same_file(a: Path, b: Path) -> bool:
    try:
        return b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def _check_paths(src: Path, dst: Path) -> None:
    """Refuse a missing input, and an output that is the input or cannot be written, before any
    fitting or decoding."""
    if src != STDIO and not src.exists():
        raise UsageError(f"no such file: {src}")
    if dst == STDIO:
        if _stdout().isatty():
            raise UsageError("refusing to write binary data to a terminal: redirect stdout or name a file")
        return
    real = Path(os.path.realpath(dst))  # unlike Path.resolve, no exception for a symlink loop
    if src != STDIO and (_same_file(src, dst) or Path(os.path.realpath(src)) == real):
        raise UsageError(f"output {dst} is the input file: refusing to overwrite it")
    if not real.parent.is_dir():
        raise UsageError(f"output folder {dst.parent} does not exist")
    check_output(dst)


def _stdin() -> IO[bytes]:
    return click.open_file("-", "rb")


def _stdout() -> IO[bytes]:
    return click.open_file("-", "wb")


def _read_stream(src: Path) -> bytes:
    return stream_bytes(_stdin() if src == STDIO else src)


def _write(dst: Path, data: bytes) -> None:
    """All of an output at once, so that an error leaves none of it: to stdout for `-`."""
    if dst == STDIO:
        out = _stdout()
        out.write(data)
        out.flush()
    else:
        write_output(dst, data)


def _name(dst: Path) -> str:
    return "<stdout>" if dst == STDIO else str(dst)


class _LazyBar:
    """A click progress bar that appears on the first update, so early errors print alone; `then`
    (steps, label) is a second bar for updates past the first's total (the encoder's refit as tiles)."""

    def __init__(self, total: int, label: str, quiet: bool, then: tuple[int, str] | None = None):
        self.total, self.label, self.quiet, self.then = total, label, quiet, then
        self.bar: ProgressBar[int] | None = None

    def update(self, n: int) -> None:
        if self.bar is not None and self.then is not None and self.bar.pos + n > self.total:
            self.bar.__exit__(None, None, None)
            (self.total, self.label), self.then, self.bar = self.then, None, None
        if self.bar is None:
            self.bar = click.progressbar(length=self.total, label=self.label, file=sys.stderr,
                                         show_eta=True, hidden=self.quiet).__enter__()
        self.bar.update(n)

    def __enter__(self) -> "_LazyBar":
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.bar is not None:
            self.bar.__exit__(*exc)


def _show_warning(fallback: Callable[..., None], message: Warning | str, category: type[Warning], *where: Any,
                  **kw: Any) -> None:
    """ImageWarnings as one line, like the errors; any other warning as `fallback` shows it."""
    if issubclass(category, ImageWarning):
        click.echo(f"inrcodec: warning: {message}", err=True)
    else:
        fallback(message, category, *where, **kw)


class _Command(click.Command):
    """Turn inrcodec's input errors, allocation failures (and Ctrl-C) into one line and a
    non-zero exit; its warnings into one line each."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            with warnings.catch_warnings():
                warnings.showwarning = functools.partial(_show_warning, warnings.showwarning)
                return super().invoke(ctx)
        except InrCodecError as e:
            click.echo(f"inrcodec: error: {e}", err=True)
            ctx.exit(2 if isinstance(e, UsageError) else 1)
        except (MemoryError, RuntimeError) as e:  # torch reports a failed allocation as a RuntimeError
            if isinstance(e, RuntimeError) and not OUT_OF_MEMORY.search(str(e)):
                raise
            click.echo("inrcodec: error: out of memory (try a smaller image or output size)", err=True)
            ctx.exit(1)
        except KeyboardInterrupt:
            click.echo("inrcodec: interrupted", err=True)
            ctx.exit(130)


@click.group(context_settings={"help_option_names": ["-h", "--help"]}, epilog=EXIT_CODES)
@click.version_option(package_name="inrcodec")
def main() -> None:
    """Neural image codec: each image becomes small changes to a shipped, meta-learned sparse
    SIREN, and decodes at any resolution. `-` as SRC or DST is stdin or stdout.

    \b
      inrcodec encode photo.png photo.inr --bpp 0.5
      inrcodec decode photo.inr big.png --resolution 2048
      inrcodec encode photos/*.png --out-dir coded --jobs 4
      inrcodec info photo.inr --json
    """


def _files_options(f: Callable) -> Callable:
    """The arguments and options that encode and decode share: SRC DST, or a batch into --out-dir."""
    for option in reversed([
        click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=Path),
                       metavar="SRC DST | IN... --out-dir DIR"),
        click.option("--out-dir", type=click.Path(file_okay=False, path_type=Path),
                     help="Batch: write DIR/<stem>.inr (encode) or DIR/<stem>.png (decode; see --ext) for every IN."),
        click.option("--jobs", "-j", type=click.IntRange(min=1), default=1, show_default=True,
                     help="Batch: local worker processes, the cores divided among them."),
        click.option("--force", is_flag=True, help="Batch: redo outputs that exist (default: skip them, i.e. resume)."),
        click.option("--scheduler", metavar="tcp://HOST:8786",
                     help="Batch: run on a Dask cluster (needs inrcodec[distributed])."),
        click.option("--quiet", "-q", is_flag=True, help="No progress bar or summary (errors still show)."),
    ]):
        f = option(f)
    return f


def _code(kind: Kind, inputs: tuple[Path, ...], options: dict[str, Any], quiet: bool,
          one: Callable[[Path, Path, dict[str, Any], bool], None], out_dir: Path | None, jobs: int,
          force: bool, scheduler: str | None, ext: str | None = None) -> None:
    """Code SRC into DST with `one`, or (--out-dir) every input with run_batch: the same options
    either way, so the two modes cannot drift apart."""
    if out_dir is None:
        stray = [flag for flag, given in (("--jobs", jobs != 1), ("--force", force), ("--scheduler", scheduler),
                                          ("--ext", ext)) if given]
        if stray:
            raise UsageError(f"{', '.join(stray)}: only for a batch (--out-dir DIR)")
        if len(inputs) != 2:
            raise UsageError(f"give SRC DST, or IN... --out-dir DIR (got {len(inputs)} paths)")
        _check_paths(*inputs)
        one(*inputs, options, quiet)
        return
    if STDIO in inputs:
        raise UsageError("- (stdin) cannot be part of a batch: name the files")
    with _LazyBar(len(inputs), f"{kind[:-1]}ing", quiet) as bar:
        result = run_batch(kind, inputs, out_dir, options=options, ext=ext, jobs=jobs, force=force,
                           progress=bar.update, scheduler=scheduler)
    lines = result.summary().splitlines()
    for line in lines[1:] if quiet else lines:
        click.echo(line, err=True)
    if not result.ok:
        click.get_current_context().exit(1)


@main.command(cls=_Command, epilog=EXIT_CODES)
@click.option("--bpp", type=float, help="Target bits per pixel of the whole file (met within 10%).")
@click.option("--quality", type=click.FloatRange(0, 100),
              help="0..100 instead of --bpp; +10 halves the quantization step (default 50).")
@click.option("--preset", type=click.Choice(list(presets.PRESETS)), default="default", show_default=True,
              help="Fitting effort: " + ", ".join(f"{k} = {v}" for k, v in presets.PRESETS.items())
              + " steps (tiles); " + ", ".join(f"{k} = {v}" for k, v in presets.LATENT_PRESETS.items())
              + " (latents).")
@click.option("--steps", type=click.IntRange(0, 65535), help="Fitting steps, overriding the preset.")
@click.option("--device", default="auto", show_default=True, help="auto, cpu or cuda[:N] for fitting.")
@click.option("--scalable", is_flag=True,
              help="Fit for fast reduced-width previews (decode --preview); costs some quality.")
@click.option("--network-width", type=click.IntRange(1, 255),
              help="Hidden channels of the tile networks (integral init only; default: chosen by the rate).")
@click.option("--level", type=click.IntRange(0, 255), help="Density level of the init (default: chosen by the rate).")
@click.option("--latent-scale", type=click.FloatRange(0, 1, min_open=True),
              help="Latents: code the image at this share of its size (decoded back to it). Default: the "
                   "largest that reaches --bpp.")
@click.option("--init", metavar="NAME|PATH.npz",
              help="The init to code with: its representation is the stream's (shipped: latents-v3, latents-v2, "
                   "latents-v1, integral-siren-t32-v1, sparse-siren-t32-v1). Default: "
                   + ", then ".join(f"{n} up to {t:g} bpp" for n, t in PREDICTED_INITS[:-1])
                   + f", then {PREDICTED_INITS[-1][0]}, each where its rates reach --bpp, else {INTEGRAL_INIT}.")
@_files_options
def encode(inputs: tuple[Path, ...], out_dir: Path | None, jobs: int, force: bool, scheduler: str | None,
           quiet: bool, **options: Any) -> None:
    """Compress image SRC (PNG, JPEG, ...) into the .inr file DST, or every image IN into
    DIR/<stem>.inr (skipping those that exist, so that a rerun resumes). `-` as SRC or DST is
    stdin or stdout."""
    _code("encode", inputs, options, quiet, _encode_one, out_dir, jobs, force, scheduler)


CHOICE = ("bpp", "quality", "device", "init", "latent_scale", "network_width", "level", "scalable")  # encoder.choose's


def _encode_one(src: Path, dst: Path, options: dict[str, Any], quiet: bool) -> None:
    pixels = load_image(_stdin() if src == STDIO else src, presets.MAX_ENCODE_PIXELS)
    t0 = time.perf_counter()
    from . import encoder  # torch: only an encode pays for it
    from .metrics import psnr

    then = None
    if options["init"] is None or options["latent_scale"] is None:  # here: the bar counts the chosen fit's steps
        chosen, scale = encoder.choose(pixels, *(options[k] for k in CHOICE))
        if options["init"] is None and chosen != INTEGRAL_INIT:  # a missed latent fit is refitted as tiles
            then = (encoder.planned_steps(options["preset"], options["steps"], INTEGRAL_INIT), "refitting as tiles")
        options = {**options, "init": chosen, "latent_scale": scale, "fallback": then is not None}
    with _LazyBar(encoder.planned_steps(options["preset"], options["steps"], options["init"]), "fitting",
                  quiet, then) as bar:
        data = encoder.encode(pixels, **options, progress=bar.update)
    seconds = time.perf_counter() - t0
    _write(dst, data)
    if not quiet:  # what was coded, decoded as any decoder will: the quality the user gets
        h, w, _ = pixels.shape
        init = options["init"] if str(options["init"]).endswith(".npz") else None
        coded = psnr(decoder.decode(data, init=init), pixels)
        click.echo(f"{_name(dst)}: {len(data)} bytes, {8 * len(data) / (h * w):.4f} bpp, {coded:.2f} dB PSNR, "
                   f"{w}x{h}, {seconds:.1f} s", err=True)


@main.command(cls=_Command, epilog=EXIT_CODES)
@click.option("--resolution", type=int, help="Long side of the output in pixels (aspect kept).")
@click.option("--width", type=int, help="Output width (alone: aspect kept).")
@click.option("--height", type=int, help="Output height (alone: aspect kept).")
@click.option("--scale", type=float, help="Output size as a multiple of the native size.")
@click.option("--width-fraction", type=float,
              help="Evaluate the tile networks at this fraction (0..1] of their channels (representation 3: "
                   "decode that fraction of the latent grids, the coarsest): faster, softer.")
@click.option("--preview", is_flag=True, help=f"Fast preview: --width-fraction {presets.PREVIEW_DEFAULT}.")
@_files_options
@click.option("--ext", help="Batch: output format of every file, by extension (default .png).")
def decode(inputs: tuple[Path, ...], out_dir: Path | None, jobs: int, force: bool, scheduler: str | None,
           quiet: bool, ext: str | None, preview: bool, width_fraction: float | None, **sizes: Any) -> None:
    """Reconstruct the .inr file SRC into image DST (format from its extension, PNG without one),
    or every stream IN into DIR/<stem>.png (--ext), at the native size unless a size option is
    given. `-` as SRC or DST is stdin or stdout (PNG). --preview and --width-fraction need a
    stream coded on integral nodes (`inrcodec info` says whether it is)."""
    if preview and width_fraction is not None:
        raise UsageError("give either --preview or --width-fraction, not both")
    fraction = presets.PREVIEW_DEFAULT if preview else 1.0 if width_fraction is None else width_fraction
    _code("decode", inputs, {**sizes, "width_fraction": fraction}, quiet, _decode_one, out_dir, jobs, force,
          scheduler, ext)


def _decode_one(src: Path, dst: Path, options: dict[str, Any], quiet: bool) -> None:
    image_format(dst)
    data = _read_stream(src)
    t0 = time.perf_counter()
    pixels = decoder.decode(data, **options)
    _write(dst, encode_image_file(pixels, dst))
    if not quiet:
        seconds = time.perf_counter() - t0
        preview = ""
        if options["width_fraction"] != 1:  # at 1 every channel is used: no need to parse the header again
            stream = decoder.info(data)
            coded = stream.network_width
            used = decoder.preview_width(coded, options["width_fraction"])
            unit = "latent grids" if stream.representation == 3 else "channels"
            preview = f", preview at {used} of {coded} {unit}" if used != coded else ""
        click.echo(f"{_name(dst)}: {pixels.shape[1]}x{pixels.shape[0]}, {seconds:.2f} s{preview}", err=True)


@main.command(cls=_Command, epilog=EXIT_CODES)
@click.argument("src", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="One JSON object: the fields of inrcodec.StreamInfo and bpp.")
def info(src: Path, as_json: bool) -> None:
    """Describe the .inr file SRC (`-`: stdin): size, rate, format version, settings and init."""
    i = decoder.info(_read_stream(src))
    if as_json:
        click.echo(json.dumps({**asdict(i), "bpp": i.bpp}))
        return
    coded = f" for the image at {i.coded_width}x{i.coded_height}" if (i.coded_height, i.coded_width) != (i.height, i.width) else ""
    click.echo(f"file:           {src}\n"
               f"size:           {i.bytes} bytes, {i.bpp:.4f} bpp\n"
               f"image:          {i.width}x{i.height}\n"
               f"format version: {i.version}\n"
               f"representation: {i.representation} ({REPRESENTATIONS[i.representation]})\n"
               f"init:           {i.init_name} (sha256 {i.init_checksum}...)\n"
               + (f"networks:       {i.network_width} latent grids{coded}; previews: the coarsest grids\n"
                  if i.representation == 3 else
                  f"networks:       {i.network_width} channels, level {i.level}; "
                  + (f"previews: any width, fitted for {i.preview_min}..{i.network_width}\n" if i.preview_min else
                     "previews: any width, not fitted for them\n" if i.representation == 2 else "no previews\n"))
               + f"settings:       {i.steps} fitting steps, preset {i.preset}, {i.tensors} coded tensors\n"
               f"decode cost:    {i.macs_per_pixel} multiply-accumulates per pixel at the native size")


if __name__ == "__main__":
    main()
