"""The shipped, meta-learned sparse init: its file format, loading and identity.

One .npz holds the architecture and a ladder of pruning levels. Level k keeps the
weights that survived k rounds of global magnitude pruning (masks are nested), with the
values MAML re-trained at that density and Meta-SGD's learned per-parameter step sizes.
The masks ship with the codec, so a bitstream spends no bits on where the weights are.
A loaded init holds numpy arrays (all a decoder needs); `to(device)` gives the torch tensors
that fitting and training differentiate through.
"""
from __future__ import annotations

import hashlib
import io
import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Generic, Protocol, TypeVar

import numpy as np

from .integral import resample_nodes, take_nearest
from .siren import Params, SirenSpec
from .xp import Array, is_torch

SPARSE_INIT = "sparse-siren-t32-v1"  # fixed width: representation 1 (the default of inrcodec 0.1-0.2)
INTEGRAL_INIT = "integral-siren-t32-v1"  # continuous width: representation 2


def weight_density(masks: list[Array]) -> float:
    """Fraction of weights (not biases: masks[1::2]) that survive."""
    return float(sum(m.sum() for m in masks[0::2]) / sum(math.prod(m.shape) for m in masks[0::2]))


def to_numpy(a: Array) -> np.ndarray:
    return a.detach().cpu().numpy() if is_torch(a) else np.asarray(a)


@dataclass(frozen=True)
class Level:
    """One density of the ladder: init values (pruned entries are 0), masks, inner step sizes."""

    values: Params
    masks: list[Array]  # bool, same shapes as values; biases are all True
    lrs: Params

    @property
    def density(self) -> float:
        return weight_density(self.masks)

    @property
    def adapted(self) -> int:
        """Parameters a tile may change at this level (surviving weights and all biases)."""
        return int(sum(m.sum() for m in self.masks))

    @property
    def width(self) -> int:
        return int(self.values[0].shape[-1])

    def at_width(self, n: int) -> Level:
        """This level as a width-n network, its values read as integral nodes (inrcodec.integral).

        Values are the same weight function resampled to n nodes; masks and step sizes come
        from the nearest node, so the surviving count (the rate) scales with n^2 and is exact on
        every machine; pruned entries stay zero. Differentiable in values and step sizes, which
        is how meta-training trains one node grid for every width.
        """
        if n == self.width:
            return self
        masks = take_nearest(self.masks, n)
        return Level([v * m for v, m in zip(resample_nodes(self.values, n), masks, strict=True)], masks,
                     take_nearest(self.lrs, n))

    def to(self, device: str) -> Level:
        """This level as torch tensors on `device` (from numpy or torch; values kept exactly)."""
        import torch  # fitting and training only: a decoder stays on numpy

        return Level(*([torch.as_tensor(a, device=device) for a in arrays]
                       for arrays in (self.values, self.masks, self.lrs)))


@dataclass(frozen=True)
class SharedInit:
    name: str
    spec: SirenSpec
    tile: int
    overlap: int
    levels: list[Level]
    sha256: str
    meta: dict

    @property
    def integral(self) -> bool:
        """An integral init's values are nodes of a continuous channel axis (representation 2);
        its card records the widths it was meta-trained for."""
        return "widths" in self.meta

    @property
    def widths(self) -> tuple[int, int]:
        """The range of tile-network widths the codec may use with this init."""
        low, high = self.meta.get("widths", (self.spec.hidden, self.spec.hidden))
        return int(low), int(high)

    def to(self, device: str) -> SharedInit:
        """This init with torch tensors on `device`: what fitting and training differentiate through."""
        return replace(self, levels=[lv.to(device) for lv in self.levels])

    @property
    def checksum(self) -> bytes:
        """First 8 bytes of the file's SHA-256: what a bitstream stores to name this exact init."""
        return bytes.fromhex(self.sha256[:16])


def save_init(path: Path, name: str, spec: SirenSpec, tile: int, overlap: int,
              levels: list[Level], meta: dict) -> str:
    """Write the init deterministically (fixed key order, no timestamps) and return its sha256."""
    arrays: dict[str, np.ndarray] = {}
    header = {"name": name, "spec": spec.__dict__, "tile": tile, "overlap": overlap,
              "levels": len(levels), "meta": meta}
    arrays["header"] = np.frombuffer(json.dumps(header, sort_keys=True).encode(), np.uint8)
    for k, lv in enumerate(levels):
        for n, v, m, lr in zip(spec.names(), lv.values, lv.masks, lv.lrs, strict=True):
            arrays[f"L{k}.{n}.value"] = to_numpy(v).astype(np.float32)
            arrays[f"L{k}.{n}.mask"] = to_numpy(m).astype(np.uint8)
            arrays[f"L{k}.{n}.lr"] = to_numpy(lr).astype(np.float32)
    buf = io.BytesIO()
    np.savez(buf, allow_pickle=False, **arrays)
    data = buf.getvalue()
    Path(path).write_bytes(data)
    return hashlib.sha256(data).hexdigest()


def _parse(data: bytes) -> SharedInit:
    z = np.load(io.BytesIO(data))
    header = json.loads(bytes(z["header"]).decode())
    if header.get("kind", "tiles") != "tiles":
        raise ValueError(f"init {header.get('name')!r} is not a tile init")
    spec = SirenSpec(**header["spec"])

    def get(k: int, n: str, kind: str) -> np.ndarray:
        return z[f"L{k}.{n}.{kind}"].copy()
    levels = []
    for k in range(header["levels"]):
        levels.append(Level(values=[get(k, n, "value") for n in spec.names()],
                            masks=[get(k, n, "mask").astype(bool) for n in spec.names()],
                            lrs=[get(k, n, "lr") for n in spec.names()]))
    return SharedInit(name=header["name"], spec=spec, tile=header["tile"], overlap=header["overlap"],
                      levels=levels, sha256=hashlib.sha256(data).hexdigest(), meta=header["meta"])


INIT_NAME = re.compile(r"[a-z0-9]+(-[a-z0-9]+)*")  # what a shipped init may be called: never a path


def shipped_bytes(name: str) -> bytes:
    """The bytes of the shipped init `name` (inrcodec/weights/NAME.npz), of any representation.

    Only names: a stream names its init, so a name must never reach the file system as a path.
    Invalid and unknown names fail alike (FileNotFoundError).
    """
    res = resources.files("inrcodec") / "weights" / f"{name}.npz"  # looked at only when the name is valid
    if not INIT_NAME.fullmatch(name) or not res.is_file():
        raise FileNotFoundError(f"no shipped init named {name!r}")
    return res.read_bytes()


class NamedInit(Protocol):
    @property
    def name(self) -> str: ...


InitT = TypeVar("InitT", bound=NamedInit)


@dataclass(frozen=True)
class InitLoaders(Generic[InitT]):
    """How one representation's inits load, from their file parser: `shipped` by name (what a stream
    names; the file must declare that name), `file` from an explicit .npz path (research inits:
    training, benchmarks, `init=`), `open` either, as a user gives it. Loads are cached."""

    shipped: Callable[[str], InitT]
    file: Callable[[str | Path], InitT]

    @classmethod
    def of(cls, parse: Callable[[bytes], InitT]) -> InitLoaders[InitT]:
        @lru_cache(maxsize=4)
        def shipped(name: str) -> InitT:
            init = parse(shipped_bytes(name))
            if init.name != name:
                raise ValueError(f"init file {name}.npz declares the name {init.name!r}")
            return init

        @lru_cache(maxsize=4)
        def file(path: str | Path) -> InitT:
            return parse(Path(path).read_bytes())

        return cls(shipped, file)

    def open(self, name_or_path: str | Path) -> InitT:
        """A path ending in .npz, else a shipped name."""
        return self.file(name_or_path) if str(name_or_path).endswith(".npz") else self.shipped(str(name_or_path))


TILE_INITS = InitLoaders.of(_parse)
load_init, load_init_file, open_init = TILE_INITS.shipped, TILE_INITS.file, TILE_INITS.open
