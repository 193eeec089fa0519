"""Decoding, `inrcodec --help`, `--version`, `decode` and `info` never import torch (issue 15: a light,
quick decoder), and the numpy decoder agrees with the torch network math it shares its code with."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from inrcodec import tilecoding
from inrcodec.decoder import decode_tensors, parse
from inrcodec.tilesiren import TileNetwork, render

STREAM = Path(__file__).resolve().parent.parent / "bitstreams" / "conformance" / "integral-w20-scalable.inr"
NO_TORCH = "\nassert 'torch' not in sys.modules, 'torch was imported'"
# the command line as the console script runs it, then the check (click exits through SystemExit)
CLI = ("import sys\nfrom inrcodec.cli import main\ntry:\n    main(sys.argv[1:], prog_name='inrcodec')\n"
       "except SystemExit as e:\n    code = e.code" + NO_TORCH + "\nsys.exit(code)")


def run(code: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, check=False)


def test_the_api_decodes_without_torch():
    code = ("import sys, inrcodec, inrcodec.decoder, inrcodec.cli, inrcodec.pillow, inrcodec.batch\n"
            f"data = open({str(STREAM)!r}, 'rb').read()\n"
            "assert inrcodec.decode(data).shape == (inrcodec.info(data).height, inrcodec.info(data).width, 3)\n"
            "inrcodec.decode(data, width_fraction=0.5, scale=0.5)" + NO_TORCH)
    r = run(code)
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("args", [["--help"], ["--version"], ["info", str(STREAM)], ["decode", str(STREAM), "OUT"]])
def test_the_command_line_runs_without_torch(args, tmp_path):
    r = run(CLI, *[str(tmp_path / "out.png") if a == "OUT" else a for a in args])
    assert r.returncode == 0, r.stderr


def test_encoding_is_still_there_when_asked_for():
    r = run("import sys, inrcodec\nassert 'torch' not in sys.modules\ninrcodec.encode\n"
            "assert 'torch' in sys.modules and callable(inrcodec.analyse)")
    assert r.returncode == 0, r.stderr


def test_numpy_and_torch_render_the_same_stream_alike():
    """One definition of the network math: on numpy (the decoder) and on torch (the encoder's fit)."""
    data = STREAM.read_bytes()
    p, tensors = decode_tensors(data, parsed=parse(data))
    params = tilecoding.dequantized_params(p.rep.net, p.rep.grid, tensors)
    h, w = p.header.height, p.header.width
    torch_net = TileNetwork.of(p.init.to("cpu"), p.rep.settings.level, p.rep.settings.width)  # as the encoder builds it
    assert all(torch.equal(torch.as_tensor(a), b)
               for a, b in zip(p.rep.net.level.masks, torch_net.level.masks, strict=True))
    for width in (None, 7):
        ours = render(p.rep.net, params, p.rep.grid, h, w, width=width)
        theirs = render(torch_net, [torch.from_numpy(a) for a in params], p.rep.grid, h, w, width=width)
        assert isinstance(ours, np.ndarray) and np.abs(ours - theirs.numpy()).max() < 1e-4
