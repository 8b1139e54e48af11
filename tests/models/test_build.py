"""build_model assembles the parts a config names; parameter counts by hand; the shipped
recurrent configs validate and build; `attnlab model summary` end to end."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from torch import nn

from attnlab.config import ModelConfig, load_config
from attnlab.errors import UserError
from attnlab.models.attention import (
    AdditiveScore,
    DotScore,
    GeneralScore,
    GlobalAttention,
    LocalAttention,
    MonotonicPosition,
    PredictivePosition,
)
from attnlab.models.build import build_model, describe_model
from attnlab.models.seq2seq import BahdanauDecoder, FixedDecoder, LuongDecoder, RNNSeq2Seq
from tests.conftest import CliResult, assert_one_line_error

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
RNN_CONFIGS = [
    "elman-fixed",
    "gru-fixed",
    "lstm-fixed",
    "lstm-fixed-reversed",
    "gru-bahdanau",
    "lstm-luong-dot",
    "lstm-luong-general-local-p",
]


def _gru_params(input_size: int, hidden: int) -> int:
    return 3 * (hidden * input_size + hidden * hidden + 2 * hidden)


def test_fixed_gru_parameter_count_by_hand() -> None:
    cfg = ModelConfig(
        cell="gru",
        context="fixed",
        embedding_size=4,
        hidden_size=6,
        bidirectional=False,
        feed_context=False,
    )
    model = build_model(cfg, 10, 11)
    expected = sum(
        [
            10 * 4 + _gru_params(4, 6),  # encoder: embedding, GRU
            11 * 4 + _gru_params(4, 6),  # decoder: embedding, GRU
            6 * 6 + 6,  # bridge W_s c
            6 * 11 + 11,  # output layer W_o s_i
        ]
    )
    assert sum(p.numel() for p in model.parameters()) == expected


def test_bahdanau_bidirectional_parameter_count_by_hand() -> None:
    cfg = ModelConfig(
        cell="gru",
        context="bahdanau",
        embedding_size=4,
        hidden_size=6,
        bidirectional=True,
        attention_size=5,
    )
    model = build_model(cfg, 10, 11)
    expected = sum(
        [
            10 * 4 + 2 * _gru_params(4, 6),  # encoder, two directions: h_j has size 12
            11 * 4 + _gru_params(4 + 12, 6),  # decoder input [y; c]
            12 * 6 + 6,  # bridge from both directions' finals
            6 * 5 + 12 * 5 + 5 + 5,  # W_a, U_a (with bias), v_a
            (6 + 12 + 4) * 11 + 11,  # output from [s; c; y]
        ]
    )
    assert sum(p.numel() for p in model.parameters()) == expected


def test_build_model_assembles_the_named_parts() -> None:
    fixed = build_model(ModelConfig(context="fixed", cell="lstm"), 9, 9)
    assert isinstance(fixed, RNNSeq2Seq) and isinstance(fixed.decoder, FixedDecoder)
    assert isinstance(fixed.encoder.rnn, nn.LSTM) and isinstance(fixed.decoder.rnn, nn.LSTM)
    bahdanau = build_model(ModelConfig(context="bahdanau", cell="elman"), 9, 9)
    assert isinstance(bahdanau.decoder, BahdanauDecoder)
    assert isinstance(bahdanau.decoder.attention, GlobalAttention)
    assert isinstance(bahdanau.decoder.attention.score, AdditiveScore)
    assert isinstance(bahdanau.encoder.rnn, nn.RNN)
    cases = [
        ("dot", "global", GlobalAttention, DotScore, None),
        ("general", "local-m", LocalAttention, GeneralScore, MonotonicPosition),
        ("concat", "local-p", LocalAttention, AdditiveScore, PredictivePosition),
    ]
    for score, mode, attention_type, score_type, position_type in cases:
        cfg = ModelConfig(
            context="luong", luong_score=score, luong_mode=mode, bidirectional=False, luong_window=3
        )
        decoder = build_model(cfg, 9, 9).decoder
        assert isinstance(decoder, LuongDecoder)
        assert isinstance(decoder.attention, attention_type)
        assert isinstance(decoder.attention.score, score_type)
        if isinstance(decoder.attention, LocalAttention):
            assert isinstance(decoder.attention.position, position_type)
            assert decoder.attention.window == 3
            assert decoder.attention.gaussian == (mode == "local-p")


def test_dot_score_with_a_bidirectional_encoder_is_a_user_error() -> None:
    cfg = ModelConfig(context="luong", luong_score="dot", bidirectional=True)
    with pytest.raises(UserError) as info:
        build_model(cfg, 9, 9)
    assert info.value.where == "model.luong_score" and "bidirectional" in info.value.what


def test_describe_model_lists_parts_and_the_total() -> None:
    model = build_model(ModelConfig(context="bahdanau", embedding_size=4, hidden_size=6), 10, 11)
    text = describe_model(model)
    for part in ["encoder.embedding", "encoder.rnn", "decoder.attention", "decoder.output"]:
        assert part in text
    total = sum(p.numel() for p in model.parameters())
    assert text.splitlines()[-1].split() == ["total", f"{total:,}"]
    bridge = sum(p.numel() for p in model.decoder.bridge.parameters())
    assert any(
        line.startswith("decoder.bridge") and line.endswith(f"{bridge:,}")
        for line in text.splitlines()
    )


@pytest.mark.parametrize("name", RNN_CONFIGS)
def test_shipped_configs_validate_and_build(name: str) -> None:
    cfg = load_config(CONFIGS / f"{name}.yaml")
    assert cfg.data.dir == Path("data/reverse") and cfg.model.type == "rnn"
    model = build_model(cfg.model, 104, 104)
    src = torch.tensor([[4, 5, 6]])
    logits, _, _ = model.step(model.encode(src, src > 0), None, torch.tensor([2]))
    assert logits.shape == (1, 104)


def test_model_summary_cli(cli: Callable[..., CliResult], tmp_path: Path) -> None:
    data = tmp_path / "rev"
    made = cli(
        "data",
        "make",
        "reverse",
        "--out",
        data,
        "--n-train",
        "30",
        "--n-dev",
        "3",
        "--n-test",
        "3",
        "--max-len",
        "8",
    )
    assert made.code == 0, made.err
    config = CONFIGS / "gru-bahdanau.yaml"
    result = cli("model", "summary", config, "--set", f"data.dir={data}")
    assert result.code == 0, result.err
    assert "decoder.attention" in result.out and "total" in result.out
    bad = cli(
        "model",
        "summary",
        config,
        "--set",
        f"data.dir={data}",
        "--set",
        "model.context=luong",
        "--set",
        "model.luong_score=dot",
    )
    assert_one_line_error(bad, "model.luong_score", "bidirectional")
