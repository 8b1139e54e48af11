"""Where the real tokens of a padded batch are, so that position-wise layers skip the padding.

A batch of mixed lengths is mostly padding at its tail (about 40% with random batches of
lengths 5-40). The Transformer's projections, feed-forward networks and layer norms act on each
position alone, so they run on the N real tokens gathered into one (N, F) matrix; only attention,
which mixes positions, needs them laid out as (B, L, F) again.
"""

from __future__ import annotations

from typing import NamedTuple

from torch import Tensor


class RealTokens(NamedTuple):
    """The real positions of a (B, L) batch in row-major order.

    pack(x (B, L, F)) -> (N, F);   unpack(x (N, F)) -> (B, L, F), zeros at the padding.
    """

    index: Tensor  # (N,) flat positions b * L + l of the real tokens
    batch: int  # B
    length: int  # L

    @classmethod
    def of(cls, mask: Tensor) -> RealTokens | None:
        """The real tokens of `mask` (B, L), True on real tokens; None when there is no padding."""
        if bool(mask.all()):
            return None
        return cls(mask.reshape(-1).nonzero().squeeze(1), mask.size(0), mask.size(1))

    def pack(self, x: Tensor) -> Tensor:
        return x.reshape(-1, x.size(-1)).index_select(0, self.index)

    def unpack(self, x: Tensor) -> Tensor:
        rows = x.new_zeros(self.batch * self.length, x.size(-1))
        return rows.index_copy(0, self.index, x).view(self.batch, self.length, -1)
