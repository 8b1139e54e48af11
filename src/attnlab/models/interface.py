"""The contract every model keeps, so that one Trainer and one Search serve them all.

    forward(batch)                -> logits (B, T, V), attention (B, T, S) or None
    encode(src (B, S), src_mask (B, S)) -> memory
    step(memory, state, y_prev (B,))    -> logits (B, V), state, attention (B, S) or None

`state` is None before the first step. `memory` and `state` are values (NamedTuples, possibly
nested, of tensors or None), never attributes of the module, and every tensor in them has the
batch on dimension 0, so that search can reorder or expand them with `select_batch`.
A model may keep one memory for several hypotheses: where its attribute `memory_per_sentence`
is True, its `step` also takes a memory of B rows with y_prev and state of B*K rows, the K
hypotheses of memory row b in rows b*K .. b*K + K - 1, and gives what it gives for the memory
repeated K times (`repeat_rows(memory, B, K)`).
Beam search then keeps the memory once per sentence (`memory_per_sentence(model)`).
The fixed-context model returns no attention (None). Logits and attention rows at target
padding (batch.trg_mask False) are unspecified: the Transformer skips them (zeros).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol, runtime_checkable

import torch
from torch import Tensor, nn

from attnlab.data.batching import Batch


@runtime_checkable
class Seq2SeqModel(Protocol):
    """An nn.Module that keeps the contract above (search reads its device off its parameters)."""

    def parameters(self, recurse: bool = True) -> Iterator[nn.Parameter]: ...

    def forward(self, batch: Batch) -> tuple[Tensor, Tensor | None]: ...

    def encode(self, src: Tensor, src_mask: Tensor) -> Any: ...

    def step(
        self, memory: Any, state: Any, y_prev: Tensor
    ) -> tuple[Tensor, Any, Tensor | None]: ...


@runtime_checkable
class CrossAttentionModel(Protocol):
    """A model with several layers and heads of cross-attention (the Transformer).

    cross_attention(batch) -> (B, L, heads, T, S): every decoder layer's weights, every head,
    read with teacher forcing; `forward`'s attention is the last layer's, heads averaged.
    """

    def cross_attention(self, batch: Batch) -> Tensor: ...


def memory_per_sentence(model: Seq2SeqModel) -> bool:
    """Whether `model.step` reads one memory row for K hypotheses (see the module docstring)."""
    return bool(getattr(model, "memory_per_sentence", False))


def repeat_rows(value: Any, rows: int, k: int, device: torch.device | None = None) -> Any:
    """Each of the `rows` batch rows of `value` K times in a row: rows b*K .. b*K + K - 1 are
    copies of row b (`select_batch` with index arange(rows).repeat_interleave(K) on `device`)."""
    return select_batch(value, torch.arange(rows, device=device).repeat_interleave(k))


def select_batch(value: Any, index: Tensor) -> Any:
    """Apply `index_select(0, index)` to every tensor inside a (nested) tuple; None stays None.

    Used by search to reorder beams (index = surviving beam rows) or to expand a batch to
    B*K rows (index = arange(B).repeat_interleave(K)).
    """
    if isinstance(value, Tensor):
        return value.index_select(0, index)
    if value is None or isinstance(value, int | float | bool | str):
        return value
    if isinstance(value, tuple) and hasattr(value, "_fields"):  # NamedTuple
        return type(value)(*(select_batch(v, index) for v in value))
    if isinstance(value, tuple | list):
        return type(value)(select_batch(v, index) for v in value)
    raise TypeError(f"select_batch: cannot index a {type(value).__name__}")


__all__ = [
    "CrossAttentionModel",
    "Seq2SeqModel",
    "memory_per_sentence",
    "repeat_rows",
    "select_batch",
]
