"""The float32 matmul peak of this process and the matmul FLOPs of a piece of work, for the
speed benchmarks. Imports torch only: JoeyNMT's child (joeynmt_steps_joey.py) runs it in its venv.

  peak     the best of `repeat` torch.mm of two n x n float32 matrices, 2 n^3 / s, after one
           untimed product, on the threads torch has now
  FLOPs    2 m n k for every matrix product the work runs, forward and backward, counted by
           torch.utils.flop_counter.FlopCounterMode (mm, addmm, bmm, baddbmm and what
           decomposes into them). Elementwise work is not counted, nor torch's fused recurrent
           layers (nn.GRU / nn.LSTM run as mkldnn_rnn_layer, which the counter does not know)
"""

from __future__ import annotations

import time
from collections.abc import Callable

import torch
from torch.utils.flop_counter import FlopCounterMode


def matmul_peak(n: int, repeat: int = 5) -> float:
    """Best GFLOP/s of a float32 (n, n) @ (n, n) torch.mm (module docstring)."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best / 1e9


def counted_flops(work: Callable[[], object]) -> int:
    """The matmul FLOPs `work()` runs (module docstring)."""
    with FlopCounterMode(display=False) as counter:
        work()
    return counter.get_total_flops()


def peak_fields(flops: int, seconds: float, steps: int, peak: float) -> dict[str, float]:
    """The JSON fields of `flops` run in `steps` steps of `seconds` against `peak` GFLOP/s."""
    rate = flops / seconds / 1e9
    return {
        "gflop_per_step": flops / steps / 1e9,
        "gflop_per_s": rate,
        "peak_gflop_per_s": peak,
        "fraction_of_peak": rate / peak,
    }
