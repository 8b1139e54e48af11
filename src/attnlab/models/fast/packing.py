"""A padded batch laid out step by step with the batch shrinking as sequences end, so that a
recurrence over a batch of mixed lengths costs its N real positions, not B * T.

This is the layout of torch's PackedSequence. Rows are ranked by length, longest first, with
ties kept in order. The rows still running at step k are then the first `sizes[k]` ranks, and
step k's packed rows are `offsets[k] .. offsets[k] + sizes[k] - 1`, in rank order. A recurrence
keeps its states in one buffer of B + N rows: the B initial states by rank, then the packed
states. Both the states that a step reads (`before`) and those it writes (`after`) are then
contiguous slices of that buffer.

With random batches of lengths 5-40, about 40% of B * T is padding. A loop that masks its
updates over the longest sequence spends that share of its time on the padding.

`Directions` and `run_packed_layers` run the encoder layers of models/fast/gru.py and lstm.py
on this layout, both directions at once; `Packing.source_limits` bounds the source positions
that each step of the attention decoder loops reads.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import NamedTuple

import torch
from torch import Tensor, nn

from attnlab.models.fast.dropout import dropout
from attnlab.models.rnn import layer_parameters


class Packing(NamedTuple):
    """Where the real positions of a (B, T) batch go, step-major.

    order is None when the rows are already longest first; then ranks are rows. full: every
    row runs every step (no padding), so that packing is a transpose (`gather`, `pad`).
    """

    order: Tensor | None  # (B,) the original row of each rank
    ranked_mask: Tensor  # (B, T) the mask with rows in rank order
    lengths: list[int]  # per rank
    sizes: list[int]  # per step k: the ranks still running
    offsets: list[int]  # per step k: its first packed row
    index: Tensor  # (N,) flat position b * T + k in the padded batch of each packed row
    full: bool = False

    @classmethod
    def of(cls, mask: Tensor) -> Packing:
        """mask (B, T), True on the real positions, which begin each row."""
        batch, steps = mask.shape
        row_lengths = mask.sum(dim=1)  # (B,)
        as_list = row_lengths.tolist()
        order = None
        if any(a < b for a, b in itertools.pairwise(as_list)):
            order = torch.argsort(row_lengths, descending=True, stable=True)  # (B,)
            mask = mask.index_select(0, order)
        lengths = sorted(as_list, reverse=True)
        sizes = [n for n in mask.sum(dim=0).tolist() if n > 0]
        offsets = list(itertools.accumulate(sizes, initial=0))[:-1]
        rows = torch.arange(batch, device=mask.device) if order is None else order
        positions = rows[:, None] * steps + torch.arange(steps, device=mask.device)  # (B, T)
        return cls(order, mask, lengths, sizes, offsets, positions.t()[mask.t()])

    @classmethod
    def every(cls, batch: int, steps: int, device: torch.device) -> Packing:
        """A (B, T) batch without padding (decoding one step at a time, for one)."""
        mask = torch.ones(batch, steps, dtype=torch.bool, device=device)
        index = torch.arange(batch * steps, device=device).view(batch, steps).t().reshape(-1)
        offsets = list(range(0, batch * steps, batch))
        return cls(None, mask, [steps] * batch, [batch] * steps, offsets, index, full=True)

    @property
    def batch(self) -> int:
        return len(self.lengths)

    @property
    def n(self) -> int:
        """N, the real positions."""
        return self.index.size(0)

    def reversed_index(self) -> Tensor:
        """(N,) like `index`, each sequence read backwards: step k of a sequence of length L
        reads its position L - 1 - k."""
        steps, device = self.ranked_mask.size(1), self.index.device
        rows = torch.arange(self.batch, device=device) if self.order is None else self.order
        last = torch.tensor(self.lengths, device=device)[:, None] - 1  # (B, 1)
        positions = rows[:, None] * steps + (last - torch.arange(steps, device=device))  # (B, T)
        return positions.t()[self.ranked_mask.t()]

    def source_limits(self, src_mask: Tensor) -> list[int]:
        """S_k of each step k: the longest source among its running sentences, so that a step
        of short sentences does not attend over the padding of long ones.
        src_mask (B, S) in rank order"""
        if self.full:
            return [src_mask.size(1)] * len(self.sizes)
        longest = src_mask.sum(dim=1).cummax(dim=0).values.tolist()  # by rank
        return [longest[n - 1] for n in self.sizes]

    def step(self, k: int) -> slice:
        """Step k's packed rows."""
        return slice(self.offsets[k], self.offsets[k] + self.sizes[k])

    def before(self, k: int) -> slice:
        """The rows of a state buffer that step k reads: its running ranks' previous states."""
        start = 0 if k == 0 else self.batch + self.offsets[k - 1]
        return slice(start, start + self.sizes[k])

    def after(self, k: int) -> slice:
        """The rows of a state buffer that step k writes."""
        return slice(self.batch + self.offsets[k], self.batch + self.offsets[k] + self.sizes[k])

    def previous_states(self, states: Tensor) -> Tensor:
        """The state each packed row started from.  states (..., B + N, H) -> (..., N, H)"""
        return torch.cat([states[..., self.before(k), :] for k in range(len(self.sizes))], -2)

    def final_rows(self) -> Tensor:
        """(B,) by rank: the row of a state buffer that holds each sequence's last state
        (its initial state when it is empty)."""
        rows = [
            rank if length == 0 else self.batch + self.offsets[length - 1] + rank
            for rank, length in enumerate(self.lengths)
        ]
        return torch.tensor(rows, device=self.index.device)

    def last(self, packed: Tensor) -> Tensor:
        """Each sequence's last packed row, in original row order (no sequence may be empty).
        packed (N, F) -> (B, F)"""
        return self.unrank(packed.index_select(0, self.final_rows() - self.batch))

    def rank(self, x: Tensor) -> Tensor:
        """x (B, ...) in original row order -> rank order."""
        return x if self.order is None else x.index_select(0, self.order)

    def unrank(self, x: Tensor, dim: int = 0) -> Tensor:
        """x (..., B, ...) in rank order along `dim` -> original row order."""
        if self.order is None:
            return x
        return torch.empty_like(x).index_copy_(dim, self.order, x)

    def gather(self, x: Tensor) -> Tensor:
        """x (B, T, F) -> packed (N, F)"""
        if self.full:
            return x.transpose(0, 1).reshape(-1, x.size(2))
        return x.reshape(-1, x.size(2)).index_select(0, self.index)

    def pad(self, packed: Tensor) -> Tensor:
        """packed (N, F) -> (B, T, F) in original row order, zeros at the padding."""
        batch, steps = self.ranked_mask.shape
        if self.full:
            return packed.view(steps, batch, -1).transpose(0, 1)
        padded = packed.new_zeros(batch * steps, packed.size(1))
        return padded.index_copy_(0, self.index, packed).view(batch, steps, -1)


class Directions(NamedTuple):
    """How the D directions of an encoder layer read a padded (B, S, ...) batch, packed:
    direction 0 from each sentence's first word, direction 1 (when D = 2) from its last, each
    through `packing` (its step k holds the sentences longer than k)."""

    packing: Packing
    reading: list[Tensor]  # per direction: (N,) the flat position b * S + s of each packed row
    shape: torch.Size  # (B, S, I) of the input

    @classmethod
    def of(cls, x: Tensor, mask: Tensor, directions: int) -> Directions:
        """x (B, S, I), mask (B, S)"""
        packing = Packing.of(mask)
        return cls(packing, [packing.index, packing.reversed_index()][:directions], x.shape)

    def gather(self, x: Tensor) -> Tensor:
        """x (B, S, F) -> each direction's packed rows (D, N, F)"""
        return x.reshape(-1, x.size(2))[torch.stack(self.reading)]

    def scatter(self, packed: Tensor) -> Tensor:
        """packed (D, N, H) -> (B, S, D*H), directions side by side, 0 on the padding"""
        batch, length = self.shape[:2]
        directions, _, hidden = packed.shape
        states = packed.new_zeros(batch * length, directions, hidden)
        for d, index in enumerate(self.reading):
            states[:, d].index_copy_(0, index, packed[d])
        return states.view(batch, length, -1)

    def ranked_final_grad(self, grad_final: Tensor) -> Tensor:
        """The gradient of a layer's final states, as the backward loop's running buffer: a new
        tensor (the loop writes into it; the incoming gradient is autograd's), in rank order.
        grad_final (D, B, H) in original row order -> (D, B, H)"""
        order = self.packing.order
        if order is None:
            return grad_final.clone(memory_format=torch.contiguous_format)
        return grad_final.index_select(1, order)

    def gather_grad(self, grad_states: Tensor) -> Tensor:
        """The gradient of `scatter`'s output, read back per direction.
        grad_states (B, S, D*H) -> (D, N, H)"""
        directions = len(self.reading)
        per_direction = grad_states.reshape(-1, directions, grad_states.size(2) // directions)
        return torch.stack([per_direction[index, d] for d, index in enumerate(self.reading)])

    def scatter_grad(self, packed: Tensor) -> Tensor:
        """The gradient of `gather`'s input, summed over directions.
        packed (D, N, I) -> (B, S, I)"""
        grad = packed.new_zeros(self.shape)
        for d, rows in enumerate(packed.unbind(0)):
            grad.view(-1, rows.size(1)).index_add_(0, self.reading[d], rows)
        return grad


def run_packed_layers(
    rnn: nn.RNNBase,
    layer: Callable[..., tuple[Tensor, ...]],
    x: Tensor,
    mask: Tensor,
    training: bool,
) -> tuple[Tensor, tuple[Tensor, ...]]:
    """The layers of `rnn` (torch's GRU or LSTM, its parameters) over x, each through `layer`
    (PackedGRU.apply or PackedLSTM.apply: (x, mask, w_ih, b_ih, w_hh, b_hh) with the weights
    stacked over directions -> states, final states), with dropout between layers as torch's
    RNN applies it. In float32 under autocast: the matmuls are small.

    x (B, S, I), mask (B, S) -> the top layer's states (B, S, D*H) and final states, each
    (B, D*H) with the directions side by side
    """
    directions = [False, True] if rnn.bidirectional else [False]
    with torch.autocast(x.device.type, enabled=False):
        for index in range(rnn.num_layers):
            if index > 0:
                x = dropout(x, rnn.dropout, training)
            per_direction = [layer_parameters(rnn, index, reverse) for reverse in directions]
            weights = [torch.stack(w) for w in zip(*per_direction, strict=True)]  # (D, ...)
            x, *finals = layer(x, mask, *weights)  # (B, S, D*H), (D, B, H) each
    return x, tuple(f.transpose(0, 1).reshape(x.size(0), -1) for f in finals)
