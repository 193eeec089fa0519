"""Encode or decode many files: a local process pool, resume by skipping outputs that exist,
per-file errors collected, and the same batch on a Dask cluster for sets that outgrow one machine.

    result = run_batch("encode", paths, Path("out"), options={"bpp": 0.5}, jobs=4)
    print(result.summary())

One image takes ~0.1 s to fit inside a running process against seconds of start-up per CLI call,
so a batch keeps its processes. Work goes to any `concurrent.futures.Executor`: the local pool
(`jobs`), a `distributed.Client` or its `get_executor()` (`executor`), or a scheduler address
(`scheduler`, which needs the `distributed` extra). Workers on other machines must see the files
at the same absolute paths (a shared filesystem) and have inrcodec installed.
"""
from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import os
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Literal

import inrcodec

from .errors import InrCodecError, UsageError
from .images import encode_image_file, image_format, write_output

Kind = Literal["encode", "decode"]
Status = Literal["done", "skipped", "failed"]
DEFAULT_EXT = {"encode": ".inr", "decode": ".png"}


@dataclass(frozen=True)
class Task:
    """One file to code: picklable, with absolute paths, so that it runs in any process or machine."""

    kind: Kind
    source: Path
    target: Path
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Outcome:
    source: Path
    target: Path
    status: Status
    reason: str = ""  # one line, for "failed"


@dataclass(frozen=True)
class BatchResult:
    outcomes: list[Outcome]  # in input order

    def of(self, status: Status) -> list[Outcome]:
        return [o for o in self.outcomes if o.status == status]

    @property
    def ok(self) -> bool:
        return not self.of("failed")

    def summary(self) -> str:
        """One line of counts, then one line per failed file."""
        counts = ", ".join(f"{len(self.of(s))} {s}" for s in ("done", "skipped", "failed"))
        return "\n".join([counts] + [o.reason if str(o.source) in o.reason else f"{o.source}: {o.reason}"
                                      for o in self.of("failed")])  # most reasons name the file already


def plan(kind: Kind, inputs: Iterable[str | os.PathLike], out_dir: str | os.PathLike,
         options: dict[str, Any] | None = None, ext: str | None = None) -> list[Task]:
    """Tasks with their outputs `out_dir/<stem><ext>`, refusing before any work what would go
    wrong later: an unknown kind or output format, and two inputs that would share one output."""
    if kind not in DEFAULT_EXT:
        raise UsageError(f"unknown batch kind {kind!r}: use encode or decode")
    ext = (ext or DEFAULT_EXT[kind]).lower()
    ext = ext if ext.startswith(".") else f".{ext}"
    if kind == "encode" and ext != ".inr":
        raise UsageError(f"encoded files are .inr, not {ext}")
    out = Path(out_dir).resolve()
    tasks = [Task(kind, Path(p).resolve(), out / f"{Path(p).stem}{ext}", dict(options or {})) for p in inputs]
    if kind == "decode" and tasks:
        image_format(tasks[0].target)  # a format Pillow can write
    sources: dict[Path, list[Path]] = defaultdict(list)
    for t in tasks:
        sources[t.target].append(t.source)
    clashes = [f"{target.name} <- {', '.join(map(str, s))}" for target, s in sources.items() if len(s) > 1]
    if clashes:
        raise UsageError("inputs would overwrite each other's output (rename them or use separate runs): "
                         + "; ".join(clashes))
    if any(t.target == t.source for t in tasks):
        raise UsageError("an output would overwrite its input: choose another output folder")
    return tasks


def run_task(task: Task) -> Outcome:
    """Code one file and write its output atomically; a problem with this file is its outcome,
    not the batch's end (anything else is a bug and propagates)."""
    try:
        if task.kind == "encode":
            data = inrcodec.encode(task.source, **task.options)
        else:
            data = encode_image_file(inrcodec.decode(task.source, **task.options), task.target)
        write_output(task.target, data)
    except (InrCodecError, OSError) as e:
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        return Outcome(task.source, task.target, "failed", reason)
    return Outcome(task.source, task.target, "done")


def limit_threads(threads: int, kind: Kind) -> None:
    """Pool initializer: workers share the cores instead of each using them all. Decoding is
    left without torch if it does not need it."""
    if kind == "encode" or "torch" in sys.modules:
        import torch
        torch.set_num_threads(threads)


def run_batch(kind: Kind, inputs: Iterable[str | os.PathLike], out_dir: str | os.PathLike, *,
              options: dict[str, Any] | None = None, ext: str | None = None, jobs: int = 1, force: bool = False,
              progress: Callable[[int], None] | None = None, executor: Any = None,
              scheduler: str | None = None) -> BatchResult:
    """Encode images to `out_dir/<stem>.inr` or decode streams to `out_dir/<stem><ext>` (.png by default).

    `options` are keyword arguments of `inrcodec.encode` or `inrcodec.decode` (bpp, steps,
    resolution...). Outputs that exist are skipped unless `force`, so a rerun resumes.
    `progress(n)` is called as n more files are settled (done, skipped or failed).
    Work runs in this process (`jobs=1`), in a pool of `jobs` processes with the cores divided
    among them, or on `executor` (a concurrent.futures Executor or a `distributed.Client`) or
    a Dask `scheduler` address such as "tcp://host:8786".
    """
    if jobs < 1:
        raise UsageError("jobs must be at least 1")
    if (executor is not None) + (scheduler is not None) + (jobs > 1) > 1:
        raise UsageError("give only one of jobs > 1, executor, scheduler")
    tasks = plan(kind, inputs, out_dir, options, ext)
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    todo: list[Task] = []
    settled: dict[Path, Outcome] = {}
    for t in tasks:
        if force or not t.target.exists():
            todo.append(t)
        else:
            settled[t.source] = Outcome(t.source, t.target, "skipped")
    if progress and settled:
        progress(len(settled))
    for outcome in _run(todo, kind, jobs, executor, scheduler):
        settled[outcome.source] = outcome
        if progress:
            progress(1)
    return BatchResult([settled[t.source] for t in tasks])


def _run(todo: list[Task], kind: Kind, jobs: int, executor: Any, scheduler: str | None) -> Iterator[Outcome]:
    """Outcomes as they finish, from wherever the work runs."""
    if not todo:
        return
    if scheduler is not None:
        try:
            from distributed import Client
        except ImportError:
            raise UsageError("a Dask scheduler needs the distributed extra: pip install 'inrcodec[distributed]'") \
                from None
        try:
            client = Client(scheduler)
        except OSError as e:
            raise UsageError(f"cannot reach the Dask scheduler at {scheduler}: {e}") from None
        with client:
            yield from _submit(client.get_executor(pure=False), todo)
    elif executor is not None:
        yield from _submit(executor.get_executor(pure=False) if hasattr(executor, "get_executor") else executor, todo)
    elif jobs > 1:
        workers = min(jobs, len(todo))
        threads = max(1, (os.cpu_count() or 1) // workers)
        with cf.ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                                    initializer=limit_threads, initargs=(threads, kind)) as pool:
            yield from _submit(pool, todo)
    else:
        yield from map(run_task, todo)


def _submit(executor: cf.Executor, todo: list[Task]) -> Iterator[Outcome]:
    futures = [executor.submit(run_task, t) for t in todo]
    try:
        for future in cf.as_completed(futures):
            yield future.result()
    finally:  # an error or an interrupt: queued files are not started
        for future in futures:
            future.cancel()
