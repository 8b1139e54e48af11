"""Tokenizers behind one interface: word level (whitespace) and SentencePiece (unigram or BPE).

SentencePiece: Kudo & Richardson (2018), "SentencePiece: A simple and language independent subword
tokenizer and detokenizer for Neural Text Processing"; unigram language model: Kudo (2018); BPE:
Sennrich, Haddow & Birch (2016). The model is trained in memory on the training lines of one side
and travels inside the checkpoint as bytes, so `translate` needs no file besides the checkpoint.

Round trip: `decode(encode(x)) == x` once runs of whitespace in x are one space and x has no
leading or trailing whitespace (`x.lower()` with lowercasing). SentencePiece runs without Unicode
normalisation (rule `identity`) so that the text it gives back is the text it was given.

Left out: byte fallback (it would add 256 pieces to tiny vocabularies); a character the
SentencePiece model never saw comes back as a piece the vocabulary maps to <unk>.
"""

from __future__ import annotations

import io
import re
from typing import Any, Literal, Protocol

import sentencepiece as spm

from attnlab.config import DataConfig
from attnlab.errors import UserError


class Tokenizer(Protocol):
    """Text to tokens and back; `to_state()` is plain Python values (saved in checkpoints)."""

    def encode(self, line: str) -> list[str]: ...

    def decode(self, pieces: list[str]) -> str: ...

    def to_state(self) -> dict[str, Any]: ...


class WordTokenizer:
    """Split on whitespace, optionally lowercase; decoding joins with single spaces."""

    def __init__(self, lowercase: bool) -> None:
        self.lowercase = lowercase

    def encode(self, line: str) -> list[str]:
        return (line.lower() if self.lowercase else line).split()

    def decode(self, pieces: list[str]) -> str:
        return " ".join(pieces)

    def to_state(self) -> dict[str, Any]:
        return {"kind": "word", "lowercase": self.lowercase}


class SentencePieceTokenizer:
    """A trained SentencePiece model (serialised `model_proto`), optionally lowercasing first."""

    def __init__(self, model_proto: bytes, lowercase: bool) -> None:
        self.model_proto = model_proto
        self.lowercase = lowercase
        self._processor = spm.SentencePieceProcessor(model_proto=model_proto)

    def encode(self, line: str) -> list[str]:
        return self._processor.encode(line.lower() if self.lowercase else line, out_type=str)

    def decode(self, pieces: list[str]) -> str:
        return self._processor.decode_pieces(pieces)

    def to_state(self) -> dict[str, Any]:
        return {
            "kind": "sentencepiece",
            "model_proto": self.model_proto,
            "lowercase": self.lowercase,
        }


# SentencePiece reports both vocabulary-size problems as RuntimeError with these messages.
_TOO_HIGH = re.compile(r"Vocabulary size too high \((\d+)\)\. Please set it to a value <= (\d+)")
_TOO_LOW = re.compile(r"Vocabulary size is smaller than required_chars\. (\d+) vs (\d+)")


def _train_once(lines: list[str], model_type: str, vocab_size: int) -> bytes:
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(lines),
        model_writer=model,
        model_type=model_type,
        vocab_size=vocab_size,
        character_coverage=1.0,
        normalization_rule_name="identity",
        minloglevel=2,  # warnings and errors only; the default logs every EM iteration
    )
    return model.getvalue()


def train_sentencepiece(
    lines: list[str], model_type: Literal["unigram", "bpe"], vocab_size: int
) -> bytes:
    """Train a SentencePiece model in memory; returns the serialised model.

    A corpus too small for `vocab_size` pieces gets the largest size SentencePiece says it can
    fill (it names it in its error); a size below the number of distinct characters is a UserError.
    """
    lines = [line for line in lines if line.strip()]
    if not lines:
        raise UserError("data.tokenizer", "sentencepiece needs non-empty training lines")
    try:
        return _train_once(lines, model_type, vocab_size)
    except RuntimeError as exc:
        too_high, too_low = _TOO_HIGH.search(str(exc)), _TOO_LOW.search(str(exc))
        if too_low:
            raise UserError(
                "data.sp_vocab_size",
                f"{vocab_size} is too small for the {too_low.group(2)} characters and special "
                f"pieces of the training text; use at least {too_low.group(2)}",
            ) from None
        if not too_high:
            raise UserError("data.tokenizer", f"sentencepiece training failed: {exc}") from None
        return _train_once(lines, model_type, int(too_high.group(2)))


def build_tokenizer(cfg: DataConfig, lines: list[str]) -> Tokenizer:
    """The tokenizer the config asks for, trained on `lines` where it needs training."""
    if cfg.tokenizer == "word":
        return WordTokenizer(cfg.lowercase)
    text = [line.lower() for line in lines] if cfg.lowercase else lines
    return SentencePieceTokenizer(
        train_sentencepiece(text, cfg.sp_model_type, cfg.sp_vocab_size), cfg.lowercase
    )


def tokenizer_from_state(state: dict[str, Any]) -> Tokenizer:
    """Rebuild a tokenizer from `to_state()`; a malformed state is a UserError (bad checkpoint)."""
    kind = state.get("kind") if isinstance(state, dict) else None
    lowercase = state.get("lowercase") if isinstance(state, dict) else None
    if not isinstance(lowercase, bool):
        raise UserError("checkpoint", f"tokenizer state without a 'lowercase' flag: {state!r:.80}")
    if kind == "word":
        return WordTokenizer(lowercase)
    if kind == "sentencepiece":
        proto = state.get("model_proto")
        if not isinstance(proto, bytes):
            raise UserError("checkpoint", "sentencepiece tokenizer state has no model bytes")
        try:
            return SentencePieceTokenizer(proto, lowercase)
        except RuntimeError as exc:
            raise UserError("checkpoint", f"sentencepiece model does not load: {exc}") from None
    raise UserError("checkpoint", f"unknown tokenizer kind {kind!r}")
