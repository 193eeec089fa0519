"""Batch work: a process pool, resume, per-file failures, refusals up front, and a Dask cluster."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import inrcodec
from inrcodec.batch import run_batch
from inrcodec.example import synthetic_image

OPTIONS = {"quality": 50, "steps": 2}


@pytest.fixture
def inputs(tmp_path) -> list[Path]:
    paths = []
    for seed in range(3):
        path = tmp_path / "in" / f"im{seed}.png"
        path.parent.mkdir(exist_ok=True)
        Image.fromarray(synthetic_image(32, 48, seed=seed)).save(path)
        paths.append(path)
    return paths


def outputs(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_pool_encodes_then_resumes_then_forces(inputs, tmp_path):
    out, ticks = tmp_path / "out", []
    result = run_batch("encode", inputs, out, options=OPTIONS, jobs=2, progress=ticks.append)
    assert result.ok and [o.status for o in result.outcomes] == ["done"] * 3 and sum(ticks) == 3
    assert [o.target.name for o in result.outcomes] == ["im0.inr", "im1.inr", "im2.inr"]  # input order
    first = outputs(out)
    assert all(inrcodec.decode(data).shape == (32, 48, 3) for data in first.values())

    again = run_batch("encode", inputs, out, options=OPTIONS)
    assert [o.status for o in again.outcomes] == ["skipped"] * 3
    assert again.summary() == "0 done, 3 skipped, 0 failed"

    (out / "im1.inr").unlink()  # an interrupted run resumes with what is missing
    assert [o.status for o in run_batch("encode", inputs, out, options=OPTIONS).outcomes] == \
        ["skipped", "done", "skipped"]
    forced = run_batch("encode", inputs, out, options=OPTIONS, force=True)
    assert [o.status for o in forced.outcomes] == ["done"] * 3
    assert outputs(out) == first  # deterministic


def test_a_bad_file_fails_alone(inputs, tmp_path):
    bad = inputs[0].parent / "bad.png"
    bad.write_bytes(b"not an image")
    result = run_batch("encode", [bad, *inputs], tmp_path / "out", options=OPTIONS)
    assert [o.status for o in result.outcomes] == ["failed", "done", "done", "done"] and not result.ok
    assert "bad.png" in result.outcomes[0].reason and "\n" not in result.outcomes[0].reason
    assert result.outcomes[0].reason.startswith(str(bad))  # the reason names the file: the summary says it once
    assert result.summary().splitlines() == ["3 done, 0 skipped, 1 failed", result.outcomes[0].reason]
    assert not (tmp_path / "out" / "bad.inr").exists()


def test_refusals_before_any_work(inputs, tmp_path):
    other = tmp_path / "other" / "im0.png"
    other.parent.mkdir()
    other.write_bytes(inputs[0].read_bytes())
    with pytest.raises(inrcodec.UsageError, match="im0.inr <- .*in/im0.png, .*other/im0.png"):
        run_batch("encode", [*inputs, other], tmp_path / "out", options=OPTIONS)
    with pytest.raises(inrcodec.UsageError, match="unknown image extension .xyz"):
        run_batch("decode", inputs, tmp_path / "out", ext=".xyz")
    with pytest.raises(inrcodec.UsageError, match="only one of"):
        run_batch("encode", inputs, tmp_path / "out", jobs=2, executor=object())
    with pytest.raises(inrcodec.UsageError, match="overwrite its input"):
        run_batch("decode", inputs, inputs[0].parent)
    assert not (tmp_path / "out").exists()


def test_decode_batch(tmp_path, stream):
    streams = []
    for name in ("a", "b"):
        streams.append(tmp_path / f"{name}.inr")
        streams[-1].write_bytes(stream)
    result = run_batch("decode", streams, tmp_path / "png", options={"width": 30}, ext="bmp")
    assert result.ok and [o.target.name for o in result.outcomes] == ["a.bmp", "b.bmp"]
    with Image.open(tmp_path / "png" / "b.bmp") as im:
        assert im.format == "BMP"
        np.testing.assert_array_equal(np.asarray(im), inrcodec.decode(stream, width=30))


def test_dask_cluster_gives_the_local_bytes(inputs, tmp_path):
    distributed = pytest.importorskip("distributed")
    run_batch("encode", inputs, tmp_path / "local", options=OPTIONS)
    with distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None) as cluster:
        with distributed.Client(cluster) as client:
            assert run_batch("encode", inputs, tmp_path / "client", options=OPTIONS, executor=client).ok
        assert run_batch("encode", inputs, tmp_path / "address", options=OPTIONS,
                         scheduler=cluster.scheduler_address).ok
    assert outputs(tmp_path / "client") == outputs(tmp_path / "address") == outputs(tmp_path / "local")


def test_unreachable_scheduler_is_a_usage_error(inputs, tmp_path):
    pytest.importorskip("distributed")
    import dask
    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):
        with pytest.raises(inrcodec.UsageError, match="cannot reach the Dask scheduler"):
            run_batch("encode", inputs, tmp_path / "out", options=OPTIONS, scheduler="tcp://127.0.0.1:9")
