"""The project's error types. Bad user input raises `UserError` (exit status 2); the CLI prints
it as one line, `attnlab: error: <where>: <what>`, never a traceback."""

from __future__ import annotations


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
