"""Representation 3's shipped init: the shared synthesis with its pruning mask, the integer ARM,
and (from latents-v2 on) the encoder's latent predictor.

One .npz: a JSON header (name, kind "latents", grid count, activation, the card's metadata), the
synthesis values and masks ([gain, W0, b0, ...]; gains and biases are never pruned), the ARM's
integer layers and the predictor's float parameters (predictor.py; the decoder does not use them).
The per-image update moves only the entries that survive the mask, so a stream spends no bits on
where they are. Written deterministically, so its SHA-256 names it exactly.
"""
from __future__ import annotations

import hashlib
import io
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...sharedinit import InitLoaders
from .arm import IntegerArm
from .synthesis import ACTIVATIONS

LATENT_INIT = "latents-v1"  # trained without a predictor: the conformance streams' init
# With a predictor: the encoder's default, by the target's rate, each up to its bpp (val, 18 images,
# docs/design.md §11: latents-v2 is 0.5 dB above latents-v3 at 0.1-0.5 bpp, latents-v3 0.1-0.8 dB above
# latents-v2 at 0.75-1 bpp, where latents-v2 also runs out of reach sooner).
PREDICTED_INITS: tuple[tuple[str, float], ...] = (("latents-v2", 0.6), ("latents-v3", math.inf))
PREDICTED_INIT = PREDICTED_INITS[-1][0]  # the one that reaches the highest rates
KIND = "latents"


def predicted_inits(bpp: float) -> list[str]:
    """The predicted inits a target of `bpp` may code with, best first: the one whose share of the rates
    holds it, then those above it (which reach higher rates, where the first runs out)."""
    return [name for name, top in PREDICTED_INITS if bpp <= top]


@dataclass(frozen=True)
class LatentInit:
    name: str
    levels: int  # latent grids, finest first
    activation: str
    values: list[np.ndarray]  # synthesis [gain, W0, b0, W1, b1, ...], pruned entries 0
    masks: list[np.ndarray]  # bool, same shapes: what a per-image update may move
    arm: IntegerArm
    sha256: str
    meta: dict
    predictor: list[np.ndarray] | None = None  # predictor.py's parameters: where a fit starts

    @property
    def checksum(self) -> bytes:
        """First 8 bytes of the file's SHA-256: what a bitstream stores to name this exact init."""
        return bytes.fromhex(self.sha256[:16])

    @property
    def density(self) -> float:
        """Fraction of the synthesis weights (not gains or biases) that survive the mask."""
        ws = self.masks[1::2]
        return float(sum(m.sum() for m in ws) / sum(m.size for m in ws))


def save_latent_init(path: Path, name: str, activation: str, values: list[np.ndarray], masks: list[np.ndarray],
                     arm: IntegerArm, meta: dict, predictor: list[np.ndarray] | None = None) -> str:
    """Write the init (fixed key order, no timestamps) and return its sha256."""
    header = {"name": name, "kind": KIND, "levels": int(values[0].shape[0]), "activation": activation,
              "synthesis": len(values), "arm": len(arm.weights), "meta": meta}
    if predictor is not None:
        header["predictor"] = len(predictor)
    arrays: dict[str, np.ndarray] = {"header": np.frombuffer(json.dumps(header, sort_keys=True).encode(), np.uint8)}
    for i, (v, m) in enumerate(zip(values, masks, strict=True)):
        arrays[f"synth.{i}.value"] = np.asarray(v * m, np.float32)
        arrays[f"synth.{i}.mask"] = np.asarray(m, np.uint8)
    for k, (w, b) in enumerate(zip(arm.weights, arm.biases, strict=True)):
        arrays[f"arm.{k}.weight"] = np.asarray(w, np.int32)
        arrays[f"arm.{k}.bias"] = np.asarray(b, np.int32)
    for i, p in enumerate(predictor or []):
        arrays[f"predictor.{i}"] = np.asarray(p, np.float32)
    buf = io.BytesIO()
    np.savez(buf, allow_pickle=False, **arrays)
    Path(path).write_bytes(buf.getvalue())
    return hashlib.sha256(buf.getvalue()).hexdigest()


def _parse(data: bytes) -> LatentInit:
    z = np.load(io.BytesIO(data))
    header = json.loads(bytes(z["header"]).decode())
    if header.get("kind") != KIND or header.get("activation") not in ACTIVATIONS:
        raise ValueError(f"init {header.get('name')!r} is not a latent init")
    values = [z[f"synth.{i}.value"].copy() for i in range(header["synthesis"])]
    masks = [z[f"synth.{i}.mask"].astype(bool) for i in range(header["synthesis"])]
    arm = IntegerArm(tuple(z[f"arm.{k}.weight"].astype(np.int64) for k in range(header["arm"])),
                     tuple(z[f"arm.{k}.bias"].astype(np.int64) for k in range(header["arm"])))
    predictor = ([z[f"predictor.{i}"].copy() for i in range(header["predictor"])] if "predictor" in header
                 else None)
    return LatentInit(header["name"], header["levels"], header["activation"], values, masks, arm,
                      hashlib.sha256(data).hexdigest(), header["meta"], predictor)


LATENT_INITS = InitLoaders.of(_parse)
load_latent_init, load_latent_init_file, open_latent_init = (LATENT_INITS.shipped, LATENT_INITS.file,
                                                             LATENT_INITS.open)
