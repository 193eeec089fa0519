"""Start-up and decode time as a user meets them (issue 15, "a light, quick decoder"): fresh processes.

Side by side, in interleaved rounds (medians): `python -c "import torch"`, `inrcodec --help` and
`inrcodec decode x.inr out.png` of a 768x512 stream (the synthetic example image, encoded at
0.5 bpp with the fast preset), plus the decode alone inside a running process. With `--before REV`
the same commands also run against the package as it was at git revision REV (extracted with
`git archive` and put first on PYTHONPATH), for a before/after table from one run on one machine.

    python -m benchmarks.startup [--rounds 3] [--before 8f21cd5]

Writes benchmarks/results/startup.csv and startup.md.
"""
from __future__ import annotations

import argparse
import io
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
from importlib import metadata
from pathlib import Path

from benchmarks.common import (
    RESULTS,
    ROOT,
    cli_command,
    machine,
    say,
    wall_seconds,
    write_csv,
)

IN_PROCESS = ("import statistics, sys, time, inrcodec\ndata = open(sys.argv[1], 'rb').read()\ninrcodec.decode(data)\n"
              "times = []\nfor _ in range(5):\n    t = time.perf_counter(); inrcodec.decode(data); "
              "times.append(time.perf_counter() - t)\nprint(statistics.median(times))")


def extract(rev: str, into: Path) -> Path:
    """The inrcodec package at a git revision, as files (no checkout, no change to the repository)."""
    tar = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "inrcodec"], check=True, capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(tar)) as t:
        t.extractall(into, filter="data")
    return into


def versions() -> str:
    return ", ".join(f"{p} {metadata.version(p)}" for p in ("numpy", "torch", "constriction", "pillow", "click"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--before", help="git revision to compare with (e.g. the commit before the torch-free decoder)")
    ap.add_argument("--quiet", action="store_true")
    a = ap.parse_args()
    progress = say(a.quiet)
    import inrcodec
    from inrcodec.example import synthetic_image

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        stream, out = work / "x.inr", str(work / "out.png")
        stream.write_bytes(inrcodec.encode(synthetic_image(512, 768), bpp=0.5, preset="fast"))
        variants = {"now": dict(os.environ)}
        if a.before:
            variants[f"at {a.before}"] = dict(os.environ, PYTHONPATH=str(extract(a.before, work / "before")))
        cli = cli_command()
        commands = {"python -c 'import torch'": [sys.executable, "-c", "import torch"],
                    "inrcodec --help": [*cli, "--help"],
                    "inrcodec decode x.inr out.png (768x512)": [*cli, "decode", str(stream), out, "-q"]}
        times: dict[tuple[str, str], list[float]] = {}
        for r in range(a.rounds):  # interleaved: load on a shared machine hits every command alike
            for label, env in variants.items():
                for name, cmd in commands.items():
                    if name.startswith("python") and label != "now":
                        continue  # the same command either way
                    times.setdefault((label, name), []).append(wall_seconds(cmd, env))
                times.setdefault((label, "decode in a running process (median of 5)"), []).append(float(
                    subprocess.run([sys.executable, "-c", IN_PROCESS, str(stream)], env=env, check=True,
                                   capture_output=True, text=True).stdout))
            progress(f"round {r + 1}/{a.rounds}")
        size = stream.stat().st_size
    rows = [{"code": label, "command": name, "median_s": statistics.median(t), "runs_s": " ".join(f"{x:.3f}" for x in t)}
            for (label, name), t in times.items()]
    RESULTS.mkdir(parents=True, exist_ok=True)
    write_csv(RESULTS / "startup.csv", list(rows[0]), rows)
    torch_s = times[("now", "python -c 'import torch'")]
    md = ["# Start-up and decode time (fresh processes)", "",
          f"Machine: {machine('cpu')}; {versions()}; Python {sys.version.split()[0]}.", "",
          f"{a.rounds} interleaved rounds, medians in seconds (every run listed). The stream: "
          f"`inrcodec.example.synthetic_image(512, 768)` encoded with `--bpp 0.5 --preset fast` ({size} bytes). "
          "Wall times include interpreter start-up; \"decode in a running process\" is `inrcodec.decode` alone "
          "(median of 5 after one warm-up). Reproduce: `python -m benchmarks.startup"
          + (f" --before {a.before}`." if a.before else "`."), "",
          "| code | command | median s | runs s |", "|---|---|---|---|"]
    md += [f"| {r['code']} | `{r['command']}` | {r['median_s']:.3f} | {r['runs_s']} |" for r in rows]
    md += ["", (f"Targets (issue 15): `--help` under half of `import torch` ({statistics.median(torch_s) / 2:.3f} s), "
                "decode including start-up under `import torch`."), ""]
    (RESULTS / "startup.md").write_text("\n".join(md))
    print("\n".join(md))


if __name__ == "__main__":
    main()
