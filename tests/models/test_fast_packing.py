"""models/fast/packing.py: the packed layout worked out by hand, and its inverse."""

from __future__ import annotations

import torch

from attnlab.models.fast.packing import Packing

# rows of lengths 2, 3, 1 (T = 3): ranked longest first, rows 1, 0, 2
MASK = torch.tensor([[1, 1, 0], [1, 1, 1], [1, 0, 0]], dtype=torch.bool)


def test_layout_by_hand() -> None:
    packing = Packing.of(MASK)
    assert packing.order is not None and packing.order.tolist() == [1, 0, 2]
    assert packing.lengths == [3, 2, 1]
    assert packing.sizes == [3, 2, 1] and packing.offsets == [0, 3, 5]
    # step 0: (row 1, t 0), (row 0, t 0), (row 2, t 0); step 1: rows 1, 0; step 2: row 1
    assert packing.index.tolist() == [3, 0, 6, 4, 1, 5]
    # read backwards: row 1 from t 2, row 0 from t 1, row 2 from t 0
    assert packing.reversed_index().tolist() == [5, 1, 6, 4, 0, 3]
    # a state buffer: 3 initial states, then the 6 packed ones
    assert packing.before(0) == slice(0, 3) and packing.after(0) == slice(3, 6)
    assert packing.before(1) == slice(3, 5) and packing.after(1) == slice(6, 8)
    assert packing.before(2) == slice(6, 7) and packing.after(2) == slice(8, 9)
    assert packing.final_rows().tolist() == [8, 7, 5]  # by rank


def test_gather_pad_last_and_previous_states() -> None:
    packing = Packing.of(MASK)
    x = torch.arange(9.0).view(3, 3, 1)  # (B, T, 1): value = b * T + t
    packed = packing.gather(x)  # (N, 1)
    assert packed.flatten().tolist() == [3.0, 0.0, 6.0, 4.0, 1.0, 5.0]
    assert torch.equal(packing.pad(packed), x * MASK.unsqueeze(2))  # zeros at the padding
    assert packing.last(packed).flatten().tolist() == [1.0, 5.0, 6.0]  # original row order
    states = torch.arange(9.0).view(9, 1)  # buffer rows 0-2 initial, 3-8 packed
    assert packing.previous_states(states).flatten().tolist() == [0, 1, 2, 3, 4, 6]


def test_rows_already_longest_first_are_not_reordered() -> None:
    packing = Packing.of(MASK[[1, 0, 2]])
    assert packing.order is None
    x = torch.randn(3, 4)
    assert packing.rank(x) is x and packing.unrank(x) is x


def test_every_equals_a_full_mask() -> None:
    every, full = Packing.every(4, 3, torch.device("cpu")), Packing.of(torch.ones(4, 3).bool())
    assert every.full and not full.full
    assert every.sizes == full.sizes and every.offsets == full.offsets
    assert torch.equal(every.index, full.index)
    x = torch.randn(4, 3, 5)
    assert torch.equal(every.gather(x), full.gather(x))
    assert torch.equal(every.pad(every.gather(x)), x)
    assert torch.equal(every.last(every.gather(x)), x[:, -1])
