"""Word alignments: gold links in Pharaoh format, links read off attention weights, and the
alignment error rate (AER) between them.

AER is Och & Ney (2003, Sec. 5); reading alignments off attention follows Bahdanau et al. (2015,
Sec. 5.2.1) and Koehn & Knowles (2017, Sec. 3.5); the Shift-Att reading is Chen et al. (2020).
Attention is read with teacher forcing on the references, since the gold links index the
reference's words, not a hypothesis'.

Shapes: T target length, S source length (in pieces, or in words after merging), B batch,
L decoder layers.

Left out: alignments from anything but attention here (IBM Model 1 is `analysis.ibm1`); gold
alignments are read as 0-based indices into the whitespace words of the source and reference
lines, so a word tokenizer that splits differently from whitespace misplaces links.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import torch
from torch import Tensor

from attnlab.data.batching import Batch, collate
from attnlab.data.corpus import read_lines
from attnlab.errors import UserError
from attnlab.models.interface import CrossAttentionModel, Seq2SeqModel

if TYPE_CHECKING:  # the translator pulls in every model
    from attnlab.translate import Translator

Link = tuple[int, int]  # (i, j): source word i, target word j (the Pharaoh order)
Gold = tuple[set[Link], set[Link]]  # (sure, possible) links of one sentence pair
WORD_START = "▁"  # SentencePiece's mark of a piece that begins a word

_LINK = re.compile(r"(-?\d+)([-?])(-?\d+)")


# --- links and AER ---------------------------------------------------------------------------


def read_pharaoh(path: Path) -> list[Gold]:
    """Read gold alignments, one line per sentence pair: `i-j` sure, `i?j` possible, 0-based
    (source word i, target word j). Returns (sure, possible) per line; sure links are in the
    possible set too (S is a subset of P, Och & Ney 2003). An empty line has no links.
    """
    gold = []
    for number, line in enumerate(read_lines(path), start=1):
        where = f"{path}:{number}"
        sure: set[Link] = set()
        possible: set[Link] = set()
        for token in line.split():
            match = _LINK.fullmatch(token)
            if match is None:
                raise UserError(where, f"bad link {token!r}: expected i-j (sure) or i?j (possible)")
            i, j = int(match.group(1)), int(match.group(3))
            if i < 0 or j < 0:
                raise UserError(where, f"negative index in link {token!r}")
            possible.add((i, j))
            if match.group(2) == "-":
                sure.add((i, j))
        gold.append((sure, possible))
    return gold


def alignment_from_attention(weights: Tensor, threshold: float | None = None) -> set[Link]:
    """Hard alignment from attention weights (T, S) of one sentence: for each target word j the
    source word i = argmax_i alpha_ji, and with `threshold` also every i with alpha_ji >= threshold.
    Returns Pharaoh links (i, j). Drop the row of </s> before calling.
    """
    if weights.numel() == 0:
        return set()
    links = {(int(i), j) for j, i in enumerate(weights.argmax(dim=-1).tolist())}
    if threshold is not None:
        rows, cols = torch.nonzero(weights >= threshold, as_tuple=True)
        links |= {(int(i), int(j)) for j, i in zip(rows.tolist(), cols.tolist(), strict=True)}
    return links


def aer(predicted: list[set[Link]], gold: list[Gold]) -> float:
    """Alignment error rate over a corpus (Och & Ney, 2003, Sec. 5):

        AER = 1 - (|A ∩ S| + |A ∩ P|) / (|A| + |S|)

    with A the predicted links, S the sure and P the possible gold links (P includes S), each
    count summed over all sentences before dividing. 0 is perfect. With no predicted and no sure
    link at all there is nothing to get wrong: 0.
    """
    if len(predicted) != len(gold):
        raise ValueError(f"{len(predicted)} predicted alignments for {len(gold)} gold ones")
    a_and_s = a_and_p = n_a = n_s = 0
    for a, (sure, possible) in zip(predicted, gold, strict=True):
        a_and_s += len(a & sure)
        a_and_p += len(a & (possible | sure))
        n_a += len(a)
        n_s += len(sure)
    if n_a + n_s == 0:
        return 0.0
    return 1.0 - (a_and_s + a_and_p) / (n_a + n_s)


def word_index(pieces: list[str]) -> list[int]:
    """The word each piece belongs to: a new word starts at every piece marked with "▁" (and at
    the first piece). Word-level tokens (no piece marked) are each a word of their own."""
    if not any(p.startswith(WORD_START) for p in pieces):
        return list(range(len(pieces)))
    index, word = [], -1
    for k, piece in enumerate(pieces):
        if k == 0 or piece.startswith(WORD_START):
            word += 1
        index.append(word)
    return index


def _n_words(pieces: list[str]) -> int:
    index = word_index(pieces)
    return index[-1] + 1 if index else 0


def _grouping(pieces: list[str]) -> Tensor:
    """One-hot membership (pieces, words): entry (k, w) is 1 when piece k belongs to word w."""
    grouping = torch.zeros(len(pieces), _n_words(pieces))
    grouping[torch.arange(len(pieces)), torch.tensor(word_index(pieces), dtype=torch.long)] = 1.0
    return grouping  # (pieces, words)


def merge_subword_attention(
    weights: Tensor, src_pieces: list[str], trg_pieces: list[str]
) -> Tensor:
    """Attention between pieces (T, S) -> attention between words (T_words, S_words).

    A source word receives the sum of the weights of its pieces (so rows still sum to 1); a
    target word gets the average of its pieces' rows. Word-level tokens come back unchanged.
    """
    if weights.shape != (len(trg_pieces), len(src_pieces)):
        raise ValueError(f"weights {tuple(weights.shape)} do not match the pieces")
    g_src = _grouping(src_pieces).to(weights)  # (S, S_words)
    g_trg = _grouping(trg_pieces).to(weights)  # (T, T_words)
    mean_trg = (g_trg / g_trg.sum(dim=0, keepdim=True)).T  # (T_words, T)
    return mean_trg @ weights @ g_src  # (T_words, S_words)


# --- attention read on the references -----------------------------------------------------------


def _teacher_forced_attention(model: Seq2SeqModel, batch: Batch) -> Tensor | None:
    """Attention (B, L, T, S) of the model reading the references: every decoder layer averaged
    over heads for a model with `cross_attention` (the Transformer), else L = 1; None for a model
    without attention."""
    if isinstance(model, CrossAttentionModel):
        return model.cross_attention(batch).float().mean(dim=2)  # (B, L, T, S)
    _, attention = model(batch)
    return None if attention is None else attention.float().unsqueeze(1)  # (B, 1, T, S)


class PieceAttention(NamedTuple):
    """Teacher-forced attention of one (source, reference) pair, piece by piece: weights
    (L, T+1, S) with row t read while the decoder's input is trg_in[t] (<s> y_1 ... y_T) and it
    predicts trg_out[t] (y_1 ... y_T </s>); None for a pair with an empty side."""

    weights: Tensor | None
    src_pieces: list[str]
    trg_pieces: list[str]


def teacher_forced_attention(
    translator: Translator, src_lines: list[str], ref_lines: list[str]
) -> list[PieceAttention] | None:
    """Attention (L, T+1, S) between the pieces of each (source, reference) pair, read with
    teacher forcing (the gold alignment links the reference, not the hypothesis); every decoder
    layer, heads averaged, for the Transformer (L = 1 otherwise). None for a model without
    attention."""
    limit = translator.max_src_len
    pairs = []
    for src_line, ref_line in zip(src_lines, ref_lines, strict=True):
        src_pieces = translator.src_tokenizer.encode(src_line)
        trg_pieces = translator.trg_tokenizer.encode(ref_line)
        if limit:  # the Transformer's position table bounds both sides (<s> takes one place)
            src_pieces, trg_pieces = src_pieces[:limit], trg_pieces[: limit - 1]
        pairs.append((src_pieces, trg_pieces))
    device = next(translator.model.parameters()).device
    size = translator.decoding.batch_size
    keep = sorted((k for k, (s, t) in enumerate(pairs) if s and t), key=lambda k: len(pairs[k][0]))
    found = [PieceAttention(None, s, t) for s, t in pairs]
    for start in range(0, len(keep), size):
        chunk = keep[start : start + size]
        ids = [
            (translator.src_vocab.encode(pairs[k][0]), translator.trg_vocab.encode(pairs[k][1]))
            for k in chunk
        ]
        with torch.inference_mode():
            attention = _teacher_forced_attention(translator.model, collate(ids).to(device))
        if attention is None:
            return None
        for b, k in enumerate(chunk):
            src_pieces, trg_pieces = pairs[k]
            rows = attention[b, :, : len(trg_pieces) + 1, : len(src_pieces)].cpu()  # (L, T+1, S)
            found[k] = PieceAttention(rows, src_pieces, trg_pieces)
    return found


def attention_rows(weights: Tensor, shift: bool) -> Tensor:
    """The row of each target piece y_1 ... y_T from teacher-forced weights (..., T+1, S).

    Plain reading: the row that predicts y_t (rows 0 .. T-1; the row predicting </s> dropped).
    Shift-Att (Chen et al. 2020, "Accurate Word Alignment Induction from Neural Machine
    Translation", Sec. 3): the row whose decoder input is y_t, one step later (rows 1 .. T; the
    row of <s> dropped), since a decoder attends to the source word of its input word more than
    to that of the word it is about to predict.  -> (..., T, S)"""
    return weights[..., 1:, :] if shift else weights[..., :-1, :]


def word_links(piece_links: set[Link], src_pieces: list[str], trg_pieces: list[str]) -> set[Link]:
    """Links between pieces -> links between words: a source word and a target word are linked
    if any piece of the one is linked to any piece of the other (Zenkel et al. 2019; Chen et
    al. 2020). Word-level tokens map to themselves."""
    src_word, trg_word = word_index(src_pieces), word_index(trg_pieces)
    return {(src_word[i], trg_word[j]) for i, j in piece_links}


def attention_word_links(
    weights: Tensor, src_pieces: list[str], trg_pieces: list[str]
) -> set[Link]:
    """Word links of one pair from piece attention (T, S): each target piece linked to its most
    attended source piece (`alignment_from_attention`), then `word_links`."""
    return word_links(alignment_from_attention(weights), src_pieces, trg_pieces)


def reference_attention(
    translator: Translator, src_lines: list[str], ref_lines: list[str]
) -> list[Tensor] | None:
    """Word-level attention (L, T_words, S_words) of each (source, reference) pair, read with
    teacher forcing, plain reading (the row of </s> dropped); source pieces summed, target
    pieces averaged (`merge_subword_attention`). A pair with an empty side gets all-zero weights
    (no links). None when the model has no attention."""
    found = teacher_forced_attention(translator, src_lines, ref_lines)
    if found is None:
        return None
    n_layers = next((a.weights.size(0) for a in found if a.weights is not None), 1)
    return [
        torch.zeros(n_layers, _n_words(t), _n_words(s))
        if w is None
        else torch.stack(
            [merge_subword_attention(r, s, t) for r in attention_rows(w, shift=False)]
        )  # (L, T_words, S_words)
        for w, s, t in found
    ]


def attention_aer(
    translator: Translator, src_lines: list[str], ref_lines: list[str], gold: list[Gold]
) -> dict[str, Any]:
    """AER of the attention read on the references: {"aer": float | None (no attention)} and,
    for a model with `cross_attention` (the Transformer), "aer_per_layer" (head-averaged, first
    decoder layer first; "aer" is the last layer's, the attention `forward` returns)."""
    attention = reference_attention(translator, src_lines, ref_lines)
    if attention is None:
        return {"aer": None}
    n_layers = attention[0].size(0)
    per_layer = [
        aer([alignment_from_attention(a[layer]) for a in attention], gold)
        for layer in range(n_layers)
    ]
    result: dict[str, Any] = {"aer": per_layer[-1]}
    if isinstance(translator.model, CrossAttentionModel):
        result["aer_per_layer"] = per_layer
    return result
