"""Typed configuration: one pydantic schema for data, model, training and decoding.

YAML goes in; every mistake comes out as one line naming the file and the dotted key, e.g.
`configs/x.yaml: model.hidden_size: must be > 0 (got -3)`. Unknown keys are rejected with a
"did you mean" suggestion. `--set key.path=value` overrides are parsed as YAML scalars and
validated by the same schema.
"""

from __future__ import annotations

import difflib
import reprlib
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from attnlab.data.corpus import read_bytes
from attnlab.errors import UserError


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class DataConfig(_Section):
    """Where the parallel text is and how it becomes token ids.

    Either `dir` (holding {train,dev,test}.{src,trg}) or explicit `train`/`dev`/`test` prefixes.
    Relative paths are relative to the working directory, as on the command line.
    """

    dir: Path | None = None
    train: Path | None = None
    dev: Path | None = None
    test: Path | None = None
    tokenizer: Literal["word", "sentencepiece"] = "word"
    lowercase: bool = False
    sp_model_type: Literal["unigram", "bpe"] = "unigram"
    sp_vocab_size: int = Field(default=8000, gt=0)
    min_freq: int = Field(default=1, ge=1)
    max_vocab: int | None = Field(default=None, gt=0)
    max_len: int = Field(
        default=100, gt=0, description="training pairs longer than this are dropped"
    )
    joint_vocab: bool = Field(
        default=False,
        description="one tokenizer and one vocabulary for both sides, fitted on the source and "
        "target training text together (with model.tie_embeddings: three-way tying)",
    )

    @model_validator(mode="after")
    def _one_source(self) -> DataConfig:
        if self.dir is not None and self.train is not None:
            raise ValueError("give either data.dir or data.train/dev/test, not both")
        return self

    def prefix(self, split: Literal["train", "dev", "test"]) -> Path | None:
        """PREFIX such that PREFIX.src and PREFIX.trg hold `split`, or None if not configured."""
        if self.dir is not None:
            return self.dir / split
        return getattr(self, split)


class ModelConfig(_Section):
    """Architecture. `type` and `context` are the switch between the models of the lab.

    For the Transformer `hidden_size` is d_model, `num_layers` the depth of each stack and
    `embedding_size` is unused (embeddings have size d_model).
    """

    type: Literal["rnn", "transformer"] = "rnn"
    # recurrent models
    cell: Literal["elman", "gru", "lstm"] = "gru"
    elman_activation: Literal["tanh", "relu"] = "tanh"
    embedding_size: int = Field(default=64, gt=0)
    hidden_size: int = Field(default=128, gt=0)
    num_layers: int = Field(default=1, gt=0)
    bidirectional: bool = True
    dropout: float = Field(default=0.1, ge=0.0, lt=1.0)
    embedding_dropout: float | None = Field(
        default=None, ge=0.0, lt=1.0, description="dropout on embeddings; None: model.dropout"
    )
    word_dropout: float = Field(
        default=0.0,
        ge=0.0,
        lt=1.0,
        description="training only: each source and target input token is replaced by <unk> "
        "with this probability (Sennrich & Zhang 2019)",
    )
    reverse_source: bool = False
    context: Literal["fixed", "bahdanau", "luong"] = "bahdanau"
    feed_context: bool = Field(
        default=False, description="fixed context: feed c at every step (Cho)"
    )
    attention_size: int | None = Field(
        default=None, gt=0, description="Bahdanau: size of W s + U h"
    )
    luong_score: Literal["dot", "general", "concat"] = "general"
    luong_mode: Literal["global", "local-m", "local-p"] = "global"
    luong_window: int = Field(default=10, gt=0, description="local attention half-width D")
    input_feeding: bool = True
    # transformer
    heads: int = Field(default=4, gt=0)
    ff_size: int = Field(default=512, gt=0)
    positional: Literal["sinusoidal", "learned"] = "sinusoidal"
    norm: Literal["pre", "post"] = "pre"
    tie_embeddings: bool = Field(
        default=False,
        description="the output layer's weights are the target embeddings (Press & Wolf 2017); "
        "an RNN decoder reads out through tanh(W_t x) of the embedding size first",
    )
    max_positions: int = Field(default=1024, gt=0)
    output_bias: Literal["unigram", "default"] = Field(
        default="unigram",
        description="unigram: the output layer's bias starts at log p(y), the add-one smoothed "
        "frequencies of the training target tokens (</s> included), so that the first updates "
        "need not learn the word frequencies through the layers below; default: PyTorch's "
        "initialisation",
    )
    kernels: Literal["reference", "fast"] = Field(
        default="fast",
        description="reference: the readable implementation of the equations (models/); fast: "
        "the tested speed twins (models/fast/), the same numbers up to rounding and the same "
        "parameters, with other dropout draws",
    )

    @model_validator(mode="after")
    def _consistent(self) -> ModelConfig:
        if self.type == "transformer" and self.hidden_size % self.heads:
            raise ValueError(
                f"model.hidden_size ({self.hidden_size}) must be divisible by "
                f"model.heads ({self.heads})"
            )
        return self


class TrainingConfig(_Section):
    seed: int = 42
    max_steps: int = Field(default=1000, gt=0)
    max_minutes: float | None = Field(
        default=None,
        gt=0,
        description="wall-clock budget of the run (training and validation, summed over "
        "resumes); checked every log_every steps, stops as max_steps does",
    )
    batch_tokens: int = Field(default=4096, gt=0, description="target tokens per batch")
    batching: Literal["length", "random"] = Field(
        default="length",
        description="length: each batch holds sentences of one length (least padding); "
        "random: sentences in random order (mixed lengths, more padding; the GRU fast paths "
        "and the Transformer outside attention skip it)",
    )
    accumulate: int = Field(
        default=1,
        gt=0,
        description="batches per update: their gradients are summed and normalised by their "
        "target tokens, so an update equals one batch of all of them (larger batches than "
        "memory holds)",
    )
    optimizer: Literal["adam", "adamw"] = "adam"
    lr: float = Field(default=1e-3, gt=0)
    weight_decay: float = Field(default=0.0, ge=0)
    schedule: Literal["constant", "plateau", "noam", "cosine"] = "constant"
    warmup_steps: int = Field(default=0, ge=0)
    plateau_factor: float = Field(default=0.5, gt=0, lt=1)
    plateau_patience: int = Field(default=2, ge=0)
    min_lr: float = Field(default=0.0, ge=0)
    clip_norm: float | None = Field(default=1.0, gt=0)
    label_smoothing: float = Field(default=0.0, ge=0, lt=1)
    eval_every: int = Field(default=200, gt=0)
    eval_bleu: bool = True
    early_stopping_patience: int | None = Field(default=None, gt=0)
    early_stopping_metric: Literal["bleu", "loss"] = "bleu"
    keep_last: int = Field(default=3, gt=0)
    average_last: int | None = Field(
        default=None,
        gt=1,
        description="at the end, average the last k checkpoints into averaged.pt; it becomes "
        "best.pt if it scores better on dev (needs keep_last >= k)",
    )
    log_every: int = Field(default=20, gt=0)
    device: Literal["auto", "cpu", "cuda"] = "auto"
    amp: Literal["none", "bf16", "fp16"] = "none"
    num_threads: int | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _keeps_what_it_averages(self) -> TrainingConfig:
        if self.average_last is not None and self.average_last > self.keep_last:
            raise ValueError(
                f"training.average_last ({self.average_last}) must be <= training.keep_last "
                f"({self.keep_last}): only the kept checkpoints can be averaged"
            )
        return self


Stopping = Literal["heuristic", "exact"]  # beam search's stopping rules (attnlab.search)


class DecodingConfig(_Section):
    beam_size: int = Field(default=5, gt=0)
    n_best: int = Field(
        default=1,
        gt=0,
        description="hypotheses per sentence that translation returns when not told (at most "
        "the beam size: greedy decoding, as the trainer's dev BLEU, gives one)",
    )
    length_penalty: float = Field(
        default=1.0, ge=0, allow_inf_nan=False, description="GNMT alpha; 0 disables"
    )
    stopping: Stopping = Field(
        default="heuristic",
        description="when beam search stops a sentence (search.py): heuristic bounds the best "
        "open hypothesis with the length penalty of its current length, exact with that of the "
        "length limit; the same for length_penalty 0",
    )
    max_len_ratio: float = Field(default=1.5, gt=0)
    max_len_offset: int = Field(default=10, ge=0)
    batch_size: int = Field(default=64, gt=0, description="sentences per decoding batch")

    @model_validator(mode="after")
    def _n_best_fits(self) -> DecodingConfig:
        if self.n_best > self.beam_size:
            raise ValueError(
                f"decoding.n_best ({self.n_best}) must be <= decoding.beam_size ({self.beam_size})"
            )
        return self


class Config(_Section):
    data: DataConfig = Field(default_factory=DataConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    training: TrainingConfig = Field(default_factory=TrainingConfig)
    decoding: DecodingConfig = Field(default_factory=DecodingConfig)

    @model_validator(mode="before")
    @classmethod
    def _drop_lab_section(cls, raw: Any) -> Any:
        """Configs and checkpoints written before have a `lab:` section (budget, seeds) that
        nothing read (`attnlab lab --budget` sets the budget): accepted, and dropped."""
        if isinstance(raw, dict) and "lab" in raw:
            return {key: value for key, value in raw.items() if key != "lab"}
        return raw

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False)


# ---------------------------------------------------------------------------------------------
# Loading, overrides and error messages


def _field_names(loc: tuple[Any, ...]) -> list[str]:
    """Names of the fields valid at the parent of `loc` in the Config schema."""
    model: Any = Config
    for part in loc[:-1]:
        field = model.model_fields.get(part) if isinstance(part, str) else None
        if field is None or not isinstance(field.annotation, type):
            return []
        model = field.annotation
    if isinstance(model, type) and issubclass(model, BaseModel):
        return list(model.model_fields)
    return []


def _describe(error: dict[str, Any]) -> str:
    """One error of a pydantic ValidationError, as `dotted.key: what (got X)`."""
    loc = tuple(p for p in error["loc"] if isinstance(p, str | int))
    key = ".".join(str(p) for p in loc) or "config"
    kind, ctx, got = error["type"], error.get("ctx") or {}, error.get("input")
    if kind == "extra_forbidden":
        close = difflib.get_close_matches(str(loc[-1]), _field_names(loc), n=1)
        hint = f"; did you mean '{'.'.join([*map(str, loc[:-1]), close[0]])}'?" if close else ""
        return f"{key}: unknown key{hint}"
    bounds = {
        "greater_than": ">",
        "greater_than_equal": ">=",
        "less_than": "<",
        "less_than_equal": "<=",
    }
    if kind in bounds:
        return f"{key}: must be {bounds[kind]} {next(iter(ctx.values()))} (got {_short(got)})"
    if kind == "literal_error":
        return f"{key}: must be one of {ctx.get('expected')} (got {_short(got)})"
    if kind == "value_error":
        return str(ctx.get("error", error["msg"]))
    return f"{key}: {error['msg'][0].lower()}{error['msg'][1:]} (got {_short(got)})"


def _short(value: Any) -> str:
    """repr(value) cut to a few items and characters (a value may be a YAML alias bomb)."""
    short = reprlib.Repr()
    short.maxlevel, short.maxlist, short.maxdict, short.maxstring, short.maxother = 2, 4, 4, 40, 40
    return short.repr(value)


def validate(raw: dict[str, Any], where: str) -> Config:
    """Validate a raw dict against the schema; the first problem becomes a one-line UserError."""
    if not isinstance(raw, dict):
        raise UserError(where, "a config must be a mapping of sections (data, model, ...)")
    try:
        return Config.model_validate(raw)
    except ValidationError as exc:
        raise UserError(where, _describe(exc.errors()[0])) from None


def saved_config(raw: dict[str, Any], where: str) -> Config:
    """The config saved with a run (in its checkpoints), through today's schema: a field added
    since the run started reads as its default, but a missing `model.output_bias` as "default",
    since such a run started from PyTorch's output bias."""
    model = raw.get("model") if isinstance(raw, dict) else None
    if isinstance(model, dict) and "output_bias" not in model:
        raw = {**raw, "model": {**model, "output_bias": "default"}}
    return validate(raw, f"{where} (the config saved with the run)")


def architecture(config: Config) -> dict[str, Any]:
    """The data and model settings that a run's weights depend on, which a resumed run and
    averaged checkpoints must share: all but `model.output_bias`, which only sets the first
    weights."""
    settings = config.model_dump(mode="json", include={"data", "model"})
    del settings["model"]["output_bias"]
    return settings


MAX_CONFIG_BYTES = 1 << 20  # configs are a few KB; a bigger file is the wrong file


def read_yaml(path: Path) -> dict[str, Any]:
    """Parse a YAML mapping; errors name the file and line."""
    if path.is_file() and path.stat().st_size > MAX_CONFIG_BYTES:
        raise UserError(
            str(path),
            f"{path.stat().st_size:,} bytes; a config is a few KB (at most "
            f"{MAX_CONFIG_BYTES:,} bytes): the wrong file?",
        )
    try:
        text = read_bytes(path, expected="a YAML file").decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UserError(str(path), f"not valid UTF-8 (byte {exc.start})") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise UserError(f"{path}{line}", f"invalid YAML: {problem}") from None
    return {} if raw is None else raw


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply `key.path=value` overrides (values parsed as YAML scalars) to a raw config dict."""
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep or not key or any(not part for part in key.split(".")):
            raise UserError("--set", f"expected key.path=value (got {item!r})")
        node = raw
        *parents, leaf = key.split(".")
        for part in parents:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise UserError("--set", f"{key}: '{part}' is not a section")
            node = child
        try:
            node[leaf] = yaml.safe_load(value)
        except yaml.YAMLError:
            node[leaf] = value
    return raw


def empty_config_note(path: Path) -> str | None:
    """A note for `config check` when `path` sets nothing (empty, comments only or `{}`): the
    config is valid and every value is a default, but training needs data.dir at least."""
    if read_yaml(path):
        return None
    return (
        f"{path}: the file sets nothing; every value shown is a default "
        "(training needs data.dir or data.train/dev/test)"
    )


def load_config(path: Path | None, overrides: list[str] | None = None) -> Config:
    """Read, override and validate a config; `path=None` starts from the defaults."""
    raw = read_yaml(path) if path is not None else {}
    where = str(path) if path is not None else "--set"
    if not isinstance(raw, dict):
        raise UserError(where, "a config must be a mapping of sections (data, model, ...)")
    raw = apply_overrides(raw, overrides or [])
    return validate(raw, where)
