"""Where a Transformer's training step or decoding step spends its time (for realistic.py).

torch.profiler records every op with its self CPU time (time not spent in the ops it calls)
and its input shapes. An op is put in a group by where it ran:

  output projection + log-softmax   inside `model.generator`, oneDNN's linear (the fast step's
                                    output projection, models/fast/linear.py), or a log_softmax
                                    / nll_loss anywhere (the loss, search's log_softmax over V)
  FFN                               inside a layer's `feed_forward`
  embeddings                        inside `src_embed` / `trg_embed` (scaled lookup + positions)
  attention                         any other matrix product or softmax inside the model (the
                                    Q/K/V/output projections, scores, context), and any op on a
                                    4-D (B, heads, L, D|L) tensor (masks, head layouts), and
                                    `cat` (the KV cache grows by one position a decoding step)
  layer norm                        layer_norm and its backward
  beam bookkeeping                  decoding only: whatever search does outside `encode`/`step`
                                    (top-k, reordering the cache with index_select, bans, trace)
  optimizer                         inside `Optimizer.step` / `Optimizer.zero_grad`
  other                             the rest: residual adds, dropout, real-token
                                    gathers, gradient clipping, autograd's own bookkeeping

A module's region is marked with a profiler range opened by a forward pre-hook and closed by a
forward hook. A backward op belongs to the region of the forward op whose autograd node it runs:
the profiler gives both the same sequence number.

Left out: the GRU (its fast paths are written-out loops, not modules per part), CTranslate2 (no
per-op profile from Python).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn
from torch.profiler import ProfilerActivity, profile, record_function

OUTPUT, ATTENTION, FFN, EMBEDDINGS = (
    "output projection + log-softmax",
    "attention",
    "FFN",
    "embeddings",
)
NORM, BOOKKEEPING, OPTIMIZER, OTHER = "layer norm", "beam bookkeeping", "optimizer", "other"
GROUPS = (OUTPUT, ATTENTION, FFN, EMBEDDINGS, NORM, BOOKKEEPING, OPTIMIZER, OTHER)

SCOPE = "scope:"  # prefix of the ranges opened here; their own time is profiler overhead
MODEL = SCOPE + "model"  # encode / step during decoding
OUTPUT_OPS = ("log_softmax", "nll_loss", "cross_entropy", "mkldnn::_linear_pointwise")
ATTENTION_OPS = ("aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm", "aten::matmul")
ATTENTION_OPS += ("aten::linear", "aten::softmax", "aten::_softmax", "aten::_softmax_backward_data")
ATTENTION_OPS += ("aten::cat",)


def _open_range(name: str, stack: list[Any]) -> Any:
    def hook(module: nn.Module, args: Any) -> None:
        context = record_function(name)
        context.__enter__()
        stack.append(context)

    return hook


def _close_range(stack: list[Any]) -> Any:
    def hook(module: nn.Module, args: Any, output: Any) -> None:
        stack.pop().__exit__(None, None, None)

    return hook


@contextmanager
def scoped_transformer(model: nn.Module) -> Iterator[None]:
    """Mark the generator, the embeddings and every feed-forward network of `model` (an attnlab
    Transformer) with profiler ranges while the context is open."""
    regions = {model.generator: OUTPUT, model.src_embed: EMBEDDINGS, model.trg_embed: EMBEDDINGS}
    for layer in [*model.encoder.layers, *model.decoder.layers]:
        regions[layer.feed_forward] = FFN
    stack: list[Any] = []
    handles = []
    for module, group in regions.items():
        handles.append(module.register_forward_pre_hook(_open_range(SCOPE + group, stack)))
        handles.append(module.register_forward_hook(_close_range(stack)))
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


class ScopedModel:
    """A model whose `encode` and `step` run inside the profiler range MODEL, so that search's
    own work (outside them) can be told apart; the interface search needs, nothing more."""

    def __init__(self, model: Any) -> None:
        self.model = model

    def encode(self, src: torch.Tensor, src_mask: torch.Tensor) -> Any:
        with record_function(MODEL):
            return self.model.encode(src, src_mask)

    def step(self, memory: Any, state: Any, y_prev: torch.Tensor) -> Any:
        with record_function(MODEL):
            return self.model.step(memory, state, y_prev)


def cpu_profile() -> profile:
    return profile(activities=[ProfilerActivity.CPU], record_shapes=True)


def _parents(event: Any) -> list[Any]:
    """The enclosing events of `event`, innermost first."""
    out, parent = [], event.cpu_parent
    while parent is not None:
        out.append(parent)
        parent = parent.cpu_parent
    return out


def _scope(names: list[str]) -> str | None:
    """The innermost region among `names` (innermost first), MODEL aside."""
    return next((n[len(SCOPE) :] for n in names if n.startswith(SCOPE) and n != MODEL), None)


def _forward_scopes(events: list[Any]) -> dict[int, str | None]:
    """sequence number -> region of the forward op that made that autograd node."""
    out: dict[int, str | None] = {}
    for event in events:
        if event.sequence_nr >= 0 and not event.name.startswith("autograd::"):
            out.setdefault(event.sequence_nr, _scope([p.name for p in _parents(event)]))
    return out


def classify(event: Any, scopes: dict[int, str | None], decoding: bool) -> str:
    """The group of one op (see the module docstring)."""
    parents = _parents(event)
    names = [p.name for p in parents]
    if any(n.startswith(("Optimizer.step", "Optimizer.zero_grad")) for n in names):
        return OPTIMIZER
    if any(op in event.name for op in OUTPUT_OPS):
        return OUTPUT
    if decoding and MODEL not in names:
        return BOOKKEEPING
    region = _scope(names)
    node = next((e for e in [event, *parents] if e.name.startswith("autograd::")), None)
    if region is None and node is not None:  # a backward op: the region of its forward op
        region = scopes.get(node.sequence_nr)
    if region is not None:
        return region
    if "layer_norm" in event.name:
        return NORM
    if event.name in ATTENTION_OPS or any(len(s) == 4 for s in event.input_shapes or []):
        return ATTENTION
    return OTHER


def group_times(prof: profile, decoding: bool, top: int = 3) -> dict[str, Any]:
    """Self CPU time by group.

    -> {"total_ms", "groups": {group: {"ms", "share", "top": [[op, ms], ...]}}}
    """
    events = [e for e in prof.events() if not e.name.startswith(SCOPE)]
    scopes = _forward_scopes(events)
    ms: dict[str, float] = dict.fromkeys(GROUPS, 0.0)
    ops: dict[str, dict[str, float]] = {g: {} for g in GROUPS}
    for event in events:
        self_ms = event.self_cpu_time_total / 1000
        if self_ms <= 0:
            continue
        group = classify(event, scopes, decoding)
        ms[group] += self_ms
        ops[group][event.name] = ops[group].get(event.name, 0.0) + self_ms
    total = sum(ms.values())
    return {
        "total_ms": total,
        "groups": {
            g: {
                "ms": ms[g],
                "share": ms[g] / total if total else 0.0,
                "top": sorted(ops[g].items(), key=lambda kv: -kv[1])[:top],
            }
            for g in GROUPS
        },
    }
