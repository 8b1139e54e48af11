"""Checkpoints: written atomically, loaded safely, averaged.

A checkpoint is a plain dict of tensors and Python primitives, so that it loads with
`torch.load(..., weights_only=True)` (no pickled code): the resolved config, the model weights,
both vocabularies and tokenizers (so `translate` needs nothing else) and, for resuming, the
optimizer, scheduler, RNG states and the data-iterator position.
"""

from __future__ import annotations

import os
import pickle
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import torch

from attnlab.errors import UserError

FORMAT = "attnlab-checkpoint"
FORMAT_VERSION = 1


def save_atomic(obj: dict[str, Any], path: Path) -> None:
    """torch.save to a temporary file in the same folder, flush, fsync, then rename over `path`.

    A kill at any moment leaves either the old file or the new one, never a truncated file.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            torch.save(obj, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


_UNREADABLE = "not a readable checkpoint (truncated or corrupt?)"


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Load and check an attnlab checkpoint; any problem is a one-line UserError."""
    if not path.exists():
        raise UserError(str(path), "no such checkpoint")
    if path.is_dir():
        raise UserError(str(path), "is a directory, expected a checkpoint file (.pt)")
    try:
        with path.open("rb") as handle:  # an unreadable file raises OSError here
            if not zipfile.is_zipfile(handle):
                raise UserError(
                    str(path), f"{_UNREADABLE}: not a zip archive, as torch.save writes"
                )
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, EOFError, pickle.UnpicklingError, zipfile.BadZipFile, ValueError) as exc:
        raise UserError(str(path), _load_failure(exc)) from None
    except OSError as exc:
        raise UserError(str(path), exc.strerror or str(exc)) from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise UserError(str(path), "not an attnlab checkpoint")
    if ckpt.get("format_version") != FORMAT_VERSION:
        raise UserError(
            str(path), f"checkpoint format {ckpt.get('format_version')} is not supported"
        )
    return ckpt


def _load_failure(exc: Exception) -> str:
    """Why torch.load refused a zip archive, in one line of attnlab's terms."""
    message = str(exc)
    if message.startswith("Weights only load failed"):  # torch's advice (weights_only=False)
        return (
            "not a readable checkpoint: it holds pickled Python objects; attnlab loads only "
            "tensors and plain data"
        )
    return f"{_UNREADABLE}: {message.splitlines()[0] if message else type(exc).__name__}"


def average_checkpoints(paths: list[Path], out: Path) -> None:
    """Average the model parameters of checkpoints of one architecture (Vaswani et al. 2017, §6.1).

    The result keeps the first checkpoint's config, vocabularies and tokenizers and drops the
    optimizer state: it is for decoding, not for resuming.
    """
    if not paths:
        raise UserError("average", "give at least one checkpoint")
    if out.exists() and any(out.resolve() == p.resolve() for p in paths if p.exists()):
        raise UserError(str(out), "--out must not be one of the checkpoints being averaged")
    first = load_checkpoint(paths[0])
    total = {k: v.double() for k, v in first["model"].items()}
    for path in paths[1:]:
        ckpt = load_checkpoint(path)
        if (
            ckpt["config"]["model"] != first["config"]["model"]
            or ckpt["model"].keys() != total.keys()
        ):
            raise UserError(str(path), f"another architecture than {paths[0]}; cannot average")
        for key, value in ckpt["model"].items():
            total[key] += value.double()
    averaged = {k: (v / len(paths)).to(first["model"][k].dtype) for k, v in total.items()}
    resume_only = ("optimizer", "scheduler", "rng", "progress")
    result = {k: v for k, v in first.items() if k not in resume_only}
    save_atomic({**result, "model": averaged, "averaged_from": [str(p) for p in paths]}, out)
