"""Greedy and batched beam search for every model, through `encode` and `step` only.

Beam search follows Wu et al. (2016, GNMT, sec. 7) for the length penalty and fairseq's
`sequence_generator` (Ott et al., 2019) for the bookkeeping: each step takes the top 2K
candidates of every sentence over its K*V extensions at once, those ending in </s> among the
first K become finished hypotheses, the first K others stay alive. A hypothesis therefore
never occupies a beam slot after it ends, and the beam always holds K live hypotheses.

    lp(Y)    = ((5 + |Y|) / 6) ** alpha      |Y| counts the tokens and the final </s>
    score(Y) = log P(Y | X) / lp(Y)          alpha = 0 gives the plain total log-probability

Stopping rule, `stopping="heuristic"` (the simple standard one, as in Hugging Face's
`early_stopping=False`): a sentence stops when it holds n_best finished hypotheses and its best
live hypothesis, scored with the penalty of its current length, does not beat the n_best-th of
them; or when it reaches its length limit L, where </s> is the only token allowed. With alpha = 0
the rule is exact (a log-prob only falls as a hypothesis grows); with alpha > 0 a longer
hypothesis could have won, since lp grows with the length. `stopping="exact"` (Hugging Face's
`early_stopping="never"`) bounds the best live hypothesis by what it could score at the limit,
log P / lp(L + 1), which no continuation beats (log P only falls, lp(|Y|) <= lp(L + 1)): the
search then returns the best hypotheses its beam reaches, at the cost of more steps. Both rules
are the same for alpha = 0. With K = 1 beam search gives the greedy result.

Search never generates <pad> or <s> (their log-probs are set to -inf, not renormalised).
Beam search repeats each sentence's memory K times, or keeps it once where the model's `step`
reads one memory row for K hypotheses (`memory_per_sentence`, models/interface.py: the
Transformer and the attention RNNs but the fused GRU loop), which saves streaming K copies of
it at every step and copying them as sentences leave. Sentences that stop leave the batch
(memory and state are cut with `select_batch`), so a translation never depends on the other
sentences in its batch, given a model whose rows do not interact. Left out: sampling, ensembles,
coverage penalty, prefix constraints, n-gram blocking.

Letters: B sentences, A sentences still searching, K beam size, N n-best, V target vocabulary,
S padded source length, T decoding steps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, NamedTuple, get_args, overload

import torch
import torch.nn.functional as F
from torch import Tensor

from attnlab.config import Stopping
from attnlab.data.vocab import BOS_ID, EOS_ID, PAD_ID
from attnlab.errors import UserError
from attnlab.models.interface import (
    Seq2SeqModel,
    memory_per_sentence,
    repeat_rows,
    select_batch,
)


@dataclass
class Hypothesis:
    """One output sentence: `tokens` without <s> and </s>; `score` the total log-probability
    (divided by lp(Y) in beam search); `attention` (len(tokens) + 1, S_real), the last row for
    the step that produced </s>, or None for models without attention."""

    tokens: list[int]
    score: float
    attention: Tensor | None


def max_lengths(src_mask: Tensor, ratio: float, offset: int) -> Tensor:
    """Output length limit per sentence, int(ratio * real source length) + offset.

    src_mask (B, S) -> (B,) long
    """
    if ratio <= 0 or offset < 0:
        raise UserError(
            "decoding", f"need max_len_ratio > 0 and max_len_offset >= 0 (got {ratio}, {offset})"
        )
    real = src_mask.sum(dim=1).double()  # (B,) double, so that int() matches Python's float maths
    return (real * ratio).floor().long() + offset


STOPPING_RULES = get_args(Stopping)


@overload
def gnmt_lp(length: int, alpha: float) -> float: ...
@overload
def gnmt_lp(length: Tensor, alpha: float) -> Tensor: ...
def gnmt_lp(length: int | Tensor, alpha: float) -> float | Tensor:
    """GNMT length penalty lp(Y) = ((5 + |Y|) / 6) ** alpha (Wu et al., 2016, eq. 14); `length`
    an int or a tensor of them."""
    return ((5 + length) / 6) ** alpha


def _log_probs(logits: Tensor, at_limit: Tensor) -> Tensor:
    """log_softmax over the vocabulary, with <pad> and <s> forbidden and </s> forced where a
    row has reached its length limit.

    logits (R, V), at_limit (R,) bool -> (R, V) float
    """
    log_probs = F.log_softmax(logits.float(), dim=-1)  # a new tensor: the edits below are ours
    log_probs[:, [PAD_ID, BOS_ID]] = float("-inf")
    if bool(at_limit.any()):  # whole-row masks only on the steps that need them
        eos = log_probs[:, EOS_ID].clone()  # (R,)
        log_probs.masked_fill_(at_limit.unsqueeze(1), float("-inf"))
        log_probs[:, EOS_ID] = eos
    return log_probs


def _check_inputs(src: Tensor, src_mask: Tensor, limits: Tensor) -> None:
    if src.dim() != 2 or src_mask.shape != src.shape:
        shapes = f"{tuple(src.shape)} and {tuple(src_mask.shape)}"
        raise UserError("search", f"src and src_mask must be (B, S) alike, got {shapes}")
    if limits.shape != (src.size(0),) or bool((limits < 0).any()):
        raise UserError("search", f"max_lengths must be {src.size(0)} non-negative lengths")


def _keep_rows(memory: Any, state: Any, memory_rows: Tensor, state_rows: Tensor) -> tuple[Any, Any]:
    """The one reorder of search: keep / reorder / expand the batch rows of memory and state."""
    return select_batch(memory, memory_rows), select_batch(state, state_rows)


def _scatter(full: Tensor, alive: Tensor, values: Tensor) -> Tensor:
    """Write the rows of the sentences still searching into a tensor over all B sentences."""
    return full.index_copy(0, alive, values.to(full.dtype))


# ---------------------------------------------------------------------------------------------
# Greedy search


def greedy_search(
    model: Seq2SeqModel, src: Tensor, src_mask: Tensor, max_lengths: Tensor
) -> list[list[Hypothesis]]:
    """The most probable token at each step, until </s> or the length limit.

    src (B, S), src_mask (B, S), max_lengths (B,) -> B lists of one Hypothesis each;
    score = total log-probability, </s> included.
    """
    _check_inputs(src, src_mask, max_lengths)
    if src.size(0) == 0:
        return []
    with torch.inference_mode():
        memory = model.encode(src, src_mask)
        tokens, attention, scores, ends = _greedy_loop(model, memory, max_lengths.to(src.device))
    tokens, real = tokens.t().tolist(), src_mask.sum(dim=1).tolist()  # one transfer, (B, T)
    out = []
    for b, (end, score, s_real) in enumerate(
        zip(ends.tolist(), scores.tolist(), real, strict=True)
    ):
        att = None if attention is None else attention[: end + 1, b, :s_real]
        out.append([Hypothesis(tokens[b][:end], score, att)])
    return out


def _greedy_loop(
    model: Seq2SeqModel, memory: Any, limits: Tensor
) -> tuple[Tensor, Tensor | None, Tensor, Tensor]:
    """Step all sentences together; a sentence leaves the batch when it emits </s>.

    -> tokens (T, B), attention (T, B, S) or None, scores (B,), ends (B,) = step of </s>
    """
    n = limits.size(0)
    alive = torch.arange(n, device=limits.device)  # (A,)
    y = limits.new_full((n,), BOS_ID)
    state: Any = None
    tokens, attention = [], []
    scores = limits.new_zeros(n, dtype=torch.float)
    ends = limits.clone()
    for t in range(int(limits.max()) + 1):
        logits, state, att = model.step(memory, state, y)
        best, y = _log_probs(logits, limits[alive] <= t).max(dim=-1)  # (A,), (A,)
        tokens.append(_scatter(limits.new_full((n,), EOS_ID), alive, y))
        if att is not None:
            attention.append(_scatter(att.new_zeros(n, att.size(-1)), alive, att))
        scores = scores.index_add(0, alive, best)
        ended = y == EOS_ID
        ends = ends.index_fill(0, alive[ended], t)
        n_ended = int(ended.sum())
        if n_ended == alive.numel():
            break
        if n_ended:
            keep = (~ended).nonzero().squeeze(1)  # (A',)
            memory, state = _keep_rows(memory, state, keep, keep)
            alive, y = alive[keep], y[keep]
    return torch.stack(tokens), torch.stack(attention) if attention else None, scores, ends


# ---------------------------------------------------------------------------------------------
# Beam search


class _Beam(NamedTuple):
    """The search state of the A sentences still searching, K live hypotheses each."""

    alive: Tensor  # (A,) sentence index in the batch
    limits: Tensor  # (A,) length limit
    scores: Tensor  # (A, K) total log-prob of each live hypothesis, best first
    y: Tensor  # (A*K,) last token of each live hypothesis
    best_finished: Tensor  # (A, N) best finished scores so far, -inf where fewer than N
    memory: Any  # encoder memory, A rows (memory_per_sentence) or A*K
    state: Any  # decoder state, A*K rows
    memory_per_sentence: bool


class _Trace(NamedTuple):
    """What one step leaves for the backtrace, over all B sentences (rows of stopped ones stale).

    tokens (B, K) token of each live hypothesis after the step; parents (B, K) the slot it
    extends; finished (B, K) score of ending the hypothesis in slot k with </s> (-inf: not
    finished); attention (B, K, S) attention of slot k at this step, or None.
    """

    tokens: Tensor
    parents: Tensor
    finished: Tensor
    attention: Tensor | None


def beam_search(
    model: Seq2SeqModel,
    src: Tensor,
    src_mask: Tensor,
    max_lengths: Tensor,
    beam_size: int,
    n_best: int,
    length_penalty: float,
    stopping: Stopping = "heuristic",
) -> list[list[Hypothesis]]:
    """Batched beam search (B*K rows) with the GNMT length penalty and a stopping rule; see the
    module docstring.

    src (B, S), src_mask (B, S), max_lengths (B,) -> B lists of n_best Hypothesis, best first
    (fewer only when fewer hypotheses exist within the length limit); score = log P / lp(Y).
    """
    _check_inputs(src, src_mask, max_lengths)
    if beam_size < 1 or not 1 <= n_best <= beam_size or not 0 <= length_penalty < math.inf:
        raise UserError(
            "beam_search",
            f"need beam_size >= 1, 1 <= n_best <= beam_size and a finite length_penalty >= 0 "
            f"(got {beam_size}, {n_best}, {length_penalty})",
        )
    if stopping not in STOPPING_RULES:
        raise UserError(
            "beam_search", f"stopping must be one of {STOPPING_RULES}, not {stopping!r}"
        )
    if src.size(0) == 0:
        return []
    with torch.inference_mode():
        beam = _start_beam(model, src, src_mask, max_lengths.to(src.device), beam_size, n_best)
        traces = []
        for t in range(int(max_lengths.max()) + 1):
            stepped, rows, done, trace = _beam_step(
                model, beam, t, length_penalty, stopping, src.size(0)
            )
            traces.append(trace)
            beam = _next_beam(stepped, rows, done)
            if beam is None:
                break
        return _backtrace(traces, src_mask.sum(dim=1).tolist(), n_best)


def _start_beam(
    model: Seq2SeqModel, src: Tensor, src_mask: Tensor, limits: Tensor, k: int, n: int
) -> _Beam:
    """Encode once, then repeat each sentence's memory K times unless the model reads one row
    for K hypotheses; only slot 0 starts live."""
    b = src.size(0)
    memory, per_sentence = model.encode(src, src_mask), memory_per_sentence(model)
    if not per_sentence:
        memory = repeat_rows(memory, b, k, src.device)
    scores = torch.full((b, k), float("-inf"), device=src.device)
    scores[:, 0] = 0.0  # the K copies of <s> would otherwise fill the beam with one prefix
    return _Beam(
        alive=torch.arange(b, device=src.device),
        limits=limits,
        scores=scores,
        y=src.new_full((b * k,), BOS_ID),
        best_finished=torch.full((b, n), float("-inf"), device=src.device),
        memory=memory,
        state=None,
        memory_per_sentence=per_sentence,
    )


def _beam_step(
    model: Seq2SeqModel, beam: _Beam, t: int, alpha: float, stopping: Stopping, n_sentences: int
) -> tuple[_Beam, Tensor, Tensor, _Trace]:
    """One decoding step of every live hypothesis.

    -> the beam after the step (its state still in the old row order), rows (A, K): the row
    each new live hypothesis extends, done (A,): the sentences that stop here, and the trace.
    """
    a, k = beam.scores.shape
    logits, state, att = model.step(beam.memory, beam.state, beam.y)
    log_probs = _log_probs(logits, (beam.limits <= t).repeat_interleave(k))  # (A*K, V)
    v = log_probs.size(-1)
    candidates = (beam.scores.unsqueeze(2) + log_probs.view(a, k, v)).view(a, k * v)  # (A, K*V)
    top, index = candidates.topk(min(2 * k, k * v), dim=1)  # (A, 2K), best first
    parent, token = index // v, index % v  # (A, 2K)
    is_eos = token == EOS_ID
    # fairseq: </s> among the first K candidates ends a hypothesis; one </s> per parent at most
    ends = is_eos[:, :k] & top[:, :k].isfinite()
    ended = torch.where(ends, top[:, :k], float("-inf"))  # (A, K)
    finished = torch.full_like(beam.scores, float("-inf"))
    finished = finished.scatter_reduce(1, parent[:, :k], ended, reduce="amax")  # (A, K) by parent
    finished = finished / gnmt_lp(t + 1, alpha)
    live = torch.argsort(is_eos.long(), dim=1, stable=True)[:, :k]  # first K non-</s>, (A, K)
    scores, parent, token = top.gather(1, live), parent.gather(1, live), token.gather(1, live)
    best = torch.cat([beam.best_finished, finished], dim=1).topk(beam.best_finished.size(1)).values
    longest = t + 1 if stopping == "heuristic" else beam.limits + 1  # lp's length in the bound
    cannot_improve = best[:, -1] >= scores[:, 0] / gnmt_lp(longest, alpha)
    done = cannot_improve | (beam.limits <= t)  # (A,)
    rows = (torch.arange(a, device=token.device) * k).unsqueeze(1) + parent  # (A, K)
    stepped = beam._replace(scores=scores, y=token.view(a * k), best_finished=best, state=state)
    return stepped, rows, done, _trace_step(beam.alive, n_sentences, token, parent, finished, att)


def _trace_step(
    alive: Tensor, n: int, token: Tensor, parent: Tensor, finished: Tensor, att: Tensor | None
) -> _Trace:
    """Spread one step's (A, K) results over all B sentences."""
    k = token.size(1)
    attention = None
    if att is not None:
        att = att.view(alive.numel(), k, att.size(-1))  # (A, K, S)
        attention = _scatter(att.new_zeros(n, k, att.size(-1)), alive, att)  # (B, K, S)
    return _Trace(
        tokens=_scatter(token.new_full((n, k), PAD_ID), alive, token),
        parents=_scatter(parent.new_zeros(n, k), alive, parent),
        finished=_scatter(finished.new_full((n, k), float("-inf")), alive, finished),
        attention=attention,
    )


def _next_beam(beam: _Beam, rows: Tensor, done: Tensor) -> _Beam | None:
    """Reorder the state to follow the surviving hypotheses (rows (A, K)) and drop the
    sentences that are done from the batch; None when none is left."""
    n_done = int(done.sum())
    if n_done == done.numel():
        return None
    if n_done == 0:
        return beam._replace(state=select_batch(beam.state, rows.view(-1)))
    keep = (~done).nonzero().squeeze(1)  # (A',)
    k = beam.scores.size(1)
    kept_rows = ((keep * k).unsqueeze(1) + torch.arange(k, device=keep.device)).view(-1)  # (A'*K,)
    memory_rows = keep if beam.memory_per_sentence else kept_rows
    memory, state = _keep_rows(beam.memory, beam.state, memory_rows, rows[keep].view(-1))
    return _Beam(
        alive=beam.alive[keep],
        limits=beam.limits[keep],
        scores=beam.scores[keep],
        y=beam.y[kept_rows],
        best_finished=beam.best_finished[keep],
        memory=memory,
        state=state,
        memory_per_sentence=beam.memory_per_sentence,
    )


def _backtrace(
    traces: list[_Trace], real_lengths: list[int], n_best: int
) -> list[list[Hypothesis]]:
    """Pick each sentence's n_best finished hypotheses and follow their parents back to <s>.

    A hypothesis finished at step e from slot c: its token at step s < e is tokens[s][c_s],
    where c_{e-1} = c and c_{s-1} = parents[s][c_s]; its attention row at step s is that of
    the slot it extended, parents[s][c_s], and at step e that of c.
    """
    tokens = torch.stack([tr.tokens for tr in traces])  # (T, B, K)
    parents = torch.stack([tr.parents for tr in traces])  # (T, B, K)
    finished = torch.stack([tr.finished for tr in traces])  # (T, B, K)
    n_steps, b, k = tokens.shape
    flat = finished.permute(1, 0, 2).reshape(b, n_steps * k)  # (B, T*K)
    scores, index = flat.topk(min(n_best, n_steps * k), dim=1)  # (B, N)
    end, cursor = index // k, index % k  # (B, N) step of </s>, slot it extended
    out_tokens = torch.full((n_steps, b, end.size(1)), PAD_ID, device=tokens.device)
    source_slot = torch.zeros_like(out_tokens)  # (T, B, N) slot whose attention row is used
    for s in reversed(range(n_steps)):
        before_end = s < end
        tok, par = tokens[s].gather(1, cursor), parents[s].gather(1, cursor)  # (B, N)
        out_tokens[s] = torch.where(before_end, tok, out_tokens[s])
        cursor = torch.where(before_end, par, cursor)
        source_slot[s] = cursor
    rows = None
    if traces[0].attention is not None:
        attention = torch.stack([tr.attention for tr in traces])  # (T, B, K, S)
        slot = source_slot.unsqueeze(3).expand(-1, -1, -1, attention.size(3))  # (T, B, N, S)
        rows = attention.gather(2, slot).permute(1, 2, 0, 3)  # (B, N, T, S)
    ids = out_tokens.permute(1, 2, 0).tolist()  # (B, N, T), one transfer
    ends, values = end.tolist(), scores.tolist()
    return [
        [
            Hypothesis(
                tokens=ids[i][j][: ends[i][j]],
                score=values[i][j],
                attention=None if rows is None else rows[i, j, : ends[i][j] + 1, : real_lengths[i]],
            )
            for j in range(len(ends[i]))
            if values[i][j] > float("-inf")
        ]
        for i in range(b)
    ]
