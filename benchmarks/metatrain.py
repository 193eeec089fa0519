"""Meta-training throughput: one process on every core against N data-parallel processes.

Times the outer steps of `training.metasparse.meta_train` at the shipped init's settings
(32-px tiles with their 2-px overlap, width 32, depth 3, batch 64, 3 inner steps), first- and
second-order, on synthetic tiles (the content does not change the arithmetic). Process start-up
and a warm-up run are outside the timing; the timed run includes its set-up and two val scorings
of 2 tiles, a few hundredths of a second. Writes benchmarks/results/metatrain.{csv,md}.

    python -m benchmarks.metatrain --steps 20
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from benchmarks.common import RESULTS, machine, write_csv
from inrcodec.example import synthetic_image
from inrcodec.siren import SirenSpec
from training.distributed import launch, rank_and_size
from training.metasparse import MetaConfig, meta_train

SPEC = SirenSpec(hidden=32, depth=3, w0=30.0)
SIZE = 36  # a 32-px tile and its overlap
FIELDS = ["order", "processes", "threads_each", "steps", "seconds", "steps_per_s", "speedup"]


def synthetic_tiles(n: int, seed: int = 0) -> np.ndarray:
    img = synthetic_image(SIZE * 8, SIZE * 8, seed=seed)
    return np.stack([img[(i % 8) * SIZE:(i % 8 + 1) * SIZE, (i // 8 % 8) * SIZE:(i // 8 % 8 + 1) * SIZE]
                     for i in range(n)])


def timed(cfg: MetaConfig, out: str) -> None:
    """One rank's run; rank 0 writes the seconds its outer steps took (the first, warm-up, excluded)."""
    data, val = synthetic_tiles(256), synthetic_tiles(2, seed=1)
    meta_train(SPEC, data, val, replace(cfg, dense_steps=1, rounds=0))  # warm-up: allocator, kernels
    t0 = time.perf_counter()
    meta_train(SPEC, data, val, cfg)
    if rank_and_size()[0] == 0:
        Path(out).write_text(json.dumps(time.perf_counter() - t0))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--nproc", type=int, default=2)
    args = ap.parse_args()
    cores = os.cpu_count() or 1
    rows = []
    for second in (False, True):
        cfg = MetaConfig(batch=64, inner_steps=3, second_order=second, dense_steps=args.steps, rounds=0,
                         val_every=10**9, quiet=True)
        base = None
        for nproc in (1, args.nproc):
            with tempfile.TemporaryDirectory() as tmp:
                out = str(Path(tmp) / "seconds")
                torch.set_num_threads(cores)
                launch(timed, nproc, "gloo", cfg, out)
                seconds = json.loads(Path(out).read_text())
            base = base or seconds
            rows.append({"order": "second" if second else "first", "processes": nproc,
                         "threads_each": max(1, cores // nproc), "steps": args.steps, "seconds": round(seconds, 2),
                         "steps_per_s": round(args.steps / seconds, 3), "speedup": round(base / seconds, 2)})
            print(rows[-1], flush=True)
    write_csv(RESULTS / "metatrain.csv", FIELDS, rows)
    lines = ["# Meta-training throughput (outer steps per second)", "",
             (f"Machine: {machine('cpu')}. Command: `python -m benchmarks.metatrain --steps {args.steps} "
             f"--nproc {args.nproc}`. Settings of the shipped init: width 32, depth 3, {SIZE}-px tiles, batch 64 "
             "(shared among the processes), 3 inner Meta-SGD steps; gloo all-reduce of the meta-gradient."), "",
             "| " + " | ".join(FIELDS) + " |", "|" + "---|" * len(FIELDS)]
    lines += ["| " + " | ".join(str(r[f]) for f in FIELDS) + " |" for r in rows]
    (RESULTS / "metatrain.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
