"""Word dropout (Sennrich & Zhang 2019, sec. 3.2): whole input tokens replaced by <unk>.

    x'_t = <unk> if m_t = 1 else x_t,   m_t ~ Bernoulli(p), for x_t not a special token

Dropout on activations is torch's nn.Dropout (Srivastava et al. 2014); `models/fast/dropout.py`
holds a drop-in replacement with a cheaper mask on CPUs.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from attnlab.data.vocab import SPECIALS, UNK_ID


def word_dropout(ids: Tensor, p: float, training: bool) -> Tensor:
    """Each real token of `ids` replaced by <unk> with probability p, active only when
    `training`; padding, <s> and </s> are kept.

    ids (B, T) long -> (B, T) long
    """
    if not training or p == 0.0:
        return ids
    drop = (torch.rand(ids.shape, device=ids.device) < p) & (ids >= len(SPECIALS))
    return ids.masked_fill(drop, UNK_ID)


class WordDropout(nn.Module):
    """`word_dropout` as a module, active in training mode only."""

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = p

    def forward(self, ids: Tensor) -> Tensor:
        return word_dropout(ids, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}"
