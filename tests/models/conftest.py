"""Fixtures of the model tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch


@pytest.fixture
def float64() -> Iterator[None]:
    """float64 keeps equality tolerances tight; restored so other test files are unaffected.
    A test file opts in with `pytestmark = pytest.mark.usefixtures("float64")`."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(previous)


@pytest.fixture
def float64_one_thread() -> Iterator[None]:
    """float64 for tight tolerances; one thread, since tiny models only lose time to thread
    hand-offs on a shared CPU. Both restored afterwards."""
    dtype, threads = torch.get_default_dtype(), torch.get_num_threads()
    torch.set_default_dtype(torch.float64)
    torch.set_num_threads(1)
    yield
    torch.set_default_dtype(dtype)
    torch.set_num_threads(threads)
