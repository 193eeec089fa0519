"""CI runs the README's test command, so a contributor and CI run the same checks."""
from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
INSTALL = 'pip install -e ".[test]"'


def test_ci_runs_the_readme_test_command_with_its_checks() -> None:
    ci = ROOT / ".ci" / "run"
    if not ci.exists():
        pytest.skip("no .ci/run: an sdist ships without CI")
    readme = [line for line in (ROOT / "README.md").read_text().splitlines() if INSTALL in line]
    ran = [line.replace("pip install -q ", "pip install ") for line in ci.read_text().splitlines()
           if INSTALL in line.replace("pip install -q ", "pip install ")]
    assert len(readme) == 1 and ran == readme, (readme, ran)  # the same command, CI only quieter
    for check in ("ruff check .", "mypy inrcodec", "python -m pytest"):
        assert check in readme[0]
