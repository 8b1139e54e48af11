"""Batching: every index once, the token budget, determinism, shuffling by epoch, padding/masks."""

from __future__ import annotations

import random

import pytest
import torch

from attnlab.data.batching import Batch, collate, collate_source, make_batches
from attnlab.data.vocab import BOS_ID, EOS_ID, PAD_ID
from attnlab.errors import UserError

_rng = random.Random(7)
LENGTHS = [(_rng.randint(1, 30), _rng.randint(0, 30)) for _ in range(300)]


def padded_size(batch: list[int], lengths: list[tuple[int, int]]) -> int:
    return len(batch) * max(max(lengths[i][0], lengths[i][1] + 1) for i in batch)


@pytest.mark.parametrize("by_length", [True, False])
@pytest.mark.parametrize("shuffle", [True, False])
@pytest.mark.parametrize("budget", [1, 40, 100, 1000, 10**6])
def test_every_index_once_and_within_budget(budget: int, shuffle: bool, by_length: bool) -> None:
    batches = make_batches(LENGTHS, budget, seed=3, epoch=0, shuffle=shuffle, by_length=by_length)
    assert sorted(i for b in batches for i in b) == list(range(len(LENGTHS)))
    assert all(b for b in batches)
    for b in batches:
        assert len(b) == 1 or padded_size(b, LENGTHS) <= budget


def test_an_example_bigger_than_the_budget_is_a_batch_of_its_own() -> None:
    lengths = [(2, 2), (50, 3), (2, 2)]
    batches = make_batches(lengths, batch_tokens=10, seed=0, epoch=0, shuffle=False)
    assert [1] in batches
    assert sorted(i for b in batches for i in b) == [0, 1, 2]


def test_the_budget_counts_target_plus_one() -> None:
    # source 4, target 4: each example is 5 wide (<s>/</s>); two fit 10, not 9
    lengths = [(4, 4), (4, 4)]
    assert make_batches(lengths, 10, 0, 0, shuffle=False) == [[0, 1]]
    assert len(make_batches(lengths, 9, 0, 0, shuffle=False)) == 2


def test_batches_group_similar_lengths() -> None:
    batches = make_batches(LENGTHS, 200, seed=1, epoch=0)
    # sorted bucketing: far less padding than random batches of the same sizes
    bucketed = sum(padded_size(b, LENGTHS) for b in batches)
    order = list(range(len(LENGTHS)))
    random.Random(0).shuffle(order)
    random_batches, start = [], 0
    for b in batches:
        random_batches.append(order[start : start + len(b)])
        start += len(b)
    assert bucketed < 0.8 * sum(padded_size(b, LENGTHS) for b in random_batches)


def test_random_batches_mix_lengths_in_a_seeded_order() -> None:
    """by_length=False: batches are cut from the shuffled order as it is (training.batching:
    random), so they mix lengths; the same seed and epoch give the same batches."""
    batches = make_batches(LENGTHS, 200, seed=1, epoch=0, by_length=False)
    assert batches == make_batches(LENGTHS, 200, seed=1, epoch=0, by_length=False)
    assert batches != make_batches(LENGTHS, 200, seed=1, epoch=1, by_length=False)

    def widths(batches: list[list[int]]) -> list[int]:  # distinct padded widths of each batch
        return sorted(len({max(LENGTHS[i][0], LENGTHS[i][1] + 1) for i in b}) for b in batches)

    assert widths(batches)[len(batches) // 2] >= 4  # the median random batch mixes 4+ widths
    by_length = make_batches(LENGTHS, 200, seed=1, epoch=0)
    assert widths(by_length)[len(by_length) // 2] == 1  # the median sorted batch: one width


def test_same_seed_and_epoch_same_batches() -> None:
    assert make_batches(LENGTHS, 200, 5, 2) == make_batches(LENGTHS, 200, 5, 2)


def test_different_epoch_or_seed_different_order() -> None:
    base = make_batches(LENGTHS, 200, seed=5, epoch=0)
    assert make_batches(LENGTHS, 200, seed=5, epoch=1) != base
    assert make_batches(LENGTHS, 200, seed=6, epoch=0) != base


def test_no_shuffle_ignores_seed_and_epoch_and_is_sorted() -> None:
    batches = make_batches(LENGTHS, 200, seed=1, epoch=1, shuffle=False)
    assert batches == make_batches(LENGTHS, 200, seed=9, epoch=4, shuffle=False)
    widths = [max(LENGTHS[i][0], LENGTHS[i][1] + 1) for b in batches for i in b]
    assert widths == sorted(widths)


def test_empty_input_and_bad_budget() -> None:
    assert make_batches([], 100, 0, 0) == []
    with pytest.raises(UserError):
        make_batches(LENGTHS, 0, 0, 0)


def test_collate_adds_bos_eos_and_pads() -> None:
    batch = collate([([5, 6, 7], [8, 9]), ([10], [11, 12, 13, 14]), ([15, 16], [])])
    assert isinstance(batch, Batch)
    assert batch.src.tolist() == [[5, 6, 7], [10, PAD_ID, PAD_ID], [15, 16, PAD_ID]]
    assert batch.trg_in.tolist() == [
        [BOS_ID, 8, 9, PAD_ID, PAD_ID],
        [BOS_ID, 11, 12, 13, 14],
        [BOS_ID, PAD_ID, PAD_ID, PAD_ID, PAD_ID],
    ]
    assert batch.trg_out.tolist() == [
        [8, 9, EOS_ID, PAD_ID, PAD_ID],
        [11, 12, 13, 14, EOS_ID],
        [EOS_ID, PAD_ID, PAD_ID, PAD_ID, PAD_ID],
    ]
    assert batch.src.dtype == batch.trg_in.dtype == batch.trg_out.dtype == torch.long
    assert batch.src_mask.dtype == batch.trg_mask.dtype == torch.bool
    assert batch.n_trg_tokens == 3 + 5 + 1


@pytest.mark.parametrize("seed", range(3))
def test_masks_match_lengths(seed: int) -> None:
    rng = random.Random(seed)
    examples = [
        (
            [rng.randint(4, 50) for _ in range(rng.randint(1, 9))],
            [rng.randint(4, 50) for _ in range(rng.randint(0, 9))],
        )
        for _ in range(6)
    ]
    batch = collate(examples)
    src_lens = torch.tensor([len(s) for s, _ in examples])
    trg_lens = torch.tensor([len(t) + 1 for _, t in examples])
    assert batch.src.shape == (6, int(src_lens.max()))
    assert batch.trg_in.shape == batch.trg_out.shape == (6, int(trg_lens.max()))
    assert torch.equal(batch.src_mask.sum(1), src_lens)
    assert torch.equal(batch.trg_mask.sum(1), trg_lens)
    # True exactly on a prefix, and exactly where the ids are real tokens
    assert torch.equal(batch.src_mask, batch.src != PAD_ID)
    assert torch.equal(batch.trg_mask, batch.trg_out != PAD_ID)
    assert torch.equal(batch.trg_in[:, 1:] != PAD_ID, batch.trg_mask[:, 1:])


def test_collate_source_and_empty_sources() -> None:
    src, mask = collate_source([[4], [5, 6]])
    assert src.tolist() == [[4, PAD_ID], [5, 6]]
    assert mask.tolist() == [[True, False], [True, True]]
    with pytest.raises(ValueError):
        collate_source([[4], []])
    with pytest.raises(ValueError):
        collate([([], [4])])
    with pytest.raises(ValueError):
        collate_source([])
