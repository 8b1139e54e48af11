"""Where the real tokens of a padded batch are, so that position-wise layers skip the padding.

A batch of mixed lengths is mostly padding at its tail (about 40% with random batches of
lengths 5-40). The Transformer's projections, feed-forward networks and layer norms act on each
position alone, so they run on the N real tokens gathered into one (N, F) matrix; only attention,
which mixes positions, needs them laid out as (B, L, F) again, or head by head as
(B, heads, L, D) (`unpack_heads` / `pack_heads`: one scatter or gather each, where the (B, L, H)
layout would also need a transposing copy for the batched matmuls).

The packed rows may be rounded up to a multiple (`RealTokens.of(..., multiple)`) with copies of
the first real token, whose results are dropped: then the matmul shapes recur from batch to batch
(oneDNN builds and caches a kernel per shape for bf16 on CPU).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import Tensor


class RealTokens(NamedTuple):
    """The real positions of a (B, L) batch in row-major order, and where each head of each
    real token goes in the (B, heads, L, D) layout of attention.

    pack(x (B, L, F)) -> (R, F);   unpack(x (R, F)) -> (B, L, F), zeros at the padding;
    pack_heads(x (B, heads, L, D)) -> (R, heads * D);   unpack_heads(x (R, heads, D)) ->
    (B, heads, L, D), or x (R, 2, heads, D) -> (2, B, heads, L, D) for keys and values at once.
    R >= N rows: the N real tokens, then R - N copies of the first, ignored by the unpacking.
    """

    index: Tensor  # (R,) flat positions b * L + l of the packed rows
    head_index: Tensor  # (R * heads,) flat positions (b * heads + h) * L + l, row-major
    pair_index: Tensor  # (N * 2 * heads,) the same in (2, B, heads, L): j * B * heads * L + ...
    n: int  # N, the real tokens
    batch: int  # B
    length: int  # L

    @classmethod
    def of(cls, mask: Tensor, heads: int = 1, multiple: int = 1) -> RealTokens | None:
        """The real tokens of `mask` (B, L), True on real tokens, for attention with `heads`
        heads, packed into R rows, the multiple of `multiple` from N up; None when there is no
        padding."""
        if bool(mask.all()):
            return None
        batch, length = mask.shape
        index = mask.reshape(-1).nonzero().squeeze(1)  # b * L + l
        n = index.numel()
        rows, cols = index // length, index % length
        per_head = torch.arange(heads, device=mask.device) * length  # (heads,)
        head_index = (rows * (heads * length) + cols)[:, None] + per_head  # (N, heads)
        block = batch * heads * length  # keys, then values
        pair = torch.stack([head_index, head_index + block], dim=1)  # (N, 2, heads)
        extra = -n % multiple
        if extra:
            index = torch.cat([index, index[:1].expand(extra)])
            head_index = torch.cat([head_index, head_index[:1].expand(extra, heads)])
        return cls(index, head_index.view(-1), pair.view(-1), n, batch, length)

    def pack(self, x: Tensor) -> Tensor:
        return x.reshape(-1, x.size(-1)).index_select(0, self.index)

    def unpack(self, x: Tensor) -> Tensor:
        out = x.new_zeros(self.batch * self.length, x.size(-1))
        out = out.index_copy(0, self.index[: self.n], x[: self.n])
        return out.view(self.batch, self.length, -1)

    def unpack_heads(self, x: Tensor) -> Tensor:
        """x (N, heads, D) -> (B, heads, L, D), or (N, 2, heads, D) -> (2, B, heads, L, D);
        contiguous, zeros at the padding. One row copy of D numbers per token and head: the
        (B, L, H) layout of `unpack` would need a transposing copy for the batched matmuls."""
        lead, heads, size = x.shape[1:-2], x.size(-2), x.size(-1)
        index = self.pair_index if lead else self.head_index[: self.n * heads]
        out = x.new_zeros(math.prod(lead) * self.batch * heads * self.length, size)
        out = out.index_copy(0, index, x[: self.n].reshape(-1, size))
        return out.view(*lead, self.batch, heads, self.length, size)

    def pack_heads(self, x: Tensor) -> Tensor:
        """x (B, heads, L, D) -> (R, heads * D): the packed positions, heads concatenated."""
        rows = x.reshape(-1, x.size(-1)).index_select(0, self.head_index)  # (R * heads, D)
        return rows.view(self.index.numel(), -1)
