"""Inverted dropout (Srivastava et al. 2014) with a cheaper mask on CPUs: a drop-in for
nn.Dropout that every model uses with `model.kernels: fast`.

    dropout(x)_i = x_i m_i / (1 - p),   m_i ~ Bernoulli(1 - p)

Why: on CPUs F.dropout draws its mask with bernoulli_, one 32-bit draw and a float compare per
number. Here one 64-bit draw gives the masks of 4 numbers, each a uniform 16-bit integer
compared with round(p 2^16). The drop rate is p rounded to a multiple of 2^-16 (at most 8e-6
off) and the scale is its exact 1 / (1 - p). On other devices F.dropout's fused kernel is
faster and is used. The masks are other draws than nn.Dropout's: the same distribution, not the
same numbers for a seed.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

_LEVELS = 2**16  # values of one 16-bit draw


def dropout(x: Tensor, p: float, training: bool) -> Tensor:
    """Inverted dropout of x with drop probability p, active only when `training`.

    x (...) -> same shape and dtype
    """
    if not training or p == 0.0:
        return x
    if x.device.type != "cpu":
        return F.dropout(x, p, training=True)
    cut = round(p * _LEVELS)  # a 16-bit draw below cut - 2^15 drops its number
    n = x.numel()
    words = torch.randint(-(2**63), 2**63 - 1, ((n + 3) // 4,), dtype=torch.int64)
    keep = (words.view(torch.int16)[:n] >= cut - _LEVELS // 2).view_as(x)
    return x.mul(keep).mul_(_LEVELS / (_LEVELS - cut))


class Dropout(nn.Dropout):
    """nn.Dropout computed by `dropout` (active in training mode only)."""

    def __init__(self, p: float) -> None:
        super().__init__(p)

    def forward(self, x: Tensor) -> Tensor:
        return dropout(x, self.p, self.training)


def use_fast_dropout(model: nn.Module) -> nn.Module:
    """`model` with every nn.Dropout replaced by `Dropout` of the same rate (it has no
    parameters, so the state dict does not change)."""
    for module in list(model.modules()):
        for name, child in module.named_children():
            if type(child) is nn.Dropout:
                setattr(module, name, Dropout(child.p))
    return model
