"""Learning-rate schedules: constant, inverse square root with warm-up (Noam), cosine, and
reduce-on-plateau. The first three are a multiplier of the base rate, `lr_factor(step)`, a pure
function that a test can check by hand; plateau is torch's ReduceLROnPlateau, stepped with the
dev metric at every evaluation.
"""

from __future__ import annotations

import math

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR, LRScheduler, ReduceLROnPlateau

from attnlab.config import TrainingConfig


def lr_factor(step: int, cfg: TrainingConfig) -> float:
    """Multiplier of `cfg.lr` after `step` updates (step 0 is the first update).

    constant: 1 after a linear warm-up of `warmup_steps`.
    noam (Vaswani et al. 2017, eq. 3, peak normalised to lr): min(n / w, sqrt(w / n)), n = step + 1.
    cosine: linear warm-up, then min_lr/lr + (1 - min_lr/lr) * (1 + cos(pi * p)) / 2 with p the
    fraction of the remaining steps done.
    """
    n, w = step + 1, cfg.warmup_steps
    warm = min(1.0, n / w) if w else 1.0
    if cfg.schedule == "noam":
        return min(n / w, math.sqrt(w / n)) if w else 1.0 / math.sqrt(n)
    if cfg.schedule == "cosine":
        if n <= w:
            return warm
        progress = min(1.0, (n - w) / max(1, cfg.max_steps - w))
        floor = cfg.min_lr / cfg.lr
        return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))
    return warm


def build_scheduler(
    optimizer: Optimizer, cfg: TrainingConfig, higher_is_better: bool
) -> LRScheduler | ReduceLROnPlateau:
    """The scheduler of `cfg.schedule`; plateau watches the early-stopping metric."""
    if cfg.schedule == "plateau":
        return ReduceLROnPlateau(
            optimizer,
            mode="max" if higher_is_better else "min",
            factor=cfg.plateau_factor,
            patience=cfg.plateau_patience,
            min_lr=cfg.min_lr,
        )
    return LambdaLR(optimizer, lambda step: lr_factor(step, cfg))
