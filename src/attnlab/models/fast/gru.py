"""A GRU layer over padded sequences with its backward pass written out (BPTT), the encoder
that runs it (`PackedGRUEncoder`), and the GRU update's forward and backward shared with the
Bahdanau decoder loop (models/fast/bahdanau_gru.py).

Cho et al. (2014), in torch.nn.GRU's form (gate order r, z, n; weights stacked the same way):

    r_t = sigmoid(W_ir x_t + b_ir + W_hr h_{t-1} + b_hr)
    z_t = sigmoid(W_iz x_t + b_iz + W_hz h_{t-1} + b_hz)
    n_t = tanh(W_in x_t + b_in + r_t * (W_hn h_{t-1} + b_hn))
    h_t = (1 - z_t) * n_t + z_t * h_{t-1}

Why: torch's CPU GRU runs its backward through autograd one time step at a time, a dozen
small kernels per step and direction. Here W_i x_t is one matmul for all t and both directions
before the loop; the loop runs both directions together (one batched matmul per step); and
after the backward loop every weight gradient is one matmul over all N real positions.

Padding: the loop runs over packed sequences (models/fast/packing.py), so step k updates only
the sentences longer than k, and the backward direction reads each sentence from its own last
word.
The numbers are a packed torch GRU's; a batch of mixed lengths costs its real words only.

Letters beyond DESIGN's: I input size, D directions (1 or 2).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from attnlab.models.fast.packing import Directions, run_packed_layers
from attnlab.models.rnn import RNNEncoder


class Gates(NamedTuple):
    """One GRU step's gates, kept for backward: rz (..., 2H) r and z side by side, n (..., H),
    gh (..., 3H) = W_h h_{t-1} + b_h (its last third is the W_hn h_{t-1} + b_hn inside n)."""

    rz: Tensor
    n: Tensor
    gh: Tensor


def gru_update(gi: Tensor, h: Tensor, gates: Gates, out: Tensor | None = None) -> Tensor:
    """h_t from gi = W_i x_t + b_i and h_{t-1}, given gates.gh = W_h h_{t-1} + b_h already;
    writes r, z and n into `gates` (so that the loops keep them without a copy), h_t into `out`
    when given.

    gi (..., 3H), h (..., H) -> h_t (..., H)
    """
    hidden = h.size(-1)
    torch.add(gi[..., : 2 * hidden], gates.gh[..., : 2 * hidden], out=gates.rz).sigmoid_()
    r, z = gates.rz[..., :hidden], gates.rz[..., hidden:]
    torch.addcmul(gi[..., 2 * hidden :], r, gates.gh[..., 2 * hidden :], out=gates.n).tanh_()
    return torch.lerp(gates.n, h, z, out=out)  # (1 - z) n + z h


def gru_update_backward(dh: Tensor, h_prev: Tensor, gates: Gates, dgi: Tensor, dgh: Tensor) -> None:
    """Writes the gradients of gi and gh, given dL/dh_t, into dgi and dgh (..., 3H).
    dL/dh_{t-1} is then dh * z + dgh @ W_h.   dh, h_prev (..., H)"""
    hidden, n = dh.size(-1), gates.n
    r, z = gates.rz[..., :hidden], gates.rz[..., hidden:]
    # dn = dh (1 - z) (1 - n^2): through h_t = (1 - z) n + z h_{t-1} and tanh
    dn = torch.mul(dh, 1.0 - z, out=dgi[..., 2 * hidden :])
    dn.mul_(torch.addcmul(n.new_ones(()), n, n, value=-1.0))
    # [dr; dz] = [dn (W_hn h_{t-1} + b_hn); dh (h_{t-1} - n)] sigmoid'([r; z])
    torch.mul(dn, gates.gh[..., 2 * hidden :], out=dgi[..., :hidden])
    torch.mul(dh, h_prev - n, out=dgi[..., hidden : 2 * hidden])
    drz = dgi[..., : 2 * hidden].mul_(torch.addcmul(gates.rz, gates.rz, gates.rz, value=-1.0))
    dgh[..., : 2 * hidden] = drz
    torch.mul(dn, r, out=dgh[..., 2 * hidden :])


class PackedGRU(torch.autograd.Function):
    """One GRU layer, one or two directions, over padded sequences, from h_0 = 0.

    apply(x (B, S, I), mask (B, S), w_ih (D, 3H, I), b_ih (D, 3H), w_hh (D, 3H, H), b_hh (D, 3H))
        -> states (B, S, D*H) (0 on padding, directions concatenated, original order),
           final (D, B, H) (forward: after the last real word; backward: after the first)
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
    ) -> tuple[Tensor, Tensor]:
        directions, hidden = w_hh.size(0), w_hh.size(2)
        read = Directions.of(x, mask, directions)
        packing, batch = read.packing, x.size(0)
        x_rows = read.gather(x)  # (D, N, I)
        gi = torch.baddbmm(b_ih[:, None], x_rows, w_ih.transpose(1, 2))  # (D, N, 3H)
        h_all = x.new_empty(directions, batch + packing.n, hidden)  # h_0 by rank, then packed
        h_all[:, :batch] = 0.0
        gates = Gates(
            x.new_empty(directions, packing.n, 2 * hidden),
            x.new_empty(directions, packing.n, hidden),
            x.new_empty(directions, packing.n, 3 * hidden),
        )
        w_hh_t = w_hh.transpose(1, 2)  # (D, H, 3H)
        for k in range(len(packing.sizes)):
            rows, h = packing.step(k), h_all[:, packing.before(k)]  # h (D, n_k, H)
            torch.baddbmm(b_hh[:, None], h, w_hh_t, out=gates.gh[:, rows])
            step_gates = Gates(*(g[:, rows] for g in gates))
            gru_update(gi[:, rows], h, step_gates, out=h_all[:, packing.after(k)])
        ctx.save_for_backward(x_rows, w_ih, w_hh, h_all, *gates)
        ctx.read = read
        final = packing.unrank(h_all[:, packing.final_rows()], dim=1)  # (D, B, H)
        return read.scatter(h_all[:, batch:]), final  # (B, S, D*H), (D, B, H)

    @staticmethod
    def backward(
        ctx: torch.autograd.function.FunctionCtx, grad_states: Tensor, grad_final: Tensor
    ) -> tuple[Tensor | None, ...]:
        x_rows, w_ih, w_hh, h_all, *saved = ctx.saved_tensors
        gates, read = Gates(*saved), ctx.read
        packing, hidden = read.packing, gates.n.size(2)
        grad_out = read.gather_grad(grad_states)  # (D, N, H)
        dgi, dgh = torch.empty_like(gates.gh), torch.empty_like(gates.gh)  # (D, N, 3H)
        dh_all = read.ranked_final_grad(grad_final)  # (D, B, H)
        for k in reversed(range(len(packing.sizes))):
            rows, running = packing.step(k), slice(0, packing.sizes[k])
            dh = dh_all[:, running] + grad_out[:, rows]  # (D, n_k, H)
            step_gates = Gates(*(g[:, rows] for g in gates))
            gru_update_backward(
                dh, h_all[:, packing.before(k)], step_gates, dgi[:, rows], dgh[:, rows]
            )
            z = step_gates.rz[..., hidden:]
            torch.baddbmm(dh * z, dgh[:, rows], w_hh, out=dh_all[:, running])
        h_prev = packing.previous_states(h_all)  # (D, N, H)
        return (
            read.scatter_grad(torch.bmm(dgi, w_ih)),  # x (B, S, I)
            None,
            dgi.transpose(1, 2) @ x_rows,  # w_ih (D, 3H, I)
            dgi.sum(1),  # b_ih
            dgh.transpose(1, 2) @ h_prev,  # w_hh (D, 3H, H)
            dgh.sum(1),  # b_hh
        )


class PackedGRUEncoder(RNNEncoder):
    """RNNEncoder of a GRU (any depth, one or two directions) whose layers run as `PackedGRU`;
    dropout between layers as nn.GRU applies it. Not in lower precision under autocast: its
    matmuls are small. The same parameters, interface and numbers (up to rounding)."""

    def read(self, x: Tensor, src_mask: Tensor) -> tuple[Tensor, Tensor, None]:
        """x (B, S, E) -> states (B, S, D*H), final (B, D*H), None (a GRU has no memory cell)"""
        states, (final,) = run_packed_layers(self.rnn, PackedGRU.apply, x, src_mask, self.training)
        return states, final, None
