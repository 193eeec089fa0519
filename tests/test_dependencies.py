"""What the version ranges in pyproject.toml rest on, checked against the installed packages."""
from __future__ import annotations

import json
from importlib import metadata, resources
from pathlib import Path

import pytest

from inrcodec.bitstream import write_stream
from inrcodec.decoder import decode_tensors

CONFORMANCE = Path(__file__).resolve().parent.parent / "bitstreams" / "conformance"


@pytest.mark.parametrize("name", sorted(json.loads((CONFORMANCE / "manifest.json").read_text())))
def test_installed_constriction_recodes_conformance_symbols_byte_identically(name):
    """constriction is a range (>=0.4.2,<0.6), not a pin: the format depends on its exact coder, so every
    installed release must decode the conformance streams (test_conformance: symbol hashes) and code
    those symbols back to the very same bytes (here)."""
    data = (CONFORMANCE / f"{name}.inr").read_bytes()
    parsed, tensors = decode_tensors(data)
    again = write_stream(parsed.header, tensors, parsed.rep.encode_words(tensors))
    assert again == data, f"constriction {metadata.version('constriction')}"


def test_package_declares_its_licence_and_ships_type_information():
    assert metadata.metadata("inrcodec")["License-Expression"] == "Apache-2.0"
    assert resources.files("inrcodec").joinpath("py.typed").is_file()
