"""The HTML report: self-contained (figures embedded, nothing from the network), every figure
present, answers built from this run's numbers, and one-line errors for broken results."""

from __future__ import annotations

import base64
import json
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from attnlab.errors import UserError
from attnlab.report.figures import bar_chart, heatmap, line_plot
from attnlab.report.html import NOT_MEASURED, answers, build_report, load_results, wall_seconds
from attnlab.report.verdicts import QUESTIONS, verdict
from tests.conftest import assert_one_line_error


def _record(name: str, figures: list[str], metrics: dict[str, Any], reading: str) -> dict:
    return {
        "name": name,
        "title": f"The claim of {name}",
        "budget": "quick",
        "seed": 1,
        "config": {},
        "versions": {"torch": "9.9"},
        "seconds": 12.0,
        "machine": {"cpu_count": 2},
        "figures": [{"file": f, "caption": f"caption {f}"} for f in figures],
        "tables": [{"caption": "a table", "columns": ["model", "x"], "rows": [["m", 0.5]]}],
        "metrics": metrics,
        "expected": "what the literature says",
        "reading": reading,
    }


class _Tables(HTMLParser):
    """caption -> [(the row's class, its cells' text)] of every table of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.found: dict[str, list[tuple[str, list[str]]]] = {}
        self.caption: str | None = None
        self.rows: list[tuple[str, list[str]]] = []
        self.text: list[str] | None = None  # the text of the caption or cell being read

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self.rows = []
        elif tag == "tr":
            self.rows.append((dict(attrs).get("class") or "", []))
        elif tag in ("caption", "td"):
            self.text = []

    def handle_data(self, data: str) -> None:
        if self.text is not None:
            self.text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "caption" and self.text is not None:
            self.caption, self.text = "".join(self.text), None
        elif tag == "td" and self.text is not None:
            self.rows[-1][1].append("".join(self.text))
            self.text = None
        elif tag == "table" and self.caption is not None:
            self.found[self.caption] = [row for row in self.rows if row[1]]  # not the header


def tables(html: str) -> dict[str, list[tuple[str, list[str]]]]:
    parser = _Tables()
    parser.feed(html)
    return parser.found


def _write(out: Path, record: dict) -> None:
    folder = out / record["name"]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "results.json").write_text(json.dumps(record))


LENGTH_METRICS = {
    "runs": {
        "translation/GRU fixed-30": {
            "corpus": "translation",
            "model": "GRU fixed",
            "train_max": 30,
            "short_bleu": 40.0,
            "long_bleu": 10.0,
        },
        "translation/GRU+Bahdanau-30": {
            "corpus": "translation",
            "model": "GRU+Bahdanau",
            "train_max": 30,
            "short_bleu": 50.0,
            "long_bleu": 47.5,
        },
        "translation/LSTM+Luong-30": {
            "corpus": "translation",
            "model": "LSTM+Luong",
            "train_max": 30,
            "short_bleu": 3.0,
            "long_bleu": 2.0,
        },
        "translation/Transformer-30": {
            "corpus": "translation",
            "model": "Transformer",
            "train_max": 30,
            "short_bleu": 60.0,
            "long_bleu": 30.0,
            "in_range_bleu": 58.0,
        },
    }
}


@pytest.fixture
def lab_dir(tmp_path: Path) -> Path:
    out = tmp_path / "lab"
    (out / "length").mkdir(parents=True)
    line_plot(
        out / "length" / "curve.png",
        [1, 2, 3],
        {"a": [1, None, 3]},
        "x",
        "y",
        "t",
        x_ticklabels=["1", "2", "3"],
        shade_from=2.5,
    )
    bar_chart(
        out / "length" / "bars.png",
        ["f", "r"],
        [1.0, 2.0],
        [0.1, 0.2],
        "y",
        "t",
        points=[[0.9, 1.1], [1.8, 2.2]],
    )
    _write(
        out,
        _record(
            "length",
            ["curve.png", "bars.png"],
            LENGTH_METRICS,
            "Fixed falls. <script>alert(1)</script> & more.",
        ),
    )
    (out / "alignment").mkdir()
    heatmap(
        out / "alignment" / "map.png", [[0.9, 0.1], [0.2, 0.8]], ["y1", "y2"], ["x1", "x2"], "a"
    )
    models = {"Bahdanau": {"aer": 0.21, "entropy": 0.74, "uniform_entropy": 2.0}}
    uniform = {"model": "Bahdanau", "bleu": 60.0, "bleu_uniform": 3.25}
    alignment = {
        "translation": {"diagonal_aer": 0.55, "models": models},
        "uniform_attention": uniform,
    }
    _write(out, _record("alignment", ["map.png"], alignment, "AER is low. Second sentence."))
    return out


def test_report_is_self_contained_with_every_figure(lab_dir: Path) -> None:
    text = build_report(lab_dir).read_text()
    assert not re.search(r"https?:", text)
    assert "<script" not in text and "<link" not in text
    sources = re.findall(r'src="([^"]*)"', text)
    assert len(sources) == 3 and all(s.startswith("data:image/png;base64,") for s in sources)
    embedded = {base64.b64decode(s.split(",", 1)[1]) for s in sources}
    files = ["length/curve.png", "length/bars.png", "alignment/map.png"]
    assert embedded == {(lab_dir / f).read_bytes() for f in files}
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; more." in text  # text is escaped
    assert "The claim of length" in text and "The claim of alignment" in text


def _verdict(question: str, corpus: str, holds: str, evidence: bool = True) -> dict:
    return verdict(
        question, "a claim", corpus, "expected x", f"measured on {corpus}", holds, evidence
    )


def test_answers_cite_real_language_verdicts_where_they_exist(lab_dir: Path) -> None:
    records = load_results(lab_dir)
    records["length"]["verdicts"] = [
        _verdict("bottleneck", "translation", "yes"),
        _verdict("bottleneck", "bible-en-fr", "unclear"),
        _verdict("bottleneck", "bible-en-fr", "no", evidence=False),
        _verdict("attention", "translation", "yes"),
    ]
    records["alignment"]["verdicts"] = [
        _verdict("attention", "nt-grc-en", "no", evidence=False),
        _verdict("uniform", "translation", "yes"),
    ]
    found = answers(records)
    assert set(found) == set(QUESTIONS)
    bottleneck = [
        (name, v["corpus"], v["holds"], greyed) for name, v, greyed in found["bottleneck"]
    ]
    # the synthetic verdict gives way to the real one; the real one below the floor is greyed
    assert bottleneck == [
        ("length", "bible-en-fr", "unclear", False),
        ("length", "bible-en-fr", "no", True),
    ]
    attention = [(name, v["corpus"], greyed) for name, v, greyed in found["attention"]]
    # no real verdict counts: the synthetic one is cited, the real one shown greyed
    assert attention == [("alignment", "nt-grc-en", True), ("length", "translation", False)]
    assert found["transformer"] == []
    assert [v["question"] for _, v, _ in found["uniform"]] == ["uniform"]


def test_verdicts_are_rendered_and_missing_questions_say_so(lab_dir: Path) -> None:
    record = json.loads((lab_dir / "length" / "results.json").read_text())
    record["verdicts"] = [_verdict("bottleneck", "bible-en-fr", "yes"), {"question": "broken"}]
    _write(lab_dir, record)
    text = build_report(lab_dir).read_text()
    assert "measured on bible-en-fr" in text
    assert text.count(NOT_MEASURED) >= 3  # three questions without a verdict
    for question, _ in QUESTIONS.values():
        assert question in text


def test_greyed_rows_are_listed_in_the_table(lab_dir: Path) -> None:
    record = json.loads((lab_dir / "length" / "results.json").read_text())
    record["tables"][0]["rows"].append(["weak", 0.1])
    record["tables"][0]["greyed"] = [1]
    _write(lab_dir, record)
    found = tables(build_report(lab_dir).read_text())
    [rows] = [rows for caption, rows in found.items() if caption.startswith("a table Greyed")]
    assert rows == [("", ["m", "0.5"]), ("greyed", ["weak", "0.1"])]


def test_order_is_the_callers(lab_dir: Path) -> None:
    assert list(load_results(lab_dir)) == ["alignment", "length"]  # alphabetical
    assert list(load_results(lab_dir, ["length", "alignment"])) == ["length", "alignment"]
    text = build_report(lab_dir, ["length", "alignment", "reversal"]).read_text()
    assert text.index("The claim of length") < text.index("The claim of alignment")
    assert f"{NOT_MEASURED}: reversal" in text


def test_cli_report_errors_name_the_file(lab_dir: Path, cli) -> None:
    path = lab_dir / "length" / "results.json"
    path.write_text("{not json")
    assert_one_line_error(cli("report", lab_dir), str(path), "not valid JSON")
    record = _record("length", [], {}, "r")
    del record["reading"]
    path.write_text(json.dumps(record))
    assert_one_line_error(cli("report", lab_dir), str(path), "'reading'")
    _write(lab_dir, _record("length", ["../elsewhere.png"], {}, "r"))
    assert_one_line_error(cli("report", lab_dir), str(path), "expected a file name")
    _write(lab_dir, _record("length", ["gone.png"], {}, "r"))
    assert_one_line_error(cli("report", lab_dir), "gone.png", "missing")
    assert_one_line_error(cli("report", lab_dir / "nowhere"), "no such folder")


def test_empty_folder_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="holds no"):
        build_report(tmp_path)


def test_time_spent_is_wall_clock_when_experiments_ran_side_by_side(tmp_path: Path) -> None:
    # two experiments of 12 s each that overlapped for 6 s: 18 s of wall clock, 24 s in all
    for name, start in (("length", 1000.0), ("reversal", 1006.0)):
        record = _record(name, [], {}, f"{name} read.")
        _write(tmp_path, {**record, "started_at": start, "finished_at": start + 12.0})
    assert wall_seconds(load_results(tmp_path)) == 18.0
    times = tables(build_report(tmp_path).read_text())["Time per experiment (seconds)"]
    assert [cells for _, cells in times] == [
        ["length", "quick", "12"],
        ["reversal", "quick", "12"],
        ["sum", "", "24"],
        ["wall clock, first start to last end", "", "18"],
    ]


def test_without_start_times_there_is_no_wall_clock(tmp_path: Path) -> None:
    _write(tmp_path, _record("length", [], {}, "read."))
    assert wall_seconds(load_results(tmp_path)) is None
