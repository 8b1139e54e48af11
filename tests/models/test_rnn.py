"""Elman update by hand, the from-equation reference against torch's fused nn.RNN, source
reversal, and the encoder's padding invariance."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from attnlab.models.rnn import ElmanRNN, RNNEncoder, elman_step, make_rnn, reverse_padded

pytestmark = pytest.mark.usefixtures("float64")


def test_elman_step_by_hand() -> None:
    # h_t = tanh(W_h h_{t-1} + W_x x_t + b) with H = 2, E = 1
    w_x = torch.tensor([[1.0], [-2.0]])
    w_h = torch.tensor([[0.5, 0.0], [1.0, 1.0]])
    b = torch.tensor([0.1, 0.2])
    x_t, h_prev = torch.tensor([[0.3]]), torch.tensor([[0.4, -0.6]])
    # pre-activations: 0.5*0.4 + 0.3 + 0.1 = 0.6 and (0.4 - 0.6) - 0.6 + 0.2 = -0.6
    got = elman_step(x_t, h_prev, w_x, w_h, b, "tanh")
    assert torch.allclose(got, torch.tensor([[math.tanh(0.6), math.tanh(-0.6)]]), atol=1e-12)
    relu = elman_step(x_t, h_prev, w_x, w_h, b, "relu")
    assert torch.allclose(relu, torch.tensor([[0.6, 0.0]]), atol=1e-12)


@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_reference_elman_equals_fused_rnn_both_directions(activation: str) -> None:
    torch.manual_seed(0)
    fast = make_rnn("elman", 3, 5, 1, True, 0.0, activation)  # type: ignore[arg-type]
    assert isinstance(fast, nn.RNN)
    x = torch.randn(4, 7, 3)
    h0 = torch.randn(2, 4, 5)
    out, _ = fast(x, h0)  # (B, S, 2H)
    for direction, suffix in enumerate(["", "_reverse"]):
        ref = ElmanRNN(3, 5, activation)  # type: ignore[arg-type]
        with torch.no_grad():
            ref.w_x.copy_(getattr(fast, f"weight_ih_l0{suffix}"))
            ref.w_h.copy_(getattr(fast, f"weight_hh_l0{suffix}"))
            ref.b.copy_(getattr(fast, f"bias_ih_l0{suffix}") + getattr(fast, f"bias_hh_l0{suffix}"))
        inputs = x if direction == 0 else x.flip(1)
        states = ref(inputs, h0[direction])  # (B, S, H)
        if direction == 1:
            states = states.flip(1)
        assert torch.allclose(states, out[..., direction * 5 : (direction + 1) * 5], atol=1e-6)


def test_make_rnn_kinds_and_interlayer_dropout() -> None:
    assert isinstance(make_rnn("gru", 2, 3, 1, False, 0.5, "tanh"), nn.GRU)
    lstm = make_rnn("lstm", 2, 3, 2, False, 0.5, "tanh")
    assert isinstance(lstm, nn.LSTM) and lstm.dropout == 0.5 and lstm.batch_first
    assert make_rnn("gru", 2, 3, 1, False, 0.5, "tanh").dropout == 0.0  # no layer to drop between
    assert make_rnn("elman", 2, 3, 1, False, 0.0, "relu").nonlinearity == "relu"


def test_reverse_padded_reverses_real_tokens_only() -> None:
    x = torch.tensor([[1, 2, 3, 0], [4, 5, 0, 0], [6, 7, 8, 9]])
    mask = x != 0
    expected = torch.tensor([[3, 2, 1, 0], [5, 4, 0, 0], [9, 8, 7, 6]])
    assert torch.equal(reverse_padded(x, mask), expected)
    assert torch.equal(reverse_padded(expected, mask), x)  # its own inverse
    states = torch.arange(24.0).view(3, 4, 2)  # (B, S, H): rows move as a whole
    rev = reverse_padded(states, mask)
    assert torch.equal(
        rev[1], torch.stack([states[1, 1], states[1, 0], states[1, 2], states[1, 3]])
    )


def _encoder(cell: str, bidirectional: bool, reverse: bool, layers: int = 2) -> RNNEncoder:
    torch.manual_seed(1)
    rnn = make_rnn(cell, 4, 5, layers, bidirectional, 0.0, "tanh")  # type: ignore[arg-type]
    return RNNEncoder(nn.Embedding(11, 4, padding_idx=0), rnn, 0.0, reverse).eval()


@pytest.mark.parametrize("cell", ["elman", "gru", "lstm"])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("reverse", [False, True])
def test_encoder_padding_never_changes_a_result(
    cell: str, bidirectional: bool, reverse: bool
) -> None:
    encoder = _encoder(cell, bidirectional, reverse)
    src = torch.tensor([[5, 6, 7, 0, 0], [3, 4, 5, 6, 7], [9, 10, 0, 0, 0]])
    mask = src != 0
    states, final, final_cell = encoder(src, mask)
    assert states.shape == (3, 5, encoder.output_size) and final.shape == (3, encoder.output_size)
    assert (final_cell is not None) == (cell == "lstm")  # only an LSTM has a memory cell c_T
    assert torch.all(states[~mask] == 0)
    for b in range(3):
        n = int(mask[b].sum())
        alone = encoder(src[b : b + 1, :n], mask[b : b + 1, :n])
        assert torch.allclose(alone.states[0], states[b, :n], atol=1e-10)
        assert torch.allclose(alone.final[0], final[b], atol=1e-10)
        if final_cell is not None:
            assert torch.allclose(alone.final_cell[0], final_cell[b], atol=1e-10)


def test_reversed_encoder_returns_states_in_original_order() -> None:
    plain, reversed_ = _encoder("gru", False, False), _encoder("gru", False, True)
    src = torch.tensor([[5, 6, 7, 0], [3, 4, 5, 6]])
    mask = src != 0
    # reading the reversed sentence with the plain encoder, then putting the states back
    expected, expected_final, _ = plain(reverse_padded(src, mask), mask)
    states, final, _ = reversed_(src, mask)
    assert torch.allclose(states, reverse_padded(expected, mask), atol=1e-12)
    assert torch.allclose(final, expected_final, atol=1e-12)
    # the state at original position 0 is the last one read: the final state (top layer)
    assert torch.allclose(states[:, 0], final, atol=1e-12)
