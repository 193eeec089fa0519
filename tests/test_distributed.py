"""The meta-trainer on 2 processes (gloo, CPU) takes the same steps as on one with the whole batch."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import torch
import torch.distributed as dist

from training.distributed import launch
from training.metasparse import MetaConfig, meta_train

from .test_training import SPEC, tiles

# 16 training tiles, a batch of 16: each rank draws all 8 of its shard, so the two ranks' mean
# gradient is exactly one process's gradient on all 16 tiles (without the all-reduce it is not).
CFG = MetaConfig(batch=16, inner_steps=1, second_order=True, dense_steps=3, rounds=1, round_steps=2, val_every=2,
                 quiet=True)


def _rank_run(out: str, stop_at: int = 0) -> None:
    """One rank's run, checkpointed; with `stop_at`, failing at that outer step (a crash: spawn then stops
    the other rank, which would otherwise wait in its all-reduce)."""
    if stop_at:
        adam_step, calls = torch.optim.Adam.step, []

        def stopping(self, *args, **kwargs):
            calls.append(1)
            if len(calls) == stop_at:
                raise RuntimeError("stopped")
            return adam_step(self, *args, **kwargs)

        torch.optim.Adam.step = stopping
    levels, history = meta_train(SPEC, tiles(16), tiles(5, seed=1), CFG, checkpoint=Path(out) / "run.ckpt")
    torch.save({"levels": [lv.values + lv.masks + lv.lrs for lv in levels], "history": history},
               Path(out) / f"rank{dist.get_rank()}.pt")


def test_two_gloo_ranks_match_one_process_with_the_whole_batch(tmp_path):
    launch(_rank_run, 2, "gloo", str(tmp_path))
    assert not (tmp_path / "run.ckpt").exists()
    ranks = [torch.load(tmp_path / f"rank{r}.pt") for r in (0, 1)]
    alone, history = meta_train(SPEC, tiles(16), tiles(5, seed=1), CFG)
    for a, b, one in zip(ranks[0]["levels"], ranks[1]["levels"], alone, strict=True):
        assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))  # the ranks never drift apart
        assert all(torch.allclose(x.float(), y.float(), atol=1e-5)
                   for x, y in zip(a, one.values + one.masks + one.lrs, strict=True))
    scores = [[h["val_psnr_after_inner_steps"] for h in r["history"]] for r in ranks]
    assert scores[0] == scores[1]  # val is scored once, shared by the ranks
    for h, h1 in zip(ranks[0]["history"], history, strict=True):
        assert h["val_psnr_after_inner_steps"] == pytest.approx(h1["val_psnr_after_inner_steps"], abs=0.02)


def test_a_batch_that_does_not_split_over_the_ranks_is_refused(tmp_path):
    with pytest.raises(Exception, match="does not split evenly"):
        launch(meta_train, 2, "gloo", SPEC, tiles(8), tiles(2), replace(CFG, batch=7))


def test_two_ranks_resume_together_from_one_checkpoint(tmp_path):
    whole, interrupted = tmp_path / "whole", tmp_path / "interrupted"
    whole.mkdir(), interrupted.mkdir()
    launch(_rank_run, 2, "gloo", str(whole))
    # Both ranks stop at once; spawn reports whichever ends first: one's "stopped", or (rarely, when gloo
    # tears down under the other) its peer's abort. The checkpoint below is what must be right.
    with pytest.raises(Exception, match="stopped|terminated with signal"):
        launch(_rank_run, 2, "gloo", str(interrupted), 5)  # in the pruning round, after the dense round's end
    saved = torch.load(interrupted / "run.ckpt", weights_only=False)
    assert (saved["round"], saved["step"], saved["settings"]["ranks"], len(saved["rngs"])) == (0, 3, 2, 2)
    launch(_rank_run, 2, "gloo", str(interrupted))
    for r in (0, 1):
        a, b = (torch.load(d / f"rank{r}.pt") for d in (whole, interrupted))
        for x, y in zip(a["levels"], b["levels"], strict=True):
            assert all(torch.equal(u, v) for u, v in zip(x, y, strict=True))
