"""benchmarks/matmul_peak.py: the FLOPs it counts are 2 m n k per product, forward and
backward, and the peak fields are those FLOPs over the seconds and the peak."""

from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.append(str(Path(__file__).resolve().parent.parent / "benchmarks"))

from matmul_peak import counted_flops, peak_fields


def test_a_product_and_its_backward_count_2mnk_each() -> None:
    a = torch.randn(3, 5, requires_grad=True)
    b = torch.randn(5, 7, requires_grad=True)
    assert counted_flops(lambda: a @ b) == 2 * 3 * 5 * 7
    # backward: dA = dC B^T (3x7 @ 7x5) and dB = A^T dC (5x3 @ 3x7), one product each
    assert counted_flops(lambda: (a @ b).sum().backward()) == 3 * (2 * 3 * 5 * 7)


def test_a_batched_product_counts_every_matrix_and_elementwise_work_none() -> None:
    x, y = torch.randn(4, 2, 6), torch.randn(4, 6, 3)
    assert counted_flops(lambda: torch.bmm(x, y)) == 4 * 2 * 2 * 6 * 3
    assert counted_flops(lambda: (x * x).tanh().sum()) == 0


def test_peak_fields_divide_the_flops_by_the_seconds_and_the_peak() -> None:
    fields = peak_fields(flops=6 * 10**9, seconds=2.0, steps=3, peak=12.0)
    assert fields == {
        "gflop_per_step": 2.0,
        "gflop_per_s": 3.0,
        "peak_gflop_per_s": 12.0,
        "fraction_of_peak": 0.25,
    }
