"""Tests for attnlab.word_alignment: Pharaoh files, AER, subwords, attention read on references."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from torch import Tensor, nn

from attnlab.data.batching import Batch
from attnlab.data.tokenize import WordTokenizer
from attnlab.data.vocab import Vocab
from attnlab.errors import UserError
from attnlab.models.interface import CrossAttentionModel
from attnlab.word_alignment import (
    aer,
    alignment_from_attention,
    attention_aer,
    attention_rows,
    attention_word_links,
    merge_subword_attention,
    read_pharaoh,
    reference_attention,
    word_index,
    word_links,
)

# --- Pharaoh files ------------------------------------------------------------------------------


def test_read_pharaoh_sure_and_possible(tmp_path: Path) -> None:
    path = tmp_path / "gold.align"
    path.write_text("0-0 1?2 1-1\n\n2-1 2?1 0?3\n", encoding="utf-8")
    assert read_pharaoh(path) == [
        ({(0, 0), (1, 1)}, {(0, 0), (1, 2), (1, 1)}),
        (set(), set()),
        ({(2, 1)}, {(2, 1), (0, 3)}),
    ]


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ("0-0\n0-0 1x2\n", 2, "bad link '1x2'"),
        ("0-0\n\n3\n", 3, "bad link '3'"),
        ("1--2\n", 1, "negative index in link '1--2'"),
        ("0-0\n-1-0\n", 2, "negative index"),
        ("0?-4\n", 1, "negative index"),
    ],
)
def test_read_pharaoh_errors_name_the_line(
    tmp_path: Path, text: str, line: int, fragment: str
) -> None:
    path = tmp_path / "bad.align"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(UserError) as info:
        read_pharaoh(path)
    assert info.value.where == f"{path}:{line}"
    assert fragment in info.value.what


def test_read_pharaoh_missing_file(tmp_path: Path) -> None:
    with pytest.raises(UserError) as info:
        read_pharaoh(tmp_path / "absent.align")
    assert info.value.where.endswith("absent.align")


# --- alignments from attention ------------------------------------------------------------------


def test_alignment_argmax_gives_source_target_pairs() -> None:
    # T = 2 target words over S = 3 source words: target 0 looks at source 2, target 1 at 0.
    weights = torch.tensor([[0.1, 0.1, 0.8], [0.6, 0.3, 0.1]])
    assert alignment_from_attention(weights) == {(2, 0), (0, 1)}


def test_alignment_threshold_adds_every_strong_link() -> None:
    weights = torch.tensor([[0.7, 0.2, 0.1], [0.1, 0.5, 0.4], [0.3, 0.3, 0.4]])
    assert alignment_from_attention(weights) == {(0, 0), (1, 1), (2, 2)}
    # 0.4 >= 0.35 in row 1 adds source 2 for target 1; nothing else reaches it outside the argmax.
    assert alignment_from_attention(weights, threshold=0.35) == {(0, 0), (1, 1), (2, 2), (2, 1)}
    # A threshold above every weight adds nothing: the argmax link always stays.
    assert alignment_from_attention(weights, threshold=0.9) == {(0, 0), (1, 1), (2, 2)}


def test_alignment_of_empty_attention_is_empty() -> None:
    assert alignment_from_attention(torch.zeros(3, 0)) == set()
    assert alignment_from_attention(torch.zeros(0, 3)) == set()


# --- AER ----------------------------------------------------------------------------------------


def test_aer_perfect_alignment_is_zero() -> None:
    sure = {(0, 0), (1, 2), (2, 1)}
    assert aer([set(sure)], [(sure, sure | {(0, 1)})]) == 0.0


def test_aer_worked_example() -> None:
    # S = {0-0, 1-1}, P = S + {2?1}, A = {0-0, 2-1, 2-2}:
    # |A∩S| = 1 (0-0), |A∩P| = 2 (0-0, 2-1), |A| = 3, |S| = 2  ->  AER = 1 - 3/5 = 0.4
    sure = {(0, 0), (1, 1)}
    possible = sure | {(2, 1)}
    assert aer([{(0, 0), (2, 1), (2, 2)}], [(sure, possible)]) == pytest.approx(0.4)


def test_aer_sums_counts_over_the_corpus() -> None:
    # Sentence 1 perfect; sentence 2: A = {0-0, 1-1, 2-2}, S = P = {0-1}: no hit.
    # Sums: |A∩S| = 1, |A∩P| = 1, |A| = 4, |S| = 2  ->  1 - 2/6 = 2/3 (a per-sentence mean: 0.5).
    predicted = [{(0, 0)}, {(0, 0), (1, 1), (2, 2)}]
    gold = [({(0, 0)}, {(0, 0)}), ({(0, 1)}, {(0, 1)})]
    assert aer(predicted, gold) == pytest.approx(2 / 3)


def test_aer_precision_and_recall_edges() -> None:
    sure = {(0, 0), (1, 1)}
    assert aer([set()], [(sure, sure)]) == 1.0  # nothing predicted: recall 0
    # only possible links predicted, no sure gold: 1 - (0 + 1) / (1 + 0) = 0
    assert aer([{(3, 3)}], [(set(), {(3, 3)})]) == 0.0
    # all sure links plus a wrong one: 1 - (2 + 2) / (3 + 2) = 0.2 (precision 2/3)
    assert aer([sure | {(0, 1)}], [(sure, sure)]) == pytest.approx(0.2)
    # gold given without its sure links in P: sure still counts as possible
    assert aer([{(0, 0)}], [({(0, 0)}, set())]) == 0.0
    assert aer([set()], [(set(), set())]) == 0.0  # nothing to get wrong


# --- subwords -----------------------------------------------------------------------------------


def test_word_index_of_pieces() -> None:
    assert word_index(["▁un", "believ", "able", "▁cat"]) == [0, 0, 0, 1]
    assert word_index(["▁", ",", "▁x"]) == [0, 0, 1]  # a lone "▁" starts the word ","
    assert word_index(["le", "chat"]) == [0, 1]  # word-level tokens


def test_merge_subword_attention_hand_example() -> None:
    src = ["▁un", "believ", "able", "▁cat"]  # words: unbelievable, cat
    trg = ["▁le", "▁ch", "at"]  # words: le, chat
    weights = torch.tensor(
        [[0.1, 0.2, 0.3, 0.4], [0.5, 0.1, 0.1, 0.3], [0.2, 0.2, 0.2, 0.4]]
    )  # (T=3, S=4)
    # source pieces summed: rows [0.6, 0.4], [0.7, 0.3], [0.6, 0.4];
    # target "chat" = mean of its two rows: [0.65, 0.35]
    merged = merge_subword_attention(weights, src, trg)
    assert torch.allclose(merged, torch.tensor([[0.6, 0.4], [0.65, 0.35]]))
    assert torch.allclose(merged.sum(dim=-1), torch.ones(2))


def test_merge_is_identity_for_word_tokens() -> None:
    weights = torch.softmax(torch.randn(3, 2, generator=torch.Generator().manual_seed(0)), dim=-1)
    merged = merge_subword_attention(weights, ["a", "b"], ["c", "d", "e"])
    assert torch.equal(merged, weights)


def test_merge_rejects_mismatched_pieces() -> None:
    with pytest.raises(ValueError):
        merge_subword_attention(torch.zeros(2, 2), ["a"], ["b", "c"])


# --- attention read on the references (toy models standing in for trained ones) ----------------


def _diagonal(batch: Batch, reverse: bool = False) -> Tensor:
    """(B, T, S): target position t looks only at source t (or S_b - 1 - t), clamped to the real
    source; the </s> row looks at source 0, so keeping it would add a wrong link."""
    src_len, trg_len = batch.src_mask.sum(1).tolist(), batch.trg_mask.sum(1).tolist()
    weights = torch.zeros(*batch.trg_in.shape, batch.src.size(1))  # (B, T, S)
    for b in range(batch.src.size(0)):
        for t in range(trg_len[b]):
            s = min(t, src_len[b] - 1)
            s = src_len[b] - 1 - s if reverse else s
            weights[b, t, 0 if t == trg_len[b] - 1 else s] = 1.0
    return weights


class DiagonalModel(nn.Module):
    """An RNN-like model: forward returns (logits, attention (B, T, S))."""

    def __init__(self, has_attention: bool = True) -> None:
        super().__init__()
        self.unused = nn.Parameter(torch.zeros(1))
        self.has_attention = has_attention

    def forward(self, batch: Batch) -> tuple[Tensor, Tensor | None]:
        return batch.trg_in.float(), _diagonal(batch) if self.has_attention else None


class TwoLayerModel(DiagonalModel):
    """A Transformer-like model: layer 1 reversed, layer 2 diagonal (one head sharp, one flat)."""

    def cross_attention(self, batch: Batch) -> Tensor:
        flat = batch.src_mask.float()[:, None, :] * batch.trg_mask.float()[:, :, None]
        flat = flat / batch.src_mask.sum(1)[:, None, None]  # (B, T, S), uniform on real source
        reverse = _diagonal(batch, reverse=True)
        layer_1 = torch.stack([reverse, reverse], dim=1)  # (B, heads, T, S)
        layer_2 = torch.stack([_diagonal(batch), flat], dim=1)  # (B, heads, T, S)
        return torch.stack([layer_1, layer_2], dim=1)  # (B, L, heads, T, S)


class ToyPieces:
    """Words longer than two letters split into "▁" + two letters and the rest."""

    def encode(self, line: str) -> list[str]:
        return [
            p for w in line.split() for p in ([f"▁{w[:2]}", w[2:]] if len(w) > 2 else [f"▁{w}"])
        ]


def _translator(
    model: nn.Module,
    src: list[str],
    ref: list[str],
    batch_size: int = 2,
    tokenizer: object | None = None,
) -> SimpleNamespace:
    tok = tokenizer or WordTokenizer(lowercase=False)
    return SimpleNamespace(
        model=model,
        src_tokenizer=tok,
        trg_tokenizer=tok,
        src_vocab=Vocab.build([tok.encode(line) for line in src]),
        trg_vocab=Vocab.build([tok.encode(line) for line in ref]),
        decoding=SimpleNamespace(batch_size=batch_size),
        max_src_len=None,
    )


SRC = ["a b c", "d", "e f g h"]
REF = ["x y z", "w", "u v"]


def _gold(ref: list[str]) -> list[tuple[set, set]]:
    links = [{(k, k) for k in range(len(r.split()))} for r in ref]
    return [(a, set(a)) for a in links]


@pytest.mark.parametrize("batch_size", [1, 2, 3])
def test_reference_attention_drops_eos_row_and_padding(batch_size: int) -> None:
    translator = _translator(DiagonalModel(), SRC, REF, batch_size)
    attention = reference_attention(translator, SRC, REF)
    assert [tuple(a.shape) for a in attention] == [(1, 3, 3), (1, 1, 1), (1, 2, 4)]
    assert attention_aer(translator, SRC, REF, _gold(REF)) == {"aer": 0.0}


def test_reference_attention_merges_pieces() -> None:
    src, ref = ["ab cdef"], ["gh ijkl"]  # pieces ▁ab ▁cd ef / ▁gh ▁ij kl, piece-diagonal
    translator = _translator(DiagonalModel(), src, ref, tokenizer=ToyPieces())
    (attention,) = reference_attention(translator, src, ref)
    assert torch.allclose(attention, torch.eye(2)[None])  # "ijkl" rows average onto "cdef"
    assert attention_aer(translator, src, ref, _gold(ref)) == {"aer": 0.0}


def test_aer_per_layer_for_a_model_with_cross_attention() -> None:
    # Layer 1 reversed: "a b c"/"x y z" gets 1 of 3 links, "d"/"w" 1 of 1, "e f g h"/"u v" 0 of 2:
    # sums |A∩S| = |A∩P| = 2, |A| = |S| = 6  ->  1 - 4/12 = 2/3. Layer 2 is diagonal: 0.
    translator = _translator(TwoLayerModel(), SRC, REF)
    result = attention_aer(translator, SRC, REF, _gold(REF))
    assert result["aer_per_layer"] == pytest.approx([2 / 3, 0.0])
    assert result["aer"] == result["aer_per_layer"][-1]


def test_no_attention_gives_no_aer() -> None:
    translator = _translator(DiagonalModel(has_attention=False), SRC, REF)
    assert attention_aer(translator, SRC, REF, _gold(REF)) == {"aer": None}


def test_empty_source_line_predicts_no_links() -> None:
    src, ref = ["a b", ""], ["x y", "z"]
    translator = _translator(DiagonalModel(), src, ref)
    attention = reference_attention(translator, src, ref)
    assert tuple(attention[1].shape) == (1, 1, 0)
    # the empty pair's sure link 0-0 is missed: 1 - (2 + 2) / (2 + 3)
    gold = [({(0, 0), (1, 1)}, {(0, 0), (1, 1)}), ({(0, 0)}, {(0, 0)})]
    assert attention_aer(translator, src, ref, gold)["aer"] == pytest.approx(0.2)


def test_only_a_model_with_cross_attention_reports_layers() -> None:
    assert isinstance(TwoLayerModel(), CrossAttentionModel)
    assert not isinstance(DiagonalModel(), CrossAttentionModel)


def test_shift_att_reads_the_row_whose_input_is_the_word() -> None:
    # teacher forcing on "y1 y2": rows read with inputs <s>, y1, y2 (predicting y1, y2, </s>)
    weights = torch.tensor([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])  # (T+1 = 3, S = 2)
    plain = attention_rows(weights, shift=False)  # y1 <- row 0, y2 <- row 1
    shifted = attention_rows(weights, shift=True)  # y1 <- row 1 (input y1), y2 <- row 2
    assert torch.equal(plain, weights[:2]) and torch.equal(shifted, weights[1:])
    assert alignment_from_attention(plain) == {(0, 0), (1, 1)}
    assert alignment_from_attention(shifted) == {(1, 0), (0, 1)}
    layers = torch.stack([weights, weights.flip(-1)])  # (L = 2, 3, 2): every layer alike
    assert attention_rows(layers, shift=True).shape == (2, 2, 2)


def test_subword_links_become_word_links_when_any_pieces_are_linked() -> None:
    src = ["▁un", "believ", "able", "▁day"]  # words: unbelievable (0), day (1)
    trg = ["▁jour", "▁in", "croy", "able"]  # words: jour (0), incroyable (1)
    # pieces: in -> un, croy -> believ, able -> able, jour -> day
    pieces = {(0, 1), (1, 2), (2, 3), (3, 0)}
    assert word_links(pieces, src, trg) == {(0, 1), (1, 0)}
    assert word_links({(3, 2)}, src, trg) == {(1, 1)}  # one piece link links the two words
    assert word_links({(1, 0)}, ["a", "b"], ["x"]) == {(1, 0)}  # word tokens: unchanged
    weights = torch.tensor(
        [[0.0, 0.1, 0.0, 0.9], [0.7, 0.2, 0.1, 0.0], [0.1, 0.8, 0.1, 0.0], [0.0, 0.0, 1.0, 0.0]]
    )
    assert attention_word_links(weights, src, trg) == {(1, 0), (0, 1)}
