"""The float32 matmul peak of this process and the matmul FLOPs of a piece of work, for the
speed benchmarks. Imports torch only: JoeyNMT's child (joeynmt_steps_joey.py) runs it in its venv.

  peak     the best of `repeat` torch.mm of two n x n float32 matrices, 2 n^3 / s, after one
           untimed product, on the threads torch has now
  FLOPs    2 m n k for every matrix product the work runs, forward and backward, counted by
           torch.utils.flop_counter.FlopCounterMode (mm, addmm, bmm, baddbmm and what
           decomposes into them). Elementwise work is not counted, nor torch's fused recurrent
           layers (nn.GRU / nn.LSTM run as mkldnn_rnn_layer, which the counter does not know)
  products the time of the work's matrix products alone: every mm, addmm, bmm, baddbmm, mv
           and addmv it runs (in-place and out= forms included), recorded with the sizes,
           strides and dtypes of its tensors, then run again in the same order on random
           tensors of those layouts, nothing else between them; the best of `repeat` runs of
           the whole sequence, after one untimed. Tensors of one layout are made once and
           shared, so the products find their inputs in cache more often than in the work:
           this is a floor under the work's time for these kernels, not an estimate of it
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_map
from torch.utils.flop_counter import FlopCounterMode

aten = torch.ops.aten
PRODUCTS = {
    aten.mm, aten.addmm, aten.addmm_, aten.bmm, aten.baddbmm, aten.baddbmm_, aten.mv, aten.addmv,
    aten.addmv_,
}  # fmt: skip


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


@dataclass(frozen=True)
class TensorLayout:
    """A tensor's size, strides and dtype (a dataclass: pytree leaves, unlike tuples)."""

    size: tuple[int, ...]
    stride: tuple[int, ...]
    dtype: torch.dtype


class Product(NamedTuple):
    """One recorded product: its aten overload, and its arguments with tensors as layouts."""

    op: Any
    args: tuple
    kwargs: dict


def _layout(x: object) -> object:
    return TensorLayout(tuple(x.size()), x.stride(), x.dtype) if isinstance(x, torch.Tensor) else x


class _RecordProducts(TorchDispatchMode):
    def __init__(self) -> None:
        super().__init__()
        self.products: list[Product] = []

    def __torch_dispatch__(self, func: Any, types: Any, args: tuple = (), kwargs: Any = None):
        kwargs = kwargs or {}
        if func.overloadpacket in PRODUCTS:
            self.products.append(Product(func, tree_map(_layout, args), tree_map(_layout, kwargs)))
        return func(*args, **kwargs)


def recorded_products(work: Callable[[], object]) -> list[Product]:
    """Every matrix product `work()` runs, forward and backward, in order (module docstring)."""
    with _RecordProducts() as recorder:
        work()
    return recorder.products


def products_seconds(products: list[Product], repeat: int = 3) -> float:
    """Best wall seconds of running `products` alone, in order (module docstring)."""
    tensors: dict[tuple[TensorLayout, int], torch.Tensor] = {}
    calls = []
    for product in products:
        seen: Counter[TensorLayout] = Counter()  # one layout twice in a call: two tensors

        def tensor(x: object, seen: Counter[TensorLayout] = seen) -> object:
            if not isinstance(x, TensorLayout):
                return x
            key = (x, seen[x])
            seen[x] += 1
            if key not in tensors:  # random storage under the layout (strides may be 0)
                extent = 1 + sum((n - 1) * step for n, step in zip(x.size, x.stride, strict=True))
                storage = torch.empty(extent if all(x.size) else 0, dtype=x.dtype).uniform_(-1, 1)
                tensors[key] = storage.as_strided(x.size, x.stride)
            return tensors[key]

        calls.append((product.op, tree_map(tensor, product.args), tree_map(tensor, product.kwargs)))
    best = float("inf")
    for k in range(repeat + 1):
        start = time.perf_counter()
        for op, args, kwargs in calls:
            op(*args, **kwargs)
        if k:  # the first run is untimed
            best = min(best, time.perf_counter() - start)
    return best
