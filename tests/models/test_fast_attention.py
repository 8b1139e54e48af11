"""The fast attention twins (models/fast/attention.py) against the reference: the additive
score's sigmoid route (values and gradcheck), heads_attention's paths against the reference and
torch's own kernel, biased_attention's passes over the scores, FastMultiHeadAttention (padded
and real-token paths), outputs and gradients."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from attnlab.models.attention import (
    AdditiveScore,
    MultiHeadAttention,
    additive_scores,
    causal_mask,
    scaled_dot_product_attention,
)
from attnlab.models.fast.attention import (
    FastAdditiveScore,
    FastMultiHeadAttention,
    biased_attention,
    fast_additive_scores,
    heads_attention,
)
from attnlab.models.fast.real_tokens import RealTokens

pytestmark = pytest.mark.usefixtures("float64")


def test_fast_additive_scores_equal_the_tanh_form_and_pass_gradcheck() -> None:
    gen = torch.Generator().manual_seed(0)
    q = torch.randn(2, 3, 4, generator=gen, requires_grad=True)
    k = torch.randn(2, 5, 4, generator=gen, requires_grad=True)
    v = torch.randn(4, generator=gen, requires_grad=True)
    torch.testing.assert_close(fast_additive_scores(q, k, v), additive_scores(q, k, v))
    assert torch.autograd.gradcheck(fast_additive_scores, (q, k, v))


def test_fast_additive_score_module_equals_the_reference_with_its_gradients() -> None:
    torch.manual_seed(0)
    reference = AdditiveScore(4, 6, 5)
    fast = FastAdditiveScore(4, 6, 5)
    fast.load_state_dict(reference.state_dict())
    query, values = torch.randn(2, 3, 4), torch.randn(2, 7, 6)
    results = []
    for score in (fast, reference):
        e = score(query, score.project_keys(values))  # (B, T, S)
        e.sin().sum().backward()
        results.append([e, *(p.grad for p in score.parameters())])
    for a, b in zip(*results, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-12)


@pytest.mark.parametrize(
    ("t", "s", "causal", "padded"),
    [(5, 7, False, True), (6, 6, True, False), (6, 6, True, True), (2, 6, True, False)],
    ids=["cross-padded", "causal", "causal-padded", "causal-after-cache"],
)
def test_heads_attention_equals_the_reference_and_torchs_kernel(
    t: int, s: int, causal: bool, padded: bool
) -> None:
    """With and without weights: the same context and gradients as the reference function
    (with the causal mask made explicit) and as torch's own fused kernel."""
    torch.manual_seed(0)
    q, k, v = (torch.randn(3, 2, n, 8, requires_grad=True) for n in (t, s, s))
    mask = None
    if padded:
        mask = (torch.arange(s)[None] < torch.tensor([s, 3, 1])[:, None])[:, None, None]
    visible = causal_mask(t, s, q.device) if causal else None
    if mask is not None:
        visible = mask if visible is None else mask & visible
    weightless, none = heads_attention(q, k, v, mask, causal, need_weights=False)
    explicit, alpha = heads_attention(q, k, v, mask, causal, need_weights=True)
    reference, reference_alpha = scaled_dot_product_attention(q, k, v, visible)
    torchs = F.scaled_dot_product_attention(q, k, v, attn_mask=visible)
    assert none is None and alpha is not None
    torch.testing.assert_close(alpha, reference_alpha, rtol=0, atol=1e-12)
    grad = torch.randn_like(reference)
    expected = torch.autograd.grad(reference, (q, k, v), grad)
    for out in (weightless, explicit, torchs):
        torch.testing.assert_close(out, reference, rtol=0, atol=1e-12)
        for a, b in zip(torch.autograd.grad(out, (q, k, v), grad), expected, strict=True):
            torch.testing.assert_close(a, b, rtol=0, atol=1e-12)


def test_biased_attention_neither_copies_nor_fills_the_scores() -> None:
    """Forward and backward make no copy or fill of a (B, heads, T, S) tensor, where the
    reference's masked_fill makes a copy and a fill forward and a fill backward; the same
    context, weights and gradients."""
    torch.manual_seed(0)
    q, k, v = (torch.randn(3, 2, n, 8, requires_grad=True) for n in (5, 7, 7))
    mask = (torch.arange(7)[None] < torch.tensor([7, 3, 1])[:, None])[:, None, None]
    copies_and_fills = {"aten::clone", "aten::copy_", "aten::masked_fill", "aten::masked_fill_"}
    results = []
    for attention in (biased_attention, scaled_dot_product_attention):
        with torch.profiler.profile(record_shapes=True) as profile:
            context, alpha = attention(q, k, v, mask)
            grads = torch.autograd.grad(context.sin().sum(), (q, k, v))
        ops = {
            event.key
            for event in profile.key_averages(group_by_input_shape=True)
            if event.input_shapes and event.input_shapes[0] == [3, 2, 5, 7]  # (B, heads, T, S)
        }
        results.append((ops & copies_and_fills, [context, alpha, *grads]))
    (fast_ops, fast), (reference_ops, reference) = results
    assert fast_ops == set()
    assert reference_ops == copies_and_fills
    for a, b in zip(fast, reference, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-12)


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("separate", [False, True], ids=["self", "separate-values"])
def test_fast_multi_head_attention_equals_the_reference(causal: bool, separate: bool) -> None:
    """Context, weights and every gradient; keys and values one tensor (one matmul) or two."""
    torch.manual_seed(0)
    reference = MultiHeadAttention(16, heads=4, causal=causal)
    fast = FastMultiHeadAttention(16, heads=4, causal=causal)
    fast.load_state_dict(reference.state_dict())
    x = torch.randn(2, 5, 16, requires_grad=True)
    values = torch.randn(2, 5, 16) if separate else x
    mask = None if causal else torch.tensor([[1, 1, 1, 1, 1], [1, 1, 0, 0, 0]]).bool()[:, None]
    results = []
    for attn in (fast, reference):
        context, alpha = attn(x, x, values, mask, need_weights=True)
        (context.sin().sum()).backward()
        results.append([context, alpha, x.grad.clone(), *(p.grad for p in attn.parameters())])
        x.grad = None
    for a, b in zip(*results, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-12)


@pytest.mark.parametrize("causal", [False, True])
def test_the_real_token_path_equals_the_padded_path_at_the_real_positions(causal: bool) -> None:
    torch.manual_seed(1)
    attn = FastMultiHeadAttention(12, heads=3, causal=causal)
    mask = torch.arange(4)[None] < torch.tensor([4, 2, 3])[:, None]  # (B, L) = (3, 4)
    tokens = RealTokens.of(mask, heads=3, multiple=8)  # 9 real tokens in 16 rows
    assert tokens is not None
    x = torch.randn(3, 4, 12, requires_grad=True)
    key_mask = None if causal else mask[:, None]  # (B, 1, L)
    padded, padded_alpha = attn(x, x, x, key_mask, need_weights=True)
    packed = tokens.pack(x)  # (R, H)
    k, v = attn.project_kv_tokens(packed, tokens)
    context, alpha = attn.attend_tokens(packed, k, v, key_mask, True, tokens)
    torch.testing.assert_close(tokens.unpack(context), padded * mask[..., None])
    real = mask[:, None, :, None]  # (B, 1, L, 1): weights of the real query rows
    torch.testing.assert_close(alpha * real, padded_alpha * real)
    grads = [
        torch.autograd.grad((out * mask[..., None]).sin().sum(), x)[0]
        for out in (tokens.unpack(context), padded)
    ]
    torch.testing.assert_close(grads[0], grads[1])
