"""torchrun / torch.distributed helpers: rank discovery, FSDP2 sharding, reductions.

On CPU the same code runs with the gloo backend (how the tests exercise it)."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn


@dataclass(frozen=True)
class Dist:
    rank: int = 0
    world: int = 1
    device: torch.device = torch.device("cpu")

    @property
    def active(self) -> bool:
        return self.world > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_from_env(device: str | None = None) -> Dist:
    """Join the process group torchrun set up (RANK/WORLD_SIZE), or run alone."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    cuda = torch.cuda.is_available() and device != "cpu"
    if cuda:
        local = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local)
        dev = torch.device("cuda", local)
    else:
        dev = torch.device(device or "cpu")
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if cuda else "gloo")
    return Dist(rank, world, dev)


def all_reduce_sum(value: float | int, d: Dist) -> float:
    if not d.active:
        return value
    t = torch.tensor([float(value)], dtype=torch.float64)
    dist.all_reduce(t)
    return float(t.item())


def shard(model: nn.Module, d: Dist) -> nn.Module:
    """FSDP2: shard each decoder layer, then the root. Every rank runs every decoder layer in every
    forward; the SigLIP encoder runs only when a rank's micro-batch holds a ViT image, so it stays in
    the root unit (gathered unconditionally) instead of being its own unit as upstream — otherwise
    ranks with and without images would issue mismatched collectives."""
    if not d.active:
        return model
    from torch.distributed.fsdp import fully_shard

    for layer in model.language_model.model.layers:
        fully_shard(layer)
    fully_shard(model)
    return model


def clip_grad_norm(params: list[torch.Tensor], max_norm: float, d: Dist) -> torch.Tensor:
    """`clip_grad_norm_` that also works under FSDP2 when some trained parameters live outside the
    sharded model (UNO's metaqueries and head: plain tensors on every rank). Their gradients are first
    averaged over the ranks (FSDP2 averages the sharded ones the same way), then every gradient is
    clipped by the joint norm. Alone, exactly `torch.nn.utils.clip_grad_norm_`."""
    plain = [p for p in params if not hasattr(p, "device_mesh")]
    if not d.active or len(plain) == len(params):
        return torch.nn.utils.clip_grad_norm_(params, max_norm)
    for p in plain:  # every rank reduces every such parameter, in the same order
        if p.grad is None:
            p.grad = torch.zeros_like(p)
        dist.all_reduce(p.grad)
        p.grad.div_(d.world)
    sharded = [p for p in params if hasattr(p, "device_mesh")]
    if not plain:
        return torch.nn.utils.clip_grad_norm_(sharded, max_norm)
    squares = 0.0
    for group in (sharded, plain):
        grads = [p.grad for p in group if p.grad is not None]
        if grads:
            squares += float(full_tensor(torch.nn.utils.get_total_norm(grads))) ** 2
    total = squares**0.5
    coef = max_norm / (total + 1e-6)
    if coef < 1.0:
        for p in params:
            if p.grad is not None:
                p.grad.mul_(coef)
    return torch.tensor(total)


def full_tensor(t: torch.Tensor) -> torch.Tensor:
    """A DTensor's full value (a collective: every rank must call), or the tensor itself."""
    return t.full_tensor() if hasattr(t, "full_tensor") else t


def barrier(d: Dist) -> None:
    if d.active:
        dist.barrier()
