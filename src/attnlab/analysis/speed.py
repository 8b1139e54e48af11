"""Training speed: target tokens per second of full training steps, at a given sequence length.

Vaswani et al. (2017), sec. 4 and Table 1: a recurrent layer needs O(n) sequential operations per
sequence, self-attention O(1), so a Transformer can use a parallel device across positions while
an RNN must walk them one after another. What is timed here is the whole training step as the
Trainer runs it: forward, summed cross-entropy, backward, gradient clipping and an Adam update.

Method: `warmup` untimed steps (allocator, kernels, caches), then `repeats` timed steps, each
between `time.perf_counter()` calls with `torch.cuda.synchronize` before both on a GPU (kernels
run asynchronously, so without it only the launch would be timed). Throughput is the target
tokens of the batch over the median step time (the median ignores a stray slow step).

Letters: B batch, L sequence length (source and target), V vocabulary.
Left out: mixed precision, multiple devices, decoding (inference) speed, memory use.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import torch
from torch import nn

from attnlab.data.batching import Batch
from attnlab.data.vocab import BOS_ID, EOS_ID
from attnlab.train import plain_training_step

FIRST_WORD_ID = 4  # ids below are the specials


def random_batch(
    batch_size: int, length: int, vocab_size: int, generator: torch.Generator
) -> Batch:
    """B sentence pairs of random words, source L words, target L - 1 words (+ <s> or </s>).

    -> Batch with src (B, L), trg_in (B, L), trg_out (B, L), every mask all True
    """
    shape = (batch_size, length)
    src = torch.randint(FIRST_WORD_ID, vocab_size, shape, generator=generator)  # (B, L)
    words = torch.randint(FIRST_WORD_ID, vocab_size, (batch_size, length - 1), generator=generator)
    bos = torch.full((batch_size, 1), BOS_ID)
    eos = torch.full((batch_size, 1), EOS_ID)
    trg_in, trg_out = torch.cat([bos, words], 1), torch.cat([words, eos], 1)  # (B, L) each
    mask = torch.ones(shape, dtype=torch.bool)
    return Batch(src, mask, trg_in, trg_out, mask.clone())


def synchronize(device: torch.device) -> None:
    """Wait for the device's queued kernels (a no-op on the CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_training_steps(model: nn.Module, batch: Batch, warmup: int, repeats: int) -> list[float]:
    """Seconds of each of `repeats` timed training steps after `warmup` untimed ones.

    The model is trained in place (Adam, lr 1e-4, clip 1) on its own device; `batch` is moved there.
    """
    device = next(model.parameters()).device
    batch = batch.to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    model.train()

    def step() -> None:
        plain_training_step(model, optimizer, batch)

    for _ in range(warmup):
        step()
    seconds = []
    for _ in range(repeats):
        synchronize(device)
        start = time.perf_counter()
        step()
        synchronize(device)
        seconds.append(time.perf_counter() - start)
    return seconds


def tokens_per_second(n_tokens: int, seconds: list[float]) -> float:
    """n_tokens over the median of the step times."""
    return n_tokens / statistics.median(seconds)


def speed_ratio(fast: dict[int, float], slow: dict[int, float]) -> dict[int, float]:
    """fast[L] / slow[L] for every length L both were measured at."""
    return {length: fast[length] / slow[length] for length in fast if length in slow}


def closest_size(count: Callable[[int], int], target: int, low: int, high: int) -> int:
    """The size in [low, high] whose count(size) is closest to `target`; count must not decrease.

    Used to give an LSTM as many parameters as a Transformer (count = parameters at hidden size).
    """
    while high - low > 1:  # invariant: count(low) <= target < count(high), or an end is outside
        middle = (low + high) // 2
        if count(middle) <= target:
            low = middle
        else:
            high = middle
    return min((low, high), key=lambda size: (abs(count(size) - target), size))
