"""Read and validate parallel text: two files aligned by line, one sentence a line.

Files are UTF-8; a leading byte-order mark and Windows line ends (CRLF) are accepted. Only the
line end is stripped: other whitespace is the tokenizer's business. Lines are split on "\\n" only
(not on the other Unicode line separators that `str.splitlines` knows), so that the line numbers in
errors match what an editor shows. Every problem is a `UserError` whose `where` is `FILE:LINE` when
a line is known, else `FILE`. A user's file is only ever read.

Left out: the one-file TSV layout and gold alignments (`evaluate` reads those itself).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from attnlab.errors import UserError

BOM = "\ufeff"
MAX_LINE_BYTES = 1 << 20  # a sentence a line: a longer line means the wrong file (or no newlines)


def read_bytes(path: Path, expected: str = "a text file (one sentence a line)") -> bytes:
    """The raw content of a file, or a UserError saying why it cannot be read (`expected` names
    what the file should have been, for the directory case)."""
    if path.is_dir():
        raise UserError(str(path), f"is a directory, expected {expected}")
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise UserError(str(path), "no such file") from None
    except PermissionError:
        raise UserError(str(path), "permission denied") from None
    except OSError as exc:
        raise UserError(str(path), f"cannot read: {exc.strerror or exc}") from None


def read_lines(path: Path) -> list[str]:
    """The lines of a UTF-8 text file without their line ends ("\\n" or "\\r\\n").

    A final line end does not start an extra empty line; an empty file has no lines.
    """
    data = read_bytes(path)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise UserError(
            f"{path}:{line}",
            f"not valid UTF-8 (byte 0x{data[exc.start]:02x} at column {column}); "
            "convert the file to UTF-8",
        ) from None
    text = text.removeprefix(BOM)
    if not text:
        return []
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()  # the line end of the last line, not an empty line after it
    lines = [line.removesuffix("\r") for line in lines]
    if "\0" in text or len(data) > MAX_LINE_BYTES:
        for number, line in enumerate(lines, start=1):
            check_line(line, f"{path}:{number}")
    return lines


def check_line(line: str, where: str) -> None:
    """A UserError if `line` holds a NUL character or is over MAX_LINE_BYTES long (UTF-8):
    either means a binary file or a file that is not one sentence a line."""
    if "\0" in line:
        raise UserError(
            where, f"NUL byte at column {line.index(chr(0)) + 1}; a binary file, not text?"
        )
    if len(line) > MAX_LINE_BYTES // 4 and len(line.encode("utf-8")) > MAX_LINE_BYTES:
        raise UserError(
            where,
            f"a line of {len(line.encode('utf-8')):,} bytes; attnlab reads one sentence a line "
            f"(at most {MAX_LINE_BYTES:,} bytes)",
        )


def read_parallel(src: Path, trg: Path) -> list[tuple[str, str]]:
    """Aligned (source, target) line pairs; the two files must have as many lines."""
    src_lines, trg_lines = read_lines(src), read_lines(trg)
    if len(src_lines) != len(trg_lines):
        raise UserError(
            str(trg),
            f"{len(trg_lines)} lines, but {src} has {len(src_lines)}; "
            "source and target must be aligned line by line",
        )
    return list(zip(src_lines, trg_lines, strict=True))


def split_files(prefix: Path) -> tuple[Path, Path]:
    """PREFIX.src and PREFIX.trg (the suffix is appended, never substituted)."""
    return prefix.with_name(prefix.name + ".src"), prefix.with_name(prefix.name + ".trg")


def read_split(prefix: Path) -> list[tuple[str, str]]:
    """The aligned pairs of PREFIX.src and PREFIX.trg."""
    return read_parallel(*split_files(prefix))


@dataclass(frozen=True)
class FilterReport:
    """What `filter_pairs` did, so that the trainer can say it: nothing is dropped silently.

    total     pairs seen
    kept      pairs kept
    empty     pairs dropped because a side has no tokens
    too_long  pairs dropped because a side has more than `max_len` tokens (and none is empty)
    max_len   the limit applied
    """

    total: int
    kept: int
    empty: int
    too_long: int
    max_len: int

    def describe(self) -> str:
        """One line for a log, e.g. `kept 98 of 100 pairs (1 empty, 1 over 50 tokens)`."""
        return (
            f"kept {self.kept} of {self.total} pairs "
            f"({self.empty} empty, {self.too_long} over {self.max_len} tokens)"
        )


def filter_pairs(
    pairs: list[tuple[list[str], list[str]]], max_len: int
) -> tuple[list[int], FilterReport]:
    """Indices of the tokenised pairs fit for training, and counts of those dropped.

    A pair is dropped when either side is empty (an empty source has no position to attend to)
    or when either side has more than `max_len` tokens. Kept indices are in increasing order.
    """
    if max_len < 1:
        raise UserError("data.max_len", f"must be > 0 (got {max_len})")
    kept: list[int] = []
    empty = too_long = 0
    for i, (src, trg) in enumerate(pairs):
        if not src or not trg:
            empty += 1
        elif len(src) > max_len or len(trg) > max_len:
            too_long += 1
        else:
            kept.append(i)
    return kept, FilterReport(len(pairs), len(kept), empty, too_long, max_len)
