"""Linear probes: what a frozen representation still knows, read off by logistic regression.

Papers: Alain & Bengio (2016), "Understanding intermediate layers using linear classifier probes";
Hupkes, Veldhoen & Zuidema (2018), "Visualisation and 'diagnostic classifiers'" (probing a GRU's
hidden state for the inputs it has read); Conneau et al. (2018), "What you can cram into a single
$&!#* vector" (probing fixed-size sentence encodings). A probe is a multinomial logistic regression
on standardised features,

    p(y = c | h) = softmax_c(W z + b),   z = (h - mu) / sigma   (mu, sigma from the training set)

fitted by L-BFGS to the mean cross-entropy plus (lambda / 2) ||W||^2 on frozen features; its
held-out accuracy measures how much of the label is linearly decodable from h. Here h is an
encoder's last state h_S (the fixed context c of Sutskever et al. 2014) and the label is the
token at distance k from the end of the source.

Shapes: N examples, H feature size, C classes. Left out: non-linear (MLP) probes, control tasks
(Hewitt & Liang 2019) and the choice of lambda by cross-validation (one fixed value).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor


@dataclass(frozen=True)
class LinearProbe:
    """K fitted probes on the same features: mean (H,), scale (H,) of the training features,
    weight (K, C, H), bias (K, C)."""

    mean: Tensor
    scale: Tensor
    weight: Tensor
    bias: Tensor


def probe_logits(probe: LinearProbe, features: Tensor) -> Tensor:
    """W_k z + b_k with z = (h - mu) / sigma, for each probe k.

    features (N, H) -> logits (N, K, C)
    """
    z = (features.float() - probe.mean) / probe.scale  # (N, H)
    return torch.einsum("nh,kch->nkc", z, probe.weight) + probe.bias  # (N, K, C)


def train_probe(
    features: Tensor,
    labels: Tensor,
    n_classes: int,
    weight_decay: float = 1e-3,
    max_iter: int = 100,
) -> LinearProbe:
    """Fit K probes, one per column of `labels`, by full-batch L-BFGS (strong Wolfe line search)
    from zero weights, which makes the fit deterministic. The objective is the sum of the K
    probes' objectives; they share no parameter, so its minimum is each probe's own minimum and
    fitting them together only saves time.

    features (N, H), labels (N, K) long in [0, C) -> LinearProbe
    """
    if features.dim() != 2 or labels.dim() != 2 or labels.size(0) != features.size(0):
        raise ValueError(f"features {tuple(features.shape)} and labels {tuple(labels.shape)}")
    n_probes = labels.size(1)
    with torch.inference_mode(False), torch.enable_grad():  # callers may hold inference tensors
        h = features.detach().float().clone()  # (N, H)
        y = labels.detach().long().clone()  # (N, K)
        mean = h.mean(dim=0)  # (H,)
        scale = h.std(dim=0, unbiased=False).clamp(min=1e-6)  # (H,) constant features stay 0
        z = (h - mean) / scale  # (N, H)
        weight = torch.zeros(n_probes, n_classes, h.size(1), requires_grad=True)  # (K, C, H)
        bias = torch.zeros(n_probes, n_classes, requires_grad=True)  # (K, C)
        optimizer = torch.optim.LBFGS(
            [weight, bias], max_iter=max_iter, line_search_fn="strong_wolfe"
        )

        def objective() -> Tensor:
            optimizer.zero_grad()
            logits = torch.einsum("nh,kch->nkc", z, weight) + bias  # (N, K, C)
            loss = F.cross_entropy(logits.reshape(-1, n_classes), y.reshape(-1)) * n_probes
            loss = loss + 0.5 * weight_decay * weight.square().sum()
            loss.backward()
            return loss

        optimizer.step(objective)
    return LinearProbe(mean, scale, weight.detach(), bias.detach())


def probe_accuracy(probe: LinearProbe, features: Tensor, labels: Tensor) -> list[float]:
    """Each probe's share of examples whose most probable class is the label.

    features (N, H), labels (N, K) -> K accuracies
    """
    if labels.numel() == 0:
        raise ValueError("no examples to score")
    predicted = probe_logits(probe, features).argmax(dim=-1)  # (N, K)
    return (predicted == labels.to(predicted.device)).float().mean(dim=0).tolist()


def majority_accuracy(train_labels: Tensor, test_labels: Tensor) -> float:
    """The accuracy of always answering the most frequent training label: what a probe that
    learned nothing from the features gets.  train_labels (N,), test_labels (M,)"""
    if test_labels.numel() == 0:
        raise ValueError("no examples to score")
    majority = torch.bincount(train_labels.long()).argmax()
    return float((test_labels.long() == majority).float().mean())
