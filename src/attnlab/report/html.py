"""`attnlab report DIR`: one self-contained DIR/report.html built from DIR/*/results.json alone.

Self-contained: the PNG figures are embedded as base64 data URIs, the CSS is inline, and nothing
refers to the network (no script, link or remote image), so the file opens from disk anywhere.
A section per experiment in the order given by the caller (the lab passes its history order;
alphabetical otherwise): the claim, what the literature expects, the figures, the tables (rows
listed in a table's "greyed" are shown greyed with its "greyed_note") and the reading of this
run's numbers; then the seed's four quiz questions, each answered from the structured verdicts
the experiments wrote (`report.verdicts`: real-language figures where an experiment has them,
synthetic ones otherwise, the corpus named; verdicts below the lab's floor greyed, never as
evidence); then the machine, library versions and time spent. The report knows nothing of the
lab's experiments beyond those files.
Left out: interactive plots, comparisons between runs.
"""

from __future__ import annotations

import base64
import json
import math
import time
from html import escape
from pathlib import Path
from typing import Any

from attnlab.errors import UserError
from attnlab.report.verdicts import QUESTIONS

REPORT = "report.html"
REQUIRED = {
    "name": str,
    "title": str,
    "figures": list,
    "tables": list,
    "metrics": dict,
    "expected": str,
    "reading": str,
}
NOT_MEASURED = "not measured in this run"
NOT_TRAINED_ENOUGH = "not trained enough to count as evidence"
CSS = """
body { font-family: Georgia, serif; max-width: 60em; margin: 2em auto; padding: 0 1em;
       color: #222; line-height: 1.45; }
h1, h2, h3 { font-family: Helvetica, Arial, sans-serif; color: #1d3557; }
h2 { border-bottom: 2px solid #a8c5e2; padding-bottom: .2em; margin-top: 2em; }
.meta { color: #666; font-size: .9em; }
.expected { background: #f4f4f4; border-left: 4px solid #bbb; padding: .4em .8em; }
.reading { background: #eef5fb; border-left: 4px solid #457b9d; padding: .4em .8em; }
.answer { margin-bottom: 1.2em; }
.answer p.evidence { margin: .3em 0 .3em 1.2em; }
figure { margin: 1em 0; }
figure img { max-width: 100%; border: 1px solid #ddd; }
figcaption { font-size: .85em; color: #444; }
table { border-collapse: collapse; margin: .8em 0; font-size: .85em; }
th, td { border: 1px solid #ccc; padding: .25em .6em; text-align: right; }
th { background: #e8eef5; }
td:first-child, th:first-child { text-align: left; }
tr.greyed td, p.greyed { color: #999; }
caption { caption-side: top; text-align: left; font-size: .9em; color: #444; padding: .3em 0; }
"""


# --- reading the results ------------------------------------------------------------------------


def _load(path: Path) -> dict[str, Any]:
    """One results.json, checked for the fields the report needs; problems name the file."""
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise UserError(str(path), f"not valid JSON (line {exc.lineno}: {exc.msg})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(str(path), f"cannot read it: {exc}") from None
    if not isinstance(record, dict):
        raise UserError(str(path), "not a lab result (expected a JSON object)")
    for key, kind in REQUIRED.items():
        if not isinstance(record.get(key), kind):
            raise UserError(
                str(path), f"not a lab result: '{key}' missing or not a {kind.__name__}"
            )
    for figure in record["figures"]:
        file = figure.get("file") if isinstance(figure, dict) else None
        if not isinstance(file, str) or not file or Path(file).name != file:
            raise UserError(str(path), f"figure {figure!r}: expected a file name in its folder")
    for table in record["tables"]:
        if not isinstance(table, dict) or not all(
            isinstance(table.get(k), list) for k in ("columns", "rows")
        ):
            raise UserError(str(path), "every table needs 'columns' and 'rows' lists")
    return record


def load_results(out: Path, order: list[str] | None = None) -> dict[str, dict[str, Any]]:
    """name -> record for every DIR/<name>/results.json: those named in `order` first, in that
    order, then the others alphabetically."""
    if not out.is_dir():
        raise UserError(str(out), "no such folder")
    records = {path.parent.name: _load(path) for path in sorted(out.glob("*/results.json"))}
    if not records:
        raise UserError(str(out), "holds no <experiment>/results.json; run `attnlab lab` first")
    first = [name for name in order or [] if name in records]
    return {name: records[name] for name in [*first, *sorted(set(records) - set(first))]}


# --- formatting ---------------------------------------------------------------------------------


def _image(path: Path) -> str:
    if path.suffix.lower() != ".png":
        raise UserError(str(path), "figures must be PNG files")
    try:
        data = path.read_bytes()
    except OSError:
        raise UserError(str(path), "figure listed in results.json is missing") from None
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return "n/a" if math.isnan(value) else f"{value:.4g}"
    return escape("n/a" if value is None else str(value))


def _table(table: dict[str, Any]) -> str:
    """A table; the rows whose indices are in table["greyed"] are greyed, with the table's
    "greyed_note" as their tooltip and at the end of the caption."""
    greyed = set(table.get("greyed") or [])
    note = str(table.get("greyed_note") or NOT_TRAINED_ENOUGH)
    head = "".join(f"<th>{escape(str(c))}</th>" for c in table.get("columns", []))
    body = "".join(
        (f"<tr class='greyed' title='{escape(note)}'>" if k in greyed else "<tr>")
        + "".join(f"<td>{_cell(v)}</td>" for v in row)
        + "</tr>"
        for k, row in enumerate(table.get("rows", []))
    )
    caption = escape(str(table.get("caption", "")))
    if greyed:
        caption += f" Greyed rows: {escape(note)}."
    return f"<table><caption>{caption}</caption><thead><tr>{head}</tr></thead>{body}</table>"


def _figure(folder: Path, figure: dict[str, Any]) -> str:
    src = _image(folder / str(figure.get("file", "")))
    caption = escape(str(figure.get("caption", "")))
    return f'<figure><img src="{src}" alt="{caption}"><figcaption>{caption}</figcaption></figure>'


def _section(out: Path, record: dict[str, Any]) -> str:
    name = record["name"]
    seconds = record.get("seconds")
    meta = f"experiment <code>{escape(name)}</code>, budget {escape(str(record.get('budget')))}"
    if isinstance(seconds, int | float):
        meta += f", {seconds:.0f} s"
    parts = [
        f'<section id="{escape(name)}"><h2>{escape(record["title"])}</h2>',
        f'<p class="meta">{meta}</p>',
        f'<p class="expected"><b>Expected.</b> {escape(record["expected"])}</p>',
        *(_figure(out / name, f) for f in record["figures"]),
        *(_table(t) for t in record["tables"]),
        f'<p class="reading"><b>This run.</b> {escape(record["reading"])}</p>',
        "</section>",
    ]
    return "\n".join(parts)


# --- the four questions -------------------------------------------------------------------------


def _num(value: Any) -> float | None:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    return float(value) if ok else None


def _verdicts(record: dict[str, Any], question: str) -> list[dict[str, Any]]:
    """The record's well-formed verdicts on `question`."""
    found = record.get("verdicts")
    return [
        v
        for v in (found if isinstance(found, list) else [])
        if isinstance(v, dict)
        and v.get("question") == question
        and all(isinstance(v.get(k), str) for k in ("corpus", "measured", "expected", "holds"))
    ]


def _chosen(verdicts: list[dict[str, Any]]) -> list[tuple[dict[str, Any], bool]]:
    """(verdict, greyed) for one experiment's verdicts on one question: the real-language ones
    that count as evidence where there are any, else the synthetic ones; then those that do
    not count (below the lab's floor), greyed."""
    counted = [v for v in verdicts if v.get("evidence", True)]
    cited = [v for v in counted if v.get("real")] or counted
    return [(v, False) for v in cited] + [
        (v, True) for v in verdicts if not v.get("evidence", True)
    ]


def answers(records: dict[str, dict[str, Any]]) -> dict[str, list[tuple[str, dict, bool]]]:
    """question key -> (experiment, verdict, greyed) to cite, in the records' order."""
    return {
        key: [
            (name, v, greyed)
            for name, r in records.items()
            for v, greyed in _chosen(_verdicts(r, key))
        ]
        for key in QUESTIONS
    }


def _sentence(name: str, v: dict[str, Any], greyed: bool) -> str:
    if greyed:
        return f"{name}, {v['corpus']}, {NOT_TRAINED_ENOUGH}: {v['measured']}."
    return (
        f"{name}, {v['corpus']}: {v['measured']} (expected {v['expected']}); holds: {v['holds']}."
    )


def _questions(records: dict[str, dict[str, Any]]) -> str:
    """The four questions, each with the verdicts of every experiment that measured it."""
    parts = ["<section id='questions'><h2>Four questions, answered from this run</h2>"]
    for key, cited in answers(records).items():
        question, principle = QUESTIONS[key]
        parts.append(f"<div class='answer'><h3>{escape(question)}</h3><p>{escape(principle)}</p>")
        lines = [(_sentence(*c), c[2]) for c in cited] or [(f"{NOT_MEASURED}.", False)]
        parts += [
            f"<p class='evidence{' greyed' if greyed else ''}'>&#8226; {escape(text)}</p>"
            for text, greyed in lines
        ]
        parts.append("</div>")
    parts.append("</section>")
    return "\n".join(parts)


# --- machine, versions, time --------------------------------------------------------------------


def wall_seconds(records: dict[str, dict[str, Any]]) -> float | None:
    """From the first experiment's start to the last one's end (they may run side by side);
    None when a record has no times (written before they were recorded)."""
    starts = [t for r in records.values() if (t := _num(r.get("started_at"))) is not None]
    ends = [t for r in records.values() if (t := _num(r.get("finished_at"))) is not None]
    if len(starts) < len(records) or len(ends) < len(records):
        return None
    return max(ends) - min(starts)


def _time_spent(records: dict[str, dict[str, Any]]) -> str:
    """'X minutes' of wall-clock time, with the experiments' own sum when they overlapped."""
    total = sum(_num(r.get("seconds")) or 0.0 for r in records.values())
    wall = wall_seconds(records)
    if wall is None or wall >= 0.99 * total:
        return f"{(total if wall is None else wall) / 60:.1f} minutes"
    return f"{wall / 60:.1f} minutes ({total / 60:.1f} minutes of experiments side by side)"


def _environment(records: dict[str, dict[str, Any]]) -> str:
    first = next(iter(records.values()))
    rows = [
        [r["name"], r.get("budget"), f"{_num(r.get('seconds')) or 0:.0f}"] for r in records.values()
    ]
    total = sum(_num(r.get("seconds")) or 0.0 for r in records.values())
    rows.append(["sum", "", f"{total:.0f}"])
    wall = wall_seconds(records)
    if wall is not None:
        rows.append(["wall clock, first start to last end", "", f"{wall:.0f}"])
    machine = first.get("machine") if isinstance(first.get("machine"), dict) else {}
    versions = first.get("versions") if isinstance(first.get("versions"), dict) else {}
    return "\n".join(
        [
            "<section id='environment'><h2>Machine, versions and time spent</h2>",
            _table(
                {
                    "caption": "Time per experiment (seconds)",
                    "columns": ["experiment", "budget", "seconds"],
                    "rows": rows,
                }
            ),
            _table(
                {
                    "caption": "Machine",
                    "columns": ["property", "value"],
                    "rows": list(machine.items()),
                }
            ),
            _table(
                {
                    "caption": "Versions",
                    "columns": ["library", "version"],
                    "rows": list(versions.items()),
                }
            ),
            "</section>",
        ]
    )


def render(out: Path, records: dict[str, dict[str, Any]], expected: list[str] | None = None) -> str:
    """The report's HTML text; `expected` names the experiments a full report would hold (those
    absent are listed as not measured)."""
    missing = [name for name in expected or [] if name not in records]
    budgets = sorted({str(r.get("budget")) for r in records.values()})
    toc = " · ".join(f"<a href='#{escape(n)}'>{escape(n)}</a>" for n in records)
    header = [
        "<!DOCTYPE html>",
        "<html lang='en'><head><meta charset='utf-8'>",
        "<title>attnlab lab report</title>",
        f"<style>{CSS}</style></head><body>",
        "<h1>Where does information get lost? The attnlab lab</h1>",
        f"<p class='meta'>Budget {escape(', '.join(budgets))}; {len(records)} experiments, "
        f"{_time_spent(records)}; report built {time.strftime('%Y-%m-%d %H:%M')}.</p>",
        f"<p>{toc} · <a href='#questions'>questions</a> · <a href='#environment'>machine</a></p>",
    ]
    if missing:
        header.append(f"<p class='meta'>{NOT_MEASURED}: {escape(', '.join(missing))}.</p>")
    sections = [_section(out, record) for record in records.values()]
    footer = [_questions(records), _environment(records), "</body></html>"]
    return "\n".join([*header, *sections, *footer]) + "\n"


def build_report(out: Path, order: list[str] | None = None) -> Path:
    """Write OUT/report.html from OUT/*/results.json and return its path; `order` is the order
    of the experiments' sections (and the list of those a full report holds)."""
    out = Path(out)
    text = render(out, load_results(out, order), order)
    path = out / REPORT
    tmp = out / f".{REPORT}.tmp"
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return path
