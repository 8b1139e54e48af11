"""Text in, text out: tokenize, batch, search, detokenize; `attnlab translate` streams lines.

A translation never depends on what else is in its batch (search guarantees it), so lines are
sorted by length into batches for speed and put back in their order afterwards. An empty line
gives an empty line; a line longer than the model can take is truncated with a warning.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import torch
from pydantic import ValidationError
from torch import Tensor

from attnlab.checkpoint import load_checkpoint
from attnlab.config import Config, DecodingConfig, validate
from attnlab.data.batching import collate_source
from attnlab.data.corpus import MAX_LINE_BYTES, check_line
from attnlab.data.dataset import Encoders
from attnlab.data.tokenize import Tokenizer
from attnlab.data.vocab import Vocab
from attnlab.device import resolve_device
from attnlab.errors import UserError
from attnlab.models.build import build_model
from attnlab.models.interface import Seq2SeqModel
from attnlab.search import Hypothesis, beam_search, greedy_search, max_lengths


@dataclass
class Translation:
    """One translated line; `attention` is (len(trg_tokens) + 1, len(src_tokens)), the last row
    being the step that produced </s>; None for models without attention."""

    text: str
    score: float
    src_tokens: list[str]
    trg_tokens: list[str]
    attention: Tensor | None
    nbest: list[tuple[str, float]]
    truncated: bool = False


class Translator:
    """A trained model with its tokenizers and vocabularies, ready to translate lines."""

    def __init__(
        self,
        model: Seq2SeqModel,
        src_tokenizer: Tokenizer,
        trg_tokenizer: Tokenizer,
        src_vocab: Vocab,
        trg_vocab: Vocab,
        decoding: DecodingConfig,
        max_src_len: int | None,
    ) -> None:
        self.model = model
        self.src_tokenizer, self.trg_tokenizer = src_tokenizer, trg_tokenizer
        self.src_vocab, self.trg_vocab = src_vocab, trg_vocab
        self.decoding = decoding
        self.max_src_len = max_src_len

    @classmethod
    def from_checkpoint(
        cls, path: Path, device: str = "auto", decoding: dict[str, Any] | None = None
    ) -> Translator:
        """The checkpoint's model and decoding settings; `decoding` ({"length_penalty": 1.5,
        ...}) replaces some of the latter, validated as the config's decoding section."""
        ckpt = load_checkpoint(path)
        try:
            config = Config.model_validate(ckpt["config"])
            encoders = Encoders.from_state(ckpt)
        except (KeyError, TypeError, AttributeError, ValidationError, UserError) as exc:
            reason = exc.what if isinstance(exc, UserError) else f"{type(exc).__name__}: {exc}"
            first = reason.splitlines()[0] if reason.strip() else type(exc).__name__
            raise UserError(str(path), f"not a usable checkpoint: {first:.200}") from None
        model = build_model(
            config.model,
            len(encoders.src_vocab),
            len(encoders.trg_vocab),
            shared_vocab=config.data.joint_vocab,
        )
        try:
            model.load_state_dict(ckpt["model"])
        except (RuntimeError, TypeError, AttributeError, KeyError) as exc:
            first = str(exc).splitlines()[0]
            raise UserError(
                str(path), f"weights do not fit the model in its config: {first}"
            ) from None
        model.to(resolve_device(device)).eval()
        if decoding:
            raw = config.model_dump(mode="json")
            config = validate({**raw, "decoding": raw["decoding"] | decoding}, "decoding options")
        return cls.from_encoders(model, encoders, config)

    @classmethod
    def from_encoders(cls, model: Seq2SeqModel, encoders: Encoders, config: Config) -> Translator:
        """A model with the tokenizers and vocabularies it was trained with."""
        return cls(
            model,
            encoders.src_tokenizer,
            encoders.trg_tokenizer,
            encoders.src_vocab,
            encoders.trg_vocab,
            config.decoding,
            model_max_source_length(config),
        )

    def with_model(self, model: Seq2SeqModel) -> Translator:
        """The same tokenizers, vocabularies and settings around another model (e.g. one whose
        attention the lab replaced, or the untrained twin of this one)."""
        return Translator(
            model,
            self.src_tokenizer,
            self.trg_tokenizer,
            self.src_vocab,
            self.trg_vocab,
            self.decoding,
            self.max_src_len,
        )

    def search_sizes(self, beam_size: int | None, n_best: int | None) -> tuple[int, int]:
        """(beam size, n-best) of a search: those given, else the config's decoding section
        (its n_best at most the beam size, so `beam_size=1` alone is greedy search)."""
        beam_size = beam_size or self.decoding.beam_size
        if n_best is None:
            return beam_size, min(self.decoding.n_best, beam_size)
        if n_best > beam_size:
            raise UserError("--n-best", f"must be <= the beam size ({n_best} > {beam_size})")
        return beam_size, n_best

    def translate(
        self,
        lines: list[str],
        beam_size: int | None = None,
        n_best: int | None = None,
        batch_size: int | None = None,
    ) -> list[Translation]:
        """Translate `lines` in order; beam_size 1 is greedy search (`search_sizes`)."""
        beam_size, n_best = self.search_sizes(beam_size, n_best)
        batch_size = batch_size or self.decoding.batch_size
        tokens = [self.src_tokenizer.encode(line) for line in lines]
        limit = self.max_src_len
        results: list[Translation | None] = [None] * len(lines)
        for i, toks in enumerate(tokens):
            if not toks:
                results[i] = Translation("", 0.0, [], [], None, [("", 0.0)])
        order = sorted((i for i, t in enumerate(tokens) if t), key=lambda i: len(tokens[i]))
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            src_tokens = [tokens[i][:limit] if limit else tokens[i] for i in chunk]
            hyps = self._search([self.src_vocab.encode(t) for t in src_tokens], beam_size, n_best)
            for i, toks, nbest in zip(chunk, src_tokens, hyps, strict=True):
                results[i] = self._to_translation(toks, nbest, len(toks) < len(tokens[i]))
        return [r for r in results if r is not None]

    def _search(
        self, src_ids: list[list[int]], beam_size: int, n_best: int
    ) -> list[list[Hypothesis]]:
        device = next(self.model.parameters()).device
        src, src_mask = (t.to(device) for t in collate_source(src_ids))
        lengths = max_lengths(src_mask, self.decoding.max_len_ratio, self.decoding.max_len_offset)
        if self.max_src_len:
            lengths = lengths.clamp(max=self.max_src_len - 1)
        with torch.inference_mode():
            if beam_size == 1:
                return greedy_search(self.model, src, src_mask, lengths)
            return beam_search(
                self.model,
                src,
                src_mask,
                lengths,
                beam_size,
                n_best,
                self.decoding.length_penalty,
                self.decoding.stopping,
            )

    def _to_translation(
        self, src_tokens: list[str], nbest: list[Hypothesis], truncated: bool
    ) -> Translation:
        texts = [self.trg_tokenizer.decode(self.trg_vocab.decode(h.tokens)) for h in nbest]
        best = nbest[0]
        attention = best.attention.float().cpu() if best.attention is not None else None
        return Translation(
            text=texts[0],
            score=best.score,
            src_tokens=src_tokens,
            trg_tokens=self.trg_vocab.decode(best.tokens),
            attention=attention,
            nbest=[(t, h.score) for t, h in zip(texts, nbest, strict=True)],
            truncated=truncated,
        )


def model_max_source_length(config: Config) -> int | None:
    """The longest source the model can encode: the Transformer's position table; RNNs: none."""
    return config.model.max_positions if config.model.type == "transformer" else None


def translation_json(line: str, t: Translation) -> dict[str, Any]:
    return {
        "src": line,
        "translation": t.text,
        "score": t.score,
        "nbest": [{"translation": text, "score": score} for text, score in t.nbest],
        "src_tokens": t.src_tokens,
        "trg_tokens": t.trg_tokens,
        "attention": None if t.attention is None else t.attention.tolist(),
    }


def read_stream_lines(handle: Any, name: str) -> Iterator[str]:
    """Decode a binary line stream as UTF-8 (BOM and CRLF accepted); bad bytes, NUL bytes and
    lines over MAX_LINE_BYTES name the line. Reads at most MAX_LINE_BYTES + 1 bytes at a time, so
    an endless line is an error, not all of memory."""
    number = 0
    while raw := handle.readline(MAX_LINE_BYTES + 1):
        number += 1
        where = f"{name}:{number}"
        if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
            raise UserError(
                where, f"a line of over {MAX_LINE_BYTES:,} bytes; one sentence a line expected"
            )
        if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]
        try:
            line = raw.decode("utf-8").rstrip("\r\n")
        except UnicodeDecodeError as exc:
            raise UserError(where, f"invalid UTF-8 (byte {exc.start})") from None
        check_line(line, where)
        yield line


def _chunks(lines: Iterable[str], size: int) -> Iterator[list[str]]:
    chunk: list[str] = []
    for line in lines:
        chunk.append(line)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def translate_stream(
    ckpt: Path,
    input_path: Path | None,
    beam: int | None,
    n_best: int | None,
    batch_size: int | None,
    as_json: bool,
    out: TextIO | None = None,
    decoding: dict[str, Any] | None = None,
) -> None:
    """`attnlab translate`: one line out per line in, in order; stdin when no input file.

    Interactive stdin is translated line by line; piped input in batches.
    """
    out = out or sys.stdout
    translator = Translator.from_checkpoint(ckpt, decoding=decoding)
    beam, n_best = translator.search_sizes(beam, n_best)
    batch_size = batch_size or translator.decoding.batch_size
    if input_path is None:
        name, handle = "<stdin>", sys.stdin.buffer
        if sys.stdin.isatty():
            batch_size = 1
        lines: Iterable[str] = read_stream_lines(handle, name)
    else:  # a file is read and checked whole first: a bad line gives no partial output
        if input_path.is_dir():
            raise UserError(str(input_path), "is a directory, expected a text file")
        name = str(input_path)
        try:
            with input_path.open("rb") as handle:
                lines = list(read_stream_lines(handle, name))
        except OSError as exc:
            raise UserError(str(input_path), exc.strerror or str(exc)) from None
    number = 0
    for chunk in _chunks(lines, batch_size):
        for line, t in zip(chunk, translator.translate(chunk, beam, n_best), strict=True):
            number += 1
            if t.truncated:
                limit = translator.max_src_len
                sys.stderr.write(
                    f"attnlab: warning: {name}:{number}: source truncated to {limit} tokens\n"
                )
            if as_json:
                out.write(json.dumps(translation_json(line, t), ensure_ascii=False) + "\n")
            elif n_best > 1:  # still one line per input: the n-best list, tab-separated
                out.write("\t".join(text for text, _ in t.nbest) + "\n")
            else:
                out.write(t.text + "\n")
        out.flush()
