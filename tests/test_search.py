"""Greedy and beam search against two toys that keep the model interface exactly:
a scripted model whose next-token probabilities we choose (so beams can be worked out by hand)
and a tiny GRU with dot attention (for invariants: batch independence, beam 1 = greedy,
exhaustive search, rescoring)."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from typing import Any, NamedTuple

import pytest
import torch
from torch import Tensor, nn

from attnlab import search
from attnlab.config import ModelConfig, Stopping
from attnlab.data.batching import collate_source
from attnlab.data.vocab import BOS_ID, EOS_ID
from attnlab.errors import UserError
from attnlab.models.build import build_model
from attnlab.search import (
    STOPPING_RULES,
    Hypothesis,
    _log_probs,
    beam_search,
    gnmt_lp,
    greedy_search,
    max_lengths,
)

A, B = 4, 5  # two target words of the scripted toy; ids 0-3 are <pad> <unk> <s> </s>


# ---------------------------------------------------------------------------------------------
# Toys


class ScriptMemory(NamedTuple):
    mask: Tensor  # (B, S)


class ScriptState(NamedTuple):
    prefix: Tensor  # (B, t+1), <s> first


Script = Callable[[tuple[int, ...], int], dict[int, float]]  # (prefix, S_real) -> p(next)


class ScriptedToy(nn.Module):
    """p(next | prefix) = script(prefix, S_real); attention is one-hot at a position that depends
    on the prefix, (len(prefix) + sum(prefix)) mod S_real, so a wrong path shows up in the rows."""

    def __init__(self, script: Script, vocab_size: int = 7) -> None:
        super().__init__()
        self.script, self.vocab_size = script, vocab_size
        self.steps = 0  # test bookkeeping only: how often search called step
        self.rows: list[int] = []  # and with how many rows each time

    def encode(self, src: Tensor, src_mask: Tensor) -> ScriptMemory:
        return ScriptMemory(src_mask)

    def step(
        self, memory: ScriptMemory, state: ScriptState | None, y_prev: Tensor
    ) -> tuple[Tensor, ScriptState, Tensor]:
        self.steps += 1
        self.rows.append(y_prev.size(0))
        prev = y_prev.unsqueeze(1)
        prefix = prev if state is None else torch.cat([state.prefix, prev], dim=1)  # (B, t+1)
        logits = torch.full((prefix.size(0), self.vocab_size), float("-inf"))
        attention = torch.zeros(memory.mask.shape)
        for row, ids in enumerate(prefix.tolist()):
            s_real = int(memory.mask[row].sum())
            for token, p in self.script(tuple(ids[1:]), s_real).items():
                logits[row, token] = math.log(p)
            attention[row, expected_position(ids[1:], s_real)] = 1.0
        return logits, ScriptState(prefix), attention


def expected_position(prefix: list[int], s_real: int) -> int:
    return (len(prefix) + sum(prefix)) % s_real


def from_table(table: dict[tuple[int, ...], dict[int, float]]) -> Script:
    return lambda prefix, _s_real: table.get(prefix, {EOS_ID: 1.0})


class GruMemory(NamedTuple):
    keys: Tensor  # (B, S, H)
    mask: Tensor  # (B, S)


class GruState(NamedTuple):
    s: Tensor  # (B, H)


class GruToy(nn.Module):
    """Embedding + GRU encoder; decoder s_i = GRU(y_{i-1}, s_{i-1}), dot attention over h_j,
    logits = W tanh([s_i; c_i]). `attend=False` returns no attention (fixed-context style)."""

    def __init__(self, vocab_size: int = 12, hidden: int = 16, seed: int = 0, attend: bool = True):
        super().__init__()
        torch.manual_seed(seed)
        self.src_embed, self.trg_embed = nn.Embedding(20, hidden), nn.Embedding(vocab_size, hidden)
        self.encoder, self.cell = (
            nn.GRU(hidden, hidden, batch_first=True),
            nn.GRUCell(hidden, hidden),
        )
        self.out = nn.Linear(2 * hidden, vocab_size)
        self.attend = attend

    def encode(self, src: Tensor, src_mask: Tensor) -> GruMemory:
        return GruMemory(self.encoder(self.src_embed(src))[0], src_mask)

    def step(
        self, memory: GruMemory, state: GruState | None, y_prev: Tensor
    ) -> tuple[Tensor, GruState, Tensor | None]:
        mask = memory.mask.unsqueeze(2)
        start = (memory.keys * mask).sum(1) / mask.sum(1)  # (B, H) mean of real h_j
        s = self.cell(self.trg_embed(y_prev), start if state is None else state.s)
        e = (memory.keys @ s.unsqueeze(2)).squeeze(2).masked_fill(~memory.mask, float("-inf"))
        alpha = e.softmax(dim=1)  # (B, S)
        c = (alpha.unsqueeze(1) @ memory.keys).squeeze(1)  # (B, H)
        logits = 3.0 * self.out(torch.tanh(torch.cat([s, c], dim=1)))
        return logits, GruState(s), alpha if self.attend else None


def sources(lengths: list[int], seed: int = 1) -> tuple[Tensor, Tensor]:
    g = torch.Generator().manual_seed(seed)
    return collate_source([torch.randint(4, 20, (n,), generator=g).tolist() for n in lengths])


def rescore(model: nn.Module, src: Tensor, mask: Tensor, tokens: list[int]) -> tuple[float, Tensor]:
    """Teacher-forced total log P(tokens </s>) and attention rows of one sentence (1, S)."""
    with torch.no_grad():
        memory, state, total, rows = model.encode(src, mask), None, 0.0, []
        for y_prev, y in zip([BOS_ID, *tokens], [*tokens, EOS_ID], strict=True):
            logits, state, att = model.step(memory, state, torch.tensor([y_prev]))
            total += float(logits.log_softmax(-1)[0, y])
            rows.append(att[0] if att is not None else None)
    return total, torch.stack(rows) if rows[0] is not None else None


# ---------------------------------------------------------------------------------------------
# max_lengths and argument checks


def test_max_lengths_floor_ratio_plus_offset() -> None:
    _, mask = collate_source([[5, 6, 7], [5] * 7, [5]])
    assert max_lengths(mask, 1.5, 2).tolist() == [6, 12, 3]  # int(4.5)+2, int(10.5)+2, int(1.5)+2
    assert max_lengths(mask, 1.0, 0).dtype == torch.long


@pytest.mark.parametrize(
    "call",
    [
        lambda m, s, k, L: beam_search(m, s, k, L, 2, 3, 0.0),  # n_best > beam
        lambda m, s, k, L: beam_search(m, s, k, L, 0, 1, 0.0),
        lambda m, s, k, L: beam_search(m, s, k, L, 2, 1, -1.0),
        lambda m, s, k, L: beam_search(m, s, k, L, 2, 1, float("nan")),
        lambda m, s, k, L: beam_search(m, s, k, L, 2, 1, 1.0, "sometimes"),
        lambda m, s, k, L: greedy_search(m, s, k[:, :1], L),
        lambda m, s, k, L: greedy_search(m, s, k, L[:1]),
        lambda m, s, k, L: max_lengths(k, 0.0, 1),
    ],
)
def test_bad_arguments_raise_user_error(call: Callable) -> None:
    src, mask = sources([3, 2])
    with pytest.raises(UserError):
        call(GruToy(), src, mask, torch.tensor([4, 4]))


def test_empty_batch_gives_empty_result() -> None:
    src, mask = torch.zeros(0, 3, dtype=torch.long), torch.zeros(0, 3, dtype=torch.bool)
    limits = torch.zeros(0, dtype=torch.long)
    assert greedy_search(GruToy(), src, mask, limits) == []
    assert beam_search(GruToy(), src, mask, limits, 2, 1, 1.0) == []


# ---------------------------------------------------------------------------------------------
# Hand-computed searches on the scripted toy

# Greedy takes a (0.5), then </s> (0.4): P = 0.2. Beam 2 keeps b (0.4), whose </s> has 0.9: 0.36.
BEAM_BEATS_GREEDY = {
    (): {A: 0.5, B: 0.4, EOS_ID: 0.1},
    (A,): {EOS_ID: 0.4, A: 0.35, B: 0.25},
    (B,): {EOS_ID: 0.9, A: 0.05, B: 0.05},
}
# "" has P 0.45, "a" 0.11, "a b" 0.44: alpha 0 picks "", alpha 1 "a b" (0.44 over lp 8/6).
PENALTY_FLIPS = {(): {A: 0.55, EOS_ID: 0.45}, (A,): {B: 0.8, EOS_ID: 0.2}}


def one_source(n: int = 5) -> tuple[Tensor, Tensor]:
    return sources([n])


def test_greedy_on_script_takes_argmax_and_its_attention_path() -> None:
    src, mask = one_source()
    [[hyp]] = greedy_search(
        ScriptedToy(from_table(BEAM_BEATS_GREEDY)), src, mask, torch.tensor([9])
    )
    assert hyp.tokens == [A]
    assert hyp.score == pytest.approx(math.log(0.5 * 0.4))
    expected = torch.zeros(2, 5)
    expected[0, expected_position([], 5)] = expected[1, expected_position([A], 5)] = 1
    assert torch.equal(hyp.attention, expected)


def test_beam_finds_better_sequence_than_greedy_with_nbest_order() -> None:
    src, mask = one_source()
    model = ScriptedToy(from_table(BEAM_BEATS_GREEDY))
    [hyps] = beam_search(model, src, mask, torch.tensor([9]), 2, 2, 0.0)
    # after step 2 both finished (0.36, 0.2) beat the best live "a a" (0.175): stop, not step 9
    assert model.steps == 2
    assert [h.tokens for h in hyps] == [[B], [A]]
    assert [h.score for h in hyps] == pytest.approx([math.log(0.36), math.log(0.2)])
    expected = torch.zeros(2, 5)
    expected[0, expected_position([], 5)] = expected[1, expected_position([B], 5)] = 1
    assert torch.equal(hyps[0].attention, expected)


def test_length_penalty_changes_the_winner() -> None:
    src, mask = one_source()
    model = ScriptedToy(from_table(PENALTY_FLIPS))
    [[plain]] = beam_search(model, src, mask, torch.tensor([9]), 2, 1, 0.0)
    assert plain.tokens == [] and plain.score == pytest.approx(math.log(0.45))
    [hyps] = beam_search(model, src, mask, torch.tensor([9]), 3, 3, 1.0)
    assert [h.tokens for h in hyps] == [[A, B], [], [A]]
    expected = [math.log(0.44) / (8 / 6), math.log(0.45) / 1.0, math.log(0.11) / (7 / 6)]
    assert [h.score for h in hyps] == pytest.approx(expected)
    assert [h.attention.shape for h in hyps] == [(3, 5), (1, 5), (2, 5)]
    [[greedy]] = greedy_search(model, src, mask, torch.tensor([9]))
    assert greedy.tokens == [A, B]


def test_length_limit_forces_end_of_sentence() -> None:
    src, mask = sources([3, 3, 3])
    model = ScriptedToy(lambda *_: {A: 0.9, EOS_ID: 0.1})  # never wants to stop
    limits = torch.tensor([0, 2, 5])
    out = greedy_search(model, src, mask, limits)
    assert [h.tokens for [h] in out] == [[], [A] * 2, [A] * 5]
    assert [h.score for [h] in out] == pytest.approx(
        [n * math.log(0.9) + math.log(0.1) for n in limits.tolist()]
    )
    beams = beam_search(model, src, mask, limits, 2, 2, 3.0)  # a strong length reward: the longest
    assert [hyps[0].tokens for hyps in beams] == [[], [A] * 2, [A] * 5]
    assert len(beams[0]) == 1  # within 0 tokens only "" exists


def test_greedy_finished_sentences_leave_the_batch() -> None:
    src, mask = sources([3, 3, 3, 3])
    model = ScriptedToy(lambda *_: {A: 0.9, EOS_ID: 0.1})
    out = greedy_search(model, src, mask, torch.tensor([0, 1, 2, 5]))  # </s> at steps 0 1 2 5
    assert model.rows == [4, 3, 2, 1, 1, 1]
    assert [h.tokens for [h] in out] == [[], [A], [A] * 2, [A] * 5]
    assert [h.score for [h] in out] == pytest.approx(
        [n * math.log(0.9) + math.log(0.1) for n in (0, 1, 2, 5)]
    )


def test_beam_done_sentences_leave_the_batch() -> None:
    src, mask = sources([3, 3, 3, 3])
    model = ScriptedToy(lambda *_: {A: 0.9, EOS_ID: 0.1})
    out = beam_search(model, src, mask, torch.tensor([0, 1, 2, 5]), 2, 1, 3.0)
    # a strong length reward: each sentence is done at its limit, as in greedy, with K rows each
    assert model.rows == [8, 6, 4, 2, 2, 2]
    assert [hyps[0].tokens for hyps in out] == [[], [A], [A] * 2, [A] * 5]
    assert [hyps[0].score for hyps in out] == pytest.approx(
        [(n * math.log(0.9) + math.log(0.1)) / gnmt_lp(n + 1, 3.0) for n in (0, 1, 2, 5)]
    )


def test_a_done_sentence_finishes_nothing_more() -> None:
    stops_early = {(): {EOS_ID: 0.5, A: 0.5}, (A,): {A: 0.99, EOS_ID: 0.01}}  # then (A, A): </s>

    def script(prefix: tuple[int, ...], s_real: int) -> dict[int, float]:
        return from_table(stops_early)(prefix, s_real) if s_real == 1 else {A: 0.9, EOS_ID: 0.1}

    src, mask = sources([1, 3, 3])
    model = ScriptedToy(script)
    out = beam_search(model, src, mask, torch.tensor([5, 5, 5]), 2, 1, 1.0)
    # sentence 0 is done at step 0 ("" scores log 0.5, as the live "a") and leaves the batch:
    # "a a" would score log(0.495) / (8/6) = -0.53 at step 2 and win if it were searched on
    assert model.rows == [6] + [4] * 5
    assert out[0][0].tokens == [] and out[0][0].score == pytest.approx(math.log(0.5))
    assert [hyps[0].tokens for hyps in out[1:]] == [[A] * 5, [A] * 5]


def test_exact_stopping_searches_on_until_the_limits_bound() -> None:
    """The sentence of the test above under stopping="exact": the live "a" (log 0.5) could still
    score log(0.5) / lp(6) at its limit of 5 tokens, above "" (log 0.5 / lp(1)), so the search
    goes on, and "a a" (log 0.495 / lp(3)) wins. With alpha = 0 the bound is "" itself: stop."""
    script = from_table({(): {EOS_ID: 0.5, A: 0.5}, (A,): {A: 0.99, EOS_ID: 0.01}})
    src, mask = sources([1])
    [hyps] = beam_search(ScriptedToy(script), src, mask, torch.tensor([5]), 2, 1, 1.0, "exact")
    assert hyps[0].tokens == [A, A]
    assert hyps[0].score == pytest.approx(math.log(0.495) / gnmt_lp(3, 1.0))
    [plain] = beam_search(ScriptedToy(script), src, mask, torch.tensor([5]), 2, 1, 0.0, "exact")
    assert plain[0].tokens == [] and plain[0].score == pytest.approx(math.log(0.5))


def test_exact_bound_takes_the_penalty_at_the_limit_not_before() -> None:
    """p("") = 0.53, p("a a") = 0.47 (after "a" only "a", then </s> at the limit L = 2), alpha 1:
    "a a" scores log 0.47 / lp(3) = -0.566 > log 0.53 = -0.635. At step 0 the live "a" is
    bounded by log 0.47 / lp(L + 1) = -0.566: go on. The heuristic's lp(1) (-0.755) and an
    off-by-one lp(L) (-0.647) both stop at "" instead."""
    script = from_table({(): {EOS_ID: 0.53, A: 0.47}, (A,): {A: 1.0}})
    src, mask = sources([1])
    limit = torch.tensor([2])
    [exact] = beam_search(ScriptedToy(script), src, mask, limit, 2, 1, 1.0, "exact")
    assert exact[0].tokens == [A, A]
    assert exact[0].score == pytest.approx(math.log(0.47) / gnmt_lp(3, 1.0))
    [heuristic] = beam_search(ScriptedToy(script), src, mask, limit, 2, 1, 1.0, "heuristic")
    assert heuristic[0].tokens == [] and heuristic[0].score == pytest.approx(math.log(0.53))


@pytest.mark.parametrize("alpha", [0.0, 0.7, 2.0])
def test_exact_stopping_never_scores_lower_and_equals_the_heuristic_at_alpha_0(
    alpha: float,
) -> None:
    model = GruToy(seed=3)
    src, mask = sources([3, 5, 7, 4], seed=5)
    limits = max_lengths(mask, 1.5, 2)
    heuristic = beam_search(model, src, mask, limits, 3, 2, alpha, "heuristic")
    exact = beam_search(model, src, mask, limits, 3, 2, alpha, "exact")
    for fast, slow in zip(heuristic, exact, strict=True):  # exact never scores lower
        assert fast[0].score <= slow[0].score + 1e-6
    if alpha == 0.0:
        assert [[(h.tokens, h.score) for h in hyps] for hyps in heuristic] == [
            [(h.tokens, h.score) for h in hyps] for hyps in exact
        ]


def test_log_probs_ban_pad_and_bos_and_force_end_at_the_limit() -> None:
    logits = torch.tensor([[0.0, 1.0, 2.0, 3.0, 4.0], [4.0, 3.0, 2.0, 1.0, 0.0]])
    normaliser = torch.logsumexp(logits, dim=1, keepdim=True)  # not renormalised after the bans
    out = _log_probs(logits, torch.tensor([False, True]))
    inf = float("-inf")
    assert out[0].tolist() == pytest.approx(
        [
            inf,
            1 - normaliser[0, 0].item(),
            inf,
            3 - normaliser[0, 0].item(),
            4 - normaliser[0, 0].item(),
        ]
    )
    assert out[1].tolist() == pytest.approx([inf, inf, inf, 1 - normaliser[1, 0].item(), inf])
    assert logits[0, 0] == 0.0 and logits[1, 2] == 2.0  # the model's logits are left as they were


# ---------------------------------------------------------------------------------------------
# Invariants on the GRU toy

LENGTHS = [7, 1, 4, 9, 2, 6, 3, 8, 5, 9, 1, 6]


@pytest.mark.parametrize("alpha", [0.0, 0.8])
def test_beam_of_one_equals_greedy(alpha: float) -> None:
    model = GruToy()
    src, mask = sources(LENGTHS)
    limits = max_lengths(mask, 1.5, 2)
    greedy = greedy_search(model, src, mask, limits)
    beam = beam_search(model, src, mask, limits, 1, 1, alpha)
    for [g], [b] in zip(greedy, beam, strict=True):
        assert b.tokens == g.tokens
        assert b.score == pytest.approx(g.score / gnmt_lp(len(g.tokens) + 1, alpha), abs=1e-5)
        torch.testing.assert_close(b.attention, g.attention)


def assert_same(alone: list[Hypothesis], batched: list[Hypothesis]) -> None:
    assert [h.tokens for h in alone] == [h.tokens for h in batched]
    assert [h.score for h in alone] == pytest.approx([h.score for h in batched], abs=1e-5)
    for a, b in zip(alone, batched, strict=True):
        torch.testing.assert_close(a.attention, b.attention)


@pytest.mark.parametrize("search", ["greedy", "beam"])
def test_translation_does_not_depend_on_the_batch(search: str) -> None:
    model = GruToy()

    def run(src: Tensor, mask: Tensor) -> list[list[Hypothesis]]:
        limits = max_lengths(mask, 1.5, 2)
        if search == "greedy":
            return greedy_search(model, src, mask, limits)
        return beam_search(model, src, mask, limits, 4, 3, 1.0)

    src, mask = sources(LENGTHS)
    batched = run(src, mask)
    g = torch.Generator().manual_seed(3)
    for i in (0, 1, 3, 10):  # each alone, without padding
        n = LENGTHS[i]
        assert_same(run(src[i : i + 1, :n], mask[i : i + 1, :n])[0], batched[i])
    order = torch.randperm(len(LENGTHS), generator=g)
    for i, hyps in zip(order.tolist(), run(src[order], mask[order]), strict=True):
        assert_same(hyps, batched[i])


def test_nbest_are_distinct_ordered_and_rescore_exactly() -> None:
    model = GruToy(seed=2)
    src, mask = sources([6, 3, 8])
    limits, alpha = torch.tensor([5, 1, 9]), 0.6
    for i, hyps in enumerate(beam_search(model, src, mask, limits, 5, 4, alpha)):
        n = int(mask[i].sum())
        assert len(hyps) == 4
        assert len({tuple(h.tokens) for h in hyps}) == 4
        assert [h.score for h in hyps] == sorted((h.score for h in hyps), reverse=True)
        for h in hyps:
            assert len(h.tokens) <= limits[i] and BOS_ID not in h.tokens and 0 not in h.tokens
            total, rows = rescore(model, src[i : i + 1, :n], mask[i : i + 1, :n], h.tokens)
            assert h.score == pytest.approx(total / gnmt_lp(len(h.tokens) + 1, alpha), abs=1e-5)
            assert h.attention.shape == (len(h.tokens) + 1, n)
            torch.testing.assert_close(h.attention, rows)


def test_wide_beam_is_exhaustive_search() -> None:
    """With 3 allowed words and at most 3 tokens there are 40 sentences; a beam of 40 keeps them
    all, so with alpha = 0 its n-best must be the top of the full enumeration."""
    model = GruToy(vocab_size=6, seed=4)  # words: <unk>, 4, 5
    src, mask = sources([4])
    sentences = [list(s) for n in range(4) for s in itertools.product([1, 4, 5], repeat=n)]
    scored = sorted(((rescore(model, src, mask, s)[0], s) for s in sentences), reverse=True)
    [hyps] = beam_search(model, src, mask, torch.tensor([3]), 40, 5, 0.0)
    assert [h.tokens for h in hyps] == [s for _, s in scored[:5]]
    assert [h.score for h in hyps] == pytest.approx([score for score, _ in scored[:5]], abs=1e-5)


def test_wide_beam_with_exact_stopping_is_exhaustive_search_with_a_length_penalty() -> None:
    """As above with alpha = 1.5: scores divide by lp(|Y|), and the exact stopping rule keeps
    searching until no open hypothesis could still win."""
    model = GruToy(vocab_size=6, seed=4)
    src, mask = sources([4])
    sentences = [list(s) for n in range(4) for s in itertools.product([1, 4, 5], repeat=n)]
    penalised = [(rescore(model, src, mask, s)[0] / gnmt_lp(len(s) + 1, 1.5), s) for s in sentences]
    scored = sorted(penalised, reverse=True)
    [hyps] = beam_search(model, src, mask, torch.tensor([3]), 40, 5, 1.5, "exact")
    assert [h.tokens for h in hyps] == [s for _, s in scored[:5]]
    assert [h.score for h in hyps] == pytest.approx([score for score, _ in scored[:5]], abs=1e-5)


def test_models_without_attention_give_none() -> None:
    model = GruToy(attend=False)
    src, mask = sources([3, 5])
    limits = torch.tensor([4, 6])
    for hyps in greedy_search(model, src, mask, limits) + beam_search(
        model, src, mask, limits, 3, 2, 1.0
    ):
        assert all(h.attention is None for h in hyps)


# ---------------------------------------------------------------------------------------------
# The real models of the lab, through build_model

REAL_MODELS = [
    {"context": "fixed"},
    {"context": "bahdanau", "cell": "lstm"},
    {"context": "luong", "luong_mode": "global"},
    {"context": "luong", "luong_mode": "local-p", "luong_window": 2},
    {"type": "transformer", "heads": 2, "ff_size": 32},
]


@pytest.mark.parametrize("fields", REAL_MODELS, ids=lambda f: "-".join(map(str, f.values())))
def test_real_models_beam_one_is_greedy_and_batch_does_not_matter(fields: dict) -> None:
    cfg = ModelConfig.model_validate(
        {**fields, "hidden_size": 16, "embedding_size": 8, "dropout": 0}
    )
    try:
        model = build_model(cfg, 20, 14).eval()
    except NotImplementedError as exc:  # a model still being written: nothing to search yet
        pytest.skip(str(exc))
    src, mask = sources([5, 2, 7, 3])
    limits = max_lengths(mask, 1.0, 3)
    greedy = greedy_search(model, src, mask, limits)
    for [g], [b] in zip(greedy, beam_search(model, src, mask, limits, 1, 1, 0.0), strict=True):
        assert_same([g], [b])
    beams = beam_search(model, src, mask, limits, 3, 2, 1.0)
    for i in (1, 2):
        n = int(mask[i].sum())
        alone = src[i : i + 1, :n], mask[i : i + 1, :n]
        assert_same(greedy_search(model, *alone, limits[i : i + 1])[0], greedy[i])
        assert_same(beam_search(model, *alone, limits[i : i + 1], 3, 2, 1.0)[0], beams[i])


MEMORY_MODELS = [
    {"type": "transformer", "heads": 2, "ff_size": 32, "kernels": "reference"},
    {"type": "transformer", "heads": 2, "ff_size": 32, "kernels": "fast"},
    {"context": "bahdanau", "cell": "lstm"},
    {"context": "luong", "luong_mode": "global", "cell": "lstm", "input_feeding": True},
    {"context": "luong", "luong_mode": "local-p", "luong_window": 2, "input_feeding": False},
]


@pytest.mark.parametrize("fields", MEMORY_MODELS, ids=lambda f: "-".join(map(str, f.values())))
@pytest.mark.parametrize("stopping", STOPPING_RULES)
def test_beam_keeps_one_memory_row_a_sentence_with_the_same_result(
    fields: dict, stopping: Stopping, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = ModelConfig.model_validate({**fields, "hidden_size": 16, "embedding_size": 8})
    model = build_model(cfg, 20, 14).eval()
    src, mask = sources([5, 2, 7, 3, 6])
    limits = max_lengths(mask, 1.5, 1)  # sentences leave the beam at different steps
    k, ratios = 4, []
    step = model.step

    def counting_step(memory: Any, state: Any, y_prev: Tensor) -> Any:
        ratios.append(y_prev.size(0) // memory[0].size(0))  # hypotheses a memory row
        return step(memory, state, y_prev)

    model.step = counting_step
    shared = beam_search(model, src, mask, limits, k, 3, 1.0, stopping)
    assert set(ratios) == {k}
    ratios.clear()
    monkeypatch.setattr(search, "memory_per_sentence", lambda model: False)  # repeat it K times
    repeated = beam_search(model, src, mask, limits, k, 3, 1.0, stopping)
    assert set(ratios) == {1}
    for a, b in zip(shared, repeated, strict=True):
        assert_same(a, b)
