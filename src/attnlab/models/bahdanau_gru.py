"""The Bahdanau decoder loop of a one-layer GRU, with its backward pass written out (BPTT).

The same function as BahdanauDecoder's step-by-step loop (attnlab.models.seq2seq), for
i = 1 .. T, with x_i = [y_{i-1}; c_i] and the GRU update of models/gru_bptt.py:

    e_ij     = v^T tanh(W_a s_{i-1} + k_j)        k_j = U_a h_j + b_a, the memory's keys
    alpha_ij = softmax over real j of e_ij
    c_i      = sum_j alpha_ij h_j
    s_i      = GRU(x_i, s_{i-1})

Why: through autograd, every decoder step costs dozens of small kernels forward and as many
backward, plus a gradient accumulation per step for every weight and for U_a h_j and h_j. Here
the loop holds only what is sequential. What is not is done for all steps at once: W_i y_{i-1}
before the forward loop; after the backward loop each weight gradient is one matmul over all
steps (dW = sum_i delta_i x_i^T) and dL/dh_j = sum_i alpha_ij dL/dc_i one batched matmul.

tanh in the score is computed as 2 sigmoid(2x) - 1 (attention._AdditiveScore says why), so
e_ij = (2 v)^T sigmoid(2 W_a s_{i-1} + 2 k_j) - sum(v); that sigmoid, (T, B, S, A) over all
steps, is the one large tensor kept for backward. Buffers are step-major: (T, B, ...).

Letters beyond DESIGN's: E embedding size, He encoder state size, A attention size.
Left out: several layers, LSTM and Elman cells, autocast (those take the generic loop).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from attnlab.models.attention import masked_softmax
from attnlab.models.gru_bptt import Gates, gru_update, gru_update_backward


class DecoderWeights(NamedTuple):
    """The parameters the loop reads: the GRU's (torch layout, gates r, z, n stacked) and the
    score's. w_ih (3H, E + He), b_ih (3H,), w_hh (3H, H), b_hh (3H,), w_a (A, H), v (A,)."""

    w_ih: Tensor
    b_ih: Tensor
    w_hh: Tensor
    b_hh: Tensor
    w_a: Tensor
    v: Tensor


class Trace(NamedTuple):
    """What backward needs of the forward loop, step-major.

    s (T + 1, B, H) the states s_0 .. s_T; contexts (T, B, He); alpha (T, B, S); rz, n, gh
    the GRU gates (models/gru_bptt.Gates), (T, B, 2H | H | 3H); sig (T, B, S, A) the score's
    sigmoid(2 W_a s_{i-1} + 2 k_j).
    """

    s: Tensor
    contexts: Tensor
    alpha: Tensor
    rz: Tensor
    n: Tensor
    gh: Tensor
    sig: Tensor

    def gates(self, i: int) -> Gates:
        return Gates(self.rz[i], self.n[i], self.gh[i])


def run_loop(
    e: Tensor, s0: Tensor, keys: Tensor, values: Tensor, mask: Tensor, w: DecoderWeights
) -> Trace:
    """The forward loop, without autograd.

    e (B, T, E) embeddings of y_0 .. y_{T-1}, s0 (B, H), keys (B, S, A), values (B, S, He),
    mask (B, S) -> Trace (its s[1:] are the states s_1 .. s_T)
    """
    batch, steps, emb = e.shape
    hidden = s0.size(1)
    w_ie, w_ic = w.w_ih[:, :emb], w.w_ih[:, emb:]  # (3H, E), (3H, He)
    gi_e = torch.addmm(w.b_ih, e.transpose(0, 1).reshape(-1, emb), w_ie.t())  # (T B, 3H)
    gi_e = gi_e.view(steps, batch, -1)  # (T, B, 3H)
    w_a2, v2, v_sum = w.w_a * 2.0, w.v * 2.0, w.v.sum()
    row_mask = mask.unsqueeze(1)  # (B, 1, S)
    trace = Trace(
        s=s0.new_empty(steps + 1, batch, hidden),
        contexts=s0.new_empty(steps, batch, values.size(2)),
        alpha=s0.new_empty(steps, batch, keys.size(1)),
        rz=s0.new_empty(steps, batch, 2 * hidden),
        n=s0.new_empty(steps, batch, hidden),
        gh=s0.new_empty(steps, batch, 3 * hidden),
        sig=s0.new_empty(steps, *keys.shape),
    )
    trace.s[0] = s0
    for i in range(steps):
        s = trace.s[i]  # (B, H)
        q2 = (s @ w_a2.t()).unsqueeze(1)  # (B, 1, A)
        sig = torch.add(q2, keys, alpha=2.0, out=trace.sig[i]).sigmoid_()  # (B, S, A)
        alpha = masked_softmax((sig @ v2 - v_sum).unsqueeze(1), row_mask)  # (B, 1, S)
        trace.alpha[i] = alpha.squeeze(1)
        c = torch.bmm(alpha, values, out=trace.contexts[i].unsqueeze(1)).squeeze(1)  # (B, He)
        torch.addmm(w.b_hh, s, w.w_hh.t(), out=trace.gh[i])
        gru_update(torch.addmm(gi_e[i], c, w_ic.t()), s, trace.gates(i), out=trace.s[i + 1])
    return trace


class Gradients(NamedTuple):
    """What `backward_loop` returns, step-major: the gradients of the GRU pre-activations
    dgi, dgh (T, B, 3H); of q2_i = 2 W_a s_{i-1}, dq2 (T, B, A); of the contexts through every
    path, dc (T, B, He); of 2 k_j summed over steps, dkeys2 (B, S, A); of 2 v, dv2 (A,); and of
    s_0, ds0 (B, H)."""

    dgi: Tensor
    dgh: Tensor
    dq2: Tensor
    dc: Tensor
    dkeys2: Tensor
    dv2: Tensor
    ds0: Tensor


def backward_loop(
    grad_states: Tensor, grad_contexts: Tensor, trace: Trace, values: Tensor, w: DecoderWeights
) -> Gradients:
    """Back-propagation through time over the trace of `run_loop`.

    grad_states (B, T, H), grad_contexts (B, T, He), from the layers above -> Gradients.
    The score's - sum(v) gets no gradient: a softmax's input gradient sums to 0 over j.
    """
    steps, batch, hidden = trace.n.shape
    w_ic = w.w_ih[:, w.w_ih.size(1) - values.size(2) :]  # (3H, He)
    v2, w_a2 = w.v * 2.0, w.w_a * 2.0
    values_t = values.transpose(1, 2)  # (B, He, S): (1, He) @ (He, S) is 10x faster in bmm
    grad_s, grad_c = grad_states.transpose(0, 1), grad_contexts.transpose(0, 1)  # (T, B, .)
    out = Gradients(
        dgi=trace.gh.new_empty(steps, batch, 3 * hidden),
        dgh=trace.gh.new_empty(steps, batch, 3 * hidden),
        dq2=trace.gh.new_empty(steps, batch, w.w_a.size(0)),
        dc=trace.gh.new_empty(trace.contexts.shape),
        dkeys2=torch.zeros_like(trace.sig[0]),  # (B, S, A)
        dv2=torch.zeros_like(w.v),  # (A,)
        ds0=trace.gh.new_zeros(batch, hidden),
    )
    ds = out.ds0
    for i in reversed(range(steps)):
        ds = ds + grad_s[i]
        gates = trace.gates(i)
        gru_update_backward(ds, trace.s[i], gates, out.dgi[i], out.dgh[i])
        ds_prev = torch.addmm(ds * gates.rz[:, hidden:], out.dgh[i], w.w_hh)  # (B, H)
        dc = torch.addmm(grad_c[i], out.dgi[i], w_ic, out=out.dc[i])  # (B, He)
        alpha = trace.alpha[i]  # (B, S)
        dalpha = torch.bmm(dc.unsqueeze(1), values_t).squeeze(1)  # (B, S)
        dscores = alpha * (dalpha - (alpha * dalpha).sum(dim=1, keepdim=True))  # (B, S)
        sig = trace.sig[i]  # (B, S, A)
        out.dv2.addmv_(sig.reshape(-1, sig.size(2)).t(), dscores.reshape(-1))
        dx2 = torch.ops.aten.sigmoid_backward(dscores.unsqueeze(2) * v2, sig)  # (B, S, A)
        out.dkeys2.add_(dx2)
        torch.sum(dx2, dim=1, out=out.dq2[i])
        ds = torch.addmm(ds_prev, out.dq2[i], w_a2)
    out.ds0.copy_(ds)
    return out


class BahdanauGRULoop(torch.autograd.Function):
    """autograd wrapper: forward = `run_loop`, backward = `backward_loop` plus the weight
    gradients as one matmul each over all T * B rows.

    apply(e, s0, keys, values, mask, w_ih, b_ih, w_hh, b_hh, w_a, v)
        -> states s_1 .. s_T (B, T, H), contexts (B, T, He), alpha (B, T, S) (not differentiable)
    """

    @staticmethod
    def forward(
        ctx: torch.autograd.function.FunctionCtx,
        e: Tensor,
        s0: Tensor,
        keys: Tensor,
        values: Tensor,
        mask: Tensor,
        *weights: Tensor,
    ) -> tuple[Tensor, Tensor, Tensor]:
        trace = run_loop(e, s0, keys, values, mask, DecoderWeights(*weights))
        ctx.save_for_backward(e, values, *weights, *trace)
        alpha = trace.alpha.transpose(0, 1)
        ctx.mark_non_differentiable(alpha)
        return trace.s[1:].transpose(0, 1), trace.contexts.transpose(0, 1), alpha

    @staticmethod
    def backward(
        ctx: torch.autograd.function.FunctionCtx,
        grad_states: Tensor,
        grad_contexts: Tensor,
        _grad_alpha: Tensor,
    ) -> tuple[Tensor | None, ...]:
        e, values, *saved = ctx.saved_tensors
        w, trace = DecoderWeights(*saved[:6]), Trace(*saved[6:])
        g = backward_loop(grad_states, grad_contexts, trace, values, w)
        steps, batch, emb = e.size(1), e.size(0), e.size(2)
        dgi_rows, dgh_rows = g.dgi.view(steps * batch, -1), g.dgh.view(steps * batch, -1)
        s_prev_rows = trace.s[:-1].reshape(steps * batch, -1)  # (T B, H)
        inputs = torch.cat([e.transpose(0, 1), trace.contexts], dim=2).view(steps * batch, -1)
        grad_e = (dgi_rows @ w.w_ih[:, :emb]).view(steps, batch, emb).transpose(0, 1)
        grad_values = torch.bmm(trace.alpha.permute(1, 2, 0), g.dc.transpose(0, 1))  # (B,S,He)
        return (
            grad_e,  # (B, T, E)
            g.ds0,
            g.dkeys2 * 2.0,
            grad_values,
            None,
            dgi_rows.t() @ inputs,  # w_ih (3H, E + He)
            dgi_rows.sum(0),  # b_ih
            dgh_rows.t() @ s_prev_rows,  # w_hh (3H, H)
            dgh_rows.sum(0),  # b_hh
            g.dq2.view(steps * batch, -1).t() @ s_prev_rows * 2.0,  # w_a (A, H)
            g.dv2 * 2.0,  # v
        )
