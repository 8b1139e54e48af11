"""What the model tests of `memory_per_sentence` share: stepping one memory row for K hypotheses
against the memory repeated K times."""

from __future__ import annotations

from typing import Any

import torch

from attnlab.models.interface import Seq2SeqModel, repeat_rows, select_batch


def assert_steps_as_the_memory_repeated(
    model: Seq2SeqModel, memory: Any, rows: int, k: int, vocab_size: int, atol: float
) -> None:
    """Five steps of random tokens for k hypotheses of each of the `rows` memory rows, once on
    the memory as it is and once on it repeated k times, the hypotheses reordered (and
    duplicated) within each sentence after the third step, as beam search does: the logits and
    attention must agree."""
    repeated = repeat_rows(memory, rows, k)  # rows*k rows
    g = torch.Generator().manual_seed(0)
    state = repeated_state = None
    for t in range(5):
        y = torch.randint(4, vocab_size, (rows * k,), generator=g)
        logits, state, attention = model.step(memory, state, y)
        expected, repeated_state, expected_attention = model.step(repeated, repeated_state, y)
        torch.testing.assert_close(logits, expected, atol=atol, rtol=0)
        torch.testing.assert_close(attention, expected_attention, atol=atol, rtol=0)
        if t == 2:
            order = torch.randint(k, (rows, k), generator=g) + torch.arange(rows)[:, None] * k
            state = select_batch(state, order.view(-1))
            repeated_state = select_batch(repeated_state, order.view(-1))
