"""Multi-process training on PyTorch's distributed engine (DDP), as launched by torchrun.

torchrun sets RANK, WORLD_SIZE and LOCAL_RANK (and the rendezvous for several nodes); one process
trains on each shard of the batches; gloo on CPU, NCCL on GPU; only rank 0 writes files.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, TypeVar

import torch
import torch.distributed as dist

T = TypeVar("T")


@dataclass(frozen=True)
class DistEnv:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def init_distributed(device: torch.device) -> DistEnv:
    """Join the process group torchrun prepared; a plain single process otherwise."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size == 1:
        return DistEnv()
    env = DistEnv(int(os.environ["RANK"]), world_size, int(os.environ.get("LOCAL_RANK", "0")))
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return env


def wait_for_all_ranks(env: DistEnv) -> None:
    """A barrier at the end of a run, its GIL released while it waits.

    torch 2.13 keeps the process group alive after `destroy_process_group` once DDP has
    imported torch._dynamo, so gloo's worker threads outlive it. A worker that frees a finished
    collective's tensors needs the GIL; if the interpreter is exiting by then (rank 1 leaves
    while rank 0 still writes its checkpoint), it aborts the process (SIGABRT). Waiting here
    lets every worker finish, and every rank reaches the exit together.
    """
    if env.enabled:
        dist.barrier()


def shutdown(env: DistEnv) -> None:
    if env.enabled and dist.is_initialized():
        dist.destroy_process_group()


def shard(batches: list[T], env: DistEnv) -> list[T]:
    """This rank's batches: every world_size-th, cut so that all ranks take the same number of
    steps (DDP needs every rank in every all-reduce)."""
    usable = len(batches) - len(batches) % env.world_size
    return batches[env.rank : usable : env.world_size]


def all_reduce_sum(values: list[float], env: DistEnv) -> list[float]:
    if not env.enabled:
        return values
    tensor = torch.tensor(values, dtype=torch.float64)
    dist.all_reduce(tensor)
    return tensor.tolist()


def broadcast_from_main(value: Any, env: DistEnv) -> Any:
    """Rank 0's `value` on every rank (e.g. the dev metric and the early-stopping decision)."""
    if not env.enabled:
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]
