"""One seed for every random number generator a run uses, and their states for a resume.

`seed_everything(seed)` seeds Python's `random`, NumPy's global generator and torch (CPU and every
CUDA device), so runs with the same `training.seed` match. `rng_state` / `set_rng_state` save and
restore all of them in a checkpoint, so a resumed run draws the numbers the uninterrupted run
would have drawn. Left out: per-worker seeds for data loading (attnlab loads data in-process).
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch


def seed_everything(seed: int) -> None:
    """One seed for Python, NumPy and torch."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def rng_state() -> dict[str, Any]:
    """The state of every generator `seed_everything` seeds (CUDA's when present)."""
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": [int(x) for x in np.random.get_state()[1]],
        "numpy_pos": int(np.random.get_state()[2]),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore the generators from `rng_state()`'s value (read back from a checkpoint)."""
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    np.random.set_state(
        ("MT19937", np.array(state["numpy"], dtype=np.uint32), state["numpy_pos"], 0, 0.0)
    )
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
