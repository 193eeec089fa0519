"""The fits' Adam (inrcodec.adam) against torch.optim.Adam: the same numbers, step for step."""
import torch

from inrcodec.adam import Adam


def _run(make, steps: int = 25) -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(1)
    a = torch.randn(40, generator=gen, requires_grad=True)
    b = torch.randn(3, 5, generator=gen, requires_grad=True)
    target = torch.randn(40, generator=gen)
    opt = make([{"params": [a], "lr": 5e-2}, {"params": [b], "lr": 2e-3}])
    for k in range(steps):
        for g, lr0 in zip(opt.param_groups, (5e-2, 2e-3), strict=True):
            g["lr"] = lr0 * (1 - k / steps)  # the fits set each group's rate every step
        opt.zero_grad()
        loss = (a - target).pow(2).sum() + b.sin().sum() * a[:15].sum()
        loss.backward()
        if k % 7 == 3:
            b.grad = None  # a tensor without a gradient is left alone, its step count too
        opt.step()
    return [a.detach(), b.detach()]


def test_matches_torch_adam_exactly():
    ours, theirs = _run(Adam), _run(lambda groups: torch.optim.Adam(groups, foreach=False))
    for x, y in zip(ours, theirs, strict=True):
        assert torch.equal(x, y)


def test_a_plain_list_of_tensors_is_one_group():
    p = torch.ones(4, requires_grad=True)
    opt = Adam([p], lr=0.1)
    p.sum().backward()
    opt.step()
    assert torch.allclose(p.detach(), torch.full((4,), 0.9))  # Adam's first step moves by lr whatever the scale
    assert len(opt.param_groups) == 1 and opt.param_groups[0]["lr"] == 0.1
