"""The Bahdanau decoder loop of a one-layer GRU, with its backward pass written out (BPTT), and
the decoder that runs it (`FusedBahdanauDecoder`).

The same function as BahdanauDecoder's step-by-step loop (attnlab.models.seq2seq), for
i = 1 .. T, with x_i = [y_{i-1}; c_i] and the GRU update of models/fast/gru.py:

    e_ij     = v^T tanh(W_a s_{i-1} + k_j)        k_j = U_a h_j + b_a, the memory's keys
    alpha_ij = softmax over real j of e_ij
    c_i      = sum_j alpha_ij h_j
    s_i      = GRU(x_i, s_{i-1})

Why: through autograd, every decoder step costs dozens of small kernels forward and as many
backward, plus a gradient accumulation per step for every weight and for U_a h_j and h_j. Here
the loop holds only what is sequential. What is not is done for all steps at once: W_i y_{i-1}
before the forward loop; after the backward loop each weight gradient is one matmul over all
steps (dW = sum_i delta_i x_i^T) and dL/dh_j = sum_i alpha_ij dL/dc_i one batched matmul.

tanh in the score is computed as 2 sigmoid(2x) - 1 (models/fast/attention.py says why), so
e_ij = (2 v)^T sigmoid(2 W_a s_{i-1} + 2 k_j) - sum(v); that sigmoid, (n_i, S_i, A) at each
step, is the one large tensor kept for backward. The buffers are packed (models/fast/packing.py):
step i holds only the sentences whose target is longer than i, and attends over the source
positions up to the longest of their sources (S_i), so a batch of mixed lengths costs its
real words, not B * T steps over S positions.

Letters beyond DESIGN's: E embedding size, He encoder state size, A attention size.
Left out: several layers, LSTM and Elman cells (those take the generic loop). Under autocast
the loop runs in float32.
"""

from __future__ import annotations

import itertools
from typing import ClassVar, NamedTuple

import torch
from torch import Tensor

from attnlab.models.attention import masked_softmax
from attnlab.models.fast.gru import Gates, gru_update, gru_update_backward
from attnlab.models.fast.linear import decoder_logits
from attnlab.models.fast.packing import Packing
from attnlab.models.rnn import layer_parameters
from attnlab.models.seq2seq import BahdanauDecoder, Memory, State


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
    """What backward needs of the forward loop, packed step by step (models/fast/packing.py).

    s (B + N, H) the states: s_0 by rank, then s_1 .. of each packed row; contexts (N, He);
    alpha (N, S) (0 beyond the step's source limit); rz, n, gh the GRU gates
    (models/fast/gru.Gates), (N, 2H | H | 3H), gh the first 3H columns of (N, 3H + A)
    [W_h s_{i-1} + b_h; 2 W_a s_{i-1}] (one matmul a step); sig, flat, each step's
    (n_k, S_k, A) in turn: the score's sigmoid(2 W_a s_{i-1} + 2 k_j).
    """

    s: Tensor
    contexts: Tensor
    alpha: Tensor
    rz: Tensor
    n: Tensor
    gh: Tensor
    sig: Tensor

    def gates(self, rows: slice) -> Gates:
        return Gates(self.rz[rows], self.n[rows], self.gh[rows])


class Steps(NamedTuple):
    """The packing of the target steps, and the source positions each step reads: at step i,
    the longest source among its running sentences (`limits[i]`, S_i), so that a batch of
    short sentences does not attend over the padding of long ones. keys, values and mask
    are in rank order and `sig_offsets[i]` is where step i's sigmoid begins in Trace.sig."""

    packing: Packing
    limits: list[int]
    sig_offsets: list[int]
    keys: Tensor  # (B, S, A)
    values: Tensor  # (B, S, He)
    mask: Tensor  # (B, S)

    @classmethod
    def of(cls, packing: Packing, keys: Tensor, values: Tensor, mask: Tensor) -> Steps:
        """packing: how the target positions are packed; keys (B, S, A), values (B, S, He),
        mask (B, S) in original row order."""
        mask = packing.rank(mask)
        limits = packing.source_limits(mask)
        sizes = [n * limit * keys.size(2) for n, limit in zip(packing.sizes, limits, strict=True)]
        offsets = list(itertools.accumulate(sizes, initial=0))
        return cls(packing, limits, offsets, packing.rank(keys), packing.rank(values), mask)

    def sig(self, trace_sig: Tensor, i: int) -> Tensor:
        """Step i's part of Trace.sig.  -> (n_i, S_i, A)"""
        start, end = self.sig_offsets[i], self.sig_offsets[i + 1]
        return trace_sig[start:end].view(self.packing.sizes[i], self.limits[i], -1)


def run_loop(e: Tensor, s0: Tensor, steps: Steps, w: DecoderWeights) -> Trace:
    """The forward loop, without autograd.

    e (N, E) embeddings of y_0 .. y_{T-1}, packed; s0 (B, H) in rank order -> Trace
    """
    packing, emb, hidden = steps.packing, e.size(1), s0.size(1)
    w_ie, w_ic = w.w_ih[:, :emb], w.w_ih[:, emb:]  # (3H, E), (3H, He)
    gi_e = torch.addmm(w.b_ih, e, w_ie.t())  # (N, 3H)
    v2, v_sum = w.v * 2.0, w.v.sum()
    w_s, b_s = state_projection(w)  # (3H + A, H), (3H + A,)
    projections = s0.new_empty(packing.n, w_s.size(0))  # (N, 3H + A)
    trace = Trace(
        s=s0.new_empty(packing.batch + packing.n, hidden),
        contexts=s0.new_empty(packing.n, steps.values.size(2)),
        alpha=s0.new_zeros(packing.n, steps.keys.size(1)),
        rz=s0.new_empty(packing.n, 2 * hidden),
        n=s0.new_empty(packing.n, hidden),
        gh=projections[:, : 3 * hidden],
        sig=s0.new_empty(steps.sig_offsets[-1]),
    )
    trace.s[: packing.batch] = s0
    for i, (running, limit) in enumerate(zip(packing.sizes, steps.limits, strict=True)):
        rows, s = packing.step(i), trace.s[packing.before(i)]  # s (n_i, H)
        keys, values = steps.keys[:running, :limit], steps.values[:running, :limit]
        torch.addmm(b_s, s, w_s.t(), out=projections[rows])  # gh, q2 = 2 W_a s_{i-1}
        q2 = projections[rows, 3 * hidden :].unsqueeze(1)  # (n_i, 1, A)
        sig = torch.add(q2, keys, alpha=2.0, out=steps.sig(trace.sig, i)).sigmoid_()
        row_mask = steps.mask[:running, None, :limit]  # (n_i, 1, S_i)
        alpha = masked_softmax((sig @ v2 - v_sum).unsqueeze(1), row_mask)  # (n_i, 1, S_i)
        trace.alpha[rows, :limit] = alpha.squeeze(1)
        c = torch.bmm(alpha, values, out=trace.contexts[rows].unsqueeze(1)).squeeze(1)
        gi = torch.addmm(gi_e[rows], c, w_ic.t())  # (n_i, 3H)
        gru_update(gi, s, trace.gates(rows), out=trace.s[packing.after(i)])
    return trace


def state_projection(w: DecoderWeights) -> tuple[Tensor, Tensor]:
    """What each step computes from s_{i-1}, as one matrix and bias:
    [W_h s + b_h; 2 W_a s] = W_s s + b_s.   -> W_s (3H + A, H), b_s (3H + A,)"""
    return torch.cat([w.w_hh, w.w_a * 2.0]), torch.cat([w.b_hh, w.b_hh.new_zeros(w.w_a.size(0))])


class Gradients(NamedTuple):
    """What `backward_loop` returns, packed: the gradients of the GRU pre-activations dgi
    (N, 3H); of the state projection (`state_projection`) dproj (N, 3H + A), which holds
    those of gh and of q2_i = 2 W_a s_{i-1}; of the contexts through every path, dc (N, He);
    and in rank order, of 2 k_j summed over steps, dkeys2 (B, S, A); of 2 v, dv2 (A,); and
    of s_0, ds0 (B, H)."""

    dgi: Tensor
    dproj: Tensor
    dc: Tensor
    dkeys2: Tensor
    dv2: Tensor
    ds0: Tensor


def backward_loop(
    grad_states: Tensor, grad_contexts: Tensor, trace: Trace, steps: Steps, w: DecoderWeights
) -> Gradients:
    """Back-propagation through time over the trace of `run_loop`.

    grad_states (N, H), grad_contexts (N, He), packed, from the layers above -> Gradients.
    The score's - sum(v) gets no gradient: a softmax's input gradient sums to 0 over j.
    """
    packing, hidden = steps.packing, trace.n.size(1)
    w_ic = w.w_ih[:, w.w_ih.size(1) - steps.values.size(2) :]  # (3H, He)
    v2, (w_s, _) = w.v * 2.0, state_projection(w)
    values_t = steps.values.transpose(1, 2)  # (B, He, S): (1, He) @ (He, S) per step
    out = Gradients(
        dgi=torch.empty_like(trace.gh),
        dproj=trace.gh.new_empty(packing.n, w_s.size(0)),
        dc=torch.empty_like(trace.contexts),
        dkeys2=torch.zeros_like(steps.keys),  # (B, S, A)
        dv2=torch.zeros_like(w.v),  # (A,)
        ds0=trace.gh.new_zeros(packing.batch, hidden),  # dL/ds of each rank's latest state
    )
    dgh, dq2 = out.dproj[:, : 3 * hidden], out.dproj[:, 3 * hidden :]  # (N, 3H), (N, A)
    for i in reversed(range(len(packing.sizes))):
        running, limit, rows = packing.sizes[i], steps.limits[i], packing.step(i)
        ds = out.ds0[:running] + grad_states[rows]  # (n_i, H)
        gates = trace.gates(rows)
        gru_update_backward(ds, trace.s[packing.before(i)], gates, out.dgi[rows], dgh[rows])
        dc = torch.addmm(grad_contexts[rows], out.dgi[rows], w_ic, out=out.dc[rows])
        alpha = trace.alpha[rows, :limit]  # (n_i, S_i)
        dalpha = torch.bmm(dc.unsqueeze(1), values_t[:running, :, :limit]).squeeze(1)
        dscores = alpha * (dalpha - (alpha * dalpha).sum(dim=1, keepdim=True))  # (n_i, S_i)
        sig = steps.sig(trace.sig, i)  # (n_i, S_i, A)
        out.dv2.addmv_(sig.reshape(-1, sig.size(2)).t(), dscores.reshape(-1))
        # dL/dx_ija = dscores_ij (2 v)_a g_ija at x = 2 W_a s_{i-1} + 2 k_j, g = sig (1 - sig):
        # summed over j it is dq2 (one bmm); over i, dkeys2 (times 2 v once, after the loop)
        g = torch.addcmul(sig, sig, sig, value=-1.0)  # (n_i, S_i, A)
        out.dkeys2[:running, :limit].addcmul_(dscores.unsqueeze(2), g)
        torch.mul(torch.bmm(dscores.unsqueeze(1), g).squeeze(1), v2, out=dq2[rows])
        # dL/ds_{i-1}: through h_t = (1 - z) n + z h_{t-1}, and through gh and q2
        torch.addmm(ds * gates.rz[:, hidden:], out.dproj[rows], w_s, out=out.ds0[:running])
    out.dkeys2.mul_(v2)
    return out


class BahdanauGRULoop(torch.autograd.Function):
    """autograd wrapper: forward = `run_loop`, backward = `backward_loop` plus the weight
    gradients as one matmul each over all N packed rows. Step i runs only the sentences
    whose target is longer than i: a batch of mixed lengths costs its real words.

    apply(e (N, E), s0 (B, H), keys, values, mask, packing, w_ih, b_ih, w_hh, b_hh, w_a, v)
        -> states s_1 .. (N, H), contexts (N, He), packed as the target positions' `packing`
           (models/fast/packing.py) packs them, and alpha (B, T, S) (not differentiable, 0 at the
           target padding)
    """

    @staticmethod
    def forward(
        ctx: torch.autograd.function.FunctionCtx,
        e: Tensor,
        s0: Tensor,
        keys: Tensor,
        values: Tensor,
        mask: Tensor,
        packing: Packing,
        *weights: Tensor,
    ) -> tuple[Tensor, Tensor, Tensor]:
        steps = Steps.of(packing, keys, values, mask)
        trace = run_loop(e, packing.rank(s0), steps, DecoderWeights(*weights))
        alpha = packing.pad(trace.alpha)  # (B, T, S)
        ctx.save_for_backward(e, alpha, *weights, *trace)
        ctx.steps = steps
        ctx.mark_non_differentiable(alpha)
        return trace.s[packing.batch :], trace.contexts, alpha

    @staticmethod
    def backward(
        ctx: torch.autograd.function.FunctionCtx,
        grad_states: Tensor,
        grad_contexts: Tensor,
        _grad_alpha: Tensor,
    ) -> tuple[Tensor | None, ...]:
        e, alpha, *saved = ctx.saved_tensors
        w, trace, steps = DecoderWeights(*saved[:6]), Trace(*saved[6:]), ctx.steps
        packing, emb = steps.packing, e.size(1)
        g = backward_loop(grad_states, grad_contexts, trace, steps, w)
        s_prev = packing.previous_states(trace.s)  # (N, H)
        grad_w_s = g.dproj.t() @ s_prev  # (3H + A, H)
        hidden = s_prev.size(1)
        inputs = torch.cat([e, trace.contexts], dim=1)  # (N, E + He)
        grad_values = torch.bmm(alpha.transpose(1, 2), packing.pad(g.dc))  # (B, S, He)
        return (
            g.dgi @ w.w_ih[:, :emb],  # e (N, E)
            packing.unrank(g.ds0),
            packing.unrank(g.dkeys2) * 2.0,
            grad_values,
            None,
            None,
            g.dgi.t() @ inputs,  # w_ih (3H, E + He)
            g.dgi.sum(0),  # b_ih
            grad_w_s[: 3 * hidden],  # w_hh (3H, H)
            g.dproj[:, : 3 * hidden].sum(0),  # b_hh
            grad_w_s[3 * hidden :] * 2.0,  # w_a (A, H)
            g.dv2 * 2.0,  # v
        )


class FusedBahdanauDecoder(BahdanauDecoder):
    """BahdanauDecoder of a one-layer GRU with global additive attention, whose loop runs as
    `BahdanauGRULoop`: the embeddings, the loop and the output layer (through oneDNN when
    autograd is off) run on the N real target positions only, packed; logits (B, T, V) and
    weights (B, T, S) are 0 at the padding. In float32 under autocast, the layers around it in
    the lower precision. The same parameters, interface and numbers (up to rounding); the loop
    reads a memory row a state row (no `memory_per_sentence`)."""

    memory_per_sentence: ClassVar[bool] = False

    def forward(
        self, memory: Memory, state: State, y: Tensor, y_mask: Tensor | None = None
    ) -> tuple[Tensor, State, Tensor]:
        batch, steps = y.shape
        packing = Packing.every(batch, steps, y.device) if y_mask is None else Packing.of(y_mask)
        e = self.embedding(packing.gather(y.unsqueeze(2)).squeeze(1))  # (N, E)
        e = self.embedding_dropout(e)
        rnn, score = self.rnn, self.attention.score
        dtype = rnn.weight_hh_l0.dtype  # autocast may have made the inputs lower precision
        with torch.autocast(y.device.type, enabled=False):
            s, c, alpha = BahdanauGRULoop.apply(
                e.to(dtype),
                state.h[:, 0].to(dtype),
                memory.keys.to(dtype),
                memory.values.to(dtype),
                memory.mask,
                packing,
                *layer_parameters(rnn, 0),
                score.w_a.weight,
                score.v_a.weight[0],
            )  # (N, H), (N, He), (B, T, S)
        logits = decoder_logits(self.dropout(torch.cat([s, c, e], dim=-1)), self.output)  # (N, V)
        h = packing.last(s).unsqueeze(1)  # (B, 1, H)
        return packing.pad(logits), State(h, None, None, state.t + steps), alpha
