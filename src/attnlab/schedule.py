"""Learning-rate schedules: constant, inverse square root with warm-up (Noam), cosine, and
reduce-on-plateau. The first three are a multiplier of the base rate, `lr_factor(step)`, a pure
function that a test can check by hand; plateau is torch's ReduceLROnPlateau, stepped with the
dev metric at every evaluation.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR, LRScheduler, ReduceLROnPlateau

from attnlab.config import TrainingConfig


def lr_factor(step: int, cfg: TrainingConfig, time_spent: float = 0.0) -> float:
    """Multiplier of `cfg.lr` after `step` updates (step 0 is the first update).

    constant: 1 after a linear warm-up of `warmup_steps`.
    noam (Vaswani et al. 2017, eq. 3, peak normalised to lr): min(n / w, sqrt(w / n)), n = step + 1.
    cosine: linear warm-up, then min_lr/lr + (1 - min_lr/lr) * (1 + cos(pi * p)) / 2 with p the
    fraction of the remaining steps done, or `time_spent` (the fraction of
    `training.max_minutes` used) where that is larger: the rate reaches min_lr at whichever
    budget ends the run.
    """
    n, w = step + 1, cfg.warmup_steps
    warm = min(1.0, n / w) if w else 1.0
    if cfg.schedule == "noam":
        return min(n / w, math.sqrt(w / n)) if w else 1.0 / math.sqrt(n)
    if cfg.schedule == "cosine":
        if n <= w:
            return warm
        progress = min(1.0, max((n - w) / max(1, cfg.max_steps - w), time_spent))
        floor = cfg.min_lr / cfg.lr
        return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))
    return warm


def build_scheduler(
    optimizer: Optimizer,
    cfg: TrainingConfig,
    higher_is_better: bool,
    time_spent: Callable[[], float] = lambda: 0.0,
) -> LRScheduler | ReduceLROnPlateau:
    """The scheduler of `cfg.schedule`; plateau watches the early-stopping metric.

    `time_spent()` is the fraction of the wall-clock budget used so far (see `lr_factor`).
    """
    if cfg.schedule == "plateau":
        return ReduceLROnPlateau(
            optimizer,
            mode="max" if higher_is_better else "min",
            factor=cfg.plateau_factor,
            patience=cfg.plateau_patience,
            min_lr=cfg.min_lr,
        )
    return LambdaLR(optimizer, lambda step: lr_factor(step, cfg, time_spent()))
