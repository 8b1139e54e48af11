"""Learning-rate schedules against hand-computed values."""

from __future__ import annotations

import math

import pytest
import torch

from attnlab.config import TrainingConfig
from attnlab.schedule import build_scheduler, lr_factor


def cfg(**fields: object) -> TrainingConfig:
    return TrainingConfig(**fields)


def test_constant_with_warmup_ramps_linearly_then_stays() -> None:
    c = cfg(schedule="constant", warmup_steps=4)
    assert [lr_factor(s, c) for s in range(6)] == [0.25, 0.5, 0.75, 1.0, 1.0, 1.0]


def test_noam_peaks_at_warmup_and_decays_as_inverse_sqrt() -> None:
    c = cfg(schedule="noam", warmup_steps=100)
    assert lr_factor(0, c) == pytest.approx(1 / 100)
    assert lr_factor(99, c) == pytest.approx(1.0)  # n = 100 = w
    assert lr_factor(399, c) == pytest.approx(math.sqrt(100 / 400))  # 0.5


def test_cosine_goes_from_one_to_min_lr() -> None:
    c = cfg(schedule="cosine", warmup_steps=10, max_steps=110, lr=1e-3, min_lr=1e-4)
    assert lr_factor(9, c) == pytest.approx(1.0)
    assert lr_factor(59, c) == pytest.approx(0.1 + 0.9 * 0.5)  # halfway: cos(pi/2) = 0
    assert lr_factor(109, c) == pytest.approx(0.1)


def test_cosine_follows_the_time_budget_when_it_runs_out_first() -> None:
    c = cfg(schedule="cosine", warmup_steps=10, max_steps=10_010, lr=1e-3, min_lr=1e-4)
    by_steps = 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 50 / 10_000))
    assert lr_factor(59, c, time_spent=0.0) == pytest.approx(by_steps)
    assert lr_factor(59, c, time_spent=0.5) == pytest.approx(0.1 + 0.9 * 0.5)
    assert lr_factor(59, c, time_spent=1.2) == pytest.approx(0.1)
    assert lr_factor(5_009, c, time_spent=0.1) == pytest.approx(0.1 + 0.9 * 0.5)  # steps lead
    assert lr_factor(4, c, time_spent=0.9) == pytest.approx(0.5)  # warm-up counts steps only


def test_scheduler_applies_the_factor_to_the_optimizer() -> None:
    param = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([param], lr=2.0)
    sched = build_scheduler(opt, cfg(schedule="constant", warmup_steps=2, lr=2.0), True)
    seen = []
    for _ in range(3):
        seen.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert seen == [1.0, 2.0, 2.0]


def test_plateau_halves_after_patience() -> None:
    param = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([param], lr=1.0)
    sched = build_scheduler(opt, cfg(schedule="plateau", plateau_patience=1), True)
    for bleu in [10.0, 9.0, 9.0]:
        sched.step(bleu)
    assert opt.param_groups[0]["lr"] == pytest.approx(0.5)
