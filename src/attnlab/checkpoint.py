"""Checkpoints: written atomically, loaded safely, checked against corruption, averaged.

A checkpoint is a plain dict of tensors and Python primitives, so that it loads with
`torch.load(..., weights_only=True)` (no pickled code): the resolved config, the model weights,
both vocabularies and tokenizers (so `translate` needs nothing else) and, for resuming, the
optimizer, scheduler, RNG states and the data-iterator position.

On disk (format 2) that dict is the payload of an envelope, itself a `torch.save` archive:

    {"format": "attnlab-checkpoint", "format_version": 2, "written_by": attnlab version,
     "sha256": hex digest of the payload bytes, "payload": uint8 tensor (the dict, torch.save'd)}

so any changed byte of the payload is caught before it is unpickled. Format 1 (the dict itself,
no digest) still loads. `torch.save` stores every archive entry uncompressed; an archive with a
compressed entry, or entries larger than the file, is refused before torch reads it (a zip bomb).

A failed write (a full disk, a read-only folder) raises `WriteError`, naming the file,
with no temporary file left behind; the file that was there before is untouched.
"""

from __future__ import annotations

import hashlib
import io
import os
import time
import zipfile
from pathlib import Path
from typing import Any

import torch

from attnlab import __version__
from attnlab.atomic import replace_atomically
from attnlab.config import architecture, saved_config
from attnlab.errors import UserError, WriteError

FORMAT = "attnlab-checkpoint"
FORMAT_VERSION = 2
SUPPORTED_VERSIONS = (1, 2)
# A test hook for the kill loop: seconds to sleep between writing a checkpoint's temporary file
# and renaming it into place, so that a kill can land inside the write.
PAUSE_IN_WRITE_ENV = "ATTNLAB_TEST_PAUSE_IN_CHECKPOINT_WRITE"


def serialize(obj: dict[str, Any]) -> bytes:
    """The bytes of a format-2 checkpoint of `obj` (see the module docstring)."""
    payload = _torch_bytes(obj)
    envelope = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "written_by": __version__,
        "sha256": hashlib.sha256(payload).hexdigest(),
        "payload": torch.frombuffer(bytearray(payload), dtype=torch.uint8),
    }
    return _torch_bytes(envelope)


def _torch_bytes(obj: object) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def save_atomic(obj: dict[str, Any], path: Path) -> None:
    """Write `obj` as a checkpoint: to a temporary file in the same folder, flush, fsync, then
    rename over `path`.

    A kill at any moment leaves either the old file or the new one, never a truncated file. The
    archive is built in memory first, so a full disk is an OSError of the write (torch's own
    writer reports it as an opaque RuntimeError), turned into a WriteError.
    """
    data = serialize(obj)

    def write_synced(tmp: Path) -> None:
        with open(tmp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        pause = os.environ.get(PAUSE_IN_WRITE_ENV)
        if pause:
            time.sleep(float(pause))

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise WriteError(str(path), exc) from None
    replace_atomically(path, write_synced)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def remove_temporaries(folder: Path) -> None:
    """Delete the temporary files (`.NAME.*.tmp`) a killed writer left in `folder`."""
    for tmp in folder.glob(".*.tmp"):
        tmp.unlink(missing_ok=True)


_UNREADABLE = "not a readable checkpoint (truncated or corrupt?)"


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Load and check an attnlab checkpoint; any problem is a one-line UserError."""
    if not path.exists():
        raise UserError(str(path), "no such checkpoint")
    if path.is_dir():
        raise UserError(str(path), "is a directory, expected a checkpoint file (.pt)")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UserError(str(path), exc.strerror or str(exc)) from None
    ckpt = _load_archive(data, str(path))
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise UserError(str(path), "not an attnlab checkpoint")
    version = ckpt.get("format_version")
    if isinstance(version, int) and version > FORMAT_VERSION:
        written_by = ckpt.get("written_by", "?")
        raise UserError(
            str(path),
            f"written by attnlab {written_by} (checkpoint format {version}); this attnlab "
            f"({__version__}) reads formats up to {FORMAT_VERSION}: upgrade attnlab",
        )
    if version not in SUPPORTED_VERSIONS:
        raise UserError(str(path), f"checkpoint format {version!r} is not supported")
    if version != 1:
        ckpt = _open_envelope(ckpt, str(path))
    config, weights = ckpt.get("config"), ckpt.get("model")
    if not isinstance(config, dict) or not isinstance(weights, dict):
        raise UserError(str(path), "not a usable checkpoint: it has no config or no model weights")
    if not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in weights.items()):
        raise UserError(str(path), "not a usable checkpoint: its model weights are not tensors")
    return ckpt


def _open_envelope(envelope: dict[str, Any], where: str) -> dict[str, Any]:
    """The payload dict of a format-2 checkpoint, after checking its SHA-256."""
    payload, digest = envelope.get("payload"), envelope.get("sha256")
    if not isinstance(payload, torch.Tensor) or payload.dtype != torch.uint8:
        raise UserError(where, f"{_UNREADABLE}: no payload")
    data = payload.numpy().tobytes()
    if hashlib.sha256(data).hexdigest() != digest:
        raise UserError(where, "corrupt: the payload's SHA-256 does not match the one recorded")
    ckpt = _load_archive(data, where)
    if not isinstance(ckpt, dict):
        raise UserError(where, "not an attnlab checkpoint")
    return ckpt


def _load_archive(data: bytes, where: str) -> Any:
    """torch.load(weights_only=True) of the bytes of a torch.save archive, after checking that it
    is an archive torch.save could have written (a zip of stored entries, no bigger than itself)."""
    buffer = io.BytesIO(data)
    try:
        with zipfile.ZipFile(buffer) as archive:
            entries = archive.infolist()
    except (zipfile.BadZipFile, ValueError, EOFError, OSError):
        raise UserError(where, f"{_UNREADABLE}: not a zip archive, as torch.save writes") from None
    if any(e.compress_type != zipfile.ZIP_STORED for e in entries):
        raise UserError(where, f"{_UNREADABLE}: a compressed entry (torch.save stores them)")
    if sum(e.file_size for e in entries) > len(data):
        raise UserError(where, f"{_UNREADABLE}: its entries are larger than the file")
    try:
        return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as exc:  # any failure to parse an untrusted file means it is unreadable
        raise UserError(where, _load_failure(exc)) from None


def _load_failure(exc: Exception) -> str:
    """Why torch.load refused a zip archive, in one line of attnlab's terms."""
    message = str(exc)
    if message.startswith("Weights only load failed"):  # torch's advice (weights_only=False)
        return (
            "not a readable checkpoint: it holds pickled Python objects; attnlab loads only "
            "tensors and plain data"
        )
    first = next((line for line in message.splitlines() if line.strip()), type(exc).__name__)
    return f"{_UNREADABLE}: {first}"


def average_checkpoints(paths: list[Path], out: Path) -> dict[str, torch.Tensor]:
    """Average the model parameters of checkpoints of one architecture (Vaswani et al. 2017, §6.1).

    The result keeps the first checkpoint's config, vocabularies and tokenizers and drops the
    optimizer state: it is for decoding, not for resuming. Returns the averaged weights.
    """
    if not paths:
        raise UserError("average", "give at least one checkpoint")
    if out.exists() and any(out.resolve() == p.resolve() for p in paths if p.exists()):
        raise UserError(str(out), "--out must not be one of the checkpoints being averaged")
    first = load_checkpoint(paths[0])
    total = {k: v.double() for k, v in first["model"].items()}
    model = architecture(saved_config(first["config"], str(paths[0])))["model"]
    for path in paths[1:]:
        ckpt = load_checkpoint(path)
        if (
            architecture(saved_config(ckpt["config"], str(path)))["model"] != model
            or ckpt["model"].keys() != total.keys()
            or any(ckpt["model"][k].shape != v.shape for k, v in total.items())
        ):
            raise UserError(str(path), f"another architecture than {paths[0]}; cannot average")
        vocabularies = ("src_vocab", "trg_vocab", "src_tokenizer", "trg_tokenizer")
        if any(ckpt.get(k) != first.get(k) for k in vocabularies):
            raise UserError(str(path), f"other vocabularies than {paths[0]}; cannot average")
        for key, value in ckpt["model"].items():
            total[key] += value.double()
    averaged = {k: (v / len(paths)).to(first["model"][k].dtype) for k, v in total.items()}
    resume_only = ("optimizer", "scheduler", "rng", "progress")
    result = {k: v for k, v in first.items() if k not in resume_only}
    save_atomic({**result, "model": averaged, "averaged_from": [str(p) for p in paths]}, out)
    return averaged
