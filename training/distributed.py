"""Data-parallel meta-training over N processes with torch.distributed: gloo on CPUs, NCCL on GPUs.

Every rank holds the same parameters, draws its own share of each outer batch, and applies
the mean of all ranks' meta-gradients, so N ranks take the steps of one process with the
whole batch (up to float summation order; with random-width training each rank also draws its
own width, so a step averages N widths). Nothing here runs unless a process group is up: one
process is the world of one, and the functions below are no-ops.
"""
from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp


def rank_and_size() -> tuple[int, int]:
    """(rank, world size) of this process; (0, 1) without a process group."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def backend_for(device: str) -> str:
    return "nccl" if device.startswith("cuda") else "gloo"


def rank_device(device: str, rank: int) -> str:
    """Each rank's own GPU when training on CUDA (its local rank under torchrun); the CPU otherwise."""
    return f"cuda:{os.environ.get('LOCAL_RANK', str(rank))}" if device == "cuda" else device


def average_gradients(tensors: list[torch.Tensor]) -> None:
    """Replace every tensor's .grad by its mean over the ranks: one flat all-reduce per step."""
    size = rank_and_size()[1]
    if size == 1:
        return
    grads = [t.grad if t.grad is not None else torch.zeros_like(t) for t in tensors]
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= size
    offset = 0
    for t, g in zip(tensors, grads, strict=True):
        t.grad = flat[offset:offset + g.numel()].view_as(g).clone()
        offset += g.numel()


def weighted_mean(value: float, weight: float, device: str = "cpu") -> float:
    """The mean of per-rank values weighted by `weight` (e.g. a val shard's PSNR by its image count)."""
    size = rank_and_size()[1]
    if size == 1:
        return value
    t = torch.tensor([value * weight, weight], dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return float(t[0] / t[1])


def gather_objects(obj: object) -> list:
    """Every rank's `obj`, in rank order (e.g. the RNG states a checkpoint must hold)."""
    size = rank_and_size()[1]
    if size == 1:
        return [obj]
    out: list = [None] * size
    dist.all_gather_object(out, obj)
    return out


def barrier() -> None:
    if rank_and_size()[1] > 1:
        dist.barrier()


def _worker(rank: int, size: int, store: str, backend: str, fn: Callable, args: tuple) -> None:
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // size))  # the ranks share the cores
    if backend == "nccl":
        torch.cuda.set_device(rank)  # NCCL's collectives run on the current device
    dist.init_process_group(backend, init_method=f"file://{store}", rank=rank, world_size=size)
    try:
        fn(*args)
        dist.barrier()  # no rank tears its connections down while a peer still uses them (gloo aborts then)
    finally:
        dist.destroy_process_group()


def launch(fn: Callable, nproc: int, backend: str, *args) -> None:
    """Run fn(*args) on `nproc` local processes joined in one group (or here, for one), then wait.

    Under `torchrun`, which sets WORLD_SIZE and starts the processes itself, join its group instead.
    The rendezvous is a file in a fresh temporary folder: no port to collide with.
    """
    if "WORLD_SIZE" in os.environ and not dist.is_initialized():
        if backend == "nccl":
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group(backend, init_method="env://")
        try:
            out = fn(*args)
            dist.barrier()  # as in _worker
            return out
        finally:
            dist.destroy_process_group()
    if nproc <= 1:
        return fn(*args)
    if backend == "nccl" and nproc > torch.cuda.device_count():
        raise ValueError(f"{nproc} processes need {nproc} GPUs; this machine has {torch.cuda.device_count()}")
    with tempfile.TemporaryDirectory() as tmp:
        mp.spawn(_worker, args=(nproc, str(Path(tmp) / "store"), backend, fn, args), nprocs=nproc)
