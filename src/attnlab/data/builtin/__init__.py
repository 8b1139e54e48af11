"""The real corpora shipped inside the package: no download at run time.

Bible verse pairs as in the English-French setting of Bahdanau et al. (2015), though far smaller
and from one domain, and manual Greek-English word alignments of the New Testament to score
attention as alignment (AER, Och & Ney 2003). Sources, licences and the book splits are in this
folder's README.md; `scripts/build_builtin.py` rebuilds the `NAME.tsv.xz` files, one pair a line:
`split<TAB>ref<TAB>src<TAB>trg[<TAB>align]`.

`write_builtin` writes the layout of `attnlab data make`: OUT/{train,dev,test}.{src,trg} and, for
`nt-grc-en`, OUT/{train,dev,test}.align (Pharaoh, sure links only). Left out: any tokenization
(the toolkit's job) and any subsampling.
"""

from __future__ import annotations

import lzma
from importlib import resources
from pathlib import Path

from attnlab.atomic import write_text_atomic
from attnlab.errors import UserError

BUILTIN_CORPORA: dict[str, str] = {
    "bible-en-fr": "Bible verses, World English Bible -> Louis Segond 1910 (~31k pairs)",
    "bible-en-de": "Bible verses, World English Bible -> Elberfelder, unrevised (~31k pairs)",
    "nt-grc-en": "New Testament, Greek SBLGNT -> English BSB with manual word alignments (~7.9k)",
}
SPLITS = ("train", "dev", "test")


def _read_rows(name: str) -> list[list[str]]:
    """The shipped rows of one corpus: [split, ref, src, trg] or [split, ref, src, trg, align]."""
    packed = resources.files(__name__).joinpath(f"{name}.tsv.xz").read_bytes()
    return [line.split("\t") for line in lzma.decompress(packed).decode("utf-8").splitlines()]


def _file_contents(name: str) -> dict[str, str]:
    """File name (e.g. "train.src") -> full text, one line per pair, for every file of `name`."""
    rows = _read_rows(name)
    columns = ("src", "trg", "align")[: len(rows[0]) - 2]
    contents = {}
    for split in SPLITS:
        chosen = [row for row in rows if row[0] == split]
        for k, column in enumerate(columns):
            contents[f"{split}.{column}"] = "".join(row[2 + k] + "\n" for row in chosen)
    return contents


def split_books(name: str, split: str) -> list[str]:
    """The book (USFM code, e.g. "ROM") of each line of `split` as `write_builtin` writes it."""
    if name not in BUILTIN_CORPORA or split not in SPLITS:
        raise UserError(f"{name}/{split}", "not an embedded corpus and split")
    return [row[1].split()[0] for row in _read_rows(name) if row[0] == split]


def write_builtin(name: str, out: Path) -> str:
    """Write corpus `name` to OUT/{train,dev,test}.{src,trg}[.align]; return a one-line summary.

    A file that already exists with the same content is left alone. If any exists with other
    content, nothing is written and a `UserError` names it.
    """
    if name not in BUILTIN_CORPORA:
        raise UserError(
            name, f"unknown built-in corpus; choose one of {', '.join(BUILTIN_CORPORA)}"
        )
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise UserError(str(out), "exists and is not a directory; choose another --out")
    contents = _file_contents(name)
    todo = {}
    for file_name, text in contents.items():
        path = out / file_name
        if path.exists():
            if not path.is_file() or path.read_bytes() != text.encode("utf-8"):
                raise UserError(
                    str(path), "exists with other content; choose another --out or remove it"
                )
            continue
        todo[path] = text
    out.mkdir(parents=True, exist_ok=True)
    for path, text in todo.items():
        write_text_atomic(path, text)
    counts = ", ".join(f"{len(contents[f'{s}.src'].splitlines()):,} {s}" for s in SPLITS)
    return f"{name}: {counts} pairs in {out}"
