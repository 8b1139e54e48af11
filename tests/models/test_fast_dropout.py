"""Inverted dropout with the 16-bit CPU mask (models/fast/dropout.py): rate, scale, gradient, off
in eval, seeded; a drop-in for nn.Dropout, swapped into every fast model."""

from __future__ import annotations

import torch
from torch import nn

from attnlab.config import ModelConfig
from attnlab.models.build import build_model
from attnlab.models.fast.dropout import Dropout, dropout


def test_dropout_is_inverted_and_off_in_eval() -> None:
    torch.manual_seed(0)
    x = torch.full((200, 500), 2.0)
    assert dropout(x, 0.3, training=False) is x
    assert dropout(x, 0.0, training=True) is x
    y = dropout(x, 0.3, training=True)
    kept = y != 0
    assert abs(kept.float().mean().item() - 0.7) < 0.005  # 100,000 draws: sd 0.0014
    torch.testing.assert_close(y[kept], torch.full_like(y[kept], 2.0 / 0.7), rtol=2e-5, atol=0)
    assert abs(y.mean().item() - 2.0) < 0.02  # inverted: the expectation is kept


def test_every_rate_drops_its_share() -> None:
    torch.manual_seed(1)
    x = torch.ones(400_000)
    for p in (0.05, 0.1, 0.5, 0.9):
        assert abs((dropout(x, p, training=True) == 0).float().mean().item() - p) < 0.003


def test_gradient_is_the_mask_times_the_scale() -> None:
    torch.manual_seed(2)
    x = torch.randn(64, 33, requires_grad=True)
    y = dropout(x, 0.25, training=True)
    y.sum().backward()
    kept = y.detach() != 0
    torch.testing.assert_close(x.grad, kept.float() * (y.detach() / x.detach()).nan_to_num())


def test_the_same_seed_gives_the_same_mask_and_odd_sizes_work() -> None:
    x = torch.ones(7, 5)  # 35 numbers: not a multiple of the 4 masks a draw gives
    torch.manual_seed(3)
    first = dropout(x, 0.5, training=True)
    torch.manual_seed(3)
    torch.testing.assert_close(dropout(x, 0.5, training=True), first)
    module = Dropout(0.5).eval()
    assert module(x) is x and "p=0.5" in repr(module)


def test_a_fast_model_has_the_fast_dropout_everywhere_and_a_reference_model_torchs() -> None:
    for model_type in ("rnn", "transformer"):
        cfg = ModelConfig(type=model_type, hidden_size=8, heads=2, dropout=0.3)
        fast = build_model(cfg, 9, 9)
        reference = build_model(cfg.model_copy(update={"kernels": "reference"}), 9, 9)
        fast_rates = [m.p for m in fast.modules() if isinstance(m, nn.Dropout)]
        assert fast_rates and all(
            isinstance(m, Dropout) for m in fast.modules() if isinstance(m, nn.Dropout)
        )
        reference_rates = [m.p for m in reference.modules() if type(m) is nn.Dropout]
        assert reference_rates == fast_rates and 0.3 in fast_rates
