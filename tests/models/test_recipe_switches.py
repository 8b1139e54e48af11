"""The low-resource recipe switches of the model config: word dropout, embedding dropout and
tied embeddings (two-way, and three-way with a shared vocabulary), for every decoder."""

from __future__ import annotations

import pytest
import torch

from attnlab.config import ModelConfig
from attnlab.data.batching import collate
from attnlab.data.vocab import UNK_ID
from attnlab.models.build import build_model
from attnlab.models.transformer import Transformer

V = 12
VARIANTS = {
    "fixed": {"context": "fixed"},
    "fixed-feed": {"context": "fixed", "feed_context": True},
    "bahdanau": {"context": "bahdanau"},
    "bahdanau-lstm": {"context": "bahdanau", "cell": "lstm"},
    "luong": {"context": "luong", "cell": "lstm"},
    "transformer": {"type": "transformer", "heads": 2, "ff_size": 16},
}
SIZES = {"embedding_size": 6, "hidden_size": 8}


def _cfg(variant: str, **extra: object) -> ModelConfig:
    return ModelConfig(**{**SIZES, **VARIANTS[variant], **extra})


def _batch():
    return collate([([4, 5, 6, 7], [8, 9, 10]), ([11, 5], [6, 7, 8, 9, 10])])


def _logits(model: torch.nn.Module, batch, seed: int = 0) -> torch.Tensor:
    torch.manual_seed(seed)
    return model(batch)[0]


@pytest.mark.parametrize("variant", VARIANTS)
def test_switches_at_their_defaults_change_nothing(variant: str) -> None:
    """word_dropout 0 and embedding_dropout = dropout give the run the defaults give."""
    batch = _batch()
    torch.manual_seed(1)
    plain = build_model(_cfg(variant, dropout=0.3), V, V).train()
    torch.manual_seed(1)
    explicit = build_model(
        _cfg(variant, dropout=0.3, word_dropout=0.0, embedding_dropout=0.3), V, V
    ).train()
    assert torch.equal(_logits(plain, batch), _logits(explicit, batch))


@pytest.mark.parametrize("variant", VARIANTS)
def test_word_dropout_feeds_unk_in_training_and_nothing_in_eval(variant: str) -> None:
    batch = _batch()
    torch.manual_seed(1)
    model = build_model(_cfg(variant, dropout=0.0, word_dropout=1 - 1e-9), V, V)
    all_unk = collate([([UNK_ID] * 4, [UNK_ID] * 3), ([UNK_ID] * 2, [UNK_ID] * 5)])
    mask = batch.trg_mask.unsqueeze(-1)
    model.train()
    with_unk = _logits(model, all_unk).masked_fill(~mask, 0)
    assert torch.allclose(_logits(model, batch).masked_fill(~mask, 0), with_unk)
    model.eval()
    assert not torch.allclose(_logits(model, batch).masked_fill(~mask, 0), with_unk)


@pytest.mark.parametrize("variant", VARIANTS)
def test_embedding_dropout_is_its_own_rate(variant: str) -> None:
    """With dropout 0, embedding dropout alone makes training differ from evaluation; with both
    at 0 they agree."""
    batch, mask = _batch(), _batch().trg_mask.unsqueeze(-1)
    for rate, differs in [(0.5, True), (0.0, False)]:
        model = build_model(_cfg(variant, dropout=0.0, embedding_dropout=rate), V, V)
        train = _logits(model.train(), batch).masked_fill(~mask, 0)
        evaluation = _logits(model.eval(), batch).masked_fill(~mask, 0)
        assert torch.allclose(train, evaluation) != differs


def _output_weight(model: torch.nn.Module) -> torch.Tensor:
    output = model.generator if isinstance(model, Transformer) else model.decoder.output
    return output.weight if isinstance(output, torch.nn.Linear) else output[-1].weight


def _embeddings(model: torch.nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    if isinstance(model, Transformer):
        return model.src_embed.tokens.weight, model.trg_embed.tokens.weight
    return model.encoder.embedding.weight, model.decoder.embedding.weight


@pytest.mark.parametrize("variant", VARIANTS)
def test_tied_embeddings_share_one_matrix_and_its_gradient(variant: str) -> None:
    untied = build_model(_cfg(variant), V, V)
    tied = build_model(_cfg(variant, tie_embeddings=True), V, V)
    three_way = build_model(_cfg(variant, tie_embeddings=True), V, V, shared_vocab=True)
    source, target = _embeddings(tied)
    assert _output_weight(tied) is target and source is not target
    source, target = _embeddings(three_way)
    assert _output_weight(three_way) is target and source is target
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    embedding = V * (SIZES["hidden_size"] if variant == "transformer" else SIZES["embedding_size"])
    assert count(tied) - count(three_way) == embedding
    # the one matrix gets the gradient of every place it is used
    logits, _ = three_way(_batch())
    logits.sum().backward()
    assert target.grad is not None and target.grad.abs().sum() > 0
    if variant != "transformer":  # an RNN reads out through tanh(W_t x) of the embedding size
        features, size = untied.decoder.output.in_features, SIZES["embedding_size"]
        readout = 0 if features == size else features * size + size  # W_t and its bias
        assert count(untied) - count(tied) == features * V - readout


def test_a_shared_vocabulary_needs_one_size() -> None:
    with pytest.raises(ValueError):
        build_model(_cfg("bahdanau"), V, V + 1, shared_vocab=True)
