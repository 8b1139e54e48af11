"""The hand-written GRU and LSTM layers (models/fast/gru.py, lstm.py) against torch's: each
cell's update, PackedGRU and PackedLSTM against a packed torch layer (states, final states,
every gradient), and the encoders that run them against the reference RNNEncoder."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from attnlab.config import ModelConfig
from attnlab.models.fast.gru import Gates, PackedGRU, PackedGRUEncoder, gru_update
from attnlab.models.fast.lstm import PackedLSTM, PackedLSTMEncoder, doubled_g, lstm_update
from attnlab.models.rnn import RNNEncoder, layer_parameters
from tests.models.kernels import build_pair

LENGTHS = [5, 3, 1, 4]
LAYERS = {
    "gru": (nn.GRU, PackedGRU, PackedGRUEncoder),
    "lstm": (nn.LSTM, PackedLSTM, PackedLSTMEncoder),
}


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


def test_lstm_update_equals_torch_lstm_cell() -> None:
    torch.manual_seed(0)
    cell = nn.LSTMCell(4, 6)
    x, h, m = torch.randn(3, 4), torch.randn(3, 6), torch.randn(3, 6)
    with torch.no_grad():  # the loops run it without autograd, g's pre-activation doubled
        h_ref, m_ref = cell(x, (h, m))
        pre = x @ cell.weight_ih.T + cell.bias_ih + h @ cell.weight_hh.T + cell.bias_hh
        gates = pre * doubled_g(x, 6)[:, 0]
    m_new, tanh_m, h_new = torch.empty(3, 6), torch.empty(3, 6), torch.empty(3, 6)
    lstm_update(gates, m, m_new, tanh_m, h_new)
    for got, expected in ((h_new, h_ref), (m_new, m_ref), (tanh_m, m_ref.tanh())):
        torch.testing.assert_close(got, expected, rtol=0, atol=1e-12)


def _stacked(rnn: nn.RNNBase) -> list[torch.Tensor]:
    directions = [False, True] if rnn.bidirectional else [False]
    per_direction = [layer_parameters(rnn, 0, reverse) for reverse in directions]
    return [torch.stack(w) for w in zip(*per_direction, strict=True)]


def _finals(hidden: torch.Tensor | tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
    """torch's h_n, or (h_n, c_n) for an LSTM, as a tuple."""
    return hidden if isinstance(hidden, tuple) else (hidden,)


@pytest.mark.parametrize("cell", LAYERS)
@pytest.mark.parametrize("bidirectional", [False, True])
def test_packed_layer_equals_packed_torch_layer(cell: str, bidirectional: bool) -> None:
    torch_layer, packed_layer, _ = LAYERS[cell]
    torch.manual_seed(1)
    rnn = torch_layer(4, 6, batch_first=True, bidirectional=bidirectional)
    x = torch.randn(len(LENGTHS), max(LENGTHS), 4, requires_grad=True)
    lengths = torch.tensor(LENGTHS)
    mask = torch.arange(max(LENGTHS)) < lengths[:, None]
    packed, hidden = rnn(pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False))
    out_ref, _ = pad_packed_sequence(packed, batch_first=True, total_length=max(LENGTHS))
    finals_ref = _finals(hidden)
    out, *finals = packed_layer.apply(x, mask, *_stacked(rnn))
    for got, expected in zip([out, *finals], [out_ref, *finals_ref], strict=True):
        torch.testing.assert_close(got, expected, rtol=0, atol=1e-12)
    assert (out[~mask] == 0).all()

    weights = torch.randn_like(out)  # a loss that reads every state and the final states

    def loss(out: torch.Tensor, finals: tuple[torch.Tensor, ...]) -> torch.Tensor:
        return (out * weights).sum() + sum((f.sin() * (k + 1)).sum() for k, f in enumerate(finals))

    inputs = [x, *rnn.parameters()]
    ref = torch.autograd.grad(loss(out_ref, finals_ref), inputs)
    got = torch.autograd.grad(loss(out, tuple(finals)), inputs)
    for a, b in zip(got, ref, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-12)


@pytest.mark.parametrize("cell", LAYERS)
def test_packed_layer_passes_gradcheck(cell: str) -> None:
    torch_layer, packed_layer, _ = LAYERS[cell]
    torch.manual_seed(2)
    rnn = torch_layer(3, 4, batch_first=True, bidirectional=True)
    x = torch.randn(2, 3, 3, requires_grad=True)
    mask = torch.tensor([[True, True, True], [True, False, False]])
    weights = [w.detach().requires_grad_() for w in _stacked(rnn)]
    assert torch.autograd.gradcheck(lambda x, *w: packed_layer.apply(x, mask, *w), (x, *weights))


@pytest.mark.parametrize("cell", LAYERS)
@pytest.mark.parametrize("reverse_source", [False, True])
def test_packed_encoder_equals_the_reference_two_layers_bidirectional(
    cell: str, reverse_source: bool
) -> None:
    """The fast encoder and RNNEncoder (a packed torch layer): the same states, final states
    (and the LSTM's final memory cells), the same gradients."""
    cfg = ModelConfig(
        type="rnn",
        cell=cell,
        embedding_size=5,
        hidden_size=6,
        num_layers=2,
        bidirectional=True,
        reverse_source=reverse_source,
        dropout=0.0,
    )
    reference, fast = (model.encoder for model in build_pair(cfg, 11, 11, seed=3))
    assert type(reference) is RNNEncoder and isinstance(fast, LAYERS[cell][2])
    src = torch.tensor([[4, 5, 6, 7, 8], [9, 10, 4, 0, 0], [5, 0, 0, 0, 0]])
    mask = src != 0
    results = []
    for encoder in (fast, reference):
        states, final, final_cell = encoder(src, mask)
        assert (final_cell is None) == (cell == "gru")  # only an LSTM has a memory cell
        cells = [] if final_cell is None else [final_cell]
        loss = states.sin().sum() + final.cos().sum() + sum(c.square().sum() for c in cells)
        loss.backward()
        results.append([states, final, *cells, *(p.grad for p in encoder.parameters())])
    for a, b in zip(*results, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-12)


@pytest.mark.parametrize("cell", LAYERS)
@pytest.mark.parametrize("lengths", [[3, 2, 1], [1, 3, 2]], ids=["sorted", "unsorted"])
def test_backward_leaves_the_incoming_gradients_as_they_were(cell: str, lengths: list[int]) -> None:
    """The backward loop writes into its own buffers, not into autograd's gradient tensors."""
    torch_layer, packed_layer, _ = LAYERS[cell]
    torch.manual_seed(4)
    rnn = torch_layer(3, 4, batch_first=True, bidirectional=True)
    x = torch.randn(len(lengths), max(lengths), 3, requires_grad=True)
    mask = torch.arange(max(lengths)) < torch.tensor(lengths)[:, None]
    outputs = packed_layer.apply(x, mask, *_stacked(rnn))
    grads = [torch.randn_like(out) for out in outputs]
    before = [g.clone() for g in grads]
    torch.autograd.grad(outputs, [x, *rnn.parameters()], grads)
    for g, kept in zip(grads, before, strict=True):
        assert torch.equal(g, kept)
