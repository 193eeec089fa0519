"""What every benchmark shares: where things are, which machine measured, which images, CSV cells and plots.

The benchmarks are a package run from the repository root (`python -m benchmarks.rd`); they import
each other's helpers only from here.
"""
from __future__ import annotations

import csv
import math
import os
import platform
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
SHARED_DATA = ROOT.parent / "shared" / "data"  # measurement data beside the project, never committed
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif"}


def machine(device: str) -> str:
    """CPU, cores, torch build and threads (and the GPU): the line every result names its machine by."""
    import torch  # here, so that reporting from a CSV does not pay for torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    desc = f"{cpu}, {os.cpu_count()} cores, torch {torch.__version__} ({torch.get_num_threads()} threads)"
    if device.startswith("cuda"):
        desc += f", GPU {torch.cuda.get_device_name(0)}"
    return desc


def images_in(folder: Path, limit: int | None = None) -> list[Path]:
    """The images of a folder in name order (first `limit` of them), so that every run sees the same set."""
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise SystemExit(f"no images in {folder}")
    return files[:limit] if limit else files


def cell(v: Any) -> Any:
    """A CSV cell: floats to 6 significant digits, NaN as empty, anything else as it is."""
    if isinstance(v, float):
        return "" if math.isnan(v) else f"{v:.6g}"
    return v


def write_csv(path: Path, fields: list[str], rows: Iterable[dict]) -> None:
    """A results CSV: the header, then each row's `fields` as cells (a field a row lacks is empty)."""
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fields)
        w.writeheader()
        w.writerows({k: cell(r.get(k, "")) for k in fields} for r in rows)


def cli_command() -> list[str]:
    """The `inrcodec` a user runs: the console script of this Python's environment."""
    script = Path(sys.executable).with_name("inrcodec")
    found = str(script) if script.exists() else shutil.which("inrcodec")
    if found is None:
        raise SystemExit("this benchmark needs the `inrcodec` command (pip install -e .)")
    return [found]


def wall_seconds(command: list[str], env: dict[str, str] | None = None) -> float:
    """Wall time of a command run as a fresh process (start-up included); its failure is an error of the benchmark."""
    t0 = time.perf_counter()
    r = subprocess.run(command, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if r.returncode:
        raise RuntimeError(f"{' '.join(command)} failed: {r.stderr.strip()}")
    return seconds


def say(quiet: bool) -> Callable[[str], None]:
    """Progress lines on stderr, or nothing."""
    return (lambda line: None) if quiet else (lambda line: print(line, file=sys.stderr, flush=True))


def pyplot():
    """matplotlib's pyplot on the file-only backend (benchmarks run without a screen)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def finish(ax, **labels) -> None:
    """Labels, a light grid and a legend that lies outside the data (right of the axes), if anything is named."""
    ax.set(**labels)
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1), borderaxespad=0)


def save(fig, path: Path) -> None:
    """Write a figure, its bounding box grown to take in legends placed outside the axes."""
    fig.savefig(path, dpi=110, bbox_inches="tight")
    pyplot().close(fig)


def count_params(spec) -> int:
    """Weights and biases of a SIREN of this spec (inrcodec.siren.SirenSpec)."""
    return sum(math.prod(s) for s in spec.shapes())
