"""Files replaced whole: written under a temporary name beside their final one, then renamed over
it (`os.replace`, atomic on one file system), so that a reader or a kill at any moment sees the old
file or the new one, never half of one."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from attnlab.errors import WriteError


def replace_atomically(path: Path, write: Callable[[Path], None]) -> None:
    """Call write(tmp) on a fresh temporary path in path's folder, then rename tmp over `path`.

    On any failure the temporary file is removed and `path` is untouched; an OSError becomes a
    WriteError naming `path`.
    """
    try:
        fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        os.close(fd)
    except OSError as exc:
        raise WriteError(str(path), exc) from None
    tmp = Path(name)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):  # on a read-only folder there is nothing to remove
            tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise WriteError(str(path), exc) from None
        raise


def write_text_atomic(path: Path, text: str) -> None:
    """Replace `path` by `text` (UTF-8, "\\n" line ends)."""
    replace_atomically(path, lambda tmp: tmp.write_text(text, encoding="utf-8", newline="\n"))


def link_atomic(target: Path, link: Path) -> None:
    """Make `link` another name (a hard link) of `target`, replacing what `link` was."""

    def hard_link(tmp: Path) -> None:
        tmp.unlink()  # os.link will not overwrite the empty placeholder
        os.link(target, tmp)

    replace_atomically(link, hard_link)
