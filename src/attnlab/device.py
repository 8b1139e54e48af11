"""Where a model runs: `auto` picks CUDA when present, else the CPU; nothing else in attnlab
chooses a device."""

from __future__ import annotations

import torch

from attnlab.errors import UserError


def resolve_device(name: str) -> torch.device:
    """`auto` picks CUDA when present, else CPU; `cuda` without a CUDA device is a UserError."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise UserError("training.device", "cuda was asked for but no CUDA device is available")
    return torch.device(name)
