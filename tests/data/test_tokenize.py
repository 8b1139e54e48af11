"""Tokenizers: round trips, lowercasing, SentencePiece on a tiny corpus, state save/restore."""

from __future__ import annotations

import io

import pytest
import torch

from attnlab.config import DataConfig
from attnlab.data.tokenize import (
    SentencePieceTokenizer,
    WordTokenizer,
    build_tokenizer,
    tokenizer_from_state,
)
from attnlab.data.vocab import UNK
from attnlab.errors import UserError

CORPUS = [
    "The cat sat on the mat .",
    "A dog ran in the park and the cat watched .",
    "Birds fly over the houses of the town .",
    "The children played in the garden all afternoon .",
    "She reads books about cats , dogs and birds .",
    "We walked to the station in the rain .",
] * 4

HELD_OUT = ["the dog sat in the garden .", "Cats watched the birds ."]


def test_word_round_trip_normalises_whitespace() -> None:
    tok = WordTokenizer(lowercase=False)
    assert tok.encode("  Hello \t brave  new world ") == ["Hello", "brave", "new", "world"]
    assert tok.decode(tok.encode("  Hello \t brave  new world ")) == "Hello brave new world"
    for line in CORPUS:
        assert tok.decode(tok.encode(line)) == line


def test_word_lowercase_round_trip() -> None:
    tok = build_tokenizer(DataConfig(tokenizer="word", lowercase=True), CORPUS)
    assert tok.encode("The CAT") == ["the", "cat"]
    for line in CORPUS:
        assert tok.decode(tok.encode(line)) == line.lower()


@pytest.mark.parametrize("model_type", ["unigram", "bpe"])
def test_sentencepiece_round_trip_on_a_tiny_corpus(model_type: str) -> None:
    # 8000 pieces cannot be filled from a few sentences: training must retry with what fits
    cfg = DataConfig(tokenizer="sentencepiece", sp_model_type=model_type, sp_vocab_size=8000)
    tok = build_tokenizer(cfg, CORPUS)
    assert isinstance(tok, SentencePieceTokenizer)
    for line in CORPUS + HELD_OUT:
        pieces = tok.encode(line)
        assert pieces and all(isinstance(p, str) for p in pieces)
        assert tok.decode(pieces) == line
    # subwords: some word of the corpus is split or some piece spans more than one character
    assert any(len(p.lstrip("\u2581")) > 1 for line in CORPUS for p in tok.encode(line))


def test_sentencepiece_lowercase() -> None:
    cfg = DataConfig(tokenizer="sentencepiece", lowercase=True, sp_vocab_size=60)
    tok = build_tokenizer(cfg, CORPUS)
    assert all(p == p.lower() for p in tok.encode("The CAT Sat"))
    for line in CORPUS:
        assert tok.decode(tok.encode(line)) == line.lower()


@pytest.mark.parametrize(
    "cfg",
    [
        DataConfig(tokenizer="word", lowercase=True),
        DataConfig(tokenizer="sentencepiece", sp_model_type="bpe", sp_vocab_size=80),
        DataConfig(tokenizer="sentencepiece", sp_model_type="unigram", sp_vocab_size=60),
    ],
    ids=["word", "bpe", "unigram"],
)
def test_state_survives_a_weights_only_checkpoint(cfg: DataConfig) -> None:
    tok = build_tokenizer(cfg, CORPUS)
    buffer = io.BytesIO()
    torch.save({"tokenizer": tok.to_state()}, buffer)
    buffer.seek(0)
    state = torch.load(buffer, weights_only=True)["tokenizer"]
    restored = tokenizer_from_state(state)
    assert type(restored) is type(tok)
    for line in CORPUS + HELD_OUT:
        assert restored.encode(line) == tok.encode(line)


def test_vocab_size_below_the_characters_is_a_user_error() -> None:
    cfg = DataConfig(tokenizer="sentencepiece", sp_vocab_size=5)
    with pytest.raises(UserError) as err:
        build_tokenizer(cfg, CORPUS)
    assert err.value.where == "data.sp_vocab_size" and "at least" in err.value.what


def test_sentencepiece_needs_text() -> None:
    with pytest.raises(UserError):
        build_tokenizer(DataConfig(tokenizer="sentencepiece"), ["", "   "])


@pytest.mark.parametrize(
    "state",
    [
        {"kind": "morfessor", "lowercase": False},
        {"kind": "word"},
        {"kind": "sentencepiece", "lowercase": False},
        {"kind": "sentencepiece", "lowercase": False, "model_proto": b"not a model"},
        ["word"],
    ],
)
def test_bad_state_is_a_user_error(state: object) -> None:
    with pytest.raises(UserError) as err:
        tokenizer_from_state(state)  # type: ignore[arg-type]
    assert err.value.where == "checkpoint"


@pytest.mark.parametrize("tokenizer", ["word", "sentencepiece"])
def test_joint_vocab_fits_one_tokenizer_and_vocabulary_on_both_sides(tokenizer: str) -> None:
    from attnlab.data.dataset import fit_encoders

    pairs = [(line, line.upper()) for line in CORPUS]
    cfg = DataConfig(tokenizer=tokenizer, sp_vocab_size=60, joint_vocab=True)
    encoders = fit_encoders(cfg, pairs)
    assert encoders.src_tokenizer is encoders.trg_tokenizer
    assert encoders.src_vocab is encoders.trg_vocab
    src_only, trg_only = encoders.encode_pair("cat", "CAT")
    assert UNK not in [encoders.src_vocab.itos[i] for i in encoders.src_vocab.encode(src_only)]
    assert UNK not in [encoders.trg_vocab.itos[i] for i in encoders.trg_vocab.encode(trg_only)]
    if tokenizer == "word":  # a word seen on one side only is in the one vocabulary
        separate = fit_encoders(DataConfig(tokenizer=tokenizer), pairs)
        assert "CAT" not in separate.src_vocab.stoi
        assert {"cat", "CAT"} <= set(encoders.src_vocab.stoi)
