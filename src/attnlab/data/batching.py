"""Length-bucketed batches by token budget, padding and boolean masks (True = real token).

Source reversal lives in the model, not here.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass(frozen=True)
class Batch:
    """A padded batch of sentence pairs.

    src      (B, S) source ids, padded with PAD_ID
    src_mask (B, S) True where a real source token is
    trg_in   (B, T) decoder input:  <s> y_1 ... y_{n}
    trg_out  (B, T) decoder target: y_1 ... y_{n} </s>
    trg_mask (B, T) True where trg_out holds a real token (including </s>)
    """

    src: Tensor
    src_mask: Tensor
    trg_in: Tensor
    trg_out: Tensor
    trg_mask: Tensor

    @property
    def n_trg_tokens(self) -> int:
        return int(self.trg_mask.sum())

    def to(self, device: torch.device | str) -> Batch:
        return Batch(*(t.to(device, non_blocking=True) for t in self.__dict__.values()))
