"""The Luong LSTM decoder loop with its written-out backward (models/fast/luong_lstm.py):
gradcheck, and FusedLuongDecoder against the reference LuongDecoder (logits, attention, the
state after the last position, every gradient)."""

from __future__ import annotations

import pytest
import torch

from attnlab.config import ModelConfig
from attnlab.data.vocab import BOS_ID
from attnlab.models.build import build_model
from attnlab.models.fast.luong_lstm import FusedLuongDecoder, LuongLSTMLoop
from attnlab.models.seq2seq import LuongDecoder
from tests.models.kernels import (
    LOOP_SOURCE_MASK,
    build_pair,
    loop_packing,
    outputs_and_gradients,
    padded_batch,
)

pytestmark = pytest.mark.usefixtures("float64")


@pytest.mark.parametrize("target_lengths", [[3, 4, 2, 4], None])
def test_loop_passes_gradcheck_with_padding(target_lengths: list[int] | None) -> None:
    """Source padding; target lengths out of order and tied, or every target as long (None)."""
    torch.manual_seed(0)
    batch, length, emb, hidden, value = 4, 5, 3, 4, 6
    mask, packing = LOOP_SOURCE_MASK, loop_packing(target_lengths)
    inputs = [
        torch.randn(packing.n, emb),  # e, packed
        torch.randn(batch, hidden),  # h~_0
        torch.randn(batch, hidden),  # h_0
        torch.randn(batch, hidden),  # m_0
        torch.randn(batch, length, hidden),  # keys
        torch.randn(batch, length, value),  # values
    ]
    weights = [
        torch.randn(4 * hidden, emb + hidden) * 0.5,
        torch.randn(4 * hidden) * 0.5,
        torch.randn(4 * hidden, hidden) * 0.5,
        torch.randn(4 * hidden) * 0.5,
        torch.randn(hidden, value + hidden) * 0.5,
    ]
    tensors = [t.requires_grad_() for t in inputs + weights]

    def loop(*tensors: torch.Tensor) -> torch.Tensor:
        *states, keys, values = tensors[:6]
        return LuongLSTMLoop.apply(*states, keys, values, mask, packing, *tensors[6:])[0]

    assert torch.autograd.gradcheck(loop, tensors)


def _cfg(score: str) -> ModelConfig:
    return ModelConfig(
        type="rnn",
        cell="lstm",
        context="luong",
        luong_score=score,
        luong_mode="global",
        input_feeding=True,
        bidirectional=score == "general",
        embedding_size=5,
        hidden_size=6,
        dropout=0.0,
    )


@pytest.mark.parametrize("score", ["general", "dot"])
def test_fused_decoder_equals_the_reference_decoder(score: str) -> None:
    """Logits and attention at the real target positions, and every parameter's gradient, on a
    batch padded on both sides; the dot score reads the encoder states as keys and values."""
    reference, fast = build_pair(_cfg(score), 13, 13, seed=1)
    assert type(reference.decoder) is LuongDecoder
    assert isinstance(fast.decoder, FusedLuongDecoder)
    batch = padded_batch()
    results = [outputs_and_gradients(model, batch) for model in (fast, reference)]
    for a, b in zip(*results, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-11)


def test_the_state_after_the_last_position_is_the_reference_decoders() -> None:
    """Without target padding: h, the memory cell and the fed h~ after step T, from a state
    that is not the start (a second call continues the first)."""
    reference, fast = build_pair(_cfg("general"), 13, 13, seed=2)
    batch = padded_batch()
    y = torch.tensor([[BOS_ID, 6, 5, 4], [BOS_ID, 12, 7, 8], [BOS_ID, 5, 6, 7]])
    states = []
    for model in (fast, reference):
        memory = model.encode(batch.src, batch.src_mask)
        state = model.decoder.start(memory)
        _, state, _ = model.decoder(memory, state, y[:, :2])
        logits, state, _ = model.decoder(memory, state, y[:, 2:])
        states.append((logits, *state))
    for a, b in zip(*states, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-12)


def test_the_loop_runs_in_float32_under_autocast() -> None:
    """bf16 autocast on the CPU: attention (the loop's) stays float32, the logits are bf16."""
    torch.manual_seed(3)
    model = build_model(_cfg("general"), 13, 13).float().eval()
    batch = padded_batch()
    logits, attention = model(batch)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        amp_logits, amp_attention = model(batch)
    assert amp_attention.dtype == torch.float32 and amp_logits.dtype == torch.bfloat16
    real = batch.trg_mask
    torch.testing.assert_close(amp_attention[real], attention[real], atol=0.02, rtol=0)
    torch.testing.assert_close(amp_logits[real].float(), logits[real], atol=0.05, rtol=0)
