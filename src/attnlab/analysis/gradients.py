"""The gradient path: how strongly the output at the last position depends on an input k steps back.

Bengio, Simard & Frasconi (1994), "Learning Long-Term Dependencies with Gradient Descent is
Difficult", and Pascanu, Mikolov & Bengio (2013), "On the difficulty of training recurrent neural
networks", sec. 2: in a recurrent network the Jacobian of a late output o with respect to an input
x_{n-1-k} is a product of k step Jacobians,

    d o / d x_{n-1-k} = (d o / d h_{n-1}) prod_{t=n-k}^{n-1} (d h_t / d h_{t-1}) (d h_{n-1-k} / d x)

so its norm tends to shrink (or grow) geometrically in k. Vaswani et al. (2017), sec. 4 and
Table 1: self-attention joins any two positions by a path of length O(1), so nothing forces it to
shrink with distance.

What is measured: G_k = sqrt(mean over sentences b of ||J_{b,k}||_F^2) with J_{b,k} = d o_b /
d x_{b, n_b-1-k}, the Jacobian of the output vector o_b (V,) with respect to the input vector at
distance k from the sentence's last real position n_b - 1 (k = 0 is the last token). Gradients come
from autograd on the input embeddings themselves: a forward hook (`capture_output`) replaces the
embedding module's output by an equal leaf tensor that requires grad, so the model is not changed.

||J||_F^2 is computed exactly (one backward pass per output unit) or, for large V, estimated with
Gaussian probes u ~ N(0, I_V): E_u ||u^T J||^2 = ||J||_F^2 (Hutchinson 1989), one backward pass per
probe. One probe gives every distance of a sentence at once, so ratios G_k / G_0 are exact for any
probes when J_{b,k} = c_k M_b (as in a linear recurrence) and every sentence reaches distance k.

Letters: B batch, S source length, E embedding size, V output size, K distances (K = S).
Left out: per-layer or per-time-step Jacobian spectra, second-order effects, the encoder's
backward direction (the lab uses unidirectional encoders, so "distance" is along the reading).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from attnlab.data.batching import Batch


def distances_from_end(mask: Tensor) -> Tensor:
    """k = n_b - 1 - j for each real position j of sentence b, -1 on padding.

    mask (B, S) bool, True on real tokens -> (B, S) long
    """
    lengths = mask.sum(dim=1, keepdim=True)  # (B, 1)
    positions = torch.arange(mask.size(1), device=mask.device).unsqueeze(0)  # (1, S)
    return torch.where(mask, lengths - 1 - positions, torch.full_like(positions, -1))  # (B, S)


def squared_norms_by_distance(per_position: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
    """Sum over sentences of a per-position quantity, gathered by distance from the end.

    per_position (B, S) e.g. ||J_{b,j}||^2, mask (B, S)
        -> sums (S,) indexed by k, counts (S,) how many sentences have a position at distance k
    """
    k = distances_from_end(mask)  # (B, S)
    real = k >= 0
    sums = per_position.new_zeros(mask.size(1)).index_add_(0, k[real], per_position[real])  # (S,)
    counts = torch.bincount(k[real], minlength=mask.size(1))  # (S,)
    return sums, counts


def jacobian_norms_by_distance(
    inputs: Tensor, output: Tensor, mask: Tensor, probes: int | None, generator: torch.Generator
) -> Tensor:
    """G_k = sqrt(mean_b ||d output_b / d inputs_{b, n_b-1-k}||_F^2) for k = 0 .. S-1.

    inputs (B, S, E), a tensor in the graph of `output`; output (B, V); mask (B, S).
    Rows must be independent (output_b depends only on inputs_b: a model in eval mode).
    probes None: exact, V backward passes; an int: that many Gaussian probes (see module docstring).
        -> (S,) float; NaN at distances no sentence reaches
    """
    if probes is None:
        directions = [F.one_hot(torch.tensor(v), output.size(1)) for v in range(output.size(1))]
        directions = [d.to(output).expand_as(output) for d in directions]  # each (B, V)
        scale = 1.0
    else:
        directions = [
            torch.randn(output.shape, generator=generator).to(output) for _ in range(probes)
        ]
        scale = 1.0 / probes
    squared = inputs.new_zeros(inputs.shape[:2])  # (B, S)
    for i, u in enumerate(directions):
        (grad,) = torch.autograd.grad(
            output, inputs, grad_outputs=u, retain_graph=i < len(directions) - 1
        )  # (B, S, E): row b is u_b^T d output_b / d inputs_b
        squared = squared + grad.pow(2).sum(dim=-1) * scale  # (B, S)
    sums, counts = squared_norms_by_distance(squared.detach(), mask)
    return (sums / counts).sqrt()  # (S,), 0/0 = NaN where counts == 0


@contextmanager
def capture_output(module: nn.Module) -> Iterator[list[Tensor]]:
    """While active, `module`'s output is replaced by an equal leaf tensor that requires grad.

    Yields a list that receives those tensors, one per forward call, to differentiate against.
    """
    captured: list[Tensor] = []

    def hook(_module: nn.Module, _inputs: tuple[Tensor, ...], output: Tensor) -> Tensor:
        leaf = output.detach().requires_grad_(True)
        captured.append(leaf)
        return leaf

    handle = module.register_forward_hook(hook)
    try:
        yield captured
    finally:
        handle.remove()


def last_step_log_probs(logits: Tensor, trg_mask: Tensor) -> Tensor:
    """log p(. | y_<n, x) at each sentence's last target step (the one that predicts </s>).

    logits (B, T, V), trg_mask (B, T) -> (B, V)
    """
    last = trg_mask.sum(dim=1) - 1  # (B,)
    rows = torch.arange(logits.size(0), device=logits.device)
    return F.log_softmax(logits[rows, last].float(), dim=-1)  # (B, V)


def source_gradient_profile(
    model: nn.Module, source_embedding: nn.Module, batch: Batch, probes: int | None, seed: int
) -> Tensor:
    """G_k of a seq2seq model: o = the last target step's log-probabilities, x = the source inputs.

    `source_embedding` is the module whose output is the encoder's input (its hooked output is x).
    The model runs in eval mode (no dropout, rows independent); its training mode is restored.
    A model that reverses the source internally is measured in its reading order, not the text's.
        -> (S,) indexed by k, distance from the last real source token
    """
    was_training = model.training
    model.eval()
    try:
        with torch.enable_grad(), capture_output(source_embedding) as captured:
            logits, _ = model(batch)  # (B, T, V)
            output = last_step_log_probs(logits, batch.trg_mask)  # (B, V)
        generator = torch.Generator().manual_seed(seed)
        return jacobian_norms_by_distance(captured[0], output, batch.src_mask, probes, generator)
    finally:
        model.train(was_training)
