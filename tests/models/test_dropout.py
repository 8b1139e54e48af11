"""Word dropout: off in eval and at rate 0, specials kept, its share replaced by <unk>."""

from __future__ import annotations

import torch

from attnlab.data.vocab import SPECIALS, UNK_ID
from attnlab.models.dropout import WordDropout, word_dropout


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
