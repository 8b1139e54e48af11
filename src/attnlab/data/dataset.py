"""From a data config to token ids: read the splits, fit tokenizers and vocabularies on the
training split (or take them from a checkpoint), encode, and drop what training cannot use,
with the counts reported.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from typing import Any, Literal

import torch
from torch import Tensor

from attnlab.config import DataConfig
from attnlab.data.corpus import FilterReport, filter_pairs, read_split, split_files
from attnlab.data.make import make_command
from attnlab.data.tokenize import Tokenizer, build_tokenizer, tokenizer_from_state
from attnlab.data.vocab import EOS_ID, Vocab
from attnlab.errors import UserError

Split = Literal["train", "dev", "test"]


@dataclass
class Encoders:
    """Tokenizers and vocabularies of both sides; saved in every checkpoint."""

    src_tokenizer: Tokenizer
    trg_tokenizer: Tokenizer
    src_vocab: Vocab
    trg_vocab: Vocab

    def to_state(self) -> dict[str, Any]:
        return {
            "src_tokenizer": self.src_tokenizer.to_state(),
            "trg_tokenizer": self.trg_tokenizer.to_state(),
            "src_vocab": self.src_vocab.to_list(),
            "trg_vocab": self.trg_vocab.to_list(),
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Encoders:
        return cls(
            tokenizer_from_state(state["src_tokenizer"]),
            tokenizer_from_state(state["trg_tokenizer"]),
            Vocab.from_list(state["src_vocab"]),
            Vocab.from_list(state["trg_vocab"]),
        )

    def encode_pair(self, src: str, trg: str) -> tuple[list[str], list[str]]:
        return self.src_tokenizer.encode(src), self.trg_tokenizer.encode(trg)


@dataclass
class TrainingData:
    """Training pairs as ids (after filtering) and the dev split as text."""

    encoders: Encoders
    train_ids: list[tuple[list[int], list[int]]]
    dev_pairs: list[tuple[str, str]]
    dev_ids: list[tuple[list[int], list[int]]]
    report: FilterReport


def split_path(cfg: DataConfig, split: Split) -> Path:
    """PREFIX of a configured split. A `data.dir` that does not exist yet is an error saying
    which command makes it."""
    prefix = cfg.prefix(split)
    if prefix is None:
        raise UserError(f"data.{split}", "not set; give data.dir or data.train/dev/test")
    if cfg.dir is not None and not cfg.dir.exists():
        src, _ = split_files(prefix)
        raise UserError(
            str(src), f"no such file (no folder {cfg.dir}); run: {make_command(cfg.dir)}"
        )
    return prefix


def fit_encoders(cfg: DataConfig, pairs: list[tuple[str, str]]) -> Encoders:
    """Tokenizers and vocabularies fitted on the training pairs, each side on its own, or with
    `joint_vocab` one tokenizer and one vocabulary fitted on both sides together."""
    if cfg.joint_vocab:
        lines = [s for s, _ in pairs] + [t for _, t in pairs]
        tokenizer = build_tokenizer(cfg, lines)
        vocab = Vocab.build([tokenizer.encode(line) for line in lines], cfg.min_freq, cfg.max_vocab)
        return Encoders(tokenizer, tokenizer, vocab, vocab)
    src_tok = build_tokenizer(cfg, [s for s, _ in pairs])
    trg_tok = build_tokenizer(cfg, [t for _, t in pairs])
    src_vocab = Vocab.build([src_tok.encode(s) for s, _ in pairs], cfg.min_freq, cfg.max_vocab)
    trg_vocab = Vocab.build([trg_tok.encode(t) for _, t in pairs], cfg.min_freq, cfg.max_vocab)
    return Encoders(src_tok, trg_tok, src_vocab, trg_vocab)


def encode_pairs(
    encoders: Encoders, pairs: list[tuple[str, str]], max_len: int
) -> tuple[list[tuple[list[int], list[int]]], list[int], FilterReport]:
    """Tokenize, drop empty and over-long pairs (counted), map to ids. Returns ids, kept indices."""
    tokens = [encoders.encode_pair(s, t) for s, t in pairs]
    kept, report = filter_pairs(tokens, max_len)
    ids = [
        (encoders.src_vocab.encode(tokens[i][0]), encoders.trg_vocab.encode(tokens[i][1]))
        for i in kept
    ]
    return ids, kept, report


def target_log_prior(train_ids: list[tuple[list[int], list[int]]], vocab_size: int) -> Tensor:
    """log p(y) = log (n_y + 1) / (N + V): the add-one smoothed unigram distribution of the
    target tokens of the training pairs, one </s> a pair included.  -> (V,)"""
    tokens = torch.tensor(list(chain.from_iterable(trg for _, trg in train_ids)), dtype=torch.long)
    counts = torch.bincount(tokens, minlength=vocab_size).double()
    counts[EOS_ID] += len(train_ids)
    return ((counts + 1.0) / (counts.sum() + vocab_size)).log().float()


def load_training_data(cfg: DataConfig, encoders: Encoders | None = None) -> TrainingData:
    """Read train and dev; fit encoders on train unless given (when resuming a run)."""
    train_pairs = read_split(split_path(cfg, "train"))
    dev_pairs = read_split(split_path(cfg, "dev"))
    if not train_pairs:
        raise UserError(str(split_path(cfg, "train")), "the training split is empty")
    encoders = encoders or fit_encoders(cfg, train_pairs)
    train_ids, _, report = encode_pairs(encoders, train_pairs, cfg.max_len)
    if not train_ids:
        raise UserError(str(split_path(cfg, "train")), "no training pair left after filtering")
    dev_ids, dev_kept, _ = encode_pairs(encoders, dev_pairs, max_len=10**9)
    return TrainingData(encoders, train_ids, [dev_pairs[i] for i in dev_kept], dev_ids, report)
