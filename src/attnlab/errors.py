"""The project's error types. Bad user input raises `UserError` (exit status 2); the CLI prints
it as one line, `attnlab: error: <where>: <what>`, never a traceback."""

from __future__ import annotations

import errno


class AttnlabError(Exception):
    """Any failure the CLI reports as one line. Exit status 1."""

    exit_code = 1

    def __init__(self, where: str, what: str) -> None:
        super().__init__(f"{where}: {what}" if where else what)
        self.where = where
        self.what = what


class UserError(AttnlabError):
    """Bad input a user can fix: a config, a data file, an argument, a checkpoint. Exit status 2."""

    exit_code = 2


class WriteError(AttnlabError):
    """An output could not be written: the disk is full, the folder read-only, no permission.
    Exit status 1 (the input was fine; the place it was to be written was not)."""

    def __init__(self, where: str, exc: OSError, note: str = "") -> None:
        what = describe_write_error(exc)
        super().__init__(where, f"{what}; {note}" if note else what)
        self.os_error = exc


def describe_write_error(exc: OSError) -> str:
    """An OSError from a write, in a user's words: disk full, not writable, or the OS's reason."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return "disk full (no space left on the device)"
    if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return "not writable (a read-only file system or no permission)"
    return f"cannot write: {exc.strerror or exc}"
