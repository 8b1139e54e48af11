"""The fast Transformer's decoding step (models/fast/transformer.py, models/fast/linear.py) held
to the reference step: the same logits and attention at every step, through reorders, shrinking
batches and a state stepped twice, and the same greedy and beam outputs; the recurrent decoders'
output layer through oneDNN (`decoder_logits`) gives the same logits and translations."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from attnlab.config import ModelConfig
from attnlab.data.batching import collate_source
from attnlab.models.fast.linear import decoder_logits, output_logits
from attnlab.models.fast.transformer import CACHE_CHUNK, GrowingCache
from attnlab.models.interface import select_batch
from attnlab.search import beam_search, greedy_search, max_lengths
from tests.models.kernels import build_pair

V = 40
SOURCES = [[4, 5, 6, 7, 8, 9, 10], [11, 12], [13, 14, 15, 4], [5, 5, 6]]


def _pair() -> tuple[nn.Module, nn.Module]:
    cfg = ModelConfig(
        type="transformer", embedding_size=16, hidden_size=16, heads=2, ff_size=32,
        num_layers=2, dropout=0.0, max_positions=64,
    )  # fmt: skip
    return build_pair(cfg, V, V, seed=3)


@pytest.mark.parametrize("bias", [True, False])
def test_output_logits_equals_the_layer_with_autograd_off(bias: bool) -> None:
    layer = nn.Linear(16, 3000, bias=bias)
    x = torch.randn(5, 16)
    with torch.inference_mode():
        assert torch.allclose(output_logits(x, layer), layer(x), atol=1e-5)
        assert torch.allclose(output_logits(x[::2], layer), layer(x[::2]), atol=1e-5)


def test_output_logits_keeps_the_layer_and_its_gradients_with_autograd_on() -> None:
    layer, x = nn.Linear(16, 300), torch.randn(5, 16, requires_grad=True)
    output_logits(x, layer).square().sum().backward()
    grads = x.grad.clone(), layer.weight.grad.clone()
    x.grad, layer.weight.grad = None, None
    layer(x).square().sum().backward()
    assert torch.equal(grads[0], x.grad) and torch.equal(grads[1], layer.weight.grad)


@pytest.mark.parametrize("tied", [False, True])
def test_decoder_logits_equals_the_output_layer_with_autograd_off(tied: bool) -> None:
    linear = nn.Linear(8, 300)
    output = nn.Sequential(nn.Linear(12, 8), nn.Tanh(), linear) if tied else linear  # readout
    x = torch.randn(2, 5, 12 if tied else 8)
    with torch.inference_mode():
        assert torch.allclose(decoder_logits(x, output), output(x), atol=1e-5)


@pytest.mark.parametrize(
    "decoder",
    [
        {"context": "bahdanau", "cell": "gru"},  # the fused loop
        {"context": "bahdanau", "cell": "lstm", "tie_embeddings": True},  # readout before E
        {"context": "luong", "cell": "lstm"},
        {"context": "fixed", "cell": "gru", "feed_context": True},
    ],
    ids=["gru-bahdanau", "lstm-bahdanau-tied", "lstm-luong", "gru-fixed"],
)
def test_recurrent_models_translate_as_with_the_reference(decoder: dict) -> None:
    cfg = ModelConfig(type="rnn", embedding_size=8, hidden_size=16, dropout=0.0, **decoder)
    reference, fast = build_pair(cfg, V, V, seed=5)
    src, mask = collate_source(SOURCES)
    limits = max_lengths(mask, 2.0, 5)
    for search in (
        lambda model: greedy_search(model, src, mask, limits),
        lambda model: beam_search(model, src, mask, limits, 3, 2, 1.0),
    ):
        ours, theirs = search(fast), search(reference)
        assert [[h.tokens for h in hyps] for hyps in ours] == [
            [h.tokens for h in hyps] for hyps in theirs
        ]
        assert [h.score for hyps in ours for h in hyps] == pytest.approx(
            [h.score for hyps in theirs for h in hyps], abs=1e-4
        )


def _step_both(reference, fast, memories, states, y):  # type: ignore[no-untyped-def]
    """One step of each model; asserts equal logits and attention, returns the new states."""
    (ref_logits, ref_state, ref_att), (logits, state, att) = (
        model.step(memory, state, y)
        for model, memory, state in zip((reference, fast), memories, states, strict=True)
    )
    assert torch.allclose(logits, ref_logits, atol=1e-5)
    assert torch.allclose(att, ref_att, atol=1e-6)
    return ref_state, state


@torch.inference_mode()
def test_the_growing_cache_step_equals_the_reference_step() -> None:
    reference, fast = _pair()
    src, mask = collate_source(SOURCES)
    memories = reference.encode(src, mask), fast.encode(src, mask)
    states, generator = (None, None), torch.Generator().manual_seed(0)
    for t in range(CACHE_CHUNK + 5):  # past one growth of the buffers
        y = torch.randint(4, V, (src.size(0),), generator=generator)
        states = _step_both(reference, fast, memories, states, y)
        if t == 3:  # beam search's reorder: rows repeat and vanish
            rows = torch.tensor([2, 0, 0, 1])
            states = tuple(select_batch(s, rows) for s in states)
            memories = tuple(select_batch(m, rows) for m in memories)
    assert isinstance(states[1], GrowingCache) and states[1].position == CACHE_CHUNK + 5


@torch.inference_mode()
def test_the_step_without_source_padding_equals_the_reference_step() -> None:
    reference, fast = _pair()
    src, mask = collate_source([[4, 5, 6], [7, 8, 9], [10, 11, 12]])  # no padding: no bias M
    memories = reference.encode(src, mask), fast.encode(src, mask)
    assert memories[1].cross_bias is None
    states = (None, None)
    for y in ([5, 6, 7], [8, 9, 10], [11, 12, 13]):
        states = _step_both(reference, fast, memories, states, torch.tensor(y))


def test_the_step_refuses_a_padded_memory_without_its_bias() -> None:
    reference, fast = _pair()
    src, mask = collate_source(SOURCES)
    with pytest.raises(ValueError, match="cross_bias"):  # it would attend to the padding
        fast.step(reference.encode(src, mask), None, torch.full((4,), 5))


def test_the_cross_bias_is_zero_on_real_tokens_and_minus_infinity_at_the_padding() -> None:
    _, fast = _pair()
    src, mask = collate_source(SOURCES)
    bias = fast.encode(src, mask).cross_bias  # (B, heads, 1, S)
    assert bias.shape == (4, 2, 1, src.size(1))
    expected = torch.where(mask, 0.0, float("-inf"))[:, None, None, :].expand(-1, 2, -1, -1)
    assert torch.equal(bias, expected)


@torch.inference_mode()
def test_a_state_stepped_twice_gives_both_steps_their_own_cache() -> None:
    reference, fast = _pair()
    src, mask = collate_source(SOURCES)
    memories = reference.encode(src, mask), fast.encode(src, mask)
    states = _step_both(reference, fast, memories, (None, None), torch.full((4,), 5))
    first = _step_both(reference, fast, memories, states, torch.full((4,), 6))
    second = _step_both(reference, fast, memories, states, torch.full((4,), 7))  # writes a copy
    for branch in (first, second):  # each branch goes on as if the other had never been taken
        _step_both(reference, fast, memories, branch, torch.full((4,), 8))


def test_greedy_and_beam_search_translate_as_with_the_reference() -> None:
    reference, fast = _pair()
    src, mask = collate_source(SOURCES)
    limits = max_lengths(mask, 3.0, 10)
    ours, theirs = (
        greedy_search(fast, src, mask, limits),
        greedy_search(reference, src, mask, limits),
    )
    assert [h[0].tokens for h in ours] == [h[0].tokens for h in theirs]
    ours = beam_search(fast, src, mask, limits, 4, 2, 1.0)
    theirs = beam_search(reference, src, mask, limits, 4, 2, 1.0)
    assert [[h.tokens for h in hyps] for hyps in ours] == [
        [h.tokens for h in hyps] for hyps in theirs
    ]
    assert [h.score for hyps in ours for h in hyps] == pytest.approx(
        [h.score for hyps in theirs for h in hyps], abs=1e-4
    )
