"""The Luong decoder loop of a one-layer LSTM with input feeding and global dot/general
attention, with its backward pass written out (BPTT), and the decoder that runs it
(`FusedLuongDecoder`).

The same function as LuongDecoder's input-feeding loop (attnlab.models.seq2seq), for
t = 1 .. T, in torch.nn.LSTM's form (gate order i, f, g, o; weights stacked the same way):

    [i; f; g; o] = [s; s; tanh; s](W_ie y_{t-1} + W_if h~_{t-1} + W_hh h_{t-1} + b_ih + b_hh)
    m_t          = f * m_{t-1} + i * g                          (s = sigmoid)
    h_t          = o * tanh(m_t)
    alpha_tj     = softmax over real j of h_t^T k_j             k_j = W_a h_j (general) or h_j (dot)
    c_t          = sum_j alpha_tj h_j
    h~_t         = tanh(W_c [c_t; h_t])

Why: through autograd each step is torch's one-step LSTM call (oneDNN's, whose backward is
about 2 ms a step at the Bible recipe's size, most of it the step's own weight gradient) and
a dozen small kernels, plus a gradient accumulation per step for every weight and for the
keys and values. Here the loop holds only what is sequential: W_ie y_{t-1} + b is one matmul
for all steps before the loop, each step one matmul of [h~_{t-1}; h_{t-1}] (they sit side by
side in one state buffer) and one of [c_t; h_t]; after the backward loop each weight gradient
is one matmul over all N real positions, and those of the keys and values one batched matmul.
The buffers are packed (models/fast/packing.py) and step t attends over the source positions
up to the longest source of its running sentences, so a batch of mixed lengths costs its real
words.

Letters beyond DESIGN's: E embedding size, He encoder state size (the values), m the memory
cell (the paper's c is the context here).
Left out: several layers, other cells, the concat score and local attention (those take the
reference loop, with the output layer on the real positions: models/fast/readout.py). Under
autocast the loop runs in float32.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from attnlab.models.attention import masked_softmax
from attnlab.models.fast.linear import decoder_logits
from attnlab.models.fast.lstm import doubled_g, lstm_update, lstm_update_backward
from attnlab.models.fast.packing import Packing
from attnlab.models.fast.readout import RealTokenLuongDecoder
from attnlab.models.rnn import layer_parameters
from attnlab.models.seq2seq import Memory, State


class LuongWeights(NamedTuple):
    """The parameters the loop reads, in torch's layout: w_ih (4H, E + H) over [y; h~],
    b_ih (4H,), w_hh (4H, H), b_hh (4H,), w_c (H, He + H) over [c; h]."""

    w_ih: Tensor
    b_ih: Tensor
    w_hh: Tensor
    b_hh: Tensor
    w_c: Tensor

    def state_matrix(self, emb: int) -> Tensor:
        """[W_if W_hh], which multiplies a row [h~_{t-1}; h_{t-1}] of the state buffer.
        -> (4H, 2H)"""
        return torch.cat([self.w_ih[:, emb:], self.w_hh], dim=1)


class Source(NamedTuple):
    """The memory in rank order, and how far each step reads it: at step t the longest source
    of its running sentences (`limits[t]`, S_t). keys (B, S, H), values (B, S, He), mask (B, S)."""

    keys: Tensor
    values: Tensor
    mask: Tensor
    limits: list[int]

    @classmethod
    def of(cls, packing: Packing, keys: Tensor, values: Tensor, mask: Tensor) -> Source:
        """keys, values, mask in original row order."""
        mask = packing.rank(mask)
        return cls(packing.rank(keys), packing.rank(values), mask, packing.source_limits(mask))


class Trace(NamedTuple):
    """What backward needs of the forward loop, packed step by step.

    states (B + N, 2H): [h~; h] side by side, the B initial states by rank, then each packed
    row's; cells (B + N, H) m likewise; gates (N, 4H) [i; f; g; o] after their nonlinearity;
    tanh_m (N, H); contexts (N, He); alpha (N, S), 0 beyond the step's source limit.
    """

    states: Tensor
    cells: Tensor
    gates: Tensor
    tanh_m: Tensor
    contexts: Tensor
    alpha: Tensor


def run_loop(
    e: Tensor, start: Tensor, m0: Tensor, source: Source, packing: Packing, w: LuongWeights
) -> Trace:
    """The forward loop, without autograd. Trace.gates holds g = tanh(x), though the matmuls
    give 2x.

    e (N, E) embeddings of y_0 .. y_{T-1}, packed; start (B, 2H) [h~_0; h_0] and m0 (B, H),
    in rank order -> Trace
    """
    emb, hidden = e.size(1), m0.size(1)
    w_cc, w_ch = w.w_c[:, :-hidden], w.w_c[:, -hidden:]
    doubled = doubled_g(e, hidden)  # (4H, 1), for `lstm_update`
    w_s = w.state_matrix(emb) * doubled  # (4H, 2H)
    gi = torch.addmm((w.b_ih + w.b_hh) * doubled[:, 0], e, (w.w_ih[:, :emb] * doubled).t())
    batch, n = packing.batch, packing.n
    trace = Trace(
        states=start.new_empty(batch + n, 2 * hidden),
        cells=start.new_empty(batch + n, hidden),
        gates=start.new_empty(n, 4 * hidden),
        tanh_m=start.new_empty(n, hidden),
        contexts=start.new_empty(n, source.values.size(2)),
        alpha=start.new_zeros(n, source.keys.size(1)),
    )
    trace.states[:batch], trace.cells[:batch] = start, m0
    for t, (running, limit) in enumerate(zip(packing.sizes, source.limits, strict=True)):
        rows, before, after = packing.step(t), packing.before(t), packing.after(t)
        gates = torch.addmm(gi[rows], trace.states[before], w_s.t(), out=trace.gates[rows])
        h = trace.states[after, hidden:]  # (n_t, H)
        lstm_update(gates, trace.cells[before], trace.cells[after], trace.tanh_m[rows], h)
        keys, values = source.keys[:running, :limit], source.values[:running, :limit]
        scores = torch.bmm(h.unsqueeze(1), keys.transpose(1, 2))  # (n_t, 1, S_t)
        alpha = masked_softmax(scores, source.mask[:running, None, :limit])  # (n_t, 1, S_t)
        trace.alpha[rows, :limit] = alpha.squeeze(1)
        c = torch.bmm(alpha, values, out=trace.contexts[rows].unsqueeze(1)).squeeze(1)
        trace.states[after, :hidden] = torch.addmm(c @ w_cc.t(), h, w_ch.t()).tanh_()  # h~_t
    return trace


class Gradients(NamedTuple):
    """What `backward_loop` returns: packed, those of the gate pre-activations dgates (N, 4H),
    of W_c [c_t; h_t] (before its tanh) dcombined (N, H), of the contexts dc (N, He) and of the
    scores dscores (N, S); in rank order, of the initial state [h~_0; h_0] dstart (B, 2H) and
    of m_0, dm0 (B, H)."""

    dgates: Tensor
    dcombined: Tensor
    dc: Tensor
    dscores: Tensor
    dstart: Tensor
    dm0: Tensor


def backward_loop(
    grad_tilde: Tensor, trace: Trace, source: Source, packing: Packing, w: LuongWeights, emb: int
) -> Gradients:
    """Back-propagation through time over the trace of `run_loop`.

    grad_tilde (N, H): dL/dh~_t from the output layer, packed -> Gradients
    """
    hidden = trace.tanh_m.size(1)
    w_s, w_cc, w_ch = w.state_matrix(emb), w.w_c[:, :-hidden], w.w_c[:, -hidden:]
    values_t = source.values.transpose(1, 2)  # (B, He, S)
    out = Gradients(
        dgates=torch.empty_like(trace.gates),
        dcombined=torch.empty_like(trace.tanh_m),
        dc=torch.empty_like(trace.contexts),
        dscores=torch.zeros_like(trace.alpha),
        dstart=trace.states.new_zeros(packing.batch, 2 * hidden),  # of each rank's latest state
        dm0=trace.cells.new_zeros(packing.batch, hidden),  # likewise for m
    )
    for t in reversed(range(len(packing.sizes))):
        running, limit, rows = packing.sizes[t], source.limits[t], packing.step(t)
        dstate, dm = out.dstart[:running], out.dm0[:running]  # dL/d[h~_t; h_t], dL/dm_t so far
        h_tilde = trace.states[packing.after(t), :hidden]
        # h~_t = tanh(W_c [c_t; h_t])
        da = torch.add(grad_tilde[rows], dstate[:, :hidden], out=out.dcombined[rows])
        da.mul_(torch.addcmul(h_tilde.new_ones(()), h_tilde, h_tilde, value=-1.0))
        dc = torch.mm(da, w_cc, out=out.dc[rows])  # (n_t, He)
        dh = torch.addmm(dstate[:, hidden:], da, w_ch)  # (n_t, H)
        # c_t = sum_j alpha_tj v_j, alpha_t = softmax(h_t^T k_j)
        alpha = trace.alpha[rows, :limit]  # (n_t, S_t)
        dalpha = torch.bmm(dc.unsqueeze(1), values_t[:running, :, :limit]).squeeze(1)
        dscores = out.dscores[rows, :limit]
        torch.mul(alpha, dalpha - (alpha * dalpha).sum(dim=1, keepdim=True), out=dscores)
        dh.add_(torch.bmm(dscores.unsqueeze(1), source.keys[:running, :limit]).squeeze(1))
        # m_t = f m_{t-1} + i g, h_t = o tanh(m_t); dm becomes dL/dm_{t-1}
        m_prev = trace.cells[packing.before(t)]
        lstm_update_backward(
            dh, dm, m_prev, trace.gates[rows], trace.tanh_m[rows], out.dgates[rows]
        )
        torch.mm(out.dgates[rows], w_s, out=dstate)  # dL/d[h~_{t-1}; h_{t-1}]
    return out


class LuongLSTMLoop(torch.autograd.Function):
    """autograd wrapper: forward = `run_loop`, backward = `backward_loop` plus the weight
    gradients as one matmul each over all N packed rows, and those of the keys and values as
    one batched matmul each.

    apply(e (N, E), h_tilde0 (B, H), h0 (B, H), m0 (B, H), keys (B, S, H), values (B, S, He),
          mask (B, S), packing, w_ih, b_ih, w_hh, b_hh, w_c)
        -> h~ (N, H), packed as the target positions' `packing` packs them; and, not
           differentiable: alpha (B, T, S) (0 at the target padding), and each sentence's last
           h~, h and m (B, H each), the decoder's state after the last position
    """

    @staticmethod
    def forward(
        ctx: torch.autograd.function.FunctionCtx,
        e: Tensor,
        h_tilde0: Tensor,
        h0: Tensor,
        m0: Tensor,
        keys: Tensor,
        values: Tensor,
        mask: Tensor,
        packing: Packing,
        *weights: Tensor,
    ) -> tuple[Tensor, ...]:
        source, w = Source.of(packing, keys, values, mask), LuongWeights(*weights)
        start = packing.rank(torch.cat([h_tilde0, h0], dim=1))  # (B, 2H)
        trace = run_loop(e, start, packing.rank(m0), source, packing, w)
        hidden, last = h0.size(1), packing.final_rows()  # (B,) rows of the state buffers
        final = packing.unrank(trace.states.index_select(0, last))  # (B, 2H)
        final_m = packing.unrank(trace.cells.index_select(0, last))  # (B, H)
        alpha = packing.pad(trace.alpha)  # (B, T, S)
        ctx.save_for_backward(e, alpha, *weights, *trace)
        ctx.source, ctx.packing = source, packing
        outputs = (final[:, :hidden], final[:, hidden:], final_m)
        ctx.mark_non_differentiable(alpha, *outputs)
        return trace.states[packing.batch :, :hidden].contiguous(), alpha, *outputs

    @staticmethod
    def backward(
        ctx: torch.autograd.function.FunctionCtx, grad_tilde: Tensor, *_unused: Tensor
    ) -> tuple[Tensor | None, ...]:
        e, alpha, *saved = ctx.saved_tensors
        w, trace = LuongWeights(*saved[:5]), Trace(*saved[5:])
        source, packing, emb = ctx.source, ctx.packing, e.size(1)
        hidden = trace.tanh_m.size(1)
        g = backward_loop(grad_tilde, trace, source, packing, w, emb)
        grad_state = g.dgates.t() @ packing.previous_states(trace.states)  # (4H, 2H)
        h = trace.states[packing.batch :, hidden:]  # (N, H) h_1 ..
        dstart, dm0 = packing.unrank(g.dstart), packing.unrank(g.dm0)
        db = g.dgates.sum(0)
        return (
            g.dgates @ w.w_ih[:, :emb],  # e (N, E)
            dstart[:, :hidden],  # h~_0
            dstart[:, hidden:],  # h_0
            dm0,
            torch.bmm(packing.pad(g.dscores).transpose(1, 2), packing.pad(h)),  # keys (B, S, H)
            torch.bmm(alpha.transpose(1, 2), packing.pad(g.dc)),  # values (B, S, He)
            None,
            None,
            torch.cat([g.dgates.t() @ e, grad_state[:, :hidden]], dim=1),  # w_ih (4H, E + H)
            db,  # b_ih
            grad_state[:, hidden:],  # w_hh (4H, H)
            db,  # b_hh
            g.dcombined.t() @ torch.cat([trace.contexts, h], dim=1),  # w_c (H, He + H)
        )


class FusedLuongDecoder(RealTokenLuongDecoder):
    """LuongDecoder of a one-layer LSTM with input feeding and global dot or general attention
    (models/build.py picks it), whose teacher-forced loop runs as `LuongLSTMLoop`: the
    embeddings, the loop and the output layer run on the N real target positions only, packed;
    logits (B, T, V) and weights (B, T, S) are 0 at the padding, and the State it returns
    carries no gradient. In float32 under autocast, the layers around it in the lower
    precision. A decoding step (T = 1) is the reference's, which reads one memory row for K
    hypotheses (`memory_per_sentence`). The same parameters, interface and numbers (up to
    rounding)."""

    def forward(
        self, memory: Memory, state: State, y: Tensor, y_mask: Tensor | None = None
    ) -> tuple[Tensor, State, Tensor]:
        batch, steps = y.shape
        if steps == 1:
            return super().forward(memory, state, y, y_mask)
        packing = Packing.every(batch, steps, y.device) if y_mask is None else Packing.of(y_mask)
        e = self.embedding(packing.gather(y.unsqueeze(2)).squeeze(1))  # (N, E)
        e = self.embedding_dropout(e)
        rnn, dtype = self.rnn, self.rnn.weight_hh_l0.dtype
        with torch.autocast(y.device.type, enabled=False):
            h_tilde, alpha, feed, h, m = LuongLSTMLoop.apply(
                e.to(dtype),
                state.feed.to(dtype),
                state.h[:, 0].to(dtype),
                state.cell[:, 0].to(dtype),
                memory.keys.to(dtype),
                memory.values.to(dtype),
                memory.mask,
                packing,
                *layer_parameters(rnn, 0),
                self.combine.weight,
            )  # (N, H), (B, T, S), (B, H) x 3
        logits = decoder_logits(self.dropout(h_tilde), self.output)  # (N, V)
        after = State(h.unsqueeze(1), m.unsqueeze(1), feed, state.t + steps)
        return packing.pad(logits), after, alpha
