"""A GRU layer over padded sequences with its backward pass written out (BPTT), and the GRU
update's forward and backward shared with the Bahdanau decoder loop (models/bahdanau_gru.py).

Cho et al. (2014), in torch.nn.GRU's form (gate order r, z, n; weights stacked the same way):

    r_t = sigmoid(W_ir x_t + b_ir + W_hr h_{t-1} + b_hr)
    z_t = sigmoid(W_iz x_t + b_iz + W_hz h_{t-1} + b_hz)
    n_t = tanh(W_in x_t + b_in + r_t * (W_hn h_{t-1} + b_hn))
    h_t = (1 - z_t) * n_t + z_t * h_{t-1}

Why: torch's CPU GRU runs its backward through autograd one time step at a time, a dozen
small kernels per step and direction; with packed sequences it was 70% of the encoder's
forward+backward time. Here W_i x_t is one matmul for all t and both directions before the
loop; the loop runs both directions together (one batched matmul per step); and after the
backward loop every weight gradient is one matmul over all B * S rows.

Padding: instead of packing, each step updates only the rows whose position is real,
h_t = h_{t-1} elsewhere, so the forward direction ends at each sentence's last real word and
the backward direction starts there: the same numbers as a packed torch GRU.

Letters beyond DESIGN's: I input size, D directions (1 or 2).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor


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
    hidden = dh.size(-1)
    r, z = gates.rz[..., :hidden], gates.rz[..., hidden:]
    dn = dh * (1.0 - z) * (1.0 - gates.n * gates.n)  # through h_t = (1 - z) n + z h_{t-1}, tanh
    dz = dh * (h_prev - gates.n) * z * (1.0 - z)
    dr = dn * gates.gh[..., 2 * hidden :] * r * (1.0 - r)
    torch.cat([dr, dz, dn], dim=-1, out=dgi)
    torch.cat([dr, dz, dn * r], dim=-1, out=dgh)


class MaskedGRU(torch.autograd.Function):
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
        batch, length, _ = x.shape
        directions, hidden = w_hh.size(0), w_hh.size(2)
        x_rows = x.reshape(1, -1, x.size(2)).expand(directions, -1, -1)  # (D, B S, I)
        gi = torch.baddbmm(b_ih[:, None], x_rows, w_ih.transpose(1, 2))  # (D, B S, 3H)
        gi = to_step_order(gi.view(directions, batch, length, -1))  # (S, D, B, 3H)
        keep = to_step_order(mask.expand(directions, -1, -1)).unsqueeze(-1)  # (S, D, B, 1)
        h_all = x.new_empty(length + 1, directions, batch, hidden)  # h_0 .. h_S
        h_all[0] = 0.0
        gates = Gates(
            x.new_empty(length, directions, batch, 2 * hidden),
            x.new_empty(length, directions, batch, hidden),
            x.new_empty(length, directions, batch, 3 * hidden),
        )
        w_hh_t = w_hh.transpose(1, 2)  # (D, H, 3H)
        for k in range(length):
            h = h_all[k]
            torch.baddbmm(b_hh[:, None], h, w_hh_t, out=gates.gh[k])
            h_new = gru_update(gi[k], h, Gates(*(g[k] for g in gates)))
            torch.where(keep[k], h_new, h, out=h_all[k + 1])  # padding keeps h_{t-1}
        ctx.save_for_backward(x, keep, w_ih, w_hh, h_all, *gates)
        states = from_step_order(h_all[1:] * keep)  # (D, B, S, H), 0 on padding
        return torch.cat(states.unbind(0), dim=-1), h_all[-1]  # (B, S, D*H), (D, B, H)

    @staticmethod
    def backward(
        ctx: torch.autograd.function.FunctionCtx, grad_states: Tensor, grad_final: Tensor
    ) -> tuple[Tensor | None, ...]:
        x, keep, w_ih, w_hh, h_all, *saved = ctx.saved_tensors
        gates = Gates(*saved)
        length, directions, batch, hidden = gates.n.shape
        grad_out = to_step_order(torch.stack(grad_states.chunk(directions, dim=-1)))  # S,D,B,H
        dgi = x.new_empty(length, directions, batch, 3 * hidden)
        dgh = x.new_empty(length, directions, batch, 3 * hidden)
        dh = grad_final.contiguous()  # (D, B, H)
        for k in reversed(range(length)):
            step_gates = Gates(*(g[k] for g in gates))
            dh_new = (dh + grad_out[k]) * keep[k]  # h_t = where(keep, h_new, h_{t-1})
            gru_update_backward(dh_new, h_all[k], step_gates, dgi[k], dgh[k])
            dh = torch.baddbmm(dh * ~keep[k] + dh_new * step_gates.rz[..., hidden:], dgh[k], w_hh)
        rows_i = from_step_order(dgi).flatten(1, 2)  # (D, B S, 3H)
        rows_h = from_step_order(dgh).flatten(1, 2)  # (D, B S, 3H)
        h_prev = from_step_order(h_all[:-1]).flatten(1, 2)  # (D, B S, H)
        grad_x = torch.bmm(rows_i, w_ih).sum(0).view_as(x)  # (B, S, I)
        x_rows = x.reshape(1, -1, x.size(2)).expand(directions, -1, -1)  # (D, B S, I)
        return (
            grad_x,
            None,
            rows_i.transpose(1, 2) @ x_rows,  # w_ih (D, 3H, I)
            rows_i.sum(1),  # b_ih
            rows_h.transpose(1, 2) @ h_prev,  # w_hh (D, 3H, H)
            rows_h.sum(1),  # b_hh
        )


def to_step_order(per_position: Tensor) -> Tensor:
    """(D, B, S, ...) indexed by position -> (S, D, B, ...) indexed by step k, where direction
    0 reads position k and direction 1 position S - 1 - k."""
    steps = per_position.transpose(1, 2).transpose(0, 1)  # (S, D, B, ...)
    if steps.size(1) == 1:
        return steps.contiguous()
    return torch.stack([steps[:, 0], steps[:, 1].flip(0)], dim=1)


def from_step_order(per_step: Tensor) -> Tensor:
    """The inverse of `to_step_order`: (S, D, B, ...) -> (D, B, S, ...)."""
    if per_step.size(1) == 2:
        per_step = torch.stack([per_step[:, 0], per_step[:, 1].flip(0)], dim=1)
    return per_step.transpose(0, 1).transpose(1, 2)
