"""`model.kernels` (models/build.py): which classes each setting builds, the same parameters
under the same names, training with `reference` matching `fast`, and checkpoints written before
the setting existed translating as they did under both."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from attnlab.checkpoint import load_checkpoint
from attnlab.config import Config, ModelConfig, load_config
from attnlab.data.batching import Batch, collate
from attnlab.models.attention import AdditiveScore, MultiHeadAttention
from attnlab.models.build import build_model
from attnlab.models.fast.attention import FastAdditiveScore, FastMultiHeadAttention
from attnlab.models.fast.bahdanau_gru import FusedBahdanauDecoder
from attnlab.models.fast.gru import PackedGRUEncoder
from attnlab.models.fast.lstm import PackedLSTMEncoder
from attnlab.models.fast.luong_lstm import FusedLuongDecoder
from attnlab.models.fast.readout import (
    RealTokenBahdanauDecoder,
    RealTokenFixedDecoder,
    RealTokenLuongDecoder,
)
from attnlab.models.fast.transformer import RealTokenTransformer
from attnlab.models.seq2seq import BahdanauDecoder, FixedDecoder, LuongDecoder
from attnlab.train import run_training
from attnlab.translate import Translator
from tests.conftest import CliResult, assert_one_line_error, write_reverse_task
from tests.models.kernels import adam_losses, build_pair

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
V = 12
ARCHITECTURES: dict[str, dict[str, Any]] = {
    "gru-bahdanau": {"context": "bahdanau", "cell": "gru"},
    "gru-bahdanau-2-layers": {"context": "bahdanau", "cell": "gru", "num_layers": 2},
    "lstm-bahdanau": {"context": "bahdanau", "cell": "lstm"},
    "gru-luong-concat": {"context": "luong", "luong_score": "concat", "cell": "gru"},
    "elman-fixed": {"context": "fixed", "cell": "elman"},
    "lstm-fixed-feed-context": {"context": "fixed", "cell": "lstm", "feed_context": True},
    "lstm-luong-general-local-p": {
        "context": "luong",
        "luong_score": "general",
        "luong_mode": "local-p",
        "cell": "lstm",
    },
    "lstm-luong-general-global": {
        "context": "luong",
        "luong_score": "general",
        "luong_mode": "global",
        "input_feeding": True,
        "cell": "lstm",
    },
    "transformer": {"type": "transformer", "heads": 2, "ff_size": 16, "num_layers": 2},
    "transformer-post-ln": {"type": "transformer", "heads": 2, "ff_size": 16, "norm": "post"},
}


def _cfg(name: str, **extra: object) -> ModelConfig:
    sizes = {"embedding_size": 6, "hidden_size": 8, "attention_size": 5, "dropout": 0.0}
    return ModelConfig(**{**sizes, **ARCHITECTURES[name], **extra})


def _types(model: nn.Module) -> set[type]:
    return {type(module) for module in model.modules()}


FAST_CLASSES = {
    FastAdditiveScore,
    FastMultiHeadAttention,
    PackedGRUEncoder,
    PackedLSTMEncoder,
    FusedBahdanauDecoder,
    FusedLuongDecoder,
    RealTokenFixedDecoder,
    RealTokenBahdanauDecoder,
    RealTokenLuongDecoder,
    RealTokenTransformer,
}
REFERENCE_ONLY = {AdditiveScore, MultiHeadAttention, FixedDecoder, BahdanauDecoder, LuongDecoder}


@pytest.mark.parametrize("name", ARCHITECTURES)
def test_each_setting_builds_its_classes_with_the_same_parameter_names(name: str) -> None:
    reference, fast = build_pair(_cfg(name), V, V)  # checks the names and values
    assert not _types(reference) & FAST_CLASSES
    expected = {
        "gru-bahdanau": {PackedGRUEncoder, FusedBahdanauDecoder, FastAdditiveScore},
        "gru-bahdanau-2-layers": {PackedGRUEncoder, FastAdditiveScore, RealTokenBahdanauDecoder},
        "lstm-bahdanau": {PackedLSTMEncoder, FastAdditiveScore, RealTokenBahdanauDecoder},
        "gru-luong-concat": {PackedGRUEncoder, FastAdditiveScore, RealTokenLuongDecoder},
        "elman-fixed": {RealTokenFixedDecoder},
        "lstm-fixed-feed-context": {PackedLSTMEncoder, RealTokenFixedDecoder},
        "lstm-luong-general-local-p": {PackedLSTMEncoder, RealTokenLuongDecoder},
        "lstm-luong-general-global": {PackedLSTMEncoder, FusedLuongDecoder},
        "transformer": {RealTokenTransformer, FastMultiHeadAttention},
        "transformer-post-ln": {RealTokenTransformer, FastMultiHeadAttention},
    }[name]
    assert _types(fast) & FAST_CLASSES == expected
    assert not _types(fast) & REFERENCE_ONLY  # no reference part left


def _batch() -> Batch:
    """Sources and targets of mixed lengths: padding on both sides."""
    pairs = [([4, 5, 6, 7, 8], [8, 7, 6]), ([9, 10], [10, 9, 4, 5, 11]), ([11, 4, 6], [6, 4])]
    return collate(pairs)


@pytest.mark.usefixtures("float64_one_thread")
@pytest.mark.parametrize(
    "name",
    [
        "gru-bahdanau",
        "gru-luong-concat",
        "lstm-fixed-feed-context",
        "lstm-luong-general-global",
        "transformer",
    ],
)
def test_training_with_reference_kernels_matches_fast(name: str) -> None:
    """Eight Adam steps (dropout 0): the same losses and the same weights to float64
    rounding."""
    reference, fast = build_pair(_cfg(name), V, V)
    batch = _batch()
    reference_losses, fast_losses = adam_losses(reference, batch, 8), adam_losses(fast, batch, 8)
    assert reference_losses[-1] < reference_losses[0]  # it did learn
    assert reference_losses == pytest.approx(fast_losses, rel=1e-10)
    fast_weights = fast.state_dict()
    for key, value in reference.state_dict().items():
        torch.testing.assert_close(value, fast_weights[key], rtol=1e-8, atol=1e-10)


# What the Transformer fixture (tests/fixtures/README.md) gives with beam 2 and 2-best; pinned
# when it was written, before `model.kernels` existed.
TRANSFORMER_TRANSLATIONS = [
    (
        "w1 w2 w3",
        [("w3" + " w1" * 13, -4.0062127113342285), ("w1 w3" + " w1" * 12, -4.066904067993164)],
    ),
    ("w0 w5", [("", -1.2991036176681519), ("w0", -1.4282951354980469)]),
    ("w4", [("", -1.2623435258865356), ("w4", -1.350374460220337)]),
]
GRU_TRANSLATIONS = [  # the same for the GRU fixture, as tests/test_checkpoint.py pins them
    ("w1 w2 w3", [(" ".join(["<unk>"] * 14), -8.633200645446777)]),
    ("w0 w5", [("w1", -3.561553955078125)]),
    ("w4", [("w1 w0 " + " ".join(["<unk>"] * 9), -8.346006393432617)]),
]


@pytest.mark.parametrize("kernels", ["reference", "fast"])
@pytest.mark.parametrize(
    ("fixture", "expected"),
    [
        ("checkpoint-v2.pt", GRU_TRANSLATIONS),
        ("checkpoint-transformer.pt", TRANSFORMER_TRANSLATIONS),
    ],
    ids=["gru-bahdanau", "transformer"],
)
def test_checkpoints_written_before_the_setting_translate_as_they_did(
    fixture: str, expected: list[tuple[str, list[tuple[str, float]]]], kernels: str
) -> None:
    path = FIXTURES / fixture
    checkpoint = load_checkpoint(path)
    assert "kernels" not in checkpoint["config"]["model"]  # written before the setting
    translator = Translator.from_checkpoint(path, "cpu")
    config = Config.model_validate(checkpoint["config"])
    model = build_model(
        config.model.model_copy(update={"kernels": kernels}),
        len(translator.src_vocab),
        len(translator.trg_vocab),
    )
    model.load_state_dict(checkpoint["model"])  # strict: every name as it was
    translator = translator.with_model(model.eval())
    lines = [line for line, _ in expected]
    n_best = len(expected[0][1])
    for t, (_, nbest) in zip(
        translator.translate(lines, beam_size=2, n_best=n_best), expected, strict=True
    ):
        assert [text for text, _ in t.nbest] == [text for text, _ in nbest]
        assert [score for _, score in t.nbest] == pytest.approx([s for _, s in nbest], abs=1e-5)


def test_the_setting_is_validated_like_every_other(cli: Callable[..., CliResult]) -> None:
    assert ModelConfig().kernels == "fast"
    config = Path(__file__).resolve().parents[2] / "configs" / "gru-bahdanau.yaml"
    result = cli("config", "check", config, "--set", "model.kernels=slow")
    assert_one_line_error(result, "model.kernels", "reference")


@pytest.mark.slow
@pytest.mark.parametrize(
    "model",
    [
        ["model.context=bahdanau", "model.cell=gru"],
        ["model.context=luong", "model.cell=lstm", "model.luong_score=general"],
        ["model.type=transformer"],
    ],
)
def test_attnlab_train_with_reference_kernels_matches_fast(
    tmp_path: Path, model: list[str]
) -> None:
    """The trainer end to end (float32, dropout 0): the same logged losses and final weights to
    float32 rounding after 20 steps."""
    data = write_reverse_task(tmp_path / "data", n_train=60, n_eval=5, vocab=8, max_len=6)
    config = tmp_path / "tiny.yaml"
    config.write_text(f"data:\n  dir: {data}\n", encoding="utf-8")
    settings = [
        *model,
        *("model.embedding_size=16", "model.hidden_size=16", "model.heads=2", "model.ff_size=32"),
        *("model.dropout=0.0", "training.max_steps=20", "training.eval_every=20"),
        *("training.log_every=5", "training.batch_tokens=60", "training.eval_bleu=false"),
        *("training.num_threads=1", "training.device=cpu"),
    ]
    runs = {}
    for kernels in ("reference", "fast"):
        out = tmp_path / kernels
        run_training(load_config(config, [*settings, f"model.kernels={kernels}"]), out)
        lines = (out / "log.jsonl").read_text().splitlines()
        losses = [entry["loss"] for entry in map(json.loads, lines) if entry["kind"] == "train"]
        runs[kernels] = (losses, load_checkpoint(out / "last.pt")["model"])
    (reference_losses, reference_weights), (fast_losses, fast_weights) = runs.values()
    assert len(reference_losses) == 4
    assert reference_losses == pytest.approx(fast_losses, rel=1e-4)
    for name, value in reference_weights.items():
        theirs = fast_weights[name]
        # b^K (the first half of kv_proj.bias) adds one constant to every score of a query, which
        # softmax ignores: its gradient is rounding noise, and Adam scales noise to steps of lr
        if name.endswith("kv_proj.bias"):
            value, theirs = value.chunk(2)[1], theirs.chunk(2)[1]  # b^V only
        torch.testing.assert_close(value, theirs, rtol=1e-3, atol=1e-4)
