"""Transformer and scaled dot-product attention: weights, both attention paths, padding
invariance, the key/value cache against teacher forcing, gradients, overfitting, the config."""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from attnlab.config import ModelConfig, load_config
from attnlab.data.batching import Batch
from attnlab.data.vocab import BOS_ID, EOS_ID, PAD_ID
from attnlab.errors import UserError
from attnlab.models.attention import (
    MultiHeadAttention,
    causal_mask,
    scaled_dot_product_attention,
)
from attnlab.models.build import build_model
from attnlab.models.fast import transformer as fast_transformer
from attnlab.models.interface import memory_per_sentence, select_batch
from attnlab.models.transformer import Transformer, sinusoidal_positions
from tests.models.beam_rows import assert_steps_as_the_memory_repeated

ROOT = Path(__file__).resolve().parents[2]
V_SRC, V_TRG = 13, 11


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """Tiny models gain nothing from threads, and on a busy machine waiting threads spin."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


KERNELS = ["reference", "fast"]


def tiny(seed: int = 0, **fields: object) -> Transformer:
    """A 2+2-layer Transformer with d_model 16, 4 heads, in eval mode (fast kernels unless
    `kernels` says otherwise)."""
    torch.manual_seed(seed)
    base = {"type": "transformer", "hidden_size": 16, "num_layers": 2, "heads": 4}
    cfg = ModelConfig.model_validate(
        {**base, "ff_size": 32, "dropout": 0.1, "max_positions": 64, **fields}
    )
    model = build_model(cfg, V_SRC, V_TRG)
    assert isinstance(model, Transformer)
    return model.eval()


def make_batch(src_lens: list[int], trg_lens: list[int], seed: int = 0) -> Batch:
    """Random ids >= 4, padded with PAD_ID; trg_in = <s> y, trg_out = y </s>."""
    g = torch.Generator().manual_seed(seed)
    b, s, t = len(src_lens), max(src_lens), max(trg_lens) + 1
    src_mask = torch.arange(s)[None] < torch.tensor(src_lens)[:, None]  # (B, S)
    trg_mask = torch.arange(t)[None] < torch.tensor(trg_lens)[:, None] + 1  # (B, T)
    src = torch.randint(4, V_SRC, (b, s), generator=g).masked_fill(~src_mask, PAD_ID)
    y = torch.randint(4, V_TRG, (b, t), generator=g)
    trg_in = torch.cat([torch.full((b, 1), BOS_ID), y[:, :-1]], dim=1).masked_fill(
        ~trg_mask, PAD_ID
    )
    ends = torch.arange(t)[None] == torch.tensor(trg_lens)[:, None]  # </s> positions
    trg_out = y.masked_fill(ends, EOS_ID).masked_fill(~trg_mask, PAD_ID)
    return Batch(src, src_mask, trg_in, trg_out, trg_mask)


# --- scaled dot-product attention -------------------------------------------------------------


def test_causal_mask_by_hand() -> None:
    # two new queries after two cached positions: query 0 sees keys 0..2, query 1 sees all four
    expected = torch.tensor([[1, 1, 1, 0], [1, 1, 1, 1]], dtype=torch.bool)
    assert torch.equal(causal_mask(2, 4, torch.device("cpu")), expected)
    assert torch.equal(causal_mask(3, 3, torch.device("cpu")), torch.ones(3, 3).tril().bool())


def test_weights_by_hand() -> None:
    q = torch.tensor([[[1.0, 0.0]]])  # (1, T=1, D=2)
    k = torch.tensor([[[2.0, 0.0], [0.0, 5.0], [9.0, 9.0]]])  # (1, S=3, D=2)
    mask = torch.tensor([[[True, True, False]]])
    e = torch.tensor([2.0, 0.0]) / math.sqrt(2.0)
    expected = torch.cat([torch.softmax(e, 0), torch.zeros(1)])
    v = torch.randn(1, 3, 2)
    context, alpha = scaled_dot_product_attention(q, k, v, mask)
    torch.testing.assert_close(alpha[0, 0], expected)
    torch.testing.assert_close(context[0, 0], expected @ v[0])


def test_uniform_weights_give_the_mean_of_real_values() -> None:
    # q = 0 scores every key 0: softmax is uniform over the real keys
    v = torch.randn(2, 3, 5, 4)  # (B, heads, S, D)
    mask = torch.tensor([True, True, True, False, False])[None, None, None]  # (1, 1, 1, S)
    q, k = torch.zeros(2, 3, 1, 4), torch.randn(2, 3, 5, 4)
    context, _ = scaled_dot_product_attention(q, k, v, mask)
    torch.testing.assert_close(context[:, :, 0], v[:, :, :3].mean(dim=2))


def test_one_hot_weights_give_that_value() -> None:
    # keys are scaled one-hot vectors; the query points at key 2 so hard that softmax is one-hot
    k = torch.eye(4)[None, None] * 100.0  # (1, 1, S=4, D=4)
    v = torch.randn(1, 1, 4, 4)
    q = torch.tensor([0.0, 0.0, 1.0, 0.0])[None, None, None]  # (1, 1, 1, D)
    mask = torch.ones(1, 1, 1, 4, dtype=torch.bool)
    context, alpha = scaled_dot_product_attention(q, k, v, mask)
    torch.testing.assert_close(context[0, 0, 0], v[0, 0, 2])
    torch.testing.assert_close(alpha[0, 0, 0], torch.tensor([0.0, 0.0, 1.0, 0.0]))


def test_multi_head_weights_sum_to_one_and_are_zero_on_padding() -> None:
    torch.manual_seed(0)
    attn = MultiHeadAttention(16, heads=4, causal=False)
    query, keys = torch.randn(2, 3, 16), torch.randn(2, 5, 16)
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 0, 0, 0]], dtype=torch.bool)[:, None]  # (B,1,S)
    context, alpha = attn(query, keys, keys, mask, need_weights=True)
    assert context.shape == (2, 3, 16) and alpha.shape == (2, 4, 3, 5)
    torch.testing.assert_close(alpha.sum(-1), torch.ones(2, 4, 3))
    assert torch.all(alpha[1, :, :, 2:] == 0)
    weightless, none = attn(query, keys, keys, mask)
    assert none is None
    torch.testing.assert_close(weightless, context, atol=0, rtol=0)


def test_causal_self_attention_ignores_later_positions() -> None:
    torch.manual_seed(1)
    attn = MultiHeadAttention(8, heads=2, causal=True)
    x = torch.randn(1, 5, 8)
    changed = torch.cat([x[:, :3], torch.randn(1, 2, 8)], dim=1)  # positions 3, 4 differ
    a, alpha = attn(x, x, x, None, need_weights=True)
    b, _ = attn(changed, changed, changed, None)
    torch.testing.assert_close(a[:, :3], b[:, :3], atol=1e-6, rtol=0)
    assert torch.all(alpha.masked_select(~causal_mask(5, 5, x.device)) == 0)


# --- pieces of the model ----------------------------------------------------------------------


def test_sinusoidal_positions_by_hand() -> None:
    pe = sinusoidal_positions(50, 6)
    assert pe.shape == (50, 6)
    torch.testing.assert_close(pe[0], torch.tensor([0.0, 1.0, 0.0, 1.0, 0.0, 1.0]))
    pos = torch.arange(50.0)
    for i in range(3):  # PE(pos, 2i) = sin(pos / 10000^(2i/d)), PE(pos, 2i+1) = cos(...)
        angle = pos / 10000 ** (2 * i / 6)
        torch.testing.assert_close(pe[:, 2 * i], torch.sin(angle))
        torch.testing.assert_close(pe[:, 2 * i + 1], torch.cos(angle))


def test_tied_embeddings_share_one_matrix() -> None:
    tied, untied = tiny(tie_embeddings=True), tiny(tie_embeddings=False)
    assert tied.generator.weight is tied.trg_embed.tokens.weight
    n_tied = sum(p.numel() for p in tied.parameters())
    n_untied = sum(p.numel() for p in untied.parameters())
    assert n_untied - n_tied == V_TRG * 16


def test_positions_beyond_max_positions_are_a_user_error() -> None:
    model = tiny(max_positions=6)
    with pytest.raises(UserError, match="max_positions"):
        model(make_batch([7], [3]))


# --- the model --------------------------------------------------------------------------------


def test_forward_shapes_and_attention_weights() -> None:
    model = tiny()
    batch = make_batch([5, 3, 1], [4, 6, 2])
    logits, attention = model(batch)
    assert logits.shape == (3, 7, V_TRG) and attention.shape == (3, 7, 5)
    torch.testing.assert_close(attention.sum(-1), torch.ones(3, 7))
    assert torch.all(attention.masked_select(~batch.src_mask[:, None, :]) == 0)
    every = model.cross_attention(batch)
    assert every.shape == (3, 2, 4, 7, 5)  # (B, L, heads, T, S)
    torch.testing.assert_close(every[:, -1].mean(dim=1), attention)
    torch.testing.assert_close(every.sum(-1), torch.ones(3, 2, 4, 7))


def test_decoder_is_causal() -> None:
    model = tiny()
    batch = make_batch([4], [5])
    changed = batch.trg_in.clone()
    changed[0, 3:] = 4 + (changed[0, 3:] - 3) % (V_TRG - 4)  # other tokens from position 3 on
    assert not torch.equal(changed, batch.trg_in)
    a = model(batch)[0]
    b = model(Batch(batch.src, batch.src_mask, changed, batch.trg_out, batch.trg_mask))[0]
    torch.testing.assert_close(a[:, :3], b[:, :3], atol=1e-6, rtol=0)
    assert not torch.allclose(a[:, 3:], b[:, 3:])


@pytest.mark.parametrize("kernels", KERNELS)
@pytest.mark.parametrize("norm", ["pre", "post"])
def test_padding_does_not_change_the_logits(norm: str, kernels: str) -> None:
    model = tiny(norm=norm, kernels=kernels)
    batch = make_batch([6, 2, 4], [3, 7, 5], seed=1)
    logits, attention = model(batch)
    for i, (s, t) in enumerate([(6, 3), (2, 7), (4, 5)]):
        alone = Batch(
            batch.src[i : i + 1, :s],
            batch.src_mask[i : i + 1, :s],
            batch.trg_in[i : i + 1, : t + 1],
            batch.trg_out[i : i + 1, : t + 1],
            batch.trg_mask[i : i + 1, : t + 1],
        )
        logits_alone, attention_alone = model(alone)
        torch.testing.assert_close(logits_alone[0], logits[i, : t + 1], atol=1e-5, rtol=0)
        torch.testing.assert_close(attention_alone[0], attention[i, : t + 1, :s], atol=1e-5, rtol=0)


@pytest.mark.parametrize(
    ("norm", "positional", "tie", "kernels"),
    [
        *itertools.product(["pre", "post"], ["sinusoidal", "learned"], [False, True], ["fast"]),
        ("pre", "sinusoidal", True, "reference"),
        ("post", "learned", False, "reference"),
    ],
)
def test_cached_steps_equal_teacher_forcing(
    norm: str, positional: str, tie: bool, kernels: str
) -> None:
    model = tiny(norm=norm, positional=positional, tie_embeddings=tie, kernels=kernels)
    batch = make_batch([5, 2, 4], [6, 3, 4], seed=2)
    logits, attention = model(batch)
    memory = model.encode(batch.src, batch.src_mask)
    state, steps, weights = None, [], []
    for t in range(batch.trg_in.size(1)):
        step_logits, state, alpha = model.step(memory, state, batch.trg_in[:, t])
        steps.append(step_logits)
        weights.append(alpha)
        # the cache grows by one position per step, in every layer: (B, heads, t, D); the fast
        # model's buffers hold room for more (models/fast/transformer.py, GrowingCache)
        assert state.position == t + 1
        if kernels == "reference":
            cache = state.self_keys + state.self_values
        else:
            cache = tuple(k[:, :, : state.position] for k in state.keys + state.values)
        assert all(k.shape == (3, 4, t + 1, 4) for k in cache)
    real = batch.trg_mask  # forward skips the padding; step decodes every position
    torch.testing.assert_close(torch.stack(steps, 1)[real], logits[real], atol=1e-5, rtol=0)
    torch.testing.assert_close(torch.stack(weights, 1)[real], attention[real], atol=1e-5, rtol=0)


def test_memory_and_state_reorder_with_select_batch() -> None:
    model = tiny()
    batch = make_batch([5, 2, 4], [3, 3, 3], seed=3)
    memory = model.encode(batch.src, batch.src_mask)
    _, state, _ = model.step(memory, None, batch.trg_in[:, 0])
    logits, _, _ = model.step(memory, state, batch.trg_in[:, 1])
    index = torch.tensor([2, 0, 0, 1])  # reorder and duplicate rows, as beam search does
    moved, _, alpha = model.step(
        select_batch(memory, index), select_batch(state, index), batch.trg_in[index, 1]
    )
    torch.testing.assert_close(moved, logits[index], atol=1e-6, rtol=0)
    assert alpha.shape == (4, 5)


@pytest.mark.parametrize("kernels", KERNELS)
def test_one_memory_row_for_k_hypotheses_steps_as_the_memory_repeated(kernels: str) -> None:
    model = tiny(kernels=kernels)
    assert memory_per_sentence(model)
    batch = make_batch([5, 2, 4], [3, 3, 3], seed=5)
    memory = model.encode(batch.src, batch.src_mask)  # 3 rows
    assert_steps_as_the_memory_repeated(model, memory, 3, 4, V_TRG, atol=1e-6)


def test_rows_added_to_a_multiple_change_neither_logits_nor_gradients(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    batch = make_batch([6, 2, 4], [3, 7, 5], seed=4)  # 13 source, 18 target tokens

    def logits_and_grads(multiple: int) -> tuple[torch.Tensor, list[torch.Tensor]]:
        monkeypatch.setattr(fast_transformer, "ROWS_MULTIPLE", multiple)
        model = tiny(dropout=0.0).train()
        logits, _ = model(batch)
        F.cross_entropy(logits.transpose(1, 2), batch.trg_out, ignore_index=PAD_ID).backward()
        return logits, [p.grad for p in model.parameters()]

    logits, grads = logits_and_grads(1)
    padded_logits, padded_grads = logits_and_grads(16)  # 16 and 32 rows
    torch.testing.assert_close(padded_logits, logits, atol=1e-6, rtol=0)
    for grad, padded_grad in zip(grads, padded_grads, strict=True):
        torch.testing.assert_close(padded_grad, grad, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("kernels", KERNELS)
def test_gradients_reach_every_parameter(kernels: str) -> None:
    for fields in ({"positional": "learned", "tie_embeddings": True}, {"norm": "post"}):
        model = tiny(kernels=kernels, **fields).train()
        batch = make_batch([5, 3], [4, 6])
        logits, _ = model(batch)
        F.cross_entropy(logits.transpose(1, 2), batch.trg_out, ignore_index=PAD_ID).backward()
        for name, p in model.named_parameters():
            assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_overfits_twenty_pairs() -> None:
    """20 random sentence pairs, memorised to near-zero loss in 150 Adam steps (a few seconds)."""
    model = tiny(dropout=0.0).train()
    g = torch.Generator().manual_seed(5)
    batch = make_batch(
        torch.randint(3, 8, (20,), generator=g).tolist(),
        torch.randint(3, 8, (20,), generator=g).tolist(),
        seed=5,
    )
    opt = torch.optim.Adam(model.parameters(), lr=5e-3)
    for _ in range(150):
        logits, _ = model(batch)
        loss = F.cross_entropy(logits.transpose(1, 2), batch.trg_out, ignore_index=PAD_ID)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.02


def test_reference_config_builds_at_the_reference_size() -> None:
    cfg = load_config(ROOT / "configs" / "transformer-small.yaml")
    assert cfg.model.type == "transformer"
    model = build_model(cfg.model, 104, 104)  # the reverse task: 100 symbols and 4 specials
    n = sum(p.numel() for p in model.parameters())
    assert 900_000 < n < 1_000_000, n
