"""What the allocator switch (inrcodec/alloc.py) buys, as users run things: fresh processes, side by side.

    python -m benchmarks.alloc [--rounds 3] [--meta-steps 40] [--quiet]

Every round runs each task once with glibc's default allocator (INRCODEC_MALLOC=default) and
once tuned (the default), back to back, so that a machine whose load drifts slows both alike;
the report gives medians over rounds. Tasks, on a generated 768x512 image at --bpp 0.5:
`inrcodec encode` and `inrcodec decode` as fresh processes (start-up included), the same encode
and decode timed inside one process (what benchmarks/rd.py reports), and a short meta-training
run of the shipped integral init's recipe on tiles of ../shared/data/train/bsds432 (steps per
second of its one round, as the run records it: start-up and the integral conversion excluded).
System time, sys / (user + sys), is the share that noise barely moves. Writes
benchmarks/results/alloc.csv (every run) and alloc.md (medians and the machine).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, TypeVar

import click
import numpy as np
from PIL import Image

from benchmarks.common import RESULTS, ROOT, SHARED_DATA, machine, write_csv
from inrcodec.alloc import ENV
from inrcodec.example import synthetic_image
from inrcodec.sharedinit import SPARSE_INIT, load_init_file

VARIANTS = ("default", "tuned")
TASKS = ("cli-encode", "cli-decode", "in-process", "meta-train")
FIELDS = ["round", "task", "variant", "wall_s", "user_s", "sys_s", "sys_share", "steps_per_s", "output_sha256"]
BPP = 0.5
T = TypeVar("T")
START = ROOT / "inrcodec" / "weights" / f"{SPARSE_INIT}.npz"  # what the shipped integral init was trained from


def child_env(variant: str) -> dict[str, str]:
    """The environment of a measured process: no allocator settings but the variant's own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_") and k not in ("GLIBC_TUNABLES", ENV)}
    if variant == "default":
        env[ENV] = "default"
    return env


def timed(cmd: list[str], variant: str) -> tuple[dict, str]:
    """Wall, user and system seconds of one fresh process, and its stdout."""
    before, t0 = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
    done = subprocess.run(cmd, env=child_env(variant), cwd=ROOT, capture_output=True, text=True)
    wall, after = time.perf_counter() - t0, resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stderr}")
    return times(wall, after.ru_utime - before.ru_utime, after.ru_stime - before.ru_stime), done.stdout


def times(wall: float, user: float, sys_: float) -> dict:
    return {"wall_s": wall, "user_s": user, "sys_s": sys_, "sys_share": sys_ / max(user + sys_, 1e-9)}


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def measured(work: Callable[[], T]) -> tuple[T, dict]:
    """`work()`'s result, and its wall, user and system seconds in this process."""
    r0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    result = work()
    wall, r1 = time.perf_counter() - t0, resource.getrusage(resource.RUSAGE_SELF)
    return result, times(wall, r1.ru_utime - r0.ru_utime, r1.ru_stime - r0.ru_stime)


def in_process(image: str) -> None:
    """Child of the in-process task: encode, then decode in the same process, each timed alone; JSON on stdout."""
    import inrcodec

    pixels = np.asarray(Image.open(image).convert("RGB"))
    data, enc = measured(lambda: inrcodec.encode(pixels, bpp=BPP))
    out, dec = measured(lambda: inrcodec.decode(data))
    print(json.dumps({"encode": {**enc, "output_sha256": hashlib.sha256(data).hexdigest()},
                      "decode": {**dec, "output_sha256": hashlib.sha256(out.tobytes()).hexdigest()}}))


def run_task(task: str, variant: str, round_: int, work: Path, meta_steps: int) -> list[dict]:
    """One measurement of `task` under `variant`: rows (the in-process task gives encode and decode)."""
    py, image, stream = sys.executable, work / "image.png", work / f"{variant}.inr"
    if task == "cli-encode":
        row, _ = timed([py, "-m", "inrcodec.cli", "encode", str(image), str(stream), "--bpp", str(BPP), "--quiet"],
                       variant)
        return [{**row, "output_sha256": digest(stream)}]
    if task == "cli-decode":
        row, _ = timed([py, "-m", "inrcodec.cli", "decode", str(stream), str(work / f"{variant}.png")], variant)
        return [{**row, "output_sha256": digest(work / f"{variant}.png")}]
    if task == "in-process":
        _, out = timed([py, "-c", f"from benchmarks.alloc import in_process; in_process({str(image)!r})"], variant)
        return [{"task": f"in-process-{k}", **v} for k, v in json.loads(out).items()]
    meta = work / f"meta-{round_}-{variant}.npz"  # a path of its own: load_init_file caches by path
    row, _ = timed([py, "-m", "training.metasparse", "--train", str(work / "train.npy"), "--val", str(work / "val.npy"),
                    "--out", str(meta), "--name", "alloc-bench", "--start", str(START),
                    "--min-width", "12", "--dense-steps", str(meta_steps), "--rounds", "0", "--val-tiles", "64",
                    "--quiet"], variant)
    seconds = load_init_file(meta).meta["history"][-1]["seconds"]  # the round alone, no start-up
    return [{**row, "steps_per_s": meta_steps / seconds}]


def prepare(work: Path, train: Path) -> None:
    """The measured inputs: the README's generated example image, and training tiles."""
    from training.patches import sample_patches

    Image.fromarray(synthetic_image(512, 768, seed=0)).save(work / "image.png")
    tiles = sample_patches([train], 36, 2000, seed=0)
    np.save(work / "train.npy", tiles)
    np.save(work / "val.npy", tiles[:64])  # selection tiles only cost time here: any 64 will do


def report(rows: list[dict], a, machine_: str) -> str:
    """Medians per task and variant, the tuned/default wall ratio, and whether the outputs matched."""
    lines = ["# Allocator switch: glibc default vs tuned (`inrcodec/alloc.py`)", "",
             f"`python -m benchmarks.alloc {' '.join(sys.argv[1:])}` on {machine_}, {time.strftime('%Y-%m-%d')}; "
             f"{a.rounds} rounds, each task run default then tuned in fresh processes; medians. "
             f"Default = `{ENV}=default` (glibc as configured), tuned = mmap threshold 1 GiB, "
             "trim threshold 2 GiB.", "",
             "| task | default wall (s) | default user / sys (s) | default sys share | tuned wall (s) | "
             "tuned user / sys (s) | tuned sys share | wall tuned / default | same output |",
             "|---|---|---|---|---|---|---|---|---|"]
    for task in dict.fromkeys(r["task"] for r in rows):
        med = {v: {k: statistics.median(r[k] for r in rows if r["task"] == task and r["variant"] == v)
                   for k in ("wall_s", "user_s", "sys_s", "sys_share")} for v in VARIANTS}
        shas = {r.get("output_sha256") for r in rows if r["task"] == task}
        same = "n/a" if shas == {None} else ("yes" if len(shas) == 1 else "**no**")
        lines.append(f"| {task} | " + " | ".join(
            f"{m['wall_s']:.2f} | {m['user_s']:.2f} / {m['sys_s']:.2f} | {m['sys_share']:.0%}" for m in med.values())
            + f" | {med['tuned']['wall_s'] / med['default']['wall_s']:.2f} | {same} |")
    steps = {v: statistics.median(r["steps_per_s"] for r in rows if r["task"] == "meta-train" and r["variant"] == v)
             for v in VARIANTS if any(r["task"] == "meta-train" for r in rows)}
    if steps:
        lines += ["", f"Meta-training ({a.meta_steps} outer steps, batch 64, full + one random width; its round as the "
                      f"run times it, the two selection scorings included, start-up not): "
                      f"{steps['default']:.2f} steps/s default, {steps['tuned']:.2f} steps/s tuned."]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--meta-steps", type=int, default=40, help="outer steps of the meta-training task")
    ap.add_argument("--tasks", nargs="+", choices=TASKS, default=list(TASKS))
    ap.add_argument("--train", type=Path, default=SHARED_DATA / "train" / "bsds432", help="images for training tiles")
    ap.add_argument("--quiet", action="store_true")
    a = ap.parse_args()
    jobs = [(r, t, v) for r in range(1, a.rounds + 1) for t in a.tasks for v in VARIANTS]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        prepare(work, a.train)
        with click.progressbar(jobs, label="allocator runs", file=sys.stderr, hidden=a.quiet,
                               item_show_func=lambda j: j and f"{j[1]} {j[2]}") as bar:
            for r, task, variant in bar:
                rows += [{"round": r, "task": task, "variant": variant, **row}
                         for row in run_task(task, variant, r, work, a.meta_steps)]
    RESULTS.mkdir(parents=True, exist_ok=True)
    write_csv(RESULTS / "alloc.csv", FIELDS, rows)
    (RESULTS / "alloc.md").write_text(report(rows, a, machine("cpu")))
    print((RESULTS / "alloc.md").read_text())


if __name__ == "__main__":
    main()
