"""Linear probes on synthetic features whose answer is known."""

from __future__ import annotations

import pytest
import torch

from attnlab.analysis.probes import (
    LinearProbe,
    majority_accuracy,
    probe_accuracy,
    probe_logits,
    train_probe,
)


def clustered(n: int, n_classes: int, size: int, noise: float, seed: int):
    """Labels uniform over the classes; features = a fixed random code of the label + noise."""
    g = torch.Generator().manual_seed(seed)
    codes = torch.randn(n_classes, size, generator=torch.Generator().manual_seed(99))
    labels = torch.randint(n_classes, (n,), generator=g)
    return codes[labels] + noise * torch.randn(n, size, generator=g), labels.unsqueeze(1)


def test_decodable_label_is_found_on_held_out_data() -> None:
    x, y = clustered(300, 10, 32, noise=0.3, seed=0)
    x_test, y_test = clustered(200, 10, 32, noise=0.3, seed=1)
    probe = train_probe(x, y, n_classes=10, max_iter=30)
    assert probe.weight.shape == (1, 10, 32)
    assert probe_accuracy(probe, x_test, y_test)[0] > 0.95


def test_probes_fitted_together_equal_probes_fitted_alone() -> None:
    # label 0: the cluster; label 1: whether feature 0 is positive; label 2: noise
    x, y = clustered(200, 4, 8, noise=0.5, seed=0)
    g = torch.Generator().manual_seed(5)
    labels = torch.stack([y[:, 0], (x[:, 0] > 0).long(), torch.randint(4, (200,), generator=g)], 1)
    together = train_probe(x, labels, n_classes=4, weight_decay=0.1)
    for k in range(3):
        alone = train_probe(x, labels[:, k : k + 1], n_classes=4, weight_decay=0.1)
        assert torch.allclose(
            torch.softmax(probe_logits(together, x)[:, k], -1),
            torch.softmax(probe_logits(alone, x)[:, 0], -1),
            atol=2e-3,
        )


def test_features_unrelated_to_the_label_stay_near_chance() -> None:
    g = torch.Generator().manual_seed(3)
    x, x_test = torch.randn(400, 32, generator=g), torch.randn(400, 32, generator=g)
    y, y_test = torch.randint(10, (400, 1), generator=g), torch.randint(10, (400, 1), generator=g)
    probe = train_probe(x, y, n_classes=10)
    assert probe_accuracy(probe, x, y)[0] > 0.2  # it fits some noise on the training set ...
    assert probe_accuracy(probe, x_test, y_test)[0] < 0.2  # ... not on new data (chance 0.1)


def test_more_noise_means_lower_accuracy() -> None:
    accuracies = []
    for noise in (0.2, 1.5, 4.0):
        x, y = clustered(500, 8, 16, noise, seed=0)
        x_test, y_test = clustered(500, 8, 16, noise, seed=1)
        accuracies.append(probe_accuracy(train_probe(x, y, n_classes=8), x_test, y_test)[0])
    assert accuracies[0] > accuracies[1] > accuracies[2]


def test_threshold_on_one_feature_by_hand() -> None:
    # label = [x_0 > 0]; x_1 is a constant column (its scale would be 0: clamped, stays 0)
    x = torch.tensor([[-2.0, 5.0], [-1.0, 5.0], [-0.5, 5.0], [0.5, 5.0], [1.0, 5.0], [2.0, 5.0]])
    y = torch.tensor([[0], [0], [0], [1], [1], [1]])
    probe = train_probe(x, y, n_classes=2)
    assert torch.equal(probe.mean, torch.tensor([0.0, 5.0]))
    assert probe_accuracy(probe, x, y) == [1.0]
    near = torch.tensor([[-0.1, 5.0], [0.1, 5.0]])
    assert probe_accuracy(probe, near, torch.tensor([[0], [1]])) == [1.0]
    w = probe.weight[0, 1] - probe.weight[0, 0]
    assert w[0] > 0 and abs(float(w[1])) < 1e-6  # the constant column carries no weight


def test_logits_are_the_affine_map_of_standardised_features() -> None:
    probe = LinearProbe(
        mean=torch.tensor([1.0, 0.0]),
        scale=torch.tensor([2.0, 1.0]),
        weight=torch.tensor([[[1.0, 0.0], [0.0, 3.0]]]),
        bias=torch.tensor([[0.5, -1.0]]),
    )
    logits = probe_logits(probe, torch.tensor([[3.0, 2.0]]))  # z = (1, 2)
    assert torch.allclose(logits, torch.tensor([[[1.5, 5.0]]]))


def test_probe_works_on_inference_tensors() -> None:
    x, y = clustered(200, 4, 8, noise=0.2, seed=0)
    with torch.inference_mode():
        x_inf, y_inf = x * 1.0, y + 0
    probe = train_probe(x_inf, y_inf, n_classes=4)
    assert probe_accuracy(probe, x, y)[0] > 0.95


def test_majority_baseline() -> None:
    train = torch.tensor([2, 2, 2, 1])
    assert majority_accuracy(train, torch.tensor([2, 1, 2, 0])) == 0.5


def test_mismatched_shapes_are_refused() -> None:
    with pytest.raises(ValueError, match="features"):
        train_probe(torch.zeros(3, 2), torch.zeros(4, 1, dtype=torch.long), n_classes=2)
