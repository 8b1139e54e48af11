"""What the explorer's JSON API computes, apart from HTTP: loaded models, request checks, and
translations with their attention read back by teacher forcing.

Requests are plain dicts (parsed JSON); every problem with one raises `RequestError` with an HTTP
status and one line. The attention of a translation is read by forcing the model on its best
hypothesis, so a beam search's winner and a given reference are read the same way; for greedy
search it equals the weights the search itself saw. Rows are target tokens without </s>,
columns source tokens: (T, S). The Transformer also gives every layer and head,
(L, heads, T, S). A fixed-context model has no attention: its decoder reads one vector c.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from attnlab.checkpoint import load_checkpoint
from attnlab.config import Config
from attnlab.data.batching import collate
from attnlab.models.interface import CrossAttentionModel
from attnlab.translate import Translator
from attnlab.word_alignment import (
    aer,
    alignment_from_attention,
    merge_subword_attention,
    word_index,
)

MAX_CHARS = 1000
MAX_TOKENS = 200
MAX_BEAM = 16
_LANGUAGES = re.compile(r"(?:^|[-_])([a-z]{2,3})[-_]([a-z]{2,3})$")
_LINK = re.compile(r"(\d+)([-?])(\d+)")


class RequestError(Exception):
    """A bad request: `status` (4xx) and a one-line `message`."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


@dataclass
class LoadedModel:
    """A checkpoint ready to translate, with what GET /api/models says about it."""

    id: str
    name: str
    architecture: str
    parameters: int
    source_language: str | None
    target_language: str | None
    translator: Translator
    context: str  # "fixed" | "attention"

    def info(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "architecture": self.architecture,
            "parameters": self.parameters,
            "source_language": self.source_language,
            "target_language": self.target_language,
        }


def architecture(config: Config) -> str:
    """One line, e.g. 'Transformer, 2 layers, 4 heads' or 'GRU encoder-decoder, bahdanau'."""
    m = config.model
    if m.type == "transformer":
        return f"Transformer, {m.num_layers} layers, {m.heads} heads, d_model {m.hidden_size}"
    context = "fixed context" if m.context == "fixed" else f"{m.context} attention"
    return f"{m.cell.upper()} encoder-decoder, {context}, hidden {m.hidden_size}"


def languages(config: Config) -> tuple[str | None, str | None]:
    """Languages from the data folder's name (`bible-en-fr` -> en, fr); None when it names none."""
    prefix = config.data.dir or (config.data.train.parent if config.data.train else None)
    match = _LANGUAGES.search(prefix.name) if prefix is not None else None
    return (match.group(1), match.group(2)) if match else (None, None)


def load_models(paths: list[Path], device: str = "auto") -> list[LoadedModel]:
    """Load checkpoints; ids are their run folders' names (`runs/gru/best.pt` -> gru), made
    unique with -2, -3, ... ."""
    models: list[LoadedModel] = []
    for path in paths:
        config = Config.model_validate(load_checkpoint(path)["config"])
        translator = Translator.from_checkpoint(path, device)
        base = re.sub(r"[^A-Za-z0-9_.-]", "-", path.parent.name or path.stem) or "model"
        taken = {m.id for m in models}
        model_id = (
            base
            if base not in taken
            else next(f"{base}-{k}" for k in range(2, len(paths) + 2) if f"{base}-{k}" not in taken)
        )
        fixed = config.model.type == "rnn" and config.model.context == "fixed"
        models.append(
            LoadedModel(
                id=model_id,
                name=str(path),
                architecture=architecture(config),
                parameters=sum(p.numel() for p in translator.model.parameters()),
                source_language=languages(config)[0],
                target_language=languages(config)[1],
                translator=translator,
                context="fixed" if fixed else "attention",
            )
        )
    return models


# --- request checks -----------------------------------------------------------------------------


def _field(request: dict[str, Any], name: str, kind: type, default: Any = None) -> Any:
    if name not in request or request[name] is None:
        if default is None:
            raise RequestError(400, f"{name}: missing")
        return default
    value = request[name]
    if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise RequestError(400, f"{name}: expected an integer, got {type(value).__name__}")
    if kind is str and not isinstance(value, str):
        raise RequestError(400, f"{name}: expected a string, got {type(value).__name__}")
    if kind is str and not value.isascii():
        try:  # JSON's \ud800 escapes decode to lone surrogates, which no tokenizer can take
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise RequestError(400, f"{name}: not valid Unicode (character {exc.start})") from None
    return value


def _text(request: dict[str, Any], name: str, model: LoadedModel, side: str) -> list[str]:
    """The tokens of a text field, checked: non-empty, <= MAX_CHARS characters, <= MAX_TOKENS
    tokens, and within the model's position table."""
    text = _field(request, name, str)
    if len(text) > MAX_CHARS:
        raise RequestError(413, f"{name}: {len(text)} characters, more than {MAX_CHARS}")
    translator = model.translator
    tokenizer = translator.src_tokenizer if side == "source" else translator.trg_tokenizer
    tokens = tokenizer.encode(text)
    if not tokens:
        raise RequestError(400, f"{name}: empty")
    limit = translator.max_src_len
    limit = limit if side == "source" or limit is None else limit - 1  # <s> takes one place
    if len(tokens) > MAX_TOKENS or (limit is not None and len(tokens) > limit):
        most = min(MAX_TOKENS, limit) if limit is not None else MAX_TOKENS
        raise RequestError(413, f"{name}: {len(tokens)} tokens, more than {most}")
    return tokens


def _model(request: dict[str, Any], models: dict[str, LoadedModel]) -> LoadedModel:
    model_id = _field(request, "model", str)
    if model_id not in models:
        known = ", ".join(sorted(models))
        raise RequestError(404, f"model: unknown id {model_id[:40]!r} (loaded: {known})")
    return models[model_id]


def _gold(request: dict[str, Any], n_src: int, n_trg: int) -> tuple[set, set] | None:
    """Pharaoh links `i-j` (sure) / `i?j` (possible), source word i, target word j, 0-based."""
    text = request.get("gold")
    if text is None:
        return None
    if not isinstance(text, str):
        raise RequestError(400, f"gold: expected a string, got {type(text).__name__}")
    sure: set[tuple[int, int]] = set()
    possible: set[tuple[int, int]] = set()
    for token in text.split():
        match = _LINK.fullmatch(token)
        if match is None:
            raise RequestError(400, f"gold: bad link {token[:20]!r}: expected i-j or i?j")
        i, j = int(match.group(1)), int(match.group(3))
        if i >= n_src or j >= n_trg:
            raise RequestError(
                400, f"gold: link {token} outside {n_src} source x {n_trg} target words"
            )
        possible.add((i, j))
        if match.group(2) == "-":
            sure.add((i, j))
    return sure, possible


# --- the answers --------------------------------------------------------------------------------


def forced_attention(
    model: LoadedModel, src_tokens: list[str], trg_tokens: list[str]
) -> dict[str, Any]:
    """The model forced on (source, target) tokens: {"context", "attention" (T, S) | None} and,
    for the Transformer, "layers" (L, heads, T, S), all as nested lists, </s> row dropped."""
    translator = model.translator
    if model.context == "fixed":
        return {"context": "fixed", "attention": None}
    ids = [(translator.src_vocab.encode(src_tokens), translator.trg_vocab.encode(trg_tokens))]
    device = next(translator.model.parameters()).device
    batch = collate(ids).to(device)
    n_trg = len(trg_tokens)
    with torch.inference_mode():
        if isinstance(translator.model, CrossAttentionModel):
            layers = translator.model.cross_attention(batch)[0, :, :, :n_trg].float().cpu()
            weights = layers[-1].mean(dim=0)  # (T, S): what `forward` returns
            return {
                "context": "attention",
                "attention": weights.tolist(),
                "layers": layers.tolist(),
            }
        _, attention = translator.model(batch)
    return {"context": "attention", "attention": attention[0, :n_trg].float().cpu().tolist()}


def translate(request: dict[str, Any], models: dict[str, LoadedModel]) -> dict[str, Any]:
    """POST /api/translate: {"text", "model", "beam", "n_best"} -> source tokens, the n-best
    translations with scores, and the attention of the best one."""
    model = _model(request, models)
    src_tokens = _text(request, "text", model, "source")
    beam = _field(request, "beam", int, model.translator.decoding.beam_size)
    n_best = _field(request, "n_best", int, 1)
    if not 1 <= beam <= MAX_BEAM:
        raise RequestError(400, f"beam: must be between 1 and {MAX_BEAM} (got {beam})")
    if not 1 <= n_best <= beam:
        raise RequestError(
            400, f"n_best: must be between 1 and the beam size {beam} (got {n_best})"
        )
    translator = model.translator
    result = translator.translate([request["text"]], beam_size=beam, n_best=n_best)[0]
    translations = [
        # the best one's tokens as searched; the others' as their text tokenizes
        {"text": text, "tokens": translator.trg_tokenizer.encode(text), "score": score}
        for text, score in result.nbest
    ]
    translations[0]["tokens"] = result.trg_tokens
    best = translations[0]["tokens"]
    return {
        "model": model.id,
        "source_tokens": src_tokens,
        "translations": translations,
        **forced_attention(model, src_tokens, best),
    }


def align(request: dict[str, Any], models: dict[str, LoadedModel]) -> dict[str, Any]:
    """POST /api/align: {"text", "reference", "model", "gold"?} -> the attention of the model
    forced on the reference and, with gold links, the sentence's AER (attention argmax per
    target word, subword weights merged into words) and the gold cells in token coordinates."""
    model = _model(request, models)
    src_tokens = _text(request, "text", model, "source")
    trg_tokens = _text(request, "reference", model, "target")
    src_words, trg_words = word_index(src_tokens), word_index(trg_tokens)
    gold = _gold(request, src_words[-1] + 1, trg_words[-1] + 1)
    result = {
        "model": model.id,
        "source_tokens": src_tokens,
        "target_tokens": trg_tokens,
        **forced_attention(model, src_tokens, trg_tokens),
    }
    if gold is None:
        return result
    sure, possible = gold
    result["gold"] = [
        [t, s, "sure" if (src_words[s], trg_words[t]) in sure else "possible"]
        for t in range(len(trg_tokens))
        for s in range(len(src_tokens))
        if (src_words[s], trg_words[t]) in possible
    ]
    if result["attention"] is None:
        result["aer"] = None
        return result
    words = merge_subword_attention(torch.tensor(result["attention"]), src_tokens, trg_tokens)
    result["aer"] = aer([alignment_from_attention(words)], [gold])
    return result
