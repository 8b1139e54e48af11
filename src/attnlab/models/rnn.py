"""Recurrent cells and the recurrent encoder.

Papers:
  Elman (1990), "Finding Structure in Time": h_t = f(W_h h_{t-1} + W_x x_t + b).
  Hochreiter & Schmidhuber (1997) LSTM and Cho et al. (2014) GRU, both taken from torch.
  Schuster & Paliwal (1997), bidirectional RNNs.
  Sutskever, Vinyals & Le (2014), "Sequence to Sequence Learning with Neural Networks", sec. 3.3:
  reading the source sentence backwards.

The recurrent layers are torch's nn.RNN (Elman, nonlinearity tanh | relu), nn.GRU and nn.LSTM,
whose equations their documentation states. The Elman update written from its equation
(`elman_step`, `ElmanRNN`) is the reference that the tests hold nn.RNN to. models/fast/gru.py
holds a GRU encoder with its backward pass written out.

Letters beyond DESIGN's: E embedding size, L layers, D directions (1 or 2).
Left out: layer normalisation, residual connections between layers, variational dropout.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, NamedTuple

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

Cell = Literal["elman", "gru", "lstm"]
Activation = Literal["tanh", "relu"]

ACTIVATIONS: dict[str, Callable[[Tensor], Tensor]] = {"tanh": torch.tanh, "relu": torch.relu}


def elman_step(
    x_t: Tensor, h_prev: Tensor, w_x: Tensor, w_h: Tensor, b: Tensor, activation: Activation
) -> Tensor:
    """One Elman step (Elman 1990): h_t = f(W_h h_{t-1} + W_x x_t + b).

    x_t (B, E), h_prev (B, H), w_x (H, E), w_h (H, H), b (H,) -> h_t (B, H)
    """
    return ACTIVATIONS[activation](h_prev @ w_h.T + x_t @ w_x.T + b)


class ElmanRNN(nn.Module):
    """Reference Elman layer, one direction, the loop over t written out with `elman_step`.

    forward(x (B, S, E), h0 (B, H)) -> states (B, S, H), h_1 ... h_S
    """

    def __init__(self, input_size: int, hidden_size: int, activation: Activation) -> None:
        super().__init__()
        self.activation: Activation = activation
        bound = hidden_size**-0.5  # torch's nn.RNN initialisation
        self.w_x = nn.Parameter(torch.empty(hidden_size, input_size).uniform_(-bound, bound))
        self.w_h = nn.Parameter(torch.empty(hidden_size, hidden_size).uniform_(-bound, bound))
        self.b = nn.Parameter(torch.empty(hidden_size).uniform_(-bound, bound))

    def forward(self, x: Tensor, h0: Tensor) -> Tensor:
        h, states = h0, []
        for t in range(x.size(1)):
            h = elman_step(x[:, t], h, self.w_x, self.w_h, self.b, self.activation)  # (B, H)
            states.append(h)
        return torch.stack(states, dim=1)  # (B, S, H)


def layer_parameters(rnn: nn.RNNBase, layer: int, reverse: bool = False) -> list[Tensor]:
    """[W_ih, b_ih, W_hh, b_hh] of one layer and direction of a torch RNN, in its layout
    (gates stacked: (G H, I), (G H,), (G H, H), (G H,))."""
    suffix = "_reverse" if reverse else ""
    names = ("weight_ih", "bias_ih", "weight_hh", "bias_hh")
    return [getattr(rnn, f"{name}_l{layer}{suffix}") for name in names]


def make_rnn(
    cell: Cell,
    input_size: int,
    hidden_size: int,
    num_layers: int,
    bidirectional: bool,
    dropout: float,
    elman_activation: Activation,
) -> nn.RNNBase:
    """torch's fused recurrent layers, batch first; `dropout` acts between layers only."""
    kinds: dict[str, Callable[..., nn.RNNBase]] = {
        "elman": lambda **common: nn.RNN(nonlinearity=elman_activation, **common),
        "gru": nn.GRU,
        "lstm": nn.LSTM,
    }
    return kinds[cell](
        input_size=input_size,
        hidden_size=hidden_size,
        num_layers=num_layers,
        bidirectional=bidirectional,
        dropout=dropout if num_layers > 1 else 0.0,
        batch_first=True,
    )


def reverse_padded(x: Tensor, mask: Tensor) -> Tensor:
    """Reverse the real tokens of each row; padding stays where it is (Sutskever et al. 2014).

    [a b c <pad>] -> [c b a <pad>]. Its own inverse. Masks are prefixes (padding at the end).
    x (B, S, ...), mask (B, S) -> (B, S, ...)
    """
    batch, length = mask.shape
    lengths = mask.sum(dim=1, keepdim=True)  # (B, 1)
    positions = torch.arange(length, device=x.device).expand(batch, length)  # (B, S)
    index = torch.where(positions < lengths, lengths - 1 - positions, positions)  # (B, S)
    index = index.view(batch, length, *([1] * (x.dim() - 2))).expand_as(x)  # (B, S, ...)
    return x.gather(1, index)


class EncoderOutput(NamedTuple):
    """states (B, S, D*H): the top layer's h_j, in ORIGINAL source order, 0 on padding.
    final (B, D*H): the top layer's last state of each direction, concatenated; with reversal
    the last state is the one after the first source word.
    final_cell (B, D*H): the same for the LSTM's memory cell c_T; None for other cells."""

    states: Tensor
    final: Tensor
    final_cell: Tensor | None = None


class RNNEncoder(nn.Module):
    """Embedding, dropout, a (bi)directional multi-layer RNN over packed sequences.

    Packing (enforce_sorted=False) means each sentence is read exactly to its length, so padding
    never changes a result. With `reverse_source` each sentence is read backwards and the
    states are put back into original order, so attention weights index original positions.

    forward(src (B, S), src_mask (B, S))
        -> EncoderOutput(states (B, S, D*H), final (B, D*H), final_cell (B, D*H) | None)
    """

    def __init__(
        self, embedding: nn.Embedding, rnn: nn.RNNBase, dropout: float, reverse_source: bool
    ) -> None:
        super().__init__()
        self.embedding, self.rnn = embedding, rnn
        self.dropout = nn.Dropout(dropout)
        self.reverse_source = reverse_source

    @property
    def output_size(self) -> int:
        return self.rnn.hidden_size * (2 if self.rnn.bidirectional else 1)

    def forward(self, src: Tensor, src_mask: Tensor) -> EncoderOutput:
        if self.reverse_source:
            src = reverse_padded(src, src_mask)
        x = self.dropout(self.embedding(src))  # (B, S, E)
        states, final, final_cell = self.read(x, src_mask)
        if self.reverse_source:
            states = reverse_padded(states, src_mask)
        return EncoderOutput(states, final, final_cell)

    def read(self, x: Tensor, src_mask: Tensor) -> tuple[Tensor, Tensor, Tensor | None]:
        """The RNN over the packed sequences of x.

        x (B, S, E) -> states (B, S, D*H), final (B, D*H), final_cell (B, D*H) | None (LSTM: c_T)
        """
        lengths = src_mask.sum(dim=1).cpu()  # pack_padded_sequence wants lengths on the CPU
        packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        packed_states, hidden = self.rnn(packed)
        states, _ = pad_packed_sequence(
            packed_states, batch_first=True, total_length=x.size(1)
        )  # (B, S, D*H), 0 on padding
        directions = 2 if self.rnn.bidirectional else 1

        def top_layer(last: Tensor) -> Tensor:  # (L*D, B, H) -> (B, D*H)
            return last[-directions:].transpose(0, 1).reshape(x.size(0), -1)

        if isinstance(hidden, tuple):  # LSTM: (h_n, c_n)
            return states, top_layer(hidden[0]), top_layer(hidden[1])
        return states, top_layer(hidden), None
