"""The training output layer with aligned rows (models/fast/linear.py, AlignedOutputLinear):
nn.Linear's numbers and gradients, rows of a multiple of ALIGNMENT floats, nn.Linear's own
path wherever the aligned one does not apply, and in every fast model."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from attnlab.config import ModelConfig
from attnlab.models.build import build_model
from attnlab.models.fast.linear import ALIGNMENT, AlignedLinear, AlignedOutputLinear


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("shape", [(7, 6), (3, 4, 6)])
def test_aligned_linear_passes_gradcheck(bias: bool, shape: tuple[int, ...]) -> None:
    torch.manual_seed(0)
    x = torch.randn(*shape, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(13, 6, dtype=torch.float64, requires_grad=True)
    b = torch.randn(13, dtype=torch.float64, requires_grad=True) if bias else None
    torch.autograd.gradcheck(AlignedLinear.apply, (x, weight, b))
    out = AlignedLinear.apply(x, weight, b)
    reference = nn.functional.linear(x, weight, b)
    assert out.shape == reference.shape and torch.equal(out, reference)
    assert out.stride(-2) == 16  # 13 columns in rows of 16


@pytest.mark.parametrize("vocab", [2001, 13, 16])
def test_aligned_output_linear_equals_nn_linear_in_training(vocab: int) -> None:
    torch.manual_seed(1)
    aligned = AlignedOutputLinear(32, vocab)
    plain = nn.Linear(32, vocab)
    plain.load_state_dict(aligned.state_dict())
    x = torch.randn(5, 9, 32, requires_grad=True)
    target = torch.randn(5, 9, vocab)
    grads = []
    for layer in (aligned, plain):
        out = layer(x)
        ((out - target).square() * torch.arange(vocab)).sum().backward()
        grads.append((out.detach(), x.grad, layer.weight.grad, layer.bias.grad))
        x.grad = None
        if layer is aligned:
            assert out.stride(-2) % ALIGNMENT == 0
    for ours, theirs in zip(*grads, strict=True):
        torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-4)


def test_aligned_output_linear_takes_nn_linear_where_alignment_does_not_apply() -> None:
    layer, x = AlignedOutputLinear(8, 13), torch.randn(4, 8)
    with torch.no_grad():
        assert layer(x).is_contiguous()  # decoding: no autograd
    assert AlignedOutputLinear(8, 16)(x).is_contiguous()  # rows aligned already
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert layer(x).dtype == torch.bfloat16
    assert not layer(x).is_contiguous()  # float32 with autograd on: the aligned path


@pytest.mark.parametrize("kernels", ["fast", "reference"])
@pytest.mark.parametrize(
    "model",
    [
        {"type": "rnn", "context": "bahdanau"},
        {"type": "rnn", "context": "luong", "cell": "lstm", "tie_embeddings": True},
        {"type": "transformer", "heads": 2, "ff_size": 32, "tie_embeddings": True},
    ],
)
def test_every_output_layer_of_a_fast_model_is_aligned(kernels: str, model: dict) -> None:
    cfg = ModelConfig(embedding_size=16, hidden_size=16, kernels=kernels, **model)
    built = build_model(cfg, 30, 29)
    outputs = [m for m in built.modules() if isinstance(m, nn.Linear) and m.out_features == 29]
    expected = AlignedOutputLinear if kernels == "fast" else nn.Linear
    assert len(outputs) == 1 and type(outputs[0]) is expected
