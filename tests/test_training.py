"""The meta-training pipeline and the sparsity benchmark's pieces, on tiny generated data."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

import inrcodec
from benchmarks.common import count_params
from benchmarks.sparsity import fit_curve, narrow_width, per_signal_schedule
from inrcodec.errors import BitstreamError
from inrcodec.example import synthetic_image
from inrcodec.sharedinit import SPARSE_INIT, load_init, save_init
from inrcodec.siren import SirenSpec, siren_init
from training.metasparse import MetaConfig, global_magnitude_prune, meta_train, random_prune, siren_level

SPEC = SirenSpec(hidden=8, depth=2, w0=30.0)


def tiles(n: int, size: int = 8, seed: int = 0) -> np.ndarray:
    img = synthetic_image(size * 4, size * 4, seed=seed)
    return np.stack([img[(i % 4) * size:(i % 4 + 1) * size, (i // 4 % 4) * size:(i // 4 % 4 + 1) * size]
                     for i in range(n)])


def kept(masks) -> int:
    return int(sum(m.sum() for m in masks[0::2]))


@pytest.mark.parametrize("pruner", [global_magnitude_prune, random_prune])
def test_pruners_drop_the_fraction_of_surviving_weights_and_never_biases(pruner):
    values = siren_init(SPEC, torch.Generator().manual_seed(0))
    masks = [torch.ones_like(v, dtype=torch.bool) for v in values]
    total = kept(masks)
    once = pruner(values, masks, 0.2, torch.Generator().manual_seed(1))
    twice = pruner(values, once, 0.2, torch.Generator().manual_seed(2))
    assert kept(once) == total - round(0.2 * total)
    assert kept(twice) == kept(once) - round(0.2 * kept(once))
    assert all(m.all() for m in twice[1::2])  # biases
    assert all(not (b & ~a).any() for a, b in zip(once, twice, strict=True))  # nested


def test_magnitude_pruning_keeps_the_largest_weights():
    values = siren_init(SPEC, torch.Generator().manual_seed(0))
    masks = global_magnitude_prune(values, [torch.ones_like(v, dtype=torch.bool) for v in values], 0.5)
    dropped = torch.cat([v[~m] for v, m in zip(values[0::2], masks[0::2], strict=True)]).abs()
    survived = torch.cat([v[m] for v, m in zip(values[0::2], masks[0::2], strict=True)]).abs()
    assert dropped.max() <= survived.min()


def test_batched_pruning_gives_each_network_its_own_threshold():
    nets = [siren_init(SPEC, torch.Generator().manual_seed(s)) for s in (0, 1)]
    ones = [torch.ones_like(v, dtype=torch.bool) for v in nets[0]]
    batch = [torch.stack(vs) for vs in zip(*nets, strict=True)]
    together = global_magnitude_prune(batch, [m.expand(2, *m.shape) for m in ones], 0.3)
    for i, net in enumerate(nets):
        alone = global_magnitude_prune(net, ones, 0.3)
        assert all(torch.equal(a, t[i]) for a, t in zip(alone, together, strict=True))


def test_meta_train_rounds_are_nested_and_random_pruning_continues_from_a_level():
    data, val = tiles(16), tiles(4, seed=1)
    cfg = MetaConfig(batch=4, inner_steps=1, dense_steps=3, rounds=2, round_steps=2, val_every=2, quiet=True)
    levels, history = meta_train(SPEC, data, val, cfg)
    assert [lv.density for lv in levels] == pytest.approx([1.0, 0.8, 0.64], abs=0.01)
    assert [h["round"] for h in history] == [0, 1, 2]
    rp, _ = meta_train(SPEC, data, val, replace(cfg, dense_steps=0, rounds=1), start=levels[0], pruner=random_prune)
    assert len(rp) == 1 and round(rp[0].density, 2) == 0.8
    assert not all(torch.equal(a, b) for a, b in zip(rp[0].masks, levels[1].masks, strict=True))


def test_fit_curve_fits_each_image_as_if_alone():
    level = siren_level(SPEC, 1e-2, seed=0)
    images = tiles(3)
    together = fit_curve(level, SPEC, images, 5, "adam", 1e-3)
    alone = np.concatenate([fit_curve(level, SPEC, images[i:i + 1], 5, "adam", 1e-3) for i in range(3)], 1)
    assert together.shape == (6, 3)
    np.testing.assert_allclose(together, alone, atol=1e-3)
    assert (together[-1] > together[0]).all()


def test_per_signal_schedules_reach_the_target_density():
    assert per_signal_schedule("MAML+OneShot", 3, 0.512, 100) == {50: pytest.approx(0.488)}
    imp = per_signal_schedule("MAML+IMP", 3, 0.512, 100)
    assert sorted(imp) == [25, 50, 75] and set(imp.values()) == {0.2}
    assert count_params(replace(SPEC, hidden=narrow_width(SPEC, 60))) == min(
        (count_params(replace(SPEC, hidden=w)) for w in range(2, 9)), key=lambda p: abs(p - 60))


def test_streams_from_a_research_init_decode_with_it_and_only_with_it(tmp_path):
    shipped = load_init(SPARSE_INIT)
    path = tmp_path / "research.npz"
    save_init(path, "research-init", shipped.spec, shipped.tile, shipped.overlap, shipped.levels[-1:], {})
    img = synthetic_image(40, 48, seed=3)
    data = inrcodec.encode(img, quality=50, steps=2, init=str(path), level=0)
    assert inrcodec.decode(data, init=str(path)).shape == (40, 48, 3)
    with pytest.raises(BitstreamError, match="does not ship"):
        inrcodec.decode(data)
    with pytest.raises(BitstreamError, match="different build"):
        inrcodec.decode(data, init=SPARSE_INIT)


def test_an_interrupted_meta_training_resumes_from_its_checkpoint_and_takes_the_same_steps(tmp_path, monkeypatch):
    data, val = tiles(16), tiles(4, seed=1)
    cfg = MetaConfig(batch=4, inner_steps=1, dense_steps=4, rounds=2, round_steps=4, val_every=2, quiet=True)
    whole, history = meta_train(SPEC, data, val, cfg, pruner=random_prune)
    ckpt = tmp_path / "run.ckpt"
    adam_step, calls = torch.optim.Adam.step, []

    def stop_at_the_seventh(self, *args, **kwargs):  # a session ending mid-round, after a val point
        calls.append(1)
        if len(calls) == 7:
            raise KeyboardInterrupt
        return adam_step(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.Adam, "step", stop_at_the_seventh)
    with pytest.raises(KeyboardInterrupt):
        meta_train(SPEC, data, val, cfg, pruner=random_prune, checkpoint=ckpt)
    monkeypatch.undo()
    assert torch.load(ckpt, weights_only=False)["round"] == 1  # it stopped in the first pruning round
    with pytest.raises(ValueError, match="other settings .*inner_lr"):
        meta_train(SPEC, data, val, replace(cfg, inner_lr=0.02), pruner=random_prune, checkpoint=ckpt)
    with pytest.raises(ValueError, match="other settings .*pruner"):
        meta_train(SPEC, data, val, cfg, checkpoint=ckpt)
    resumed, resumed_history = meta_train(SPEC, data, val, cfg, pruner=random_prune, checkpoint=ckpt)
    for a, b in zip(whole, resumed, strict=True):
        assert all(torch.equal(x, y)
                   for x, y in zip(a.values + a.masks + a.lrs, b.values + b.masks + b.lrs, strict=True))
    assert [h["val_psnr_after_inner_steps"] for h in history] == [h["val_psnr_after_inner_steps"] for h in resumed_history]
    assert not ckpt.exists()  # a finished run leaves nothing to resume


def test_meta_training_refuses_an_empty_val_set_or_too_few_tiles():
    cfg = MetaConfig(batch=4, inner_steps=1, dense_steps=1, rounds=0, quiet=True)
    with pytest.raises(ValueError, match="needs val tiles"):
        meta_train(SPEC, tiles(8), tiles(2)[:0], cfg)
    with pytest.raises(ValueError, match="at least a batch"):
        meta_train(SPEC, tiles(3), tiles(2), cfg)


def test_training_crops_near_the_short_side_keep_the_aspect_ratio(tmp_path):
    """A crop as tall as the image is never squeezed: the down-scaling stops where the crop still fits."""
    from PIL import Image

    from training.patches import sample_patches

    yy, xx = np.mgrid[0:200, 0:400]
    ramp = (xx + yy) % 256  # equal slopes across and down: a squeeze would make them differ
    Image.fromarray(np.repeat(ramp[..., None], 3, axis=2).astype(np.uint8)).save(tmp_path / "ramp.png")

    def slope(line: np.ndarray) -> float:
        d = np.abs(np.diff(line.astype(float)))
        return float(np.median(d[d < 128]))  # the ramp wraps at 256

    for crop in sample_patches([tmp_path], 180, 12, seed=0):
        assert slope(crop[90, :100, 0]) == pytest.approx(slope(crop[:100, 90, 0]), abs=0.05)
