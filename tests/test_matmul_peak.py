"""benchmarks/matmul_peak.py: the FLOPs it counts are 2 m n k per product, forward and
backward, and the peak fields are those FLOPs over the seconds and the peak."""

from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.append(str(Path(__file__).resolve().parent.parent / "benchmarks"))

from matmul_peak import (
    TensorLayout,
    counted_flops,
    peak_fields,
    products_seconds,
    recorded_products,
)


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


def test_the_recorder_keeps_every_product_with_its_layouts_and_nothing_else() -> None:
    a = torch.randn(3, 5, requires_grad=True)
    b = torch.randn(5, 7, requires_grad=True)
    out = torch.empty(3, 8)[:, :7]  # rows of 8 floats

    def work() -> None:
        (a @ b).tanh().sum().backward()
        with torch.no_grad():
            torch.addmm(torch.zeros(7), a, b, out=out)

    products = recorded_products(work)
    names = [str(p.op) for p in products]
    assert names == ["aten.mm.default"] * 3 + ["aten.addmm.out"]
    assert products[0].args == (
        TensorLayout((3, 5), (5, 1), torch.float32),
        TensorLayout((5, 7), (7, 1), torch.float32),
    )
    assert products[-1].kwargs["out"] == TensorLayout((3, 7), (8, 1), torch.float32)


def test_the_products_run_again_alone_on_their_layouts() -> None:
    x = torch.randn(40, 30, requires_grad=True)
    w = torch.randn(20, 30, requires_grad=True)
    products = recorded_products(lambda: (x @ w.t()).sum().backward())  # dX from an expanded dY
    assert any(0 in layout.stride for p in products for layout in p.args[:2])
    assert products_seconds(products, repeat=2) > 0
    assert products_seconds([]) < 1e-3
