"""Vocabulary: specials first, frequency order with deterministic ties, cut-offs, save/load."""

from __future__ import annotations

import pytest

from attnlab.data.vocab import BOS_ID, EOS_ID, PAD_ID, SPECIALS, UNK_ID, Vocab
from attnlab.errors import UserError

TOKENS = [["b", "a", "c", "a"], ["c", "a", "d"], ["e", "b", "c"]]  # a:3 c:3 b:2 d:1 e:1


def test_specials_first_then_by_frequency_ties_by_token() -> None:
    vocab = Vocab.build(TOKENS, min_freq=1, max_size=None)
    assert vocab.itos == [*SPECIALS, "a", "c", "b", "d", "e"]
    assert (PAD_ID, UNK_ID, BOS_ID, EOS_ID) == (0, 1, 2, 3)
    assert len(vocab) == 9


def test_order_does_not_depend_on_input_order() -> None:
    forward = Vocab.build(TOKENS, 1, None)
    backward = Vocab.build([list(reversed(t)) for t in reversed(TOKENS)], 1, None)
    assert forward.itos == backward.itos


def test_min_freq_and_max_size() -> None:
    assert Vocab.build(TOKENS, min_freq=2, max_size=None).itos == [*SPECIALS, "a", "c", "b"]
    assert Vocab.build(TOKENS, min_freq=3, max_size=None).itos == [*SPECIALS, "a", "c"]
    # max_size counts the tokens besides the specials
    assert Vocab.build(TOKENS, min_freq=1, max_size=2).itos == [*SPECIALS, "a", "c"]
    assert Vocab.build(TOKENS, min_freq=2, max_size=10).itos == [*SPECIALS, "a", "c", "b"]


def test_tokens_spelt_like_specials_are_not_added_twice() -> None:
    vocab = Vocab.build([["<unk>", "x", "</s>", "<s>", "<pad>"]], 1, None)
    assert vocab.itos == [*SPECIALS, "x"]


def test_encode_maps_unknown_to_unk() -> None:
    vocab = Vocab.build(TOKENS, 2, None)
    assert vocab.encode(["a", "zzz", "b", "e"]) == [4, UNK_ID, 6, UNK_ID]
    assert vocab.encode([]) == []


def test_decode_stops_at_eos_and_drops_pad_and_bos() -> None:
    vocab = Vocab.build(TOKENS, 1, None)
    assert vocab.decode([BOS_ID, 4, UNK_ID, PAD_ID, 5, EOS_ID, 6, 7]) == ["a", "<unk>", "c"]
    assert vocab.decode([4, 5]) == ["a", "c"]
    assert vocab.decode([EOS_ID, 4]) == []


def test_round_trip_through_list() -> None:
    vocab = Vocab.build(TOKENS, 1, 3)
    saved = vocab.to_list()
    saved.append("mutating the copy must not change the vocab")
    assert len(vocab) == 7
    restored = Vocab.from_list(vocab.to_list())
    assert restored.itos == vocab.itos
    assert restored.encode(["c", "b", "q"]) == vocab.encode(["c", "b", "q"])


@pytest.mark.parametrize(
    "itos",
    [
        ["<unk>", "<pad>", "<s>", "</s>", "a"],  # specials in the wrong order
        ["<pad>", "<unk>", "<s>"],  # a special missing
        ["<pad>", "<unk>", "<s>", "</s>", "a", "a"],  # duplicate
        ["<pad>", "<unk>", "<s>", "</s>", 5],  # not a string
        "<pad> <unk> <s> </s>",  # not a list
    ],
)
def test_from_list_rejects_a_bad_list(itos: object) -> None:
    with pytest.raises(UserError) as err:
        Vocab.from_list(itos)  # type: ignore[arg-type]
    assert err.value.where == "vocabulary"


def test_build_rejects_bad_cut_offs() -> None:
    with pytest.raises(UserError):
        Vocab.build(TOKENS, min_freq=0, max_size=None)
    with pytest.raises(UserError):
        Vocab.build(TOKENS, min_freq=1, max_size=0)
