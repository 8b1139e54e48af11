"""Every recurrent model variant: padding invariance, step-by-step decoding equals the teacher-
forced forward, gradients reach every parameter, beam reordering of the state, one memory row
for several hypotheses, and overfitting
20 sentence pairs (one fast representative; the rest marked slow)."""

from __future__ import annotations

from typing import Any

import pytest
import torch
import torch.nn.functional as F

from attnlab.config import ModelConfig
from attnlab.data.batching import Batch
from attnlab.data.vocab import BOS_ID, EOS_ID, PAD_ID
from attnlab.models.build import build_model
from attnlab.models.fast.bahdanau_gru import FusedBahdanauDecoder
from attnlab.models.interface import select_batch
from attnlab.models.seq2seq import RNNSeq2Seq
from tests.models.beam_rows import assert_steps_as_the_memory_repeated
from tests.models.kernels import adam_losses

V = 13
CELLS = ["elman", "gru", "lstm"]


def _decoder_variants() -> list[dict[str, Any]]:
    """Every decoder (fixed +- feed_context, Bahdanau, Luong score x mode x input feeding),
    cycling through cells, directions, source reversal and depth."""
    decoders: list[dict[str, Any]] = [
        {"context": "fixed", "feed_context": False},
        {"context": "fixed", "feed_context": True},
        {"context": "bahdanau"},
    ]
    decoders += [
        {"context": "luong", "luong_score": score, "luong_mode": mode, "input_feeding": feeding}
        for score in ["dot", "general", "concat"]
        for mode in ["global", "local-m", "local-p"]
        for feeding in [False, True]
    ]
    for i, variant in enumerate(decoders):
        variant["cell"] = CELLS[i % 3]
        variant["bidirectional"] = i % 2 == 0 and variant.get("luong_score") != "dot"
        variant["reverse_source"] = i % 4 >= 2
        variant["num_layers"] = 2 if i % 5 == 0 else 1
    gru_bahdanau = {
        "context": "bahdanau",
        "cell": "gru",
        "bidirectional": True,
        "reverse_source": True,
        "num_layers": 1,
    }
    decoders.append(gru_bahdanau)  # models/fast: the written-out encoder and decoder loops
    decoders.append({**gru_bahdanau, "kernels": "reference"})  # the same, readable
    decoders.append(
        {"context": "luong", "luong_score": "concat", "cell": "gru", "kernels": "reference"}
    )
    decoders.append(  # readable; fast: the output layer on the real positions only
        {"context": "fixed", "feed_context": True, "cell": "lstm", "kernels": "reference"}
    )
    lstm_luong = {
        "context": "luong",
        "luong_score": "general",
        "luong_mode": "global",
        "input_feeding": True,
        "cell": "lstm",
        "bidirectional": True,
        "num_layers": 1,
    }
    decoders.append(lstm_luong)  # models/fast: the written-out decoder loop
    decoders.append(
        {**lstm_luong, "luong_score": "dot", "bidirectional": False, "reverse_source": True}
    )
    return decoders


def _encoder_variants() -> list[dict[str, Any]]:
    """Every cell x direction x reversal, behind a Luong local-p decoder with input feeding."""
    return [
        {
            "context": "luong",
            "luong_mode": "local-p",
            "cell": cell,
            "bidirectional": bi,
            "reverse_source": rev,
            "elman_activation": "relu" if rev else "tanh",
        }
        for cell in CELLS
        for bi in [False, True]
        for rev in [False, True]
    ]


VARIANTS = _decoder_variants() + _encoder_variants()


def _name(variant: dict[str, Any]) -> str:
    return "-".join(f"{k}={v}" for k, v in variant.items())


pytestmark = pytest.mark.usefixtures("float64_one_thread")


def make_model(variant: dict[str, Any], size: int = 8, seed: int = 0) -> RNNSeq2Seq:
    torch.manual_seed(seed)
    cfg = ModelConfig(
        type="rnn",
        embedding_size=size - 2,
        hidden_size=size,
        dropout=0.0,
        luong_window=2,
        attention_size=size - 3,
        **variant,
    )
    model = build_model(cfg, V, V)
    assert isinstance(model, RNNSeq2Seq)
    return model.eval()


def make_batch(sources: list[list[int]], targets: list[list[int]]) -> Batch:
    """Pad sources and targets; trg_in = <s> y, trg_out = y </s>."""
    s_max, t_max = max(map(len, sources)), max(map(len, targets)) + 1
    src = torch.tensor([s + [PAD_ID] * (s_max - len(s)) for s in sources])
    trg_in = torch.tensor([[BOS_ID, *t] + [PAD_ID] * (t_max - len(t) - 1) for t in targets])
    trg_out = torch.tensor([[*t, EOS_ID] + [PAD_ID] * (t_max - len(t) - 1) for t in targets])
    return Batch(src, src != PAD_ID, trg_in, trg_out, trg_out != PAD_ID)


SOURCES = [[4, 5, 6, 7], [8, 9, 10, 11, 12, 4], [6, 5]]
TARGETS = [[7, 6, 5, 4, 9], [12, 11, 10], [5, 6, 7, 8]]  # the last target outgrows its source


@pytest.mark.parametrize("variant", VARIANTS, ids=_name)
def test_padding_never_changes_logits_or_attention(variant: dict[str, Any]) -> None:
    model = make_model(variant)
    logits, attention = model(make_batch(SOURCES, TARGETS))
    assert logits.shape == (3, 6, V)
    if variant["context"] == "fixed":
        assert attention is None
    else:
        assert attention is not None and attention.shape == (3, 6, 6)
    for b, (src, trg) in enumerate(zip(SOURCES, TARGETS, strict=True)):
        alone_logits, alone_attention = model(make_batch([src], [trg]))
        n_s, n_t = len(src), len(trg) + 1
        assert torch.allclose(alone_logits[0], logits[b, :n_t], atol=1e-5)
        if attention is not None and alone_attention is not None:
            assert torch.allclose(alone_attention[0], attention[b, :n_t, :n_s], atol=1e-5)
            assert torch.all(attention[b, :, n_s:] == 0)
            assert torch.allclose(attention[b, :n_t].sum(-1), torch.ones(n_t))


@pytest.mark.parametrize("variant", VARIANTS, ids=_name)
def test_step_by_step_equals_teacher_forced_forward(variant: dict[str, Any]) -> None:
    """At the real target positions (the interface leaves the padding's logits unspecified)."""
    model = make_model(variant)
    batch = make_batch(SOURCES, TARGETS)
    logits, attention = model(batch)
    memory, state = model.encode(batch.src, batch.src_mask), None
    for i in range(batch.trg_in.size(1)):
        step_logits, state, step_attention = model.step(memory, state, batch.trg_in[:, i])
        real = batch.trg_mask[:, i]  # (B,)
        assert torch.allclose(step_logits[real], logits[real, i], atol=1e-10)
        if attention is None:
            assert step_attention is None
        else:
            assert step_attention is not None
            assert torch.allclose(step_attention[real], attention[real, i], atol=1e-10)


@pytest.mark.parametrize("variant", VARIANTS, ids=_name)
def test_gradients_reach_every_parameter(variant: dict[str, Any]) -> None:
    model = make_model(variant)
    batch = make_batch(SOURCES, TARGETS)
    logits, _ = model(batch)
    F.cross_entropy(logits[batch.trg_mask], batch.trg_out[batch.trg_mask]).backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_select_batch_reorders_memory_and_state_for_beams() -> None:
    variant = {"context": "luong", "cell": "lstm", "input_feeding": True, "luong_mode": "local-m"}
    model = make_model(variant)
    batch = make_batch(SOURCES, TARGETS)
    memory = model.encode(batch.src, batch.src_mask)
    _, state, _ = model.step(memory, None, batch.trg_in[:, 0])
    index = torch.tensor([2, 2, 0])
    logits, _, attention = model.step(
        select_batch(memory, index), select_batch(state, index), batch.trg_in[index, 1]
    )
    expected, _, expected_attention = model.step(memory, state, batch.trg_in[:, 1])
    assert torch.allclose(logits, expected[index], atol=1e-12)
    assert attention is not None and expected_attention is not None
    assert torch.allclose(attention, expected_attention[index], atol=1e-12)


@pytest.mark.parametrize("variant", VARIANTS, ids=_name)
def test_one_memory_row_for_k_hypotheses_steps_as_the_memory_repeated(
    variant: dict[str, Any],
) -> None:
    model = make_model(variant)
    fused = isinstance(model.decoder, FusedBahdanauDecoder)  # its loop: a memory row a state row
    assert model.memory_per_sentence == (variant["context"] != "fixed" and not fused)
    if not model.memory_per_sentence:
        return
    batch = make_batch(SOURCES, TARGETS)
    memory = model.encode(batch.src, batch.src_mask)
    assert_steps_as_the_memory_repeated(model, memory, 3, 3, V, atol=1e-12)


def reverse_pairs(n: int = 20, seed: int = 0) -> tuple[list[list[int]], list[list[int]]]:
    generator = torch.Generator().manual_seed(seed)
    sources = [
        torch.randint(
            4, V, (int(torch.randint(3, 7, (1,), generator=generator)),), generator=generator
        ).tolist()
        for _ in range(n)
    ]
    return sources, [s[::-1] for s in sources]


def overfit(variant: dict[str, Any], steps: int) -> float:
    """Final training loss on 20 reversal pairs, trained as one full batch with Adam."""
    torch.set_default_dtype(torch.float32)  # training speed; the fixture restores float64 later
    model = make_model(variant, size=32).train()
    batch = make_batch(*reverse_pairs())
    return adam_losses(model, batch, steps)[-1]


def test_bahdanau_gru_overfits_twenty_pairs() -> None:
    assert overfit({"context": "bahdanau", "cell": "gru"}, steps=150) < 0.05


SLOW_VARIANTS = [
    {"context": "fixed", "cell": "lstm", "reverse_source": True},
    {"context": "fixed", "cell": "gru", "feed_context": True},
    {"context": "fixed", "cell": "elman", "bidirectional": False},
    {"context": "bahdanau", "cell": "lstm"},
    {"context": "luong", "luong_score": "dot", "bidirectional": False, "cell": "lstm"},
    {"context": "luong", "luong_score": "general", "luong_mode": "local-p", "cell": "gru"},
    {"context": "luong", "luong_score": "concat", "luong_mode": "local-m", "input_feeding": False},
]


@pytest.mark.slow
@pytest.mark.parametrize("variant", SLOW_VARIANTS, ids=_name)
def test_every_kind_of_model_overfits_twenty_pairs(variant: dict[str, Any]) -> None:
    assert overfit(variant, steps=400) < 0.05


def test_an_lstm_decoder_starts_from_the_encoders_state_and_memory_cell() -> None:
    """s_0 = tanh(W_s h_T), m_0 = W_m c_T (Sutskever et al. hand on the whole LSTM state)."""
    cfg = ModelConfig(
        type="rnn",
        cell="lstm",
        context="fixed",
        bidirectional=True,
        embedding_size=6,
        hidden_size=5,
        num_layers=2,
        dropout=0.0,
    )
    model = build_model(cfg, V, V).eval()
    src = torch.tensor([[4, 5, 6, 7], [8, 9, 0, 0]])
    memory = model.encode(src, src != PAD_ID)
    state = model.decoder.start(memory)
    bridge = model.decoder.bridge
    h_t, c_t = memory.final, memory.final_cell  # (B, 2 directions x 5)
    assert c_t is not None and c_t.shape == (2, 10) and not torch.allclose(c_t, h_t)
    expected_h = torch.tanh(h_t @ bridge.w_s.weight.T + bridge.w_s.bias).view(2, 2, 5)
    expected_cell = (c_t @ bridge.w_m.weight.T + bridge.w_m.bias).view(2, 2, 5)
    torch.testing.assert_close(state.h, expected_h)
    torch.testing.assert_close(state.cell, expected_cell)
    # the cell changes what the decoder predicts: it is not a dead branch
    logits, _, _ = model.decoder(memory, state, src[:, :1])
    zeroed = state._replace(cell=torch.zeros_like(state.cell))
    assert not torch.allclose(model.decoder(memory, zeroed, src[:, :1])[0], logits)
