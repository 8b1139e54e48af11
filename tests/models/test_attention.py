"""Recurrent attention: masked softmax by hand, uniform and one-hot weights through every variant,
weights on padding and outside local windows, the local-p Gaussian by hand."""

from __future__ import annotations

import math

import pytest
import torch

from attnlab.models.attention import (
    AdditiveScore,
    Attention,
    DotScore,
    GeneralScore,
    GlobalAttention,
    LocalAttention,
    MonotonicPosition,
    PredictivePosition,
    context,
    local_window,
    masked_softmax,
)

K = 4  # query, key and value size in these tests
SCORES = ["dot", "general", "concat"]
MODES = ["global", "local-m", "local-p"]


pytestmark = pytest.mark.usefixtures("float64")


def make_attention(score: str, mode: str, window: int = 50) -> Attention:
    torch.manual_seed(0)
    scorer = {"dot": DotScore(), "general": GeneralScore(K, K), "concat": AdditiveScore(K, K, K)}
    s = scorer[score]
    if mode == "global":
        return GlobalAttention(s)
    if mode == "local-m":
        return LocalAttention(s, MonotonicPosition(), window, gaussian=False)
    return LocalAttention(s, PredictivePosition(K), window, gaussian=True)


def _batch() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """values (2, 5, K) with the second sentence 3 real words long, mask, t (2, 3)"""
    torch.manual_seed(1)
    values = torch.randn(2, 5, K)
    mask = torch.tensor([[True] * 5, [True, True, True, False, False]])
    return values, mask, torch.arange(3).expand(2, 3)


def test_masked_softmax_by_hand() -> None:
    scores = torch.tensor([[[0.0, math.log(3.0), 5.0]]])
    mask = torch.tensor([[[True, True, False]]])
    assert torch.allclose(masked_softmax(scores, mask), torch.tensor([[[0.25, 0.75, 0.0]]]))
    none = masked_softmax(scores, torch.zeros_like(mask))
    assert torch.equal(none, torch.zeros_like(scores))  # no real word: zeros, not NaN


def test_context_function_uniform_and_one_hot() -> None:
    values, mask, _ = _batch()
    uniform = mask.unsqueeze(1) / mask.sum(1, keepdim=True).unsqueeze(1)  # (B, 1, S)
    assert torch.allclose(context(uniform, values)[1, 0], values[1, :3].mean(0))
    one_hot = torch.zeros(2, 1, 5)
    one_hot[:, 0, 2] = 1.0
    assert torch.equal(context(one_hot, values)[:, 0], values[:, 2])


@pytest.mark.parametrize("mode", ["global", "local-m"])
@pytest.mark.parametrize("score", SCORES)  # concat is also Bahdanau's score
def test_uniform_scores_give_the_mean_of_the_real_states(score: str, mode: str) -> None:
    attention = make_attention(score, mode)
    with torch.no_grad():  # make every score 0
        for name, p in attention.named_parameters():
            if name in ("score.w_a.weight", "score.v_a.weight"):
                p.zero_()
    values, mask, t = _batch()
    query = torch.zeros(2, 3, K)  # also zeroes the dot score
    keys = attention.project_keys(values)
    c, alpha = attention(query, keys, values, mask, t)
    assert torch.allclose(alpha[1], torch.tensor([1 / 3] * 3 + [0.0, 0.0]).expand(3, 5))
    assert torch.allclose(c[0], values[0].mean(0).expand(3, K), atol=1e-12)
    assert torch.allclose(c[1], values[1, :3].mean(0).expand(3, K), atol=1e-12)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("score", SCORES)
def test_a_dominant_score_makes_the_context_exactly_h_j(score: str, mode: str) -> None:
    attention = make_attention(score, mode)
    values, mask, t = _batch()
    j = 1
    keys = torch.zeros(2, 5, K)  # keys given directly: only key j is non-zero
    keys[:, j] = 1.0
    query = torch.full((2, 3, K), 20.0)  # dot / general: e_j = 80, every other e = 0
    if score == "concat":
        with torch.no_grad():
            attention.score.w_a.weight.zero_()
            attention.score.v_a.weight.fill_(100.0)  # e_j = 400 tanh(1), every other e = 0
    c, alpha = attention(query, keys, values, mask, t)
    assert torch.allclose(alpha[..., j], torch.ones(2, 3), atol=1e-12)
    assert torch.allclose(c, values[:, j : j + 1].expand(2, 3, K), atol=1e-12)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("score", SCORES)
def test_weights_sum_to_one_and_are_zero_on_padding(score: str, mode: str) -> None:
    attention = make_attention(score, mode, window=2)
    values, mask, t = _batch()
    query = torch.randn(2, 3, K)
    _, alpha = attention(query, attention.project_keys(values), values, mask, t)
    assert alpha.shape == (2, 3, 5)
    assert torch.allclose(alpha.sum(-1), torch.ones(2, 3))
    assert torch.all(alpha[1, :, 3:] == 0)


def test_local_m_is_zero_outside_its_window_and_clips_to_the_last_word() -> None:
    attention = make_attention("general", "local-m", window=1)
    values, mask, _ = _batch()
    t = torch.arange(5).expand(2, 5)  # target positions 0..4; sentence 1 has 3 source words
    _, alpha = attention(torch.randn(2, 5, K), attention.project_keys(values), values, mask, t)
    p = torch.minimum(t, mask.sum(1, keepdim=True) - 1)  # (B, T)
    s = torch.arange(5)
    inside = ((s - p.unsqueeze(-1)).abs() <= 1) & mask.unsqueeze(1)  # (B, T, S)
    assert torch.all(alpha[~inside] == 0) and torch.all(alpha[inside] > 0)
    assert torch.all(alpha[1, 4, 1:3] > 0)  # t = 4 > S - 1: held at p = 2, window {1, 2}


def test_local_p_gaussian_by_hand_and_zero_outside_its_window() -> None:
    attention = make_attention("dot", "local-p", window=2)  # sigma = 1
    values, mask, t = _batch()
    query = torch.zeros(2, 3, K)  # dot scores 0 and p_t = S * sigmoid(0) = S / 2
    _, alpha = attention(query, values, values, mask, t)
    # sentence 0: S = 5, p = 2.5, window s in {1, 2, 3, 4}, weight ~ exp(-(s - 2.5)^2 / 2)
    w = torch.tensor([0.0] + [math.exp(-((s - 2.5) ** 2) / 2) for s in range(1, 5)])
    assert torch.allclose(alpha[0], (w / w.sum()).expand(3, 5), atol=1e-12)
    # sentence 1: S = 3, p = 1.5, window {0, 1, 2} (s = 3.5 would be too, but it is padding)
    w = torch.tensor([math.exp(-((s - 1.5) ** 2) / 2) for s in range(3)] + [0.0, 0.0])
    assert torch.allclose(alpha[1], (w / w.sum()).expand(3, 5), atol=1e-12)


def test_local_window_helper() -> None:
    p = torch.tensor([[0.0, 3.4]])
    mask = torch.tensor([[True, True, True, True, False]])
    in_window, distance = local_window(p, mask, 1)
    assert torch.equal(
        in_window[0],
        torch.tensor([[True, True, False, False, False], [False, False, False, True, False]]),
    )
    assert torch.allclose(distance[0, 1], torch.tensor([-3.4, -2.4, -1.4, -0.4, 0.6]))


def test_additive_score_by_hand() -> None:
    score = AdditiveScore(1, 1, 2)
    with torch.no_grad():
        score.w_a.weight.copy_(torch.tensor([[1.0], [2.0]]))
        score.u_a.weight.copy_(torch.tensor([[1.0], [-1.0]]))
        score.u_a.bias.zero_()
        score.v_a.weight.copy_(torch.tensor([[1.0, 3.0]]))
    query, values = torch.tensor([[[0.5]]]), torch.tensor([[[0.25], [1.0]]])
    e = score(query, score.project_keys(values))
    # e_j = tanh(0.5 + h_j) + 3 tanh(1.0 - h_j)
    expected = [math.tanh(0.5 + h) + 3 * math.tanh(1.0 - h) for h in (0.25, 1.0)]
    assert torch.allclose(e, torch.tensor([[expected]]), atol=1e-12)
