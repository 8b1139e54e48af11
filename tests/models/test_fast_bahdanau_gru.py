"""The Bahdanau GRU decoder loop with its written-out backward (models/fast/bahdanau_gru.py):
gradcheck, and FusedBahdanauDecoder against the reference BahdanauDecoder (logits, attention,
every gradient)."""

from __future__ import annotations

import pytest
import torch

from attnlab.config import ModelConfig
from attnlab.data.batching import Batch
from attnlab.data.vocab import BOS_ID, EOS_ID, PAD_ID
from attnlab.models.build import build_model
from attnlab.models.fast.bahdanau_gru import BahdanauGRULoop, FusedBahdanauDecoder
from attnlab.models.seq2seq import BahdanauDecoder
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
    batch, length, emb, hidden, value, attn = 4, 5, 3, 4, 6, 5
    mask, packing = LOOP_SOURCE_MASK, loop_packing(target_lengths)
    inputs = [
        torch.randn(packing.n, emb),  # e, packed
        torch.randn(batch, hidden),  # s0
        torch.randn(batch, length, attn),  # keys
        torch.randn(batch, length, value),  # values
    ]
    weights = [
        torch.randn(3 * hidden, emb + value) * 0.5,
        torch.randn(3 * hidden) * 0.5,
        torch.randn(3 * hidden, hidden) * 0.5,
        torch.randn(3 * hidden) * 0.5,
        torch.randn(attn, hidden) * 0.5,
        torch.randn(attn) * 0.5,
    ]
    tensors = [t.requires_grad_() for t in inputs + weights]

    def loop(*tensors: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        e, s0, keys, values, *w = tensors
        return BahdanauGRULoop.apply(e, s0, keys, values, mask, packing, *w)[:2]

    assert torch.autograd.gradcheck(loop, tensors)


TINY = ModelConfig(
    type="rnn",
    cell="gru",
    context="bahdanau",
    bidirectional=True,
    embedding_size=5,
    hidden_size=6,
    attention_size=7,
    dropout=0.0,
)


def test_fused_decoder_equals_the_reference_decoder() -> None:
    """Logits and attention at the real target positions, and every parameter's gradient, on a
    batch padded on both sides."""
    cfg = TINY
    reference, fast = build_pair(cfg, 13, 13, seed=1)
    assert type(reference.decoder) is BahdanauDecoder
    assert isinstance(fast.decoder, FusedBahdanauDecoder)
    batch = padded_batch()
    results = [outputs_and_gradients(model, batch) for model in (fast, reference)]
    for a, b in zip(*results, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-11)


def test_fast_paths_run_in_float32_under_autocast() -> None:
    """bf16 autocast on the CPU: the encoder's and the decoder's GRU loops stay in float32
    (the encoder's states bit for bit), the output layer runs in bf16."""
    torch.manual_seed(2)
    cfg = TINY
    model = build_model(cfg, 13, 13).float().eval()
    src = torch.tensor([[4, 5, 6, 7], [8, 9, PAD_ID, PAD_ID]])
    trg = torch.tensor([[BOS_ID, 6, 5, 4], [BOS_ID, 12, PAD_ID, PAD_ID]])
    trg_out = torch.tensor([[6, 5, 4, EOS_ID], [12, EOS_ID, PAD_ID, PAD_ID]])
    batch = Batch(src, src != PAD_ID, trg, trg_out, trg_out != PAD_ID)
    states, _, _ = model.encoder(src, src != PAD_ID)
    logits, attention = model(batch)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        amp_states, _, _ = model.encoder(src, src != PAD_ID)
        amp_logits, amp_attention = model(batch)
    assert torch.equal(amp_states, states)
    assert amp_attention.dtype == torch.float32 and amp_logits.dtype == torch.bfloat16
    real = batch.trg_mask
    torch.testing.assert_close(amp_attention[real], attention[real], atol=0.02, rtol=0)
    torch.testing.assert_close(amp_logits[real].float(), logits[real], atol=0.05, rtol=0)
