"""Where the real tokens of a padded batch are, so that position-wise layers skip the padding.

A batch of mixed lengths is mostly padding at its tail (about 40% with random batches of
lengths 5-40). The Transformer's projections, feed-forward networks and layer norms act on each
position alone, so they run on the N real tokens gathered into one (N, F) matrix; only attention,
which mixes positions, needs them laid out as (B, L, F) again, or head by head as
(B, heads, L, D) (`unpack_heads` / `pack_heads`: one scatter or gather each, where the (B, L, H)
layout would also need a transposing copy for the batched matmuls).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor


class RealTokens(NamedTuple):
    """The real positions of a (B, L) batch in row-major order, and where each head of each
    real token goes in the (B, heads, L, D) layout of attention.

    pack(x (B, L, F)) -> (N, F);   unpack(x (N, F)) -> (B, L, F), zeros at the padding;
    pack_heads(x (B, heads, L, D)) -> (N, heads * D);   unpack_heads(x (N, heads, D)) ->
    (B, heads, L, D), or x (N, 2, heads, D) -> (2, B, heads, L, D) for keys and values at once.
    """

    index: Tensor  # (N,) flat positions b * L + l of the real tokens
    head_index: Tensor  # (N * heads,) flat positions (b * heads + h) * L + l, token-major
    pair_index: Tensor  # (N * 2 * heads,) the same in (2, B, heads, L): j * B * heads * L + ...
    batch: int  # B
    length: int  # L

    @classmethod
    def of(cls, mask: Tensor, heads: int = 1) -> RealTokens | None:
        """The real tokens of `mask` (B, L), True on real tokens, for attention with `heads`
        heads; None when there is no padding."""
        if bool(mask.all()):
            return None
        batch, length = mask.shape
        index = mask.reshape(-1).nonzero().squeeze(1)  # b * L + l
        rows, cols = index // length, index % length
        per_head = torch.arange(heads, device=mask.device) * length  # (heads,)
        head_index = (rows * (heads * length) + cols)[:, None] + per_head  # (N, heads)
        pair = torch.stack(
            [head_index, head_index + batch * heads * length], dim=1
        )  # (N, 2, heads)
        return cls(index, head_index.view(-1), pair.view(-1), batch, length)

    def pack(self, x: Tensor) -> Tensor:
        return x.reshape(-1, x.size(-1)).index_select(0, self.index)

    def unpack(self, x: Tensor) -> Tensor:
        rows = x.new_zeros(self.batch * self.length, x.size(-1))
        return rows.index_copy(0, self.index, x).view(self.batch, self.length, -1)

    def unpack_heads(self, x: Tensor) -> Tensor:
        """x (N, heads, D) -> (B, heads, L, D), or (N, 2, heads, D) -> (2, B, heads, L, D);
        contiguous, zeros at the padding. One row copy of D numbers per token and head: the
        (B, L, H) layout of `unpack` would need a transposing copy for the batched matmuls."""
        index = self.head_index if x.dim() == 3 else self.pair_index
        lead, heads, size = x.shape[1:-2], x.size(-2), x.size(-1)
        out = x.new_zeros(index.numel() // self.index.numel() * self.batch * self.length, size)
        out = out.index_copy(0, index, x.reshape(-1, size))
        return out.view(*lead, self.batch, heads, self.length, size)

    def pack_heads(self, x: Tensor) -> Tensor:
        """x (B, heads, L, D) -> (N, heads * D): the real positions, heads concatenated."""
        rows = x.reshape(-1, x.size(-1)).index_select(0, self.head_index)  # (N * heads, D)
        return rows.view(self.index.numel(), -1)
