"""Ceiling study (issue 14, step 1): how good can each candidate representation get when coded for real?

\b
    python -m benchmarks.ceiling                       # val crops: JPEG, WebP, a0, a, c0, c (1000 steps)
    python -m benchmarks.ceiling --candidates c --steps 3000 --widths 20 --widths 32 --tag @3000 --append
    python -m benchmarks.ceiling --candidates d --widths 20 --widths 32 --append   # meta-trains first if need be
    python -m benchmarks.ceiling --candidates c0 --candidates d --steps 10 --widths 20 --tag @10 --append
    python -m benchmarks.ceiling --candidates b --candidates b1 --threads 2 --append   # trains b's synthesis first
    python -m benchmarks.ceiling --size 256 --per-folder 5 --data ../shared/data/val/cbsd68 --candidates classic
        --candidates b1 --threads 2 --name ceiling-256      (one command: larger crops, their own results files)
    python -m benchmarks.ceiling --size 256 --per-folder 5 --data ../shared/data/val/cbsd68 --candidates r3
        --threads 2 --name ceiling-256 --append          (representation 3 as shipped, beside the study's rows)
    python -m benchmarks.ceiling --report-only         # tables and plot again from the CSV

Each candidate is fitted with a large step budget on centre crops of val images (never Kodak), then
quantized and range-coded with the codec's own entropy coder (inrcodec.entropy, QuantizedLaplace per
tensor) inside the codec's container (bitstream.write_stream: header, tensor records, words, CRC), so
every rate below is 8 * len(bytes) / pixels of a real stream:
- a0: today's tiles, plain: `encoder.analyse(steps=S, weight=1/bpp)` and `Analysis.compress(bpp)`;
- a:  the same fits, then quantization-aware fitting (QAT): uniform noise at the coded step, then
      straight-through rounding, at the steps rate control picked for the target, then coded at
      a few global step offsets (every offset is a real RD point; the Pareto front keeps the best);
- c0: one SIREN per crop from the standard SIREN init (no shared init: every weight is coded), width
      swept for rate, fitted with Adam + cosine decay, steps per tensor from sensitivity and a global
      step around the knee (the coarsest within KNEE_DB of the fit, bisected on real streams);
- c:  the same networks after QAT at the knee step, coded at the same offsets;
- d:  c0's network from a meta-learned init (Reptile on random train crops, the fit itself as inner loop,
      as Strümpler et al. 2022), coding only the update fitted - init: the decoder ships the init, so it
      costs no bits; the init is trained once per width and kept under runs/ (never in the package);
- b:  a latent pyramid read by a shared SIREN synthesis (benchmarks.latentgrid): latents fitted per crop from
      zero and coded (one Laplace per level); the synthesis is trained once as an auto-decoder on train crops;
- b1: the same, with the synthesis also fitted per crop from the shared one and its update coded;
- r3: representation 3 as shipped (issue 21): `encoder.analyse` with the predicted init for each target's
      rate and a preset's steps (`--r3-preset`), not `--steps`: from a prediction more steps do not pay;
- r3-laplace: r3's very latents priced under one Laplace per level instead of the context model (real
      range-coded words, the same header and synthesis update): what the context model saves;
- JPEG (Pillow, optimize) and WebP swept over quality on the same crops.
Writes benchmarks/results/ceiling.{csv,md,png} (--name renames them); rows are appended as they finish, so a cut-off run
keeps what it measured.
"""
from __future__ import annotations

import csv
import math
import struct
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import click
import numpy as np
import torch
from PIL import Image

from benchmarks import latentgrid
from benchmarks.bdrate import bd_rate
from benchmarks.classic import CLASSICS, run_classic
from benchmarks.common import (
    RESULTS,
    SHARED_DATA,
    cell,
    finish,
    images_in,
    machine,
    pyplot,
    save,
)
from inrcodec.bitstream import StreamHeader, payload_words, write_stream
from inrcodec.decoder import decode, decode_tensors
from inrcodec.encoder import Analysis, analyse, planned_steps
from inrcodec.entropy import CodedTensor, choose_scale, encode_tensors, make_coded
from inrcodec.errors import UsageError
from inrcodec.metrics import psnr
from inrcodec.quant import dequantize, quantize, step_size
from inrcodec.representations.latents.init import predicted_inits
from inrcodec.sharedinit import INTEGRAL_INIT
from inrcodec.siren import SirenSpec, siren_forward, siren_init
from inrcodec.tilecoding import finest_index, step_offsets
from inrcodec.tilesiren import render, tile_params

FIELDS = ["crop", "candidate", "config", "steps", "qat_steps", "params", "bpp", "bytes", "header_bytes", "psnr",
          "psnr_unquant", "zero_frac", "bits_by_tensor", "seconds"]
CANDIDATES = {"a0": "a0: tiles, plain", "a": "a: tiles + QAT", "c0": "c0: one SIREN per crop, plain",
              "c": "c: one SIREN per crop + QAT",
              "b": "b: latent pyramid + shared SIREN synthesis, latents coded",
              "b1": "b1: latent pyramid + SIREN synthesis from a shared init, latents and update coded",
              "d": "d: one SIREN per crop from a meta-learned init, update coded",
              "r3": "r3: representation 3 as shipped (predicted latents, integer context model)",
              "r3-laplace": "r3's latents under one Laplace per level (no context model)",
              "jpeg": "JPEG (Pillow, optimize)", "webp": "WebP (Pillow, method 6)"}
TARGETS = (0.25, 0.5, 1.0, 2.0)  # bpp: a0/a fit once per target (rate weight 1/bpp)
OFFSETS = (-16, -8, -4, 0, 4, 8)  # global step-index offsets (1/16 octave) tried after QAT
SIREN_LR, QAT_LR_TILES, QAT_LR_SIREN = 1e-3, 5e-4, 1e-4
KNEE_DB = 1.0  # QAT of c at the coarsest global step that loses at most this much before QAT
META_INNER, META_BATCH, META_EPS = 10, 4, 0.5  # d: Reptile inner fit steps, crops per outer step, first outer step
LAMS = (1e-3, 3e-3, 1e-2, 3e-2)  # b/b1: rate weights of the fit (MSE + lam * bpp, MSE of [0, 1] colours)
LATENT_TRAIN_SIZE = 128  # b: side of the train crops of the synthesis' auto-decoder training
SYNTH_INDICES = (360, 384, 408)  # b1: global step indices tried for the synthesis update (+ sensitivity offsets)
R3_TARGETS = (0.25, 0.5, 0.75, 1.0, 1.5, 2.0)  # r3: bpp targets (each the encoder's own fit and rate control)


def centre_crops(folder: Path, count: int, size: int) -> list[tuple[str, np.ndarray]]:
    """size x size centre crops of the first `count` images of a folder (the same set every run)."""
    out = []
    for path in images_in(folder, count):
        a = np.asarray(Image.open(path).convert("RGB"))
        top, left = (a.shape[0] - size) // 2, (a.shape[1] - size) // 2
        out.append((f"{folder.name}/{path.stem}", np.ascontiguousarray(a[top:top + size, left:left + size])))
    return out


@dataclass
class Coded:
    """One real stream: its bytes, where the bits went, and the decoded pixels."""

    data: bytes
    header_bytes: int
    pixels: np.ndarray
    zero_frac: float
    bits_by_tensor: str


def coded(data: bytes, pixels: np.ndarray, tensors: list[CodedTensor], names: list[str]) -> Coded:
    """A stream with its header bytes (all but the range coder's words), share of zero symbols and
    ideal bits per tensor (% of the payload)."""
    bits = [choose_scale(t.symbols, t.radius)[1] if t.radius else 0.0 for t in tensors]
    total = max(sum(bits), 1e-9)
    zeros = float(np.mean(np.concatenate([t.symbols == 0 for t in tensors])))
    return Coded(data, len(data) - 4 * len(encode_tensors(tensors)), pixels, zeros,
                 " ".join(f"{n}:{100 * b / total:.0f}" for n, b in zip(names, bits, strict=True)))


@dataclass
class Model:
    """Coded tensors (torch, fitted) and how they become pixels: what QAT and the coder need of a candidate."""

    params: list[torch.Tensor]
    names: list[str]
    render: Callable[[list[torch.Tensor]], torch.Tensor]  # -> (pixels, 3) in [0, 1]-ish
    header: StreamHeader
    target: torch.Tensor
    shape: tuple[int, int, int]
    rate_weight: float = 0.0  # the fit's L1 rate proxy (on the coded update), kept during QAT
    origin: list[torch.Tensor] | None = None  # d: the shared init the decoder ships; only params - origin is coded

    def update(self, params: list[torch.Tensor]) -> list[torch.Tensor]:
        """What the stream carries: the parameters themselves, or their move away from the shared init."""
        return params if self.origin is None else [p - o for p, o in zip(params, self.origin, strict=True)]

    def image(self, params: list[torch.Tensor]) -> np.ndarray:
        with torch.no_grad():
            out = self.render(params).clamp(0, 1).mul(255).round().byte()
        return out.reshape(self.shape).numpy()

    def psnr(self) -> float:
        return psnr(self.image(self.params), self.reference)

    @property
    def reference(self) -> np.ndarray:
        return self.target.mul(255).round().byte().reshape(self.shape).numpy()

    def indices(self, global_index: int, offsets: list[int]) -> list[int]:
        """Step index per tensor: global + sensitivity offset, clipped to the coder's range."""
        return [int(np.clip(global_index + o, 0, finest_index(p.detach().numpy())))
                for p, o in zip(self.update(self.params), offsets, strict=True)]

    def code(self, indices: list[int]) -> Coded:
        """Quantize every tensor at its step, write a real stream, rebuild the pixels from its integers."""
        tensors = [make_coded(quantize(u.detach().numpy().ravel(), i), i)
                   for u, i in zip(self.update(self.params), indices, strict=True)]
        data = write_stream(self.header, tensors, encode_tensors(tensors))
        deq = [torch.from_numpy(dequantize(t.symbols, i)).reshape(p.shape)
               for t, i, p in zip(tensors, indices, self.params, strict=True)]
        params = deq if self.origin is None else [d + o for d, o in zip(deq, self.origin, strict=True)]
        return coded(data, self.image(params), tensors, self.names)

    def loss(self, params: list[torch.Tensor]) -> torch.Tensor:
        mse = (self.render(params) - self.target).pow(2).mean()
        if self.rate_weight:
            mse = mse + self.rate_weight * sum(u.abs().sum() for u in self.update(params)) / (self.shape[0] * self.shape[1])
        return mse

    def fit(self, steps: int, lr: float) -> None:
        """Plain Adam with cosine decay on MSE (+ the rate proxy)."""
        params = [p.detach().clone().requires_grad_() for p in self.params]
        opt = torch.optim.Adam(params, lr=lr)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(steps, 1), eta_min=lr / 100)
        for _ in range(steps):
            opt.zero_grad()
            self.loss(params).backward()
            opt.step()
            sched.step()
        self.params = [p.detach() for p in params]

    def qat(self, indices: list[int], steps: int, lr: float) -> None:
        """Fit through the quantizer at fixed steps: uniform noise of one step for the first half
        (a smooth proxy that lets values cross rounding boundaries), straight-through rounding after.
        Rounds the parameters themselves, so only for models without an origin (a, c)."""
        assert self.origin is None
        steps_t = [step_size(i) for i in indices]
        params = [p.detach().clone().requires_grad_() for p in self.params]
        opt = torch.optim.Adam(params, lr=lr)
        for k in range(steps):
            if k < steps // 2:
                q = [p + s * (torch.rand_like(p) - 0.5) for p, s in zip(params, steps_t, strict=True)]
            else:
                q = [p + (torch.round(p / s) * s - p).detach() for p, s in zip(params, steps_t, strict=True)]
            opt.zero_grad()
            self.loss(q).backward()
            opt.step()
        self.params = [p.detach() for p in params]

    def sensitivity(self) -> list[float]:
        """Mean diag(J^T J) per tensor by one Hutchinson probe, as fitting.sensitivity does for tiles."""
        params = [p.clone().requires_grad_() for p in self.params]
        out = self.render(params)
        signs = torch.randint(0, 2, out.shape, generator=torch.Generator().manual_seed(0)).float() * 2 - 1
        return [float(g.pow(2).mean()) for g in torch.autograd.grad((out * signs).sum(), params)]


def tile_model(image: np.ndarray, target_bpp: float, analysis: Analysis) -> Model:
    """Today's tiles as a Model, around the fit `analyse` made (the network and grid it planned)."""
    net, grid = analysis.rep.net, analysis.rep.grid
    h, w, _ = image.shape
    sampling = tuple(torch.as_tensor(t) for t in grid.sampling(h, w))
    return Model([torch.from_numpy(d) for d in analysis.fitted.deltas], net.spec.names(),
                 lambda ps: render(net, tile_params(net.level, ps), grid, h, w, sampling), analysis.header,
                 to_target(image), image.shape, 1.0 / target_bpp)


def to_target(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.array(image, np.float32).reshape(-1, 3)).div(255.0)


def positional(coords: torch.Tensor, levels: int) -> torch.Tensor:
    """coords followed by sin and cos of 2**k * pi * coords for k < levels (Mildenhall et al. 2020, as
    Strümpler et al. 2022 feed their SIREN); any resolution still decodes: it is a function of position."""
    bands = [f(2 ** k * math.pi * coords) for k in range(levels) for f in (torch.sin, torch.cos)]
    return torch.cat([coords, *bands], -1)


def siren_model(image: np.ndarray, width: int, depth: int, seed: int = 0,
                init: list[torch.Tensor] | None = None, pe_levels: int = 0) -> Model:
    """One SIREN for the whole crop from the standard init, or from a shared `init` whose update alone is
    coded (d), reading the coordinates or (pe_levels > 0) their positional encoding. Its stream is the
    codec's container with no init name or checksum and (depth, width[, pe_levels]) as settings: the header
    a version-3 stream would need (d's would add the init's name and 8 checksum bytes)."""
    h, w, _ = image.shape
    spec = SirenSpec(hidden=width, depth=depth, in_features=2 + 4 * pe_levels)
    ys, xs = torch.meshgrid(torch.linspace(-1, 1, h), torch.linspace(-1, 1, w), indexing="ij")
    coords = positional(torch.stack([ys, xs], -1).reshape(1, -1, 2), pe_levels)
    params = [p[None] for p in siren_init(spec, torch.Generator().manual_seed(seed))] if init is None else init
    settings = struct.pack(">BB", depth, width) + (bytes([pe_levels]) if pe_levels else b"")
    header = StreamHeader(2, h, w, "", b"", settings)  # write_stream writes no checksum bytes for b""
    return Model(params, spec.names(), lambda ps: siren_forward(ps, coords, spec)[0], header, to_target(image),
                 image.shape, origin=init)


def random_crops(folder: Path, size: int, rng: np.random.Generator) -> Iterator[np.ndarray]:
    """Endless random size x size crops of random images under a folder (train only: never val, never Kodak),
    META_BATCH crops per decoded image: decoding, not fitting, was most of an outer step's time."""
    paths = sorted(p for p in folder.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    if not paths:
        raise SystemExit(f"no images under {folder}")
    while True:
        a = np.asarray(Image.open(paths[rng.integers(len(paths))]).convert("RGB"))
        for _ in range(META_BATCH if min(a.shape[:2]) >= size else 0):
            top, left = rng.integers(a.shape[0] - size + 1), rng.integers(a.shape[1] - size + 1)
            yield np.ascontiguousarray(a[top:top + size, left:left + size])


def meta_train(folder: Path, width: int, depth: int, size: int, steps: int, minutes: float,
               seed: int = 0) -> tuple[list[torch.Tensor], dict]:
    """Reptile (Nichol et al. 2018) for d's init: the inner loop is the fit itself (META_INNER Adam steps,
    cosine, at SIREN_LR) on a random train crop, so the init is trained as it is used; the outer step moves
    the init toward the mean of META_BATCH fitted networks, annealed linearly to 0 over the step or time
    budget, whichever ends first."""
    crops = random_crops(folder, size, np.random.default_rng(seed))
    theta = siren_model(next(crops), width, depth, seed).params
    t0, k = time.perf_counter(), 0
    while k < steps and time.perf_counter() - t0 < 60 * minutes:
        fitted_params = []
        for _ in range(META_BATCH):
            model = siren_model(next(crops), width, depth, init=theta)
            model.fit(META_INNER, SIREN_LR)
            fitted_params.append(model.params)
        eps = META_EPS * (1 - max(k / steps, (time.perf_counter() - t0) / (60 * minutes)))
        theta = [t + eps * (torch.stack(f).mean(0) - t) for t, *f in zip(theta, *fitted_params, strict=True)]
        k += 1
    return theta, {"outer_steps": k, "seconds": time.perf_counter() - t0, "inner": META_INNER,
                   "batch": META_BATCH, "eps": META_EPS, "lr": SIREN_LR, "size": size, "folder": str(folder)}


def trained(path: Path, train: Callable[[], tuple[list[torch.Tensor], dict]]) -> list[torch.Tensor]:
    """Parameters kept at `path` (ignored runs/, never committed), trained there first by `train` if absent."""
    if not path.exists():
        params, info = train()
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save({"params": params, **info}, path)
        print(f"trained {path}: {info}", file=sys.stderr)
    return torch.load(path)["params"]


def meta_init(meta_dir: Path, folder: Path, width: int, depth: int, size: int, steps: int,
              minutes: float) -> list[torch.Tensor]:
    """d's init for a width, meta-trained once."""
    return trained(meta_dir / f"siren-W{width}-D{depth}-{size}.pt",
                   lambda: meta_train(folder, width, depth, size, steps, minutes))


def latent_synth(meta_dir: Path, folder: Path, size: int, minutes: float) -> list[torch.Tensor]:
    """b's shared synthesis, trained once as an auto-decoder on 64 random train crops; the synthesis is
    pointwise, so crops of one size serve every crop size of the study."""
    return trained(meta_dir / f"latent-synth-L{latentgrid.LEVELS}-W{latentgrid.WIDTH}-{size}.pt",
                   lambda: latentgrid.train_synth(random_crops(folder, size, np.random.default_rng(1)), 64,
                                                  (LAMS[0], LAMS[-1]), minutes))


def latent_model(image: np.ndarray, synth: list[torch.Tensor], latents: list[torch.Tensor],
                 fitted: list[torch.Tensor] | None = None) -> Model:
    """b's latents read by the shared synthesis, or (b1) with the `fitted` synthesis, whose update from the
    shared one is coded after the latents. The header names the synthesis (8 checksum bytes) and its shape."""
    h, w, _ = image.shape
    header = StreamHeader(2, h, w, "latent-synth", bytes(8), bytes([latentgrid.LEVELS, latentgrid.WIDTH]))
    names, n = [f"z{k}" for k in range(len(latents))], len(latents)
    if fitted is None:
        return Model(latents, names, lambda ps: latentgrid.synthesize(synth, ps, h, w), header, to_target(image),
                     image.shape)
    return Model(latents + fitted, names + latentgrid.SYNTH_NAMES,
                 lambda ps: latentgrid.synthesize(ps[n:], ps[:n], h, w), header, to_target(image), image.shape,
                 origin=[torch.zeros_like(z) for z in latents] + synth)


def run_latent(out: Writer, crop: str, image: np.ndarray, synth: list[torch.Tensor], candidate: str,
               steps: int, lams: tuple[float, ...]) -> None:
    """b/b1: one fit per rate weight, coded at the fitted step (1) and coarser latent steps; b1 also codes the
    synthesis update at each of SYNTH_INDICES plus per-tensor sensitivity offsets (the Pareto front keeps
    the best)."""
    target = to_target(image).reshape(1, *image.shape)
    for lam in lams:
        t0 = time.perf_counter()
        latents, fitted = latentgrid.fit(synth, target, lam, steps, latentgrid.SYNTH_LR if candidate == "b1" else 0.0)
        secs = time.perf_counter() - t0
        n = len(latents)
        model = latent_model(image, synth, latents, fitted if candidate == "b1" else None)
        unq = model.psnr()
        offsets = step_offsets(model.sensitivity()[n:]) if candidate == "b1" else []
        finest = [finest_index(u.numpy()) for u in model.update(model.params)[n:]]
        for k in (-8, -4, 0):
            for s in SYNTH_INDICES if candidate == "b1" else (0,):
                indices = [256 + k] * n + [int(np.clip(s + o, 0, f)) for o, f in zip(offsets, finest, strict=True)]
                record(out, crop, image, candidate, f"lambda={lam:g} latent step {256 + k}"
                       + (f" synth step {s}" if s else ""), model.code(indices), steps=steps, qat_steps=0,
                       params=sum(p.numel() for p in model.params), psnr_unquant=unq, seconds=secs)


class Writer:
    """CSV rows appended and flushed as they are measured."""

    def __init__(self, file: TextIO, fresh: bool, tag: str = ""):
        self.file, self.csv, self.tag = file, csv.DictWriter(file, FIELDS), tag
        if fresh:
            self.csv.writeheader()

    def row(self, **r) -> None:
        """One row; the run's tag names a variant of the candidate (e.g. c@3000 for a longer fit)."""
        self.csv.writerow({k: cell(r.get(k, "")) for k in FIELDS} | {"candidate": r["candidate"] + self.tag})
        self.file.flush()


def record(out: Writer, crop: str, ref: np.ndarray, candidate: str, config: str, c: Coded, **extra) -> None:
    out.row(crop=crop, candidate=candidate, config=config, bpp=8 * len(c.data) / (ref.shape[0] * ref.shape[1]),
            bytes=len(c.data), header_bytes=c.header_bytes, psnr=psnr(c.pixels, ref), zero_frac=c.zero_frac,
            bits_by_tensor=c.bits_by_tensor, **extra)


def run_tiles(out: Writer, crop: str, image: np.ndarray, steps: int, qat_steps: int) -> None:
    """a0 and a: one codec fit per target rate, coded plain, then after QAT at the coded steps."""
    for target in TARGETS:
        t0 = time.perf_counter()
        try:
            analysis = analyse(image, bpp=target, steps=steps, device="cpu",  # rate weight 1/bpp, the codec's
                               init=INTEGRAL_INIT)  # network
        except UsageError:  # the header alone is over the target (tiny images)
            continue
        fit_s = time.perf_counter() - t0
        streams = []
        for rate in (0.7 * target, target, 1.4 * target):
            try:
                streams.append((rate, analysis.compress(bpp=rate)))
            except UsageError:  # out of this fit's reach: its neighbours' fits cover it
                continue
        if not streams:
            continue
        model = tile_model(image, target, analysis)
        unq = model.psnr()
        tensors = {rate: decode_tensors(data)[1] for rate, data in streams}
        for rate, data in streams:
            record(out, crop, image, "a0", f"lambda={1 / target:g} @{rate:.3g}",
                   coded(data, decode(data), tensors[rate], model.names), steps=steps, qat_steps=0,
                   params=sum(d.size for d in analysis.fitted.deltas), psnr_unquant=unq, seconds=fit_s)
        base = [t.step_index for t in tensors.get(target, tensors[streams[0][0]])]
        t0 = time.perf_counter()
        model.qat(base, qat_steps, QAT_LR_TILES)
        unq_q, qat_s = model.psnr(), fit_s + time.perf_counter() - t0
        for k in OFFSETS:
            record(out, crop, image, "a", f"lambda={1 / target:g} offset {k:+d}", model.code(model.indices(k, base)),
                   steps=steps, qat_steps=qat_steps, params=sum(p.numel() for p in model.params), psnr_unquant=unq_q,
                   seconds=qat_s)


def run_siren(out: Writer, crop: str, image: np.ndarray, model: Model, config: str, steps: int,
              runs: tuple[tuple[str, int], ...]) -> None:
    """c0/c/d: fit, then pick the knee step on real streams and code at offsets around it; for each
    (candidate, QAT steps) of `runs` in turn, QAT at the knee first when it has steps."""
    t0 = time.perf_counter()
    model.fit(steps, SIREN_LR)
    unq = model.psnr()
    offsets = step_offsets(model.sensitivity())
    lo, hi = 0, 1024  # PSNR grows with the index: bisect for the first index within KNEE_DB of the fit
    while lo < hi:
        mid = (lo + hi) // 2
        lo, hi = (mid + 1, hi) if psnr(model.code(model.indices(mid, offsets)).pixels, image) < unq - KNEE_DB else (lo, mid)
    knee, n_params = lo, sum(p.numel() for p in model.params)
    for name, qat in runs:
        if qat:
            model.qat(model.indices(knee, offsets), qat, QAT_LR_SIREN)
        unq, secs = model.psnr(), time.perf_counter() - t0
        for k in OFFSETS:
            record(out, crop, image, name, f"{config} offset {k:+d}",
                   model.code(model.indices(knee + k, offsets)), steps=steps, qat_steps=qat, params=n_params,
                   psnr_unquant=unq, seconds=secs)


def run_r3(out: Writer, crop: str, image: np.ndarray, preset: str) -> None:
    """r3 and r3-laplace: one stream per target that the latents reach (a target they miss is left out,
    where the codec would code the tiles), and the same stream's latents re-coded per level."""
    for target in R3_TARGETS:
        t0 = time.perf_counter()
        init = predicted_inits(target)[0]
        try:
            analysis = analyse(image, bpp=target, preset=preset, device="cpu", init=init)
            data = analysis.compress(bpp=target)
        except UsageError:  # under the header's floor, or beyond the latents' reach
            continue
        seconds, (parsed, tensors) = time.perf_counter() - t0, decode_tensors(data)
        n = len(analysis.rep.symbol_counts()) - analysis.rep.channels  # the synthesis update's tensors come first
        words, synth_words = len(payload_words(data, parsed.offset)), len(encode_tensors(tensors[:n]))
        per_level = len(encode_tensors(tensors[:n] + [make_coded(t.symbols, t.step_index) for t in tensors[n:]]))
        zeros = float(np.mean(np.concatenate([t.symbols == 0 for t in tensors[n:]])))
        pixels, steps = decode(data), planned_steps(preset, None, init)
        for candidate, payload in (("r3", words), ("r3-laplace", per_level)):
            size = len(data) + 4 * (payload - words)
            out.row(crop=crop, candidate=candidate, config=f"{init} {preset} @{target:g}", steps=steps, qat_steps=0,
                    params=sum(t.symbols.size for t in tensors), bpp=8 * size / (image.shape[0] * image.shape[1]),
                    bytes=size, header_bytes=len(data) - 4 * words, psnr=psnr(pixels, image), zero_frac=zeros,
                    bits_by_tensor=f"synthesis:{100 * synth_words / payload:.0f} latents:"
                                   f"{100 * (payload - synth_words) / payload:.0f}", seconds=seconds)


def run_classics(out: Writer, crop: str, image: np.ndarray) -> None:
    for key in ("jpeg", "webp"):
        for q in CLASSICS[key].settings:
            data, dec, _, _ = run_classic(key, image, q)
            out.row(crop=crop, candidate=key, config=f"q{q:g}", bytes=len(data), psnr=psnr(dec, image),
                    bpp=8 * len(data) / (image.shape[0] * image.shape[1]))


# ---- report -----------------------------------------------------------------------------------------------

def pareto(points: list[tuple[float, float, float]]) -> list[tuple[float, float, float]]:
    """(bpp, psnr, unquantized) points no other point beats on both rate and PSNR, by rate."""
    front, best = [], -np.inf
    for p in sorted(points):
        if p[1] > best:
            front.append(p)
            best = p[1]
    return front


def at(front: list[tuple[float, float, float]], bpp: float, field: int = 1) -> float:
    """Value at a rate, linear in log-rate between front points (NaN outside them)."""
    if len(front) < 2 or not front[0][0] <= bpp <= front[-1][0]:
        return float("nan")
    return float(np.interp(np.log(bpp), np.log([p[0] for p in front]), [p[field] for p in front]))


def fronts(rows: list[dict]) -> dict[str, dict[str, list]]:
    """candidate -> crop -> Pareto front of its real points."""
    out: dict = {}
    for r in rows:
        if r["bpp"]:
            unq = float(r["psnr_unquant"]) if r["psnr_unquant"] else float("nan")
            out.setdefault(r["candidate"], {}).setdefault(r["crop"], []).append((float(r["bpp"]), float(r["psnr"]), unq))
    return {c: {k: pareto(v) for k, v in crops.items()} for c, crops in out.items()}


def mean_at(per_crop: dict[str, list], bpp: float, field: int = 1) -> tuple[float, int]:
    """Mean over the crops whose front reaches the rate, and how many did."""
    v = [x for x in (at(f, bpp, field) for f in per_crop.values()) if np.isfinite(x)]
    return (float(np.mean(v)) if v else float("nan")), len(v)


def mean_bd(test: dict[str, list], anchor: dict[str, list]) -> float:
    v = [bd_rate(*zip(*[p[:2] for p in anchor[k]], strict=True), *zip(*[p[:2] for p in f], strict=True))
         for k, f in test.items() if k in anchor]
    v = [x for x in v if np.isfinite(x)]
    return float(np.mean(v)) if v else float("nan")


def base(key: str) -> str:
    """The candidate a CSV key names, without its variant tag."""
    return key.split("@")[0]


def fitted(key: str) -> bool:
    return base(key) in ("a0", "a", "c0", "c", "d", "b", "b1", "r3", "r3-laplace")


def ordered(fr: dict) -> list[str]:
    """Candidates in the study's order, variants after their base."""
    return sorted(fr, key=lambda k: (list(CANDIDATES).index(base(k)), k))


def label(key: str, rows: list[dict]) -> str:
    """A candidate's name with the steps its rows were fitted with, and its variant tag unless that only
    names the steps (e.g. d@l1=1, but not c0@3000)."""
    r, tag = next(r for r in rows if r["candidate"] == key), key.partition("@")[2]
    return (CANDIDATES[base(key)] + (f", {r['steps']} + {r['qat_steps'] or 0} steps" if fitted(key) else "")
            + (f", {tag}" if tag and not tag.isdigit() else ""))


def mean_of(rows: list[dict], field: str) -> float:
    return float(np.mean([float(r[field]) for r in rows])) if rows else float("nan")


def fmt(v: float, n: int = 1, unit: str = "") -> str:
    return "—" if not np.isfinite(v) else f"{v:.{n}f}{unit}"


def report(csv_path: Path, md_path: Path, png_path: Path, header: str) -> str:
    """Markdown tables (candidate x rate; BD-rates; where the bits go; c per width) and the RD plot."""
    with open(csv_path, newline="") as f:
        rows = list(csv.DictReader(f))
    fr = fronts(rows)
    n_crops = len({r["crop"] for r in rows})
    rates = [0.25, 0.5, 1.0, 2.0]
    lines = [header, "", (f"Mean over {n_crops} crops of RGB PSNR (dB) on each crop's Pareto front of real streams, "
                          "interpolated in log-rate; `coded (unquantized)`; n = crops whose curve reaches that rate."),
             "",
             "| candidate | " + " | ".join(f"{r:g} bpp" for r in rates) + " | BD-rate vs JPEG | BD-rate vs WebP |",
             "|---|" + "---|" * (len(rates) + 2)]
    for key in ordered(fr):
        cells = []
        for r in rates:
            (c, n), (u, _) = mean_at(fr[key], r), mean_at(fr[key], r, 2)
            cells.append(f"{fmt(c)} ({fmt(u)}) n={n}" if fitted(key) else f"{fmt(c)} n={n}")
        bds = ["—" if key == a else fmt(mean_bd(fr[key], fr[a]), 0, " %") for a in ("jpeg", "webp") if a in fr]
        lines.append(f"| {label(key, rows)} | " + " | ".join(cells + bds) + " |")
    lines += ["", ("Where the bits go (mean over streams on the fronts): header bytes, zero symbols, ideal bits "
                   "per tensor in % (W = weights, b = biases, by layer)."), "",
              "| candidate | streams | header bytes | header share | zero symbols | bits per tensor % (one stream) |",
              "|---|---|---|---|---|---|"]
    for key in filter(fitted, ordered(fr)):
        sel = [r for r in rows if r["candidate"] == key and r["bytes"]
               and (float(r["bpp"]), float(r["psnr"])) in {p[:2] for p in fr.get(key, {}).get(r["crop"], [])}]
        if sel:
            hb = np.mean([float(r["header_bytes"]) for r in sel])
            share = np.mean([float(r["header_bytes"]) / float(r["bytes"]) for r in sel])
            zf = np.mean([float(r["zero_frac"]) for r in sel])
            lines.append(f"| {label(key, rows)} | {len(sel)} | {hb:.0f} | {100 * share:.0f} % | {100 * zf:.0f} % | "
                         f"{sel[len(sel) // 2]['bits_by_tensor']} |")
    for key in [k for k in ordered(fr) if base(k) == "c"]:
        plain = [r for r in rows if r["candidate"] == key.replace("c", "c0", 1)]
        lines += ["", (f"{label(key, rows)}, per width (mean over crops): parameters per pixel, and unquantized "
                       "PSNR and the stream coded at the knee step (QAT's step), as fitted (c0) and after QAT (c)."), "",
                  "| network | params/px | c0 unquantized | c0 knee bpp, dB | c unquantized | c knee bpp, dB |",
                  "|---|---|---|---|---|---|"]
        for net in sorted({r["config"].split(" offset")[0] for r in plain}, key=lambda s: int(s.split()[0][1:])):
            cols = []
            for group in (plain, [r for r in rows if r["candidate"] == key]):
                knee = [r for r in group if r["config"] == f"{net} offset +0"]
                cols += [f"{mean_of(knee, 'psnr_unquant'):.2f}", f"{mean_of(knee, 'bpp'):.3f}, {mean_of(knee, 'psnr'):.2f}"]
            per_px = mean_of([{"x": float(r["params"]) * float(r["bpp"]) / (8 * float(r["bytes"]))}
                              for r in plain if r["config"].startswith(f"{net} offset")], "x")
            lines.append(f"| {net} | {per_px:.3f} | " + " | ".join(cols) + " |")
    md = "\n".join(lines) + "\n"
    md_path.write_text(md)
    plot(fr, rows, png_path, header.splitlines()[0].lstrip("# "))
    return md


def plot(fr: dict[str, dict[str, list]], rows: list[dict], path: Path, title: str) -> None:
    """Mean PSNR of each candidate's fronts on a common log-rate grid."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    grid = np.geomspace(0.1, 4, 40)
    for key in ordered(fr):
        pts = [(b, m) for b in grid for m, n in [mean_at(fr[key], b)] if n == len(fr[key])]
        if pts:
            ax.plot(*zip(*pts, strict=True), label=label(key, rows), marker="." if fitted(key) else None)
    ax.set_xscale("log")
    ticks = [0.125, 0.25, 0.5, 1, 2, 4]
    ax.set_xticks(ticks, [f"{t:g}" for t in ticks], minor=False)
    ax.set_xticks([], minor=True)
    finish(ax, xlabel="bpp (real bytes)", ylabel="RGB PSNR (dB), mean over crops", title=title)
    save(fig, path)


@click.command(help=__doc__)
@click.option("--data", "folders", type=click.Path(path_type=Path, file_okay=False), multiple=True,
              default=[SHARED_DATA / "val/cbsd68", SHARED_DATA / "val/celeba32"], show_default=True,
              help="val folders (never Kodak)")
@click.option("--per-folder", type=int, default=(4, 1), multiple=True, show_default=True,
              help="images per folder, in folder order")
@click.option("--size", type=int, default=128, show_default=True, help="side of the centre crops")
@click.option("--steps", type=int, default=1000, show_default=True, help="plain fitting steps, every candidate")
@click.option("--qat-steps", type=int, default=500, show_default=True)
@click.option("--widths", type=int, multiple=True, default=(12, 20, 32, 48), show_default=True,
              help="c: hidden widths of the per-crop SIREN")
@click.option("--depth", type=int, default=3, show_default=True, help="c: hidden layers")
@click.option("--pe-levels", type=int, default=0, show_default=True,
              help="c0/c: positional encoding of the coordinates with this many octaves (0: raw coordinates)")
@click.option("--candidates", multiple=True, default=("classic", "c", "tiles"), show_default=True,
              type=click.Choice(["classic", "c", "c0", "d", "b", "b1", "tiles", "r3"]),
              help="c runs c0 and its QAT; c0 alone skips QAT")
@click.option("--r3-preset", type=click.Choice(["fast", "default", "slow"]), default="default", show_default=True,
              help="r3: the encoder preset (its steps)")
@click.option("--rate-weight", type=float, default=0.0, show_default=True,
              help="c0/c/d: weight of the L1 rate proxy on the coded numbers (d: the update)")
@click.option("--lams", type=float, multiple=True, default=LAMS, show_default=True, help="b/b1: rate weights to fit")
@click.option("--train-data", type=click.Path(path_type=Path, file_okay=False), default=SHARED_DATA / "train",
              show_default=True, help="d: meta-training images (random crops)")
@click.option("--meta-dir", type=click.Path(path_type=Path, file_okay=False), default=Path("runs/ceiling-meta"),
              show_default=True, help="d: where the meta-learned inits are kept (ignored by git)")
@click.option("--meta-steps", type=int, default=1_000_000, show_default=True, help="d: most Reptile outer steps")
@click.option("--meta-minutes", type=float, default=8.0, show_default=True,
              help="d: Reptile time budget per width; b: the synthesis' training budget")
@click.option("--out", type=click.Path(path_type=Path, file_okay=False), default=RESULTS, show_default=True)
@click.option("--append", is_flag=True, help="add to an existing results CSV instead of starting it afresh")
@click.option("--report-only", is_flag=True, help="only write the tables and plot from the results CSV")
@click.option("--tag", default="", help="appended to candidate names: a variant (e.g. @3000) beside the base run")
@click.option("--threads", type=int, default=1, show_default=True, help="torch threads (2 on an idle 2-core machine)")
@click.option("--name", default="ceiling", show_default=True, help="results file names (another crop size: another name)")
@click.option("--quiet", is_flag=True)
def main(folders: tuple[Path, ...], per_folder: tuple[int, ...], size: int, steps: int, qat_steps: int,
         widths: tuple[int, ...], depth: int, pe_levels: int, candidates: tuple[str, ...], r3_preset: str,
         rate_weight: float, lams: tuple[float, ...], train_data: Path,
         meta_dir: Path, meta_steps: int, meta_minutes: float, out: Path, append: bool,
         report_only: bool, tag: str, threads: int, name: str, quiet: bool) -> None:
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(threads)  # 1 when anything else runs: two threads under load ran 10x slower
    csv_path = out / f"{name}.csv"
    header = (f"# Ceiling study (issue 14, step 1): {size}x{size} val centre crops, plain + QAT fitting steps "
              f"per candidate\n\nMachine: {machine('cpu')}. Command: `python -m benchmarks.ceiling "
              f"{' '.join(sys.argv[1:])}`.")
    if not report_only:
        torch.manual_seed(0)
        if len(per_folder) != len(folders):
            raise click.UsageError("give one --per-folder count per --data folder")
        crops = [c for f, n in zip(folders, per_folder, strict=True) for c in centre_crops(f, n, size)]
        jobs = [(crop, image, cand, wd) for crop, image in crops for cand in candidates
                for wd in (widths if cand in ("c", "c0", "d") else (0,))]
        inits = {wd: meta_init(meta_dir, train_data, wd, depth, size, meta_steps, meta_minutes)
                 for wd in widths if "d" in candidates}
        synth = latent_synth(meta_dir, train_data, min(size, LATENT_TRAIN_SIZE), meta_minutes) if {"b", "b1"} & set(candidates) else []
        fresh = not (append and csv_path.exists())
        t0 = time.perf_counter()
        with open(csv_path, "w" if fresh else "a", newline="") as f, \
                click.progressbar(jobs, label="ceiling", hidden=quiet,
                                  item_show_func=lambda j: j and f"{j[0]} {j[2]}{j[3] or ''}") as bar:
            writer = Writer(f, fresh, tag)
            for crop, image, cand, wd in bar:
                if cand == "classic":
                    run_classics(writer, crop, image)
                elif cand == "r3":
                    run_r3(writer, crop, image, r3_preset)
                elif cand in ("b", "b1"):
                    run_latent(writer, crop, image, synth, cand, steps, lams)
                elif cand in ("c", "c0", "d"):
                    model = siren_model(image, wd, depth, init=inits.get(wd) if cand == "d" else None,
                                        pe_levels=pe_levels)
                    model.rate_weight = rate_weight
                    runs = {"c": (("c0", 0), ("c", qat_steps)), "c0": (("c0", 0),), "d": (("d", 0),)}[cand]
                    run_siren(writer, crop, image, model, f"W{wd} D{depth}", steps, runs)
                else:
                    run_tiles(writer, crop, image, steps, qat_steps)
        header += f" Study compute: {(time.perf_counter() - t0) / 60:.1f} min."
    md = report(csv_path, out / f"{name}.md", out / f"{name}.png", header)
    if not quiet:
        click.echo(md)


if __name__ == "__main__":
    main()
