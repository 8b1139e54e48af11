"""The hand-written LSTM (models/fast/lstm.py) against torch's: the update, PackedLSTM against
a packed nn.LSTM (states, final states and cells, every gradient), and PackedLSTMEncoder
against the reference RNNEncoder."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from attnlab.config import ModelConfig
from attnlab.models.fast.lstm import PackedLSTM, PackedLSTMEncoder, doubled_g, lstm_update
from attnlab.models.rnn import RNNEncoder
from tests.models.kernels import build_pair

LENGTHS = [5, 3, 1, 4]


pytestmark = pytest.mark.usefixtures("float64")


def test_lstm_update_equals_torch_lstm_cell() -> None:
    torch.manual_seed(0)
    cell = nn.LSTMCell(4, 6)
    x, h, m = torch.randn(3, 4), torch.randn(3, 6), torch.randn(3, 6)
    with torch.no_grad():  # the loops run it without autograd
        h_ref, m_ref = cell(x, (h, m))
        doubled = doubled_g(x, 6)[:, 0]
        gates = (
            x @ cell.weight_ih.T + cell.bias_ih + h @ cell.weight_hh.T + cell.bias_hh
        ) * doubled
    m_new, tanh_m, h_new = torch.empty(3, 6), torch.empty(3, 6), torch.empty(3, 6)
    lstm_update(gates, m, m_new, tanh_m, h_new)
    torch.testing.assert_close(h_new, h_ref, rtol=0, atol=1e-12)
    torch.testing.assert_close(m_new, m_ref, rtol=0, atol=1e-12)
    torch.testing.assert_close(tanh_m, m_ref.tanh(), rtol=0, atol=1e-12)


def _stacked(lstm: nn.LSTM, layer: int = 0) -> list[torch.Tensor]:
    suffixes = ["", "_reverse"] if lstm.bidirectional else [""]
    names = ("weight_ih", "bias_ih", "weight_hh", "bias_hh")
    return [torch.stack([getattr(lstm, f"{n}_l{layer}{s}") for s in suffixes]) for n in names]


@pytest.mark.parametrize("bidirectional", [False, True])
def test_packed_lstm_equals_packed_torch_lstm(bidirectional: bool) -> None:
    torch.manual_seed(1)
    lstm = nn.LSTM(4, 6, batch_first=True, bidirectional=bidirectional)
    x = torch.randn(len(LENGTHS), max(LENGTHS), 4, requires_grad=True)
    lengths = torch.tensor(LENGTHS)
    mask = torch.arange(max(LENGTHS)) < lengths[:, None]
    packed, (h_ref, m_ref) = lstm(
        pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    )
    out_ref, _ = pad_packed_sequence(packed, batch_first=True, total_length=max(LENGTHS))
    out, h, m = PackedLSTM.apply(x, mask, *_stacked(lstm))
    for got, expected in ((out, out_ref), (h, h_ref), (m, m_ref)):
        torch.testing.assert_close(got, expected, rtol=0, atol=1e-12)
    assert (out[~mask] == 0).all()

    weights = torch.randn_like(out)  # a loss that reads every state and the final states
    inputs = [x, *lstm.parameters()]
    ref = torch.autograd.grad(
        (out_ref * weights).sum() + h_ref.square().sum() + m_ref.sin().sum(), inputs
    )
    got = torch.autograd.grad((out * weights).sum() + h.square().sum() + m.sin().sum(), inputs)
    for a, b in zip(got, ref, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-12)


def test_packed_lstm_passes_gradcheck() -> None:
    torch.manual_seed(2)
    lstm = nn.LSTM(3, 4, batch_first=True, bidirectional=True)
    x = torch.randn(2, 3, 3, requires_grad=True)
    mask = torch.tensor([[True, True, True], [True, False, False]])
    weights = [w.detach().requires_grad_() for w in _stacked(lstm)]
    assert torch.autograd.gradcheck(lambda x, *w: PackedLSTM.apply(x, mask, *w), (x, *weights))


@pytest.mark.parametrize("reverse_source", [False, True])
def test_packed_lstm_encoder_equals_the_reference_two_layers_bidirectional(
    reverse_source: bool,
) -> None:
    """PackedLSTMEncoder and RNNEncoder (a packed nn.LSTM): same states, final states and
    cells, same gradients."""
    cfg = ModelConfig(
        type="rnn",
        cell="lstm",
        embedding_size=5,
        hidden_size=6,
        num_layers=2,
        bidirectional=True,
        reverse_source=reverse_source,
        dropout=0.0,
    )
    reference, fast = (model.encoder for model in build_pair(cfg, 11, 11, seed=3))
    assert type(reference) is RNNEncoder and isinstance(fast, PackedLSTMEncoder)
    src = torch.tensor([[4, 5, 6, 7, 8], [9, 10, 4, 0, 0], [5, 0, 0, 0, 0]])
    mask = src != 0
    results = []
    for encoder in (fast, reference):
        states, final, final_cell = encoder(src, mask)
        (states.sin().sum() + final.cos().sum() + final_cell.square().sum()).backward()
        results.append([states, final, final_cell, *(p.grad for p in encoder.parameters())])
    for a, b in zip(*results, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-12)
