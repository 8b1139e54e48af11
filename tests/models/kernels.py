"""Build one model with both `model.kernels` settings, for the tests that hold the fast twins
(models/fast/) to the reference."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from attnlab.config import ModelConfig
from attnlab.data.batching import Batch
from attnlab.models.build import build_model


def build_pair(
    cfg: ModelConfig, src_vocab_size: int, trg_vocab_size: int, seed: int = 0
) -> tuple[nn.Module, nn.Module]:
    """(reference, fast): the model of `cfg` with each kernels setting, both in eval mode.
    Built from one seed, they hold the same parameters under the same names (checked)."""
    models = []
    for kernels in ("reference", "fast"):
        torch.manual_seed(seed)
        variant = cfg.model_copy(update={"kernels": kernels})
        models.append(build_model(variant, src_vocab_size, trg_vocab_size).eval())
    reference, fast = models
    ours, theirs = reference.state_dict(), fast.state_dict()
    assert list(ours) == list(theirs)
    assert all(torch.equal(ours[name], theirs[name]) for name in ours)
    return reference, fast


def adam_losses(model: nn.Module, batch: Batch, steps: int) -> list[float]:
    """`steps` Adam updates on one batch; the losses."""
    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    losses = []
    for _ in range(steps):
        logits, _ = model(batch)
        loss = F.cross_entropy(logits[batch.trg_mask], batch.trg_out[batch.trg_mask])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses
