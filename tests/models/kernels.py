"""Build one model with both `model.kernels` settings, for the tests that hold the fast twins
(models/fast/) to the reference."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from attnlab.config import ModelConfig
from attnlab.data.batching import Batch
from attnlab.data.vocab import BOS_ID, EOS_ID, PAD_ID
from attnlab.models.build import build_model
from attnlab.models.fast.packing import Packing


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


def padded_batch() -> Batch:
    """Three sentences padded on both sides, target lengths out of order (vocabulary >= 13)."""
    src = torch.tensor([[4, 5, 6, 7], [8, 9, PAD_ID, PAD_ID], [10, 11, 12, PAD_ID]])
    trg = torch.tensor(
        [[BOS_ID, 6, 5, 4, 9], [BOS_ID, 12, PAD_ID, PAD_ID, PAD_ID], [BOS_ID, 5, 6, 7, PAD_ID]]
    )
    trg_out = torch.cat([trg[:, 1:], torch.full((3, 1), PAD_ID)], dim=1)
    trg_out[[0, 1, 2], [4, 1, 3]] = EOS_ID
    return Batch(src, src != PAD_ID, trg, trg_out, trg_out != PAD_ID)


def outputs_and_gradients(model: nn.Module, batch: Batch) -> list[torch.Tensor]:
    """The logits and attention at the real target positions, then every parameter's gradient
    of the log-likelihood of the batch's targets."""
    logits, attention = model(batch)
    real = batch.trg_mask
    logits.log_softmax(-1).gather(2, batch.trg_out.unsqueeze(2))[real].sum().backward()
    return [logits[real], attention[real], *(p.grad for p in model.parameters())]


# the written-out decoder loops' gradchecks: 4 sentences, sources of 5, 2, 1 and 3 words
LOOP_SOURCE_MASK = torch.tensor(
    [[1, 1, 1, 1, 1], [1, 1, 0, 0, 0], [1, 0, 0, 0, 0], [1, 1, 1, 0, 0]], dtype=torch.bool
)


def loop_packing(target_lengths: list[int] | None, steps: int = 4) -> Packing:
    """The packing of 4 targets of the given lengths, or of `steps` each (None: no padding)."""
    if target_lengths is None:
        return Packing.every(len(LOOP_SOURCE_MASK), steps, torch.device("cpu"))
    return Packing.of(torch.arange(steps) < torch.tensor(target_lengths)[:, None])
