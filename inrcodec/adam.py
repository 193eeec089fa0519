"""Adam as torch.optim.Adam computes it on the CPU (no weight decay, no amsgrad), without its import.

torch.optim's first optimizer imports torch._dynamo: 1.6 s of every `inrcodec encode` on a 2-core
CPU, a sixth of `fast`'s budget, for an update of four lines. The fits need only that update and
their groups' learning rates, which they set every step.
"""
from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import torch


class Adam:
    """torch.optim.Adam's single-tensor update, step for step: the same numbers on the same device."""

    def __init__(self, params: Iterable[torch.Tensor] | Iterable[dict[str, Any]], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8) -> None:
        groups: list[Any] = list(params)
        if groups and isinstance(groups[0], torch.Tensor):
            groups = [{"params": groups}]
        self.param_groups: list[dict[str, Any]] = [{"lr": lr, **g, "params": list(g["params"])} for g in groups]
        self.betas, self.eps = betas, eps
        self.state: dict[torch.Tensor, list[Any]] = {}  # per tensor: [step count, first moment, second moment]

    def zero_grad(self) -> None:
        for g in self.param_groups:
            for p in g["params"]:
                p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        b1, b2 = self.betas
        for g in self.param_groups:
            for p in g["params"]:
                if p.grad is None:
                    continue
                if p not in self.state:  # moments allocated once, not as a default every step
                    self.state[p] = [0, torch.zeros_like(p), torch.zeros_like(p)]
                state = self.state[p]
                state[0] += 1
                t, m, v = state
                m.lerp_(p.grad, 1 - b1)
                v.mul_(b2).addcmul_(p.grad, p.grad, value=1 - b2)
                denom = (v.sqrt() / math.sqrt(1 - b2 ** t)).add_(self.eps)
                p.addcdiv_(m, denom, value=-g["lr"] / (1 - b1 ** t))
