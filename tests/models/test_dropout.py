"""Inverted dropout with the 16-bit CPU mask: rate, scale, gradient, off in eval, seeded."""

from __future__ import annotations

import torch

from attnlab.data.vocab import SPECIALS, UNK_ID
from attnlab.models.dropout import Dropout, WordDropout, dropout, word_dropout


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


# --- word dropout -----------------------------------------------------------------------------


def _ids() -> torch.Tensor:
    """Two rows: <s> and words 4-9, and a shorter row padded with 0 and ended by </s> (3)."""
    return torch.tensor([[2, 4, 5, 6, 7, 8, 9, 3], [2, 9, 8, 3, 0, 0, 0, 0]])


def test_word_dropout_off_returns_the_input_unchanged() -> None:
    ids = _ids()
    assert word_dropout(ids, 0.0, training=True) is ids
    assert word_dropout(ids, 0.9, training=False) is ids
    module = WordDropout(0.5).eval()
    assert module(ids) is ids


def test_word_dropout_at_one_replaces_every_real_token_and_keeps_the_specials() -> None:
    ids = _ids()
    dropped = word_dropout(ids, 1.0 - 1e-9, training=True)
    special = ids < len(SPECIALS)
    assert torch.equal(dropped[special], ids[special])  # <pad>, <s>, </s> kept
    assert (dropped[~special] == UNK_ID).all()


def test_word_dropout_replaces_its_share_with_unk_only() -> None:
    torch.manual_seed(0)
    ids = torch.randint(4, 1000, (200, 500))
    dropped = word_dropout(ids, 0.2, training=True)
    changed = dropped != ids
    assert (dropped[changed] == UNK_ID).all()
    assert abs(changed.float().mean().item() - 0.2) < 0.005  # 100,000 draws: sd 0.0013
