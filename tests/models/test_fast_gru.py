"""The hand-written GRU (models/fast/gru.py) against torch's: the update, PackedGRU against a
packed nn.GRU (states, final states, every gradient), and PackedGRUEncoder against the
reference RNNEncoder."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from attnlab.config import ModelConfig
from attnlab.models.fast.gru import Gates, PackedGRU, PackedGRUEncoder, gru_update
from attnlab.models.rnn import RNNEncoder
from tests.models.kernels import build_pair

LENGTHS = [5, 3, 1, 4]


pytestmark = pytest.mark.usefixtures("float64")


def test_gru_update_equals_torch_gru_cell() -> None:
    torch.manual_seed(0)
    cell = nn.GRUCell(4, 6)
    x, h = torch.randn(3, 4), torch.randn(3, 6)
    with torch.no_grad():  # the loops run it without autograd
        expected = cell(x, h)
        gi = x @ cell.weight_ih.T + cell.bias_ih
        gh = h @ cell.weight_hh.T + cell.bias_hh
    gates = Gates(torch.empty(3, 12), torch.empty(3, 6), gh)
    torch.testing.assert_close(gru_update(gi, h, gates), expected, rtol=0, atol=1e-12)


def _stacked(gru: nn.GRU) -> list[torch.Tensor]:
    suffixes = ["", "_reverse"] if gru.bidirectional else [""]
    names = ("weight_ih", "bias_ih", "weight_hh", "bias_hh")
    return [torch.stack([getattr(gru, f"{n}_l0{s}") for s in suffixes]) for n in names]


@pytest.mark.parametrize("bidirectional", [False, True])
def test_packed_gru_equals_packed_torch_gru(bidirectional: bool) -> None:
    torch.manual_seed(1)
    gru = nn.GRU(4, 6, batch_first=True, bidirectional=bidirectional)
    x = torch.randn(len(LENGTHS), max(LENGTHS), 4, requires_grad=True)
    lengths = torch.tensor(LENGTHS)
    mask = torch.arange(max(LENGTHS)) < lengths[:, None]
    packed, h_ref = gru(pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False))
    out_ref, _ = pad_packed_sequence(packed, batch_first=True, total_length=max(LENGTHS))
    out, h = PackedGRU.apply(x, mask, *_stacked(gru))
    torch.testing.assert_close(out, out_ref, rtol=0, atol=1e-12)
    torch.testing.assert_close(h, h_ref, rtol=0, atol=1e-12)
    assert (out[~mask] == 0).all()

    weights = torch.randn_like(out)  # a loss that reads every state and the final states
    inputs = [x, *gru.parameters()]
    ref = torch.autograd.grad((out_ref * weights).sum() + h_ref.square().sum(), inputs)
    got = torch.autograd.grad((out * weights).sum() + h.square().sum(), inputs)
    for a, b in zip(got, ref, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-12)


def test_packed_gru_passes_gradcheck() -> None:
    torch.manual_seed(2)
    gru = nn.GRU(3, 4, batch_first=True, bidirectional=True)
    x = torch.randn(2, 3, 3, requires_grad=True)
    mask = torch.tensor([[True, True, True], [True, False, False]])
    weights = [w.detach().requires_grad_() for w in _stacked(gru)]
    assert torch.autograd.gradcheck(lambda x, *w: PackedGRU.apply(x, mask, *w), (x, *weights))


@pytest.mark.parametrize("reverse_source", [False, True])
def test_packed_gru_encoder_equals_the_reference_two_layers_bidirectional(
    reverse_source: bool,
) -> None:
    """PackedGRUEncoder and RNNEncoder (a packed nn.GRU): same states, same gradients."""
    cfg = ModelConfig(
        type="rnn",
        cell="gru",
        embedding_size=5,
        hidden_size=6,
        num_layers=2,
        bidirectional=True,
        reverse_source=reverse_source,
        dropout=0.0,
    )
    reference, fast = (model.encoder for model in build_pair(cfg, 11, 11, seed=3))
    assert type(reference) is RNNEncoder and isinstance(fast, PackedGRUEncoder)
    src = torch.tensor([[4, 5, 6, 7, 8], [9, 10, 4, 0, 0], [5, 0, 0, 0, 0]])
    mask = src != 0
    results = []
    for encoder in (fast, reference):
        states, final, final_cell = encoder(src, mask)
        assert final_cell is None  # a GRU has no memory cell
        (states.sin().sum() + final.cos().sum()).backward()
        results.append([states, final, *(p.grad for p in encoder.parameters())])
    for a, b in zip(*results, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-12)
