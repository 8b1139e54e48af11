"""The recurrent decoders with their output layer on the real target positions
(models/fast/readout.py) against the reference decoders: logits and attention at the real
positions, the trainer's loss and every gradient; the output layer runs on the N real
positions only, and the reference path where there is no padding."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import nn

from attnlab.config import ModelConfig
from attnlab.data.batching import Batch, collate
from attnlab.models.fast.readout import (
    RealTokenBahdanauDecoder,
    RealTokenFixedDecoder,
    RealTokenLuongDecoder,
    real_position_logits,
)
from attnlab.models.seq2seq import BahdanauDecoder, FixedDecoder, LuongDecoder
from attnlab.train import sequence_loss
from tests.models.kernels import build_pair

pytestmark = pytest.mark.usefixtures("float64_one_thread")

V = 13
DECODERS: dict[str, dict[str, Any]] = {
    "gru-fixed": {"context": "fixed", "cell": "gru", "feed_context": False},
    "gru-fixed-feed-context": {"context": "fixed", "cell": "gru", "feed_context": True},
    "lstm-fixed": {"context": "fixed", "cell": "lstm", "feed_context": False},
    "lstm-fixed-feed-context": {"context": "fixed", "cell": "lstm", "feed_context": True},
    "lstm-luong-dot-no-feeding": {
        "context": "luong",
        "cell": "lstm",
        "luong_score": "dot",
        "input_feeding": False,
    },
    "gru-luong-general": {"context": "luong", "cell": "gru", "luong_score": "general"},
    "lstm-luong-concat": {"context": "luong", "cell": "lstm", "luong_score": "concat"},
    "gru-luong-general-local-p": {
        "context": "luong",
        "cell": "gru",
        "luong_score": "general",
        "luong_mode": "local-p",
    },
    "lstm-luong-concat-local-p": {
        "context": "luong",
        "cell": "lstm",
        "luong_score": "concat",
        "luong_mode": "local-p",
    },
    "gru-luong-dot-no-input-feeding": {
        "context": "luong",
        "cell": "gru",
        "luong_score": "dot",
        "input_feeding": False,
    },
    "lstm-bahdanau": {"context": "bahdanau", "cell": "lstm"},
    "gru-bahdanau-2-layers-tied": {
        "context": "bahdanau",
        "cell": "gru",
        "num_layers": 2,
        "tie_embeddings": True,  # the output layer is a readout tanh(W_t x) before E
    },
}
REFERENCE_CLASSES = {"fixed": FixedDecoder, "luong": LuongDecoder, "bahdanau": BahdanauDecoder}
FAST_CLASSES = {  # a one-layer GRU's Bahdanau decoder is FusedBahdanauDecoder: none above
    "fixed": RealTokenFixedDecoder,
    "luong": RealTokenLuongDecoder,
    "bahdanau": RealTokenBahdanauDecoder,
}


def _cfg(name: str) -> ModelConfig:
    variant = DECODERS[name]
    return ModelConfig(
        type="rnn",
        embedding_size=5,
        hidden_size=6,
        attention_size=4,
        bidirectional=variant.get("luong_score") != "dot",
        luong_window=2,
        dropout=0.0,
        **variant,
    )


def _batch() -> Batch:
    """Targets of lengths 6, 3, 4 and 1 (</s> included), sources of mixed lengths: padding on
    both sides, and a row that is padding from its second position on."""
    pairs = [
        ([4, 5, 6, 7], [7, 6, 5, 4, 9]),
        ([8, 9, 10, 11, 12, 4], [12, 11]),
        ([6, 5], [5, 6, 7]),
        ([9, 10, 11], []),
    ]
    return collate(pairs)


class RowCount:
    """The rows a module's forward has seen, counted by a forward pre-hook."""

    def __init__(self, module: nn.Module) -> None:
        self.rows = 0
        module.register_forward_pre_hook(self.hook)

    def hook(self, _module: nn.Module, inputs: tuple[torch.Tensor, ...]) -> None:
        self.rows += inputs[0].numel() // inputs[0].size(-1)


@pytest.mark.parametrize("name", DECODERS)
def test_fast_decoder_equals_the_reference_on_real_positions(name: str) -> None:
    """Logits and attention at the real positions, the trainer's summed loss (with label
    smoothing) and every parameter's gradient, to float64 rounding; the fast output layer sees
    the N real rows only and writes 0 at the padding."""
    cfg = _cfg(name)
    reference, fast = build_pair(cfg, V, V, seed=3)
    assert type(reference.decoder) is REFERENCE_CLASSES[cfg.context]
    assert type(fast.decoder) is FAST_CLASSES[cfg.context]
    batch = _batch()
    real = batch.trg_mask
    n, positions = int(real.sum()), real.numel()
    assert 0 < n < positions
    results = []
    for model, rows in ((reference, positions), (fast, n)):
        count = RowCount(model.decoder.output)
        logits, attention = model(batch)
        assert count.rows == rows
        loss = sequence_loss(logits, batch, label_smoothing=0.1)
        loss.backward()
        gradients = [p.grad for p in model.parameters()]
        assert all(g is not None and g.abs().sum() > 0 for g in gradients)
        shown = [] if attention is None else [attention[real]]
        results.append([logits[real], *shown, loss, *gradients])
        if model is fast:
            assert torch.all(logits[~real] == 0)
    for ours, theirs in zip(*results, strict=True):
        torch.testing.assert_close(ours, theirs, rtol=1e-10, atol=1e-12)


def test_without_padding_the_output_layer_runs_once_on_every_position() -> None:
    """No real-row gather for a batch without padding or a decoding step (y_mask None): the
    reference computation, bit for bit."""
    torch.manual_seed(0)
    output, dropout = nn.Linear(4, 7), nn.Identity()
    features = torch.randn(2, 3, 4)
    expected = output(features)
    full = torch.ones(2, 3, dtype=torch.bool)
    assert torch.equal(real_position_logits(output, dropout, features, full), expected)
    assert torch.equal(real_position_logits(output, dropout, features, None), expected)
    mask = torch.tensor([[True, True, False], [True, False, False]])
    logits = real_position_logits(output, dropout, features, mask)
    torch.testing.assert_close(logits[mask], expected[mask], rtol=1e-12, atol=0.0)
    assert torch.all(logits[~mask] == 0)
