"""The artefacts users install, not the editable checkout: the sdist holds what its own tests need, and the
wheel built from it, installed into a fresh venv and run from outside the checkout, encodes, describes and
decodes with the inits it ships."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import zipfile
from pathlib import Path

import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
SDIST_TREES = ("tests", "bitstreams", "benchmarks", "training", "docs")  # what the README's test command needs
SDIST_FILES = ("LICENSE", "README.md", "pyproject.toml", "constraints.txt")
# the test environment's own packages (torch...) come after the fresh venv's; no PYTHONPATH leaks the checkout in
ENV = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")} | {"PYTHONNOUSERSITE": "1"}


def run(*cmd: str | Path, cwd: Path) -> str:
    """stdout of a command that must succeed; its whole output is the failure message otherwise."""
    r = subprocess.run([str(c) for c in cmd], cwd=cwd, env=ENV, capture_output=True, text=True, timeout=300)
    if r.returncode:
        pytest.fail(f"{' '.join(map(str, cmd))} exited {r.returncode}:\n{r.stdout}\n{r.stderr}", pytrace=False)
    return r.stdout


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sdist and the wheel built from the unpacked sdist, as `python -m build` makes them (no isolation:
    the test extra brings setuptools, so no index is needed). They are built from a copy of the sources: in
    the checkout, setuptools would also take whatever an earlier build's inrcodec.egg-info/SOURCES.txt listed."""
    src, out = tmp_path_factory.mktemp("src"), tmp_path_factory.mktemp("dist")
    for name in (*SDIST_TREES, *SDIST_FILES, "MANIFEST.in", "inrcodec"):
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(ROOT / name, src / name)
    run(sys.executable, "-m", "build", "--no-isolation", "--outdir", out, src, cwd=out)
    return out


def checkout_files(tree: str) -> set[str]:
    return {p.relative_to(ROOT).as_posix() for p in (ROOT / tree).rglob("*")
            if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"}


def test_the_sdist_holds_the_tests_conformance_streams_and_licence(dist: Path) -> None:
    (sdist,) = dist.glob("inrcodec-*.tar.gz")
    top = sdist.name.removesuffix(".tar.gz")
    with tarfile.open(sdist) as tar:
        names = {Path(m.name).relative_to(top).as_posix() for m in tar.getmembers() if m.isfile()}
    expected = set(SDIST_FILES).union(*(checkout_files(t) for t in SDIST_TREES))
    assert {"tests/test_conformance.py", "bitstreams/conformance/manifest.json"} <= expected
    assert not expected - names, f"missing from {sdist.name}: {sorted(expected - names)}"


def test_the_wheel_installed_in_a_fresh_venv_encodes_describes_and_decodes(dist: Path, tmp_path: Path) -> None:
    (wheel,) = dist.glob("inrcodec-*.whl")
    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", venv, cwd=tmp_path)
    py = venv / ("Scripts" if os.name == "nt" else "bin") / "python"
    run(py, "-m", "pip", "install", "--quiet", "--no-index", "--no-deps", wheel, cwd=tmp_path)
    site = Path(run(py, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))", cwd=tmp_path).strip())
    ours = dict.fromkeys(sysconfig.get_path(k) for k in ("purelib", "platlib"))  # ordered, no duplicates
    (site / "test-environment.pth").write_text("".join(f"{p}\n" for p in ours))
    where = run(py, "-c", "import inrcodec; print(inrcodec.__file__)", cwd=tmp_path).strip()
    assert Path(where).is_relative_to(venv), f"inrcodec imported from {where}, not from the wheel"

    cli = py.parent / "inrcodec"
    run(py, "-m", "inrcodec.example", "x.png", "--size", "96x128", cwd=tmp_path)
    run(cli, "encode", "x.png", "x.inr", "--bpp", "0.5", "--steps", "5", "--quiet", cwd=tmp_path)
    info = json.loads(run(cli, "info", "x.inr", "--json", cwd=tmp_path))
    assert (info["height"], info["width"]) == (96, 128) and abs(info["bpp"] - 0.5) <= 0.05
    run(cli, "decode", "x.inr", "x2.png", "--scale", "2", cwd=tmp_path)
    assert Image.open(tmp_path / "x2.png").size == (256, 192)

    with zipfile.ZipFile(wheel) as whl:  # what no run needs but users get: the inits' cards, py.typed
        shipped = {n for n in whl.namelist() if n.startswith("inrcodec/")}
    data = {f for f in checkout_files("inrcodec") if not f.endswith(".py")}
    assert not data - shipped, f"missing from {wheel.name}: {sorted(data - shipped)}"
