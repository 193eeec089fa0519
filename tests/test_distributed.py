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


def _rank_run(out: str) -> None:
    levels, history = meta_train(SPEC, tiles(16), tiles(5, seed=1), CFG)
    torch.save({"levels": [lv.values + lv.masks + lv.lrs for lv in levels], "history": history},
               Path(out) / f"rank{dist.get_rank()}.pt")


def test_two_gloo_ranks_match_one_process_with_the_whole_batch(tmp_path):
    launch(_rank_run, 2, "gloo", str(tmp_path))
    ranks = [torch.load(tmp_path / f"rank{r}.pt") for r in (0, 1)]
    alone, history = meta_train(SPEC, tiles(16), tiles(5, seed=1), CFG)
    for a, b, one in zip(ranks[0]["levels"], ranks[1]["levels"], alone):
        assert all(torch.equal(x, y) for x, y in zip(a, b))  # the ranks never drift apart
        assert all(torch.allclose(x.float(), y.float(), atol=1e-5) for x, y in zip(a, one.values + one.masks + one.lrs))
    scores = [[h["val_psnr_after_inner_steps"] for h in r["history"]] for r in ranks]
    assert scores[0] == scores[1]  # val is scored once, shared by the ranks
    for h, h1 in zip(ranks[0]["history"], history):
        assert h["val_psnr_after_inner_steps"] == pytest.approx(h1["val_psnr_after_inner_steps"], abs=0.02)


def test_a_batch_that_does_not_split_over_the_ranks_is_refused(tmp_path):
    with pytest.raises(Exception, match="does not split evenly"):
        launch(meta_train, 2, "gloo", SPEC, tiles(8), tiles(2), replace(CFG, batch=7))
