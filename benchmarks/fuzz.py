"""Stream fuzzer (issue 13): hostile mutants of the conformance streams, with their CRC kept or rewritten.

Every mutant must be refused with the package's error (InrCodecError) or decode to an
(H, W, 3) uint8 image, within a time and memory cap. Each decode runs in a worker process
with an address-space limit (RLIMIT_AS) and a per-mutant timeout; a worker that hangs or
dies is replaced, and the mutant is counted as a hang or a crash. Mutant i of a stream and
mode is a pure function of (seed, stream, mode, i), so any finding replays exactly.

    python -m benchmarks.fuzz --mutants 100000 --jobs 2

writes benchmarks/results/fuzz.{csv,md}. tests/test_fuzz.py drives the same mutations from
hypothesis with a small example count.
"""
from __future__ import annotations

import csv
import multiprocessing
import resource
import struct
import sys
import time
import zlib
from collections import Counter
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from pathlib import Path

import click
import numpy as np

from benchmarks.common import RESULTS, ROOT, machine

CONFORMANCE = ROOT / "bitstreams" / "conformance"
MODES = ("crc-kept", "crc-rewritten")
KINDS = ("bit", "byte", "field", "cut", "insert")
OUTCOMES = ("refused", "decoded", "crash", "hang", "over-memory")


@dataclass(frozen=True)
class Field:
    """One big-endian integer of the header (FORMAT.md's table), where the stream at hand has it."""

    name: str
    offset: int
    size: int  # bytes

    @property
    def max(self) -> int:
        return (1 << (8 * self.size)) - 1

    def get(self, data: bytes) -> int:
        return int.from_bytes(data[self.offset:self.offset + self.size], "big")


_SETTINGS = {1: (("level", 1), ("steps", 2), ("preset", 1)),
             2: (("level", 1), ("steps", 2), ("preset", 1), ("network_width", 1), ("preview_min", 1))}


def header_fields(data: bytes) -> list[Field]:
    """Every integer field of a valid stream's header, tensor records and word count included."""
    fields = [Field("version", 4, 1), Field("representation", 5, 1), Field("height", 6, 2), Field("width", 8, 2),
              Field("name_length", 10, 1)]
    at = 11 + data[10] + 8
    fields.append(Field("settings_length", at, 1))
    at += 1
    for name, size in _SETTINGS.get(data[5], ()):
        fields.append(Field(name, at, size))
        at += size
    fields.append(Field("tensors", at, 1))
    at += 1
    for k in range(data[at - 1]):
        fields += [Field(f"step_index[{k}]", at, 2), Field(f"scale_index[{k}]", at + 2, 1),
                   Field(f"radius[{k}]", at + 3, 2)]
        at += 5
    return fields + [Field("payload_words", at, 4)]


def special_values(data: bytes, field: Field) -> list[int]:
    """The values a hostile header tries first: 0, 1, the maximum and one off the true value."""
    true = field.get(data)
    return sorted({v for v in (0, 1, field.max, true - 1, true + 1) if 0 <= v <= field.max})


def reseal(body: bytes) -> bytes:
    """A stream body with a valid CRC-32 (big-endian) appended, as a hostile writer makes it."""
    return body + struct.pack(">I", zlib.crc32(body))


def mutate(data: bytes, kind: str, where: int, value: int, rewrite_crc: bool) -> bytes:
    """Apply one mutation to the stream's body (all but the CRC), then keep or rewrite the CRC.

    bit: flip bit `value % 8` of byte `where`; byte: set it to `value % 256`; field: set header
    field `where` to `value` (clipped to its range); cut: keep the first `where` bytes of the
    body; insert: insert byte `value % 256` at `where`. Positions wrap around the body.
    """
    body, crc = bytearray(data[:-4]), data[-4:]
    pos = where % (len(body) + 1)
    if kind == "bit":
        body[pos % len(body)] ^= 1 << (value % 8)
    elif kind == "byte":
        body[pos % len(body)] = value % 256
    elif kind == "field":
        fields = header_fields(data)
        f = fields[where % len(fields)]
        body[f.offset:f.offset + f.size] = min(max(value, 0), f.max).to_bytes(f.size, "big")
    elif kind == "cut":
        del body[pos:]
    elif kind == "insert":
        body[pos:pos] = bytes([value % 256])
    else:
        raise ValueError(f"unknown mutation {kind!r}")
    return reseal(bytes(body)) if rewrite_crc else bytes(body) + crc


def random_mutation(data: bytes, rng: np.random.Generator) -> tuple[str, int, int]:
    """(kind, where, value) for mutate: header fields mostly at their special values."""
    kind = KINDS[int(rng.integers(len(KINDS)))]
    if kind != "field":
        return kind, int(rng.integers(len(data) - 4)), int(rng.integers(256))
    fields = header_fields(data)
    where = int(rng.integers(len(fields)))
    specials = special_values(data, fields[where])
    value = specials[int(rng.integers(len(specials)))] if rng.random() < 0.75 else int(rng.integers(fields[where].max + 1))
    return kind, where, value


def mutant(data: bytes, seed: int, stream: int, mode: int, index: int) -> tuple[bytes, tuple[str, int, int]]:
    """Mutant `index` of a stream in a mode, and its mutation: the same on every run and machine."""
    m = random_mutation(data, np.random.default_rng([seed, stream, mode, index]))
    return mutate(data, *m, rewrite_crc=MODES[mode] == "crc-rewritten"), m


def outcome(data: bytes) -> str:
    """'refused' or 'decoded'; anything else (a wrong image, a foreign exception) raises."""
    import inrcodec
    try:
        out = inrcodec.decode(data)
    except inrcodec.InrCodecError:
        return "refused"
    if not (isinstance(out, np.ndarray) and out.dtype == np.uint8 and out.ndim == 3 and out.shape[2] == 3):
        raise AssertionError(f"decode returned {type(out).__name__} {getattr(out, 'shape', '')}")
    return "decoded"


def conformance_streams() -> dict[str, bytes]:
    return {p.stem: p.read_bytes() for p in sorted(CONFORMANCE.glob("*.inr"))}


def _work(conn: Connection, memory_mb: int, seed: int) -> None:
    """Worker: caps its address space, then classifies mutants until told to stop (None)."""
    cap = memory_mb << 20
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    import torch
    torch.set_num_threads(1)  # one core per worker: --jobs sets the parallelism
    streams = list(conformance_streams().values())
    while (task := conn.recv()) is not None:
        stream, mode, index = task
        data, _ = mutant(streams[stream], seed, stream, mode, index)
        try:
            result, detail = outcome(data), ""
        except MemoryError:
            result, detail = "over-memory", "MemoryError"
        except Exception as e:  # noqa: BLE001 - the finding itself: any other exception is a crash
            out_of_memory = isinstance(e, RuntimeError) and "memory" in str(e).lower()
            result, detail = ("over-memory" if out_of_memory else "crash"), f"{type(e).__name__}: {e}"[:200]
        conn.send((result, detail))


class _Pool:
    """Worker processes that each decode one mutant at a time; hung or dead ones are replaced."""

    def __init__(self, jobs: int, memory_mb: int, seed: int, timeout: float):
        self.ctx = multiprocessing.get_context("spawn")
        self.args, self.timeout = (memory_mb, seed), timeout
        self.workers = [self._start() for _ in range(jobs)]

    def _start(self) -> dict:
        parent, child = self.ctx.Pipe()
        proc = self.ctx.Process(target=_work, args=(child, *self.args), daemon=True)
        proc.start()
        child.close()
        return {"proc": proc, "conn": parent, "task": None, "since": 0.0}

    def _replace(self, w: dict) -> None:
        w["proc"].kill()
        w["proc"].join()
        w["conn"].close()
        w.update(self._start())

    def run(self, tasks: list[tuple[int, int, int]], report) -> None:
        """Classify every task; report(task, outcome, detail) as each finishes, in any order."""
        todo = list(reversed(tasks))
        busy = 0
        while todo or busy:
            for w in self.workers:
                if w["task"] is None and todo:
                    w["task"], w["since"] = todo.pop(), time.monotonic()
                    w["conn"].send(w["task"])
                    busy += 1
            ready = wait([w["conn"] for w in self.workers if w["task"] is not None], timeout=0.5)
            now = time.monotonic()
            for w in self.workers:
                if w["task"] is None:
                    continue
                if w["conn"] in ready:
                    try:
                        result, detail = w["conn"].recv()
                    except EOFError:
                        w["proc"].join()
                        result, detail = "crash", f"worker died (exit code {w['proc'].exitcode})"
                        self._replace(w)
                elif now - w["since"] > self.timeout:
                    result, detail = "hang", f"over {self.timeout:g} s"
                    self._replace(w)
                else:
                    continue
                report(w["task"], result, detail)
                w["task"] = None
                busy -= 1

    def close(self) -> None:
        for w in self.workers:
            if w["proc"].is_alive():
                w["conn"].send(None)
            w["proc"].join(5)


@click.command()
@click.option("--mutants", default=100_000, show_default=True, help="mutants per mode per conformance stream")
@click.option("--jobs", default=2, show_default=True, help="worker processes (one core each)")
@click.option("--timeout", default=10.0, show_default=True, help="seconds a mutant may take before it is a hang")
@click.option("--memory-mb", default=3072, show_default=True, help="address-space cap of each worker (RLIMIT_AS)")
@click.option("--seed", default=0, show_default=True)
@click.option("--out", type=click.Path(path_type=Path), default=RESULTS, show_default=True)
@click.option("--only", multiple=True, metavar="PREFIX",
              help="only the streams whose names start so (e.g. latents: a new version's); mutants are the same")
@click.option("--name", default="fuzz", show_default=True, help="results file stem")
@click.option("--quiet", is_flag=True, help="no progress bar")
def main(mutants: int, jobs: int, timeout: float, memory_mb: int, seed: int, out: Path, only: tuple[str, ...],
         name: str, quiet: bool) -> None:
    """Decode mutants of every conformance stream in both CRC modes; count refusals, decodes and failures."""
    data = conformance_streams()
    streams = list(data)
    chosen = [s for s, n in enumerate(streams) if not only or n.startswith(only)]
    counts = {(s, m): Counter() for s in chosen for m in range(len(MODES))}
    seconds: dict[tuple[int, int], float] = {}
    findings: list[str] = []

    def report(task: tuple[int, int, int], result: str, detail: str) -> None:
        stream, mode, index = task
        counts[stream, mode][result] += 1
        if result not in ("refused", "decoded") and len(findings) < 20:
            _, m = mutant(data[streams[stream]], seed, stream, mode, index)
            findings.append(f"| {streams[stream]} | {MODES[mode]} | {index} | {m} | {result} | {detail} |")
        bar.update(1)

    pool = _Pool(jobs, memory_mb, seed, timeout)
    t_start = time.monotonic()
    try:
        with click.progressbar(length=len(counts) * mutants, label="mutants", hidden=quiet) as bar:
            for key in counts:
                t0 = time.monotonic()
                pool.run([(*key, i) for i in range(mutants)], report)
                seconds[key] = time.monotonic() - t0
    finally:
        pool.close()
    write(out / name, streams, counts, seconds, findings, time.monotonic() - t_start, jobs, timeout, memory_mb)


def write(stem: Path, streams: list[str], counts: dict, seconds: dict, findings: list[str], total_s: float,
          jobs: int, timeout: float, memory_mb: int) -> None:
    """STEM.csv (one row per stream and mode) and STEM.md (the same table, totals, machine and findings)."""
    stem.parent.mkdir(parents=True, exist_ok=True)
    rows = [{"stream": streams[s], "mode": MODES[m], "mutants": sum(c.values()),
             **{o.replace("-", "_"): c[o] for o in OUTCOMES}, "seconds": round(seconds[s, m], 2),
             "mutants_per_s": round(sum(c.values()) / max(seconds[s, m], 1e-9), 1)}
            for (s, m), c in counts.items()]
    with open(stem.parent / f"{stem.name}.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    total = Counter()
    for c in counts.values():
        total.update(c)
    cols = list(rows[0])
    lines = ["# Stream fuzzer", "",
             f"Machine: {machine('cpu')}. Command: `python -m benchmarks.fuzz {' '.join(sys.argv[1:])}` "
             f"({total_s / 60:.1f} min, {jobs} workers, {timeout:g} s and {memory_mb} MB per mutant).", "",
             "Mutations (benchmarks/fuzz.py): a flipped bit, a replaced byte, a header integer set to 0, 1, its "
             "maximum, one off its true value or at random, a cut, an inserted byte; with the CRC kept or "
             "rewritten. Every mutant must be refused with InrCodecError or decode to an image.", "",
             "**Totals**: " + ", ".join(f"{total[o]:,} {o}" for o in OUTCOMES) + ".", "",
             "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(str(r[c]) for c in cols) + " |" for r in rows]
    if findings:
        lines += ["", "## Findings (first 20)", "", "| stream | mode | index | mutation | outcome | detail |",
                  "|---|---|---|---|---|---|", *findings]
    (stem.parent / f"{stem.name}.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
