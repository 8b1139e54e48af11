"""The HTML report: self-contained (figures embedded, nothing from the network), every figure
present, answers built from this run's numbers, and one-line errors for broken results."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Any

import pytest

from attnlab.errors import UserError
from attnlab.report.figures import bar_chart, heatmap, line_plot
from attnlab.report.html import NOT_MEASURED, build_report
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


def _write(out: Path, record: dict) -> None:
    folder = out / record["name"]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "results.json").write_text(json.dumps(record))


LENGTH_METRICS = {
    "runs": {
        "translation/GRU fixed-30": {"corpus": "translation", "model": "GRU fixed",
                                     "train_max": 30, "short_bleu": 40.0, "long_bleu": 10.0},
        "translation/GRU+Bahdanau-30": {"corpus": "translation", "model": "GRU+Bahdanau",
                                        "train_max": 30, "short_bleu": 50.0, "long_bleu": 47.5},
        "translation/LSTM+Luong-30": {"corpus": "translation", "model": "LSTM+Luong",
                                      "train_max": 30, "short_bleu": 3.0, "long_bleu": 2.0},
        "translation/Transformer-30": {"corpus": "translation", "model": "Transformer",
                                       "train_max": 30, "short_bleu": 60.0, "long_bleu": 30.0,
                                       "in_range_bleu": 58.0},
    }
}  # fmt: skip


@pytest.fixture
def lab_dir(tmp_path: Path) -> Path:
    out = tmp_path / "lab"
    (out / "length").mkdir(parents=True)
    line_plot(out / "length" / "curve.png", [1, 2, 3], {"a": [1, None, 3]}, "x", "y", "t",
              x_ticklabels=["1", "2", "3"], shade_from=2.5)  # fmt: skip
    bar_chart(out / "length" / "bars.png", ["f", "r"], [1.0, 2.0], [0.1, 0.2], "y", "t",
              points=[[0.9, 1.1], [1.8, 2.2]])  # fmt: skip
    _write(out, _record("length", ["curve.png", "bars.png"], LENGTH_METRICS,
                        "Fixed falls. <script>alert(1)</script> & more."))  # fmt: skip
    (out / "alignment").mkdir()
    heatmap(
        out / "alignment" / "map.png", [[0.9, 0.1], [0.2, 0.8]], ["y1", "y2"], ["x1", "x2"], "a"
    )
    models = {"Bahdanau": {"aer": 0.21, "entropy": 0.74, "uniform_entropy": 2.0}}
    uniform = {"model": "Bahdanau", "bleu": 60.0, "bleu_uniform": 3.25}
    alignment = {"translation": {"diagonal_aer": 0.55, "models": models},
                 "uniform_attention": uniform}  # fmt: skip
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
    assert text.index("The claim of length") < text.index("The claim of alignment")


def test_answers_cite_this_runs_numbers(lab_dir: Path) -> None:
    text = build_report(lab_dir).read_text()
    for question in (
        "core problem with vanilla seq2seq",
        "How does Bahdanau attention solve",
        "did the Transformer architecture address",
        "what does the context vector",
    ):
        assert question in text  # fmt: skip
    fixed = "GRU fixed-30 (translation): BLEU 40.0 on 1-10 words, 10.0 on 51-60 (ratio 0.25; "
    assert fixed + "supports it)" in text
    assert (
        "LSTM+Luong-30 (translation): BLEU 3.0 on 1-10 words, 2.0 on 51-60 (ratio 0.67; too "
        "little training to tell" in text
    )
    assert "ratio 0.95; supports it" in text  # Bahdanau: 47.5 / 50
    assert (
        "BLEU 60.0 on 1-10 words, 58.0 at its longest training length, 30.0 on 51-60 (ratio "
        "0.50; holds up to its longest training source and falls only past it" in text
    )
    assert "AER on translation Bahdanau 0.21 against 0.55 for the diagonal" in text
    assert "(1.00 = uniform): Bahdanau 0.37" in text  # 0.74 / 2.0
    assert "every alpha_ij = 1/S" in text and "BLEU 60.0 -&gt; 3.2" in text
    assert f"reversal: {NOT_MEASURED}" in text
    assert f"parallel-speed: {NOT_MEASURED}" in text
    assert "Time per experiment" in text and "24" in text  # total seconds 12 + 12


def test_answers_quote_the_reading_when_metrics_are_absent(lab_dir: Path) -> None:
    _write(lab_dir, _record("capacity", [], {}, "Probes forget far tokens. More detail."))
    text = build_report(lab_dir).read_text()
    assert "capacity: Probes forget far tokens." in text
    assert "More detail." in text  # in its section, not in the answer
    assert text.count("More detail.") == 1


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


def test_answers_read_the_other_experiments_metrics(lab_dir: Path) -> None:
    capacity = {"runs": {"gru-16": {"trained": True, "half_distance": 3},
                         "gru-128": {"trained": True, "half_distance": None},
                         "gru-8": {"trained": False, "half_distance": 1}}}  # fmt: skip
    _write(lab_dir, _record("capacity", [], capacity, "c"))
    _write(
        lab_dir,
        _record("effective-context", [], {"effective_context": {"drop": 40, "shuffle": None}}, "e"),
    )
    _write(lab_dir, _record("parallel-speed", [], {"speedup": {"16": 1.5, "512": 12.25}}, "p"))
    _write(lab_dir, _record("gradient-path", [], {"decay": {"Elman": 0.0001, "Transformer": 0.9}},
                            "g"))  # fmt: skip
    text = build_report(lab_dir).read_text()
    assert "halfway to chance: gru-16 k=3, gru-128 beyond the longest k." in text
    assert "farther than 40 words are dropped (the whole window when shuffled)" in text
    assert "the Transformer is faster): 16 1.50, 512 12.25." in text
    assert "(1 = no decay with distance): Elman 0.0001, Transformer 0.9." in text


def test_time_spent_is_wall_clock_when_experiments_ran_side_by_side(tmp_path: Path) -> None:
    # two experiments of 12 s each that overlapped for 6 s: 18 s of wall clock, 24 s in all
    for name, start in (("length", 1000.0), ("reversal", 1006.0)):
        record = _record(name, [], {}, f"{name} read.")
        _write(tmp_path, {**record, "started_at": start, "finished_at": start + 12.0})
    text = build_report(tmp_path).read_text()
    assert "0.3 minutes (0.4 minutes of experiments side by side)" in text
    assert "<td>wall clock, first start to last end</td><td></td><td>18</td>" in text.replace(
        " class='num'", ""
    )
