"""An LSTM layer over padded sequences with its backward pass written out (BPTT), the encoder
that runs it (`PackedLSTMEncoder`), and the LSTM update's forward and backward shared with the
Luong decoder loop (models/fast/luong_lstm.py).

Hochreiter & Schmidhuber (1997), in torch.nn.LSTM's form (gate order i, f, g, o; weights
stacked the same way), s the sigmoid:

    [i; f; g; o] = [s; s; tanh; s](W_i x_t + b_i + W_h h_{t-1} + b_h)
    m_t          = f * m_{t-1} + i * g
    h_t          = o * tanh(m_t)

Why: torch's CPU LSTM over packed sequences runs one step at a time through autograd, a
dozen small kernels per step and direction forward and as many backward. Here W_i x_t is one
matmul for all t and both directions before the loop; the loop runs both directions together
(one batched matmul per step); after the backward loop every weight gradient is one matmul over
all N real positions. tanh in g is 2 s(2x) - 1 (torch's tanh kernel is several times slower than
its sigmoid, models/fast/attention.py): g's rows of the weights are doubled (`doubled_g`), so
that one sigmoid covers the four gates.

Padding: as models/fast/gru.py, over packed sequences (models/fast/packing.py). The numbers are
a packed torch LSTM's; a batch of mixed lengths costs its real words only.

Letters beyond DESIGN's: I input size, D directions (1 or 2), m the memory cell (torch's c).
"""

from __future__ import annotations

import torch
from torch import Tensor

from attnlab.models.fast.packing import Directions, run_packed_layers
from attnlab.models.rnn import RNNEncoder


def doubled_g(like: Tensor, hidden: int) -> Tensor:
    """(4H, 1): 2 on g's rows, 1 on the others; the weights and biases times it give the
    pre-activations with g's doubled."""
    return like.new_tensor([1.0, 1.0, 2.0, 1.0]).repeat_interleave(hidden).unsqueeze(1)


def lstm_update(gates: Tensor, m_prev: Tensor, m: Tensor, tanh_m: Tensor, h: Tensor) -> None:
    """One step, in place: `gates` holds the pre-activations with g's doubled and is left
    holding [i; f; g; o]; m_t, tanh(m_t) and h_t are written into `m`, `tanh_m` and `h`.

    gates (..., 4H); m_prev, m, tanh_m, h (..., H)
    """
    i, f, g, o = gates.sigmoid_().chunk(4, dim=-1)
    g.mul_(2.0).sub_(1.0)  # tanh(x) = 2 sigmoid(2x) - 1
    torch.addcmul(i * g, f, m_prev, out=m)
    torch.mul(o, torch.tanh(m, out=tanh_m), out=h)


def lstm_update_backward(
    dh: Tensor, dm: Tensor, m_prev: Tensor, gates: Tensor, tanh_m: Tensor, dgates: Tensor
) -> None:
    """Given dL/dh_t and dL/dm_t from the steps after (`dm`, updated in place to dL/dm_{t-1}),
    writes dL/d(pre-activations) into `dgates`. dL/dh_{t-1} is then dgates @ W_h.

    dh, dm, m_prev, tanh_m (..., H); gates [i; f; g; o], dgates (..., 4H)
    """
    hidden = dh.size(-1)
    i, f, g, o = gates.chunk(4, dim=-1)
    di, df, dg, do = dgates.chunk(4, dim=-1)
    torch.mul(dh, tanh_m, out=do)
    dm.addcmul_(dh * o, torch.addcmul(tanh_m.new_ones(()), tanh_m, tanh_m, value=-1.0))
    torch.mul(dm, g, out=di)
    torch.mul(dm, m_prev, out=df)
    torch.mul(dm, i, out=dg)
    dm.mul_(f)
    # through the nonlinearities: s' = s (1 - s), tanh' = 1 - tanh^2
    i_f = gates[..., : 2 * hidden]
    dgates[..., : 2 * hidden].mul_(torch.addcmul(i_f, i_f, i_f, value=-1.0))
    dg.mul_(torch.addcmul(g.new_ones(()), g, g, value=-1.0))
    do.mul_(torch.addcmul(o, o, o, value=-1.0))


class PackedLSTM(torch.autograd.Function):
    """One LSTM layer, one or two directions, over padded sequences, from h_0 = m_0 = 0.

    apply(x (B, S, I), mask (B, S), w_ih (D, 4H, I), b_ih (D, 4H), w_hh (D, 4H, H), b_hh (D, 4H))
        -> states (B, S, D*H) (0 on padding, directions concatenated, original order),
           final h and m (D, B, H) each (forward: after the last real word; backward: after
           the first)
    """

    @staticmethod
    def forward(
        ctx: torch.autograd.function.FunctionCtx,
        x: Tensor,
        mask: Tensor,
        w_ih: Tensor,
        b_ih: Tensor,
        w_hh: Tensor,
        b_hh: Tensor,
    ) -> tuple[Tensor, Tensor, Tensor]:
        directions, hidden = w_hh.size(0), w_hh.size(2)
        read = Directions.of(x, mask, directions)
        packing, batch = read.packing, x.size(0)
        x_rows = read.gather(x)  # (D, N, I)
        doubled = doubled_g(x, hidden)  # (4H, 1)
        bias = ((b_ih + b_hh) * doubled[:, 0]).unsqueeze(1)  # (D, 1, 4H)
        gates = torch.baddbmm(bias, x_rows, (w_ih * doubled).transpose(1, 2))  # (D, N, 4H)
        h_all = x.new_empty(directions, batch + packing.n, hidden)  # h_0 by rank, then packed
        m_all = torch.empty_like(h_all)
        h_all[:, :batch], m_all[:, :batch] = 0.0, 0.0
        tanh_m = x.new_empty(directions, packing.n, hidden)
        w_hh_t = (w_hh * doubled).transpose(1, 2)  # (D, H, 4H)
        for k in range(len(packing.sizes)):
            rows, before, after = packing.step(k), packing.before(k), packing.after(k)
            step = gates[:, rows]
            step.baddbmm_(h_all[:, before], w_hh_t)
            lstm_update(step, m_all[:, before], m_all[:, after], tanh_m[:, rows], h_all[:, after])
        ctx.save_for_backward(x_rows, w_ih, w_hh, h_all, m_all, gates, tanh_m)
        ctx.read = read
        last = packing.final_rows()
        final_h = packing.unrank(h_all[:, last], dim=1)  # (D, B, H)
        final_m = packing.unrank(m_all[:, last], dim=1)
        return read.scatter(h_all[:, batch:]), final_h, final_m

    @staticmethod
    def backward(
        ctx: torch.autograd.function.FunctionCtx,
        grad_states: Tensor,
        grad_final_h: Tensor,
        grad_final_m: Tensor,
    ) -> tuple[Tensor | None, ...]:
        x_rows, w_ih, w_hh, h_all, m_all, gates, tanh_m = ctx.saved_tensors
        read = ctx.read
        packing = read.packing
        grad_out = read.gather_grad(grad_states)  # (D, N, H)
        dgates = torch.empty_like(gates)  # (D, N, 4H)
        # dL/dh and dL/dm of each rank's latest state
        dh_all = read.ranked_final_grad(grad_final_h)  # (D, B, H)
        dm_all = read.ranked_final_grad(grad_final_m)
        for k in reversed(range(len(packing.sizes))):
            rows, running = packing.step(k), slice(0, packing.sizes[k])
            dh = dh_all[:, running] + grad_out[:, rows]  # (D, n_k, H)
            lstm_update_backward(
                dh,
                dm_all[:, running],
                m_all[:, packing.before(k)],
                gates[:, rows],
                tanh_m[:, rows],
                dgates[:, rows],
            )
            torch.bmm(dgates[:, rows], w_hh, out=dh_all[:, running])
        h_prev = packing.previous_states(h_all)  # (D, N, H)
        db = dgates.sum(1)
        return (
            read.scatter_grad(torch.bmm(dgates, w_ih)),  # x (B, S, I)
            None,
            dgates.transpose(1, 2) @ x_rows,  # w_ih (D, 4H, I)
            db,  # b_ih
            dgates.transpose(1, 2) @ h_prev,  # w_hh (D, 4H, H)
            db,  # b_hh
        )


class PackedLSTMEncoder(RNNEncoder):
    """RNNEncoder of an LSTM (any depth, one or two directions) whose layers run as
    `PackedLSTM`; dropout between layers as nn.LSTM applies it. Not in lower precision under
    autocast: its matmuls are small. The same parameters, interface and numbers (up to
    rounding)."""

    def read(self, x: Tensor, src_mask: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """x (B, S, E) -> states (B, S, D*H), final h (B, D*H), final m (B, D*H)"""
        states, (h, m) = run_packed_layers(self.rnn, PackedLSTM.apply, x, src_mask, self.training)
        return states, h, m
