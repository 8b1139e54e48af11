"""The gradient-path helper against Jacobians known by hand, and on real models."""

from __future__ import annotations

import math

import pytest
import torch
from torch import Tensor, nn

from attnlab.analysis.gradients import (
    capture_output,
    distances_from_end,
    jacobian_norms_by_distance,
    last_step_log_probs,
    source_gradient_profile,
    squared_norms_by_distance,
)
from attnlab.config import load_config
from attnlab.data.batching import collate
from attnlab.models.build import build_model


class LinearRecurrence(nn.Module):
    """h_t = a h_{t-1} + x_t, output h_{n-1}.

    d h_{n-1} / d x_{n-1-k} = a^k I, so G_k = |a|^k sqrt(H).

    forward(src (B, S), mask (B, S)) -> (B, H)
    """

    def __init__(self, a: float, size: int) -> None:
        super().__init__()
        self.a = a
        self.embedding = nn.Embedding(20, size)

    def forward(self, src: Tensor, mask: Tensor) -> Tensor:
        x = self.embedding(src)  # (B, S, H)
        h = x.new_zeros(x.size(0), x.size(2))  # (B, H)
        for t in range(x.size(1)):
            h = torch.where(mask[:, t : t + 1], self.a * h + x[:, t], h)  # padding keeps h
        return h


def _ragged() -> tuple[Tensor, Tensor]:
    src = torch.tensor([[4, 5, 6, 7, 8], [9, 10, 11, 0, 0]])
    return src, src != 0


def test_distances_from_end_by_hand() -> None:
    _, mask = _ragged()
    expected = torch.tensor([[4, 3, 2, 1, 0], [2, 1, 0, -1, -1]])
    assert torch.equal(distances_from_end(mask), expected)


def test_sums_and_counts_by_distance() -> None:
    _, mask = _ragged()
    values = torch.tensor([[1.0, 2.0, 3.0, 4.0, 5.0], [10.0, 20.0, 30.0, 99.0, 99.0]])
    sums, counts = squared_norms_by_distance(values, mask)
    assert torch.equal(sums, torch.tensor([35.0, 24.0, 13.0, 2.0, 1.0]))  # padding never counted
    assert torch.equal(counts, torch.tensor([2, 2, 2, 1, 1]))


@pytest.mark.parametrize("a", [0.5, -0.8, 1.3])
def test_linear_recurrence_exact_is_a_to_the_k(a: float) -> None:
    model = LinearRecurrence(a, size=3)
    src, mask = _ragged()
    with capture_output(model.embedding) as captured:
        output = model(src, mask)
    g = jacobian_norms_by_distance(captured[0], output, mask, None, torch.Generator())
    expected = torch.tensor([abs(a) ** k * math.sqrt(3) for k in range(5)])
    torch.testing.assert_close(g, expected)


def test_probes_give_exact_ratios_and_unbiased_size() -> None:
    a, size = 0.7, 4
    model = LinearRecurrence(a, size)
    src = torch.tensor([[4, 5, 6, 7, 8], [9, 10, 11, 12, 13]])  # every sentence reaches every k
    mask = src != 0
    with capture_output(model.embedding) as captured:
        output = model(src, mask)
    generator = torch.Generator().manual_seed(0)
    g = jacobian_norms_by_distance(captured[0], output, mask, 400, generator)
    ratios = g / g[0]
    torch.testing.assert_close(ratios, torch.tensor([a**k for k in range(5)]))
    assert abs(g[0].item() - math.sqrt(size)) < 0.15 * math.sqrt(size)


def test_distance_no_sentence_reaches_is_nan() -> None:
    model = LinearRecurrence(0.5, size=2)
    src = torch.tensor([[4, 5, 0]])
    mask = src != 0
    with capture_output(model.embedding) as captured:
        output = model(src, mask)
    g = jacobian_norms_by_distance(captured[0], output, mask, None, torch.Generator())
    assert torch.isnan(g[2]) and not torch.isnan(g[:2]).any()


def test_capture_output_leaves_values_and_removes_hook() -> None:
    embedding = nn.Embedding(5, 3)
    ids = torch.tensor([[1, 2]])
    with capture_output(embedding) as captured:
        out = embedding(ids)
    assert captured[0] is out and out.is_leaf and out.requires_grad
    torch.testing.assert_close(out, embedding.weight[ids])
    assert not embedding._forward_hooks  # the hook is gone afterwards


def test_last_step_log_probs_picks_each_sentences_last_real_step() -> None:
    logits = torch.arange(2 * 3 * 4, dtype=torch.float).view(2, 3, 4)
    trg_mask = torch.tensor([[True, True, True], [True, False, False]])
    out = last_step_log_probs(logits, trg_mask)
    torch.testing.assert_close(out[0], torch.log_softmax(logits[0, 2], -1))
    torch.testing.assert_close(out[1], torch.log_softmax(logits[1, 0], -1))


GRU_FIXED = ["model.cell=gru", "model.context=fixed", "model.bidirectional=false"]


def _tiny(overrides: list[str]) -> nn.Module:
    cfg = load_config(None, ["model.hidden_size=16", "model.embedding_size=8", *overrides])
    torch.manual_seed(0)
    return build_model(cfg.model, 12, 9)


@pytest.mark.parametrize(
    ("overrides", "embedding"),
    [
        (GRU_FIXED, "encoder.embedding"),
        (["model.type=transformer", "model.heads=2", "model.ff_size=32"], "src_embed"),
    ],
)
def test_profile_of_a_sentence_ignores_padding_and_other_sentences(
    overrides: list[str], embedding: str
) -> None:
    model = _tiny(overrides)
    module = model.get_submodule(embedding)
    alone = collate([([4, 5, 6, 7], [5, 6])])
    g_alone = source_gradient_profile(model, module, alone, None, seed=0)
    # Same sentence beside a longer one: distances 0..3 now average two sentences, so compare
    # against the profile of the pair computed one sentence at a time.
    pair = collate([([4, 5, 6, 7], [5, 6]), ([8, 9, 10, 11, 4, 5], [7])])
    other = collate([([8, 9, 10, 11, 4, 5], [7])])
    g_pair = source_gradient_profile(model, module, pair, None, seed=0)
    g_other = source_gradient_profile(model, module, other, None, seed=0)
    expected = torch.cat([((g_alone[:4] ** 2 + g_other[:4] ** 2) / 2).sqrt(), g_other[4:]])
    torch.testing.assert_close(g_pair, expected)
    assert (g_alone[:4] > 0).all() and model.training  # training mode restored


def test_fixed_context_gru_decays_with_distance_at_init() -> None:
    """A fixed-context GRU reads the first words through many more steps than the last ones."""
    model = _tiny(GRU_FIXED)
    batch = collate([([4 + (i % 8) for i in range(j, j + 20)], [5, 6]) for j in range(4)])
    g = source_gradient_profile(model, model.encoder.embedding, batch, None, seed=0)
    assert g[15:].mean() < 0.1 * g[:3].mean()
