"""Generated test images and the CLI fixtures several modules share: the tests never need ../shared or a GPU."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from inrcodec.cli import main
from inrcodec.example import synthetic_image


@pytest.fixture(scope="session")
def image() -> np.ndarray:
    return synthetic_image(64, 96)


@pytest.fixture(scope="session")
def stream(image) -> bytes:
    import inrcodec
    return inrcodec.encode(image, quality=60, steps=8)


@pytest.fixture()
def run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)

    def _run(*args):
        return CliRunner().invoke(main, [str(a) for a in args])
    return _run


@pytest.fixture()
def png(tmp_path) -> Path:
    p = tmp_path / "in.png"
    Image.fromarray(synthetic_image(48, 64, seed=1)).save(p)
    return p


@pytest.fixture()
def inr(tmp_path, png, run) -> Path:
    out = tmp_path / "in.inr"
    r = run("encode", png, out, "--quality", "50", "--steps", "3", "--quiet")
    assert r.exit_code == 0, r.output
    return out
